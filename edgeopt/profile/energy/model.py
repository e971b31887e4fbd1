"""The analytical energy model of seed 003: computation plus data movement, 45 nm prices.

Used where energy cannot be measured (this project's VMs have no RAPL), and always labelled a
model: it is deterministic, so variants compare exactly in CI, and it is a lower bound of what a
real chip spends, not a wall-socket figure.

Prices (Horowitz, "Energy table for 45nm process", as used by seed 003; DESIGN.md §4), pJ:

    int8 add 0.03   int8 mult 0.2   int32 add 0.1   int32 mult 3.1
    fp16 add 0.4    fp16 mult 1.1   fp32 add 0.9    fp32 mult 3.7
    per 32-bit word: register file 1, SRAM 5, DRAM 640

What is counted, per operator of the `.tflite` graph (`inspect_tflite().ops`), for one inference:

- **compute** = MACs × (mult + add) at the MAC's arithmetic type:
  float32 → fp32 mult + fp32 add (4.6 pJ); int8 weights and int8 activations → int8 mult +
  **int32** add (0.3 pJ), because TFLite's integer kernels accumulate int8 products in int32;
  dynamic-range ("hybrid") ops with int8 weights and float inputs also run int8 × int8 → int32
  (the kernel quantizes the input on the fly); int16 activations (16×8 quantization) have no
  entry in the table and are priced as int32 mult + int32 add, an upper bound; float16 → fp16.
  Ops without MACs (pooling, reshape, softmax, add, ...) get no compute energy: the model
  prices their data movement only, like seed 003, which counts MACs alone.
- **SRAM, weights** = every constant byte the op reads (weights, biases, ...), once, at 5 pJ
  per 32-bit word.
- **SRAM, activations** = the op's activation inputs read and outputs written, once each, at
  5 pJ per 32-bit word (an int8 activation is a quarter of a word).
- **DRAM** = every constant byte fetched from DRAM once per inference, at 640 pJ per word: the
  weights do not stay on chip between inferences, activations do.

This reproduces seed 003's table: for LeNet-300-100 it gives 1.22 µJ MAC, 1.33 µJ SRAM weights
and 170.6 µJ DRAM against the paper's 1.22, 1.33 and 170.51 µJ. The paper counts each
activation exactly twice (one write, one read), where this model counts each op's inputs and
outputs, so an op that only reshapes adds a read and a write. The register-file price is in the
table for completeness but, as in seed 003, operand traffic between SRAM and the MAC units is
not priced separately.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeopt.profile.tflite_graph import OpInfo, TfliteInfo

# Horowitz 45 nm energy table, picojoules (DESIGN.md §4).
PJ_45NM = {
    "int8_add": 0.03, "int8_mult": 0.2, "int32_add": 0.1, "int32_mult": 3.1,
    "fp16_add": 0.4, "fp16_mult": 1.1, "fp32_add": 0.9, "fp32_mult": 3.7,
    "register_file_word": 1.0, "sram_word": 5.0, "dram_word": 640.0,
}
WORD_BYTES = 4  # the memory prices are per 32-bit word

# One multiply-accumulate, by arithmetic: the multiply at the operand width, the add at the
# accumulator's width.
MAC_PJ = {
    "int8": PJ_45NM["int8_mult"] + PJ_45NM["int32_add"],
    "int32": PJ_45NM["int32_mult"] + PJ_45NM["int32_add"],
    "float16": PJ_45NM["fp16_mult"] + PJ_45NM["fp16_add"],
    "float32": PJ_45NM["fp32_mult"] + PJ_45NM["fp32_add"],
}
_INT8_LIKE = {"int8", "uint8", "int4"}


def mac_arithmetic(op: OpInfo) -> str | None:
    """Which `MAC_PJ` entry prices this op's MACs, None for an op without MACs.

    Example:
        >>> op = OpInfo(0, "FULLY_CONNECTED", 10, "int8", "int8", "int8", 0, 0, 0, 0, 0, 0)
        >>> mac_arithmetic(op)
        'int8'
    """
    if not op.macs:
        return None
    if op.input_dtype in ("int16", "int32"):
        return "int32"  # no 16-bit integer entry in the table: price as 32-bit (upper bound)
    if op.weight_dtype in _INT8_LIKE:
        return "int8"  # int8 x int8 (hybrid ops quantize a float input first), int32 accumulate
    if op.input_dtype == "float16" or op.weight_dtype == "float16":
        return "float16"
    return "float32"


@dataclass(frozen=True)
class OpEnergy:
    """Modelled energy of one operator for one inference, in picojoules.

    Attributes:
        index: Position in the graph's execution order.
        op_name: "CONV_2D", "FULLY_CONNECTED", ...
        arithmetic: `MAC_PJ` key used for the MACs, None for an op without MACs.
        macs: Multiply-accumulates.
        compute_pj: MACs × MAC price.
        sram_weights_pj: Constant bytes read from SRAM.
        sram_activations_pj: Activation bytes read and written in SRAM.
        dram_pj: Constant bytes fetched from DRAM.
    """

    index: int
    op_name: str
    arithmetic: str | None
    macs: int
    compute_pj: float
    sram_weights_pj: float
    sram_activations_pj: float
    dram_pj: float

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.sram_weights_pj + self.sram_activations_pj + self.dram_pj


@dataclass(frozen=True)
class ModelEnergy:
    """Modelled energy of one inference, per operator and in total.

    Example:
        >>> energy = model_energy(inspect_tflite("model_int8.tflite"))  # doctest: +SKIP
        >>> energy.total_mj, energy.dram_mj  # doctest: +SKIP
        (0.0123, 0.0119)
    """

    ops: tuple[OpEnergy, ...]

    @property
    def compute_pj(self) -> float:
        return sum(op.compute_pj for op in self.ops)

    @property
    def sram_weights_pj(self) -> float:
        return sum(op.sram_weights_pj for op in self.ops)

    @property
    def sram_activations_pj(self) -> float:
        return sum(op.sram_activations_pj for op in self.ops)

    @property
    def dram_pj(self) -> float:
        return sum(op.dram_pj for op in self.ops)

    @property
    def total_pj(self) -> float:
        return sum(op.total_pj for op in self.ops)

    @property
    def total_mj(self) -> float:
        return self.total_pj * 1e-9

    @property
    def dram_mj(self) -> float:
        return self.dram_pj * 1e-9

    def breakdown(self) -> list[dict]:
        """Per-operator rows for JSON and the `--breakdown` table, in µJ (seed 003's unit)."""
        rows = []
        for op in self.ops:
            row = {k: v for k, v in asdict(op).items() if not k.endswith("_pj")}
            for key in ("compute", "sram_weights", "sram_activations", "dram", "total"):
                row[f"{key}_uj"] = getattr(op, f"{key}_pj") * 1e-6
            rows.append(row)
        return rows


def price_op(op: OpInfo) -> OpEnergy:
    """Price one operator with the 45 nm table (see the module docstring for what counts).

    Example:
        >>> op = OpInfo(0, "FULLY_CONNECTED", 1000, "float32", "float32", "float32",
        ...             1010, 4040, 100, 400, 10, 40)
        >>> round(price_op(op).compute_pj, 1)  # 1000 MACs at 3.7 + 0.9 pJ
        4600.0
    """
    arithmetic = mac_arithmetic(op)
    weight_words = op.weight_bytes / WORD_BYTES
    activation_words = (op.activation_in_bytes + op.activation_out_bytes) / WORD_BYTES
    return OpEnergy(
        index=op.index,
        op_name=op.op_name,
        arithmetic=arithmetic,
        macs=op.macs,
        compute_pj=op.macs * MAC_PJ[arithmetic] if arithmetic else 0.0,
        sram_weights_pj=weight_words * PJ_45NM["sram_word"],
        sram_activations_pj=activation_words * PJ_45NM["sram_word"],
        dram_pj=weight_words * PJ_45NM["dram_word"],
    )


def model_energy(info: TfliteInfo | tuple[OpInfo, ...] | list[OpInfo]) -> ModelEnergy:
    """Model one inference of a `.tflite` graph: per-op compute, SRAM and DRAM energy.

    Args:
        info: `inspect_tflite(path)`, or its `ops`.

    Returns:
        A `ModelEnergy`; its totals are exactly the sums of its per-op rows.

    Example:
        >>> energy = model_energy(inspect_tflite("model_int8.tflite"))  # doctest: +SKIP
        >>> f"{energy.total_mj:.4f} mJ"  # doctest: +SKIP
        '0.0123 mJ'
    """
    ops = info.ops if isinstance(info, TfliteInfo) else tuple(info)
    return ModelEnergy(tuple(price_op(op) for op in ops))
