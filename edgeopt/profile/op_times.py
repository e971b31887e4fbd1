"""From LiteRT's profiler events to a time per TFLite op: which events are whose, and how sure.

Pure bookkeeping, no timing and no LiteRT: `edgeopt.profile.ops` feeds it the events of each
profiled inference. Two kinds of event carry op times (`litert_profiler`):

- an op the interpreter runs itself (outside XNNPACK) has its own event, keyed by its node index:
  its time is **measured** and certainly its own;
- inside an XNNPACK partition, XNNPACK times each of *its* operators, in the order it runs them.
  XNNPACK builds them from the partition's TFLite ops in order, one or a few per op (a
  FULLY_CONNECTED may bring a Static Reshape of its input), and fuses some away (an activation into
  the conv before it). Its operators are matched to the partition's TFLite ops by that order and by
  kind (`align`): an XNNPACK "Convolution" belongs to a CONV_2D or DEPTHWISE_CONV_2D, "Copy" or
  "Static Reshape" glue to the op beside it. A TFLite op whose time comes from operators of its own
  kind is **measured**; one that got no operator ran **fused** into a neighbour (its time is in the
  neighbour's); an operator no op of its kind could take is put on the op at its place **by order**.

The per-op time is the mean over the *typical* inferences — the fifth of the (timed, profiled) pairs
nearest a typical pair: the timed inference near the p50, the profiled one at the usual ratio to it
(`RunSamples.typical_means`) — so an inference the OS interrupted does not land on a single op, and
the ops add up to the p50's moments of the machine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from edgeopt.profile.litert_profiler import DELEGATE_PROFILED_EVENT, OPERATOR_EVENT, ProfilerEvent
from edgeopt.profile.tflite_graph import OpInfo

_BINARY = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW", "FLOOR_DIV",
           "FLOOR_MOD", "PRELU", "ATAN2"}
_UNARY = {"ABS", "NEG", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "LOGISTIC", "TANH",
          "HARD_SWISH", "ELU", "GELU", "EXP", "LOG", "FLOOR", "CEIL", "ROUND", "SQRT", "RSQRT", "SQUARE",
          "SIN", "COS", "SIGN"}
_SHAPE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
# XNNPACK operator kinds (the name before " (") each TFLite op can become (XNNPACK's operator-type list).
_XNN_BINARY = {"Binary Elementwise", "Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum",
               "Squared Difference", "Power", "PReLU", "Copy Sign", "Modulus", "ATan2"}
_XNN_UNARY = {"Unary Elementwise", "Clamp", "Abs", "Negate", "LeakyReLU", "Sigmoid", "TanH", "HardSwish", "ELU",
              "GELU", "ApproxGELU", "Exp", "Log", "Floor", "Ceiling", "Bankders Rounding", "Square Root",
              "Reciprocal Square Root", "Square", "Sine", "Cosine", "Sign", "Cube Root"}
_XNN_SHAPE = {"Static Reshape", "Static Expand Dims", "Copy", "Fuse Dims", "Split Dims"}
_KINDS = {
    # XNNPACK runs a 1×1 CONV_2D as a Fully Connected (one GEMM over the pixels).
    "CONV_2D": {"Convolution", "Fully Connected"}, "DEPTHWISE_CONV_2D": {"Convolution"}, "TRANSPOSE_CONV": {"Deconvolution"},
    "FULLY_CONNECTED": {"Fully Connected", "Dynamic Fully Connected", "Batch Matrix Multiply"},
    "BATCH_MATMUL": {"Batch Matrix Multiply", "Fully Connected", "Dynamic Fully Connected"},
    "MAX_POOL_2D": {"Max Pooling"}, "AVERAGE_POOL_2D": {"Average Pooling", "Global Average Pooling", "Mean"},
    "MEAN": {"Mean", "Global Average Pooling", "Sum"}, "SUM": {"Sum", "Global Sum Pooling"},
    "REDUCE_MAX": {"Reduce Max"}, "REDUCE_MIN": {"Reduce Min"}, "SOFTMAX": {"Softmax"},
    "QUANTIZE": {"Convert"}, "DEQUANTIZE": {"Convert"}, "PAD": {"Constant Pad"}, "PADV2": {"Constant Pad"},
    "CONCATENATION": {"Copy", "Concatenate"}, "SLICE": {"Slice", "Copy"}, "STRIDED_SLICE": {"Slice", "Copy"},
    "SPLIT": {"Slice", "Copy"}, "SPLIT_V": {"Slice", "Copy"}, "TRANSPOSE": {"Transpose"},
    "DEPTH_TO_SPACE": {"Depth To Space"}, "SPACE_TO_DEPTH": {"Space To Depth"},
    "RESIZE_BILINEAR": {"Resize Bilinear"}, "L2_NORMALIZATION": {"Normalize"},
    **{name: _XNN_BINARY for name in _BINARY}, **{name: _XNN_UNARY for name in _UNARY},
    **{name: _XNN_SHAPE for name in _SHAPE},
}
# Layout and dtype plumbing XNNPACK may add beside any op.
_GLUE = _XNN_SHAPE | {"Convert", "Transpose"}
_OWN_KIND, _GLUE_SCORE, _FORCED, _NEW_OP = 3, 1, -10, 1
TYPICAL_SHARE = 0.2  # the fifth of the inferences nearest the median total


@dataclass(frozen=True)
class OpTime:
    """One TFLite op (or one left-over part of an inference) and the time it took.

    Attributes:
        index: The op's position in the main subgraph; None for a row that is no op.
        op_name: "CONV_2D", ...; or what the row holds when it is no op.
        output_shape: Shape of its first output.
        dtype: Its arithmetic: the input dtype, with the weights' when they differ ("float32, int8 weights"),
            or "in→out" for a conversion.
        macs: Multiply-accumulates of one inference.
        time_us: Mean over the typical inferences (`RunSamples.typical_means`), µs; None for an op
            fused into another.
        runs_on: "XNNPACK" (inside a delegated partition) or "LiteRT" (the interpreter's own kernel).
        partition: 1-based number of its XNNPACK partition in execution order; None outside XNNPACK.
        kernels: The XNNPACK operators it ran as, or its own name for a LiteRT kernel.
        how: "measured", "fused" (no operator of its own: its time is in a neighbour's, or it was done
            once at load, like a DEQUANTIZE of float16 weights), "by order"
            (an operator of another kind was put on it by its place), or "no event" (nothing timed it).
    """

    index: int | None
    op_name: str
    output_shape: tuple[int, ...]
    dtype: str | None
    macs: int
    time_us: float | None
    runs_on: str
    partition: int | None = None
    kernels: tuple[str, ...] = ()
    how: str = "measured"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["output_shape"], data["kernels"] = list(self.output_shape), list(self.kernels)
        return data


@dataclass(frozen=True)
class RunSamples:
    """The op events of many profiled inferences, keyed the same way in each.

    Attributes:
        keys: One per timed thing, in execution order: ("node", node index, tag) for an op the
            interpreter ran, ("xnn", partition number, operator index, tag) inside XNNPACK.
        times_us: One row per inference (typical or not), one column per key, in µs.
        skipped: Inferences left out because their events did not have the common shape.
        kept: The position, among all inferences given, of each row of `times_us`.
    """

    keys: tuple[tuple, ...]
    times_us: np.ndarray = field(repr=False)
    skipped: int = 0
    kept: tuple[int, ...] = ()

    def typical_means(self, timed_ns: Sequence[int] | None = None) -> tuple[np.ndarray, int]:
        """Per key, the mean over the typical inferences (a fifth of them, at least one); and how many.

        With `timed_ns` (the timed inference just before each profiled one, as `paired_ratio`
        takes them), typical are the pairs nearest a typical pair: the timed inference near the
        p50 and the profiled one at the usual ratio to it. So the ops add up to the p50's moments
        of the machine even when a load that comes and goes gives it two speeds. Without, typical
        are the inferences whose op total is nearest the median.

        Example:
            >>> s = RunSamples((("node", 0, "ADD"),), np.array([[1.0], [2.0], [4.0], [100.0], [3.0]]))
            >>> s.typical_means()
            (array([3.]), 1)
        """
        totals = self.times_us.sum(axis=1)
        count = max(1, round(TYPICAL_SHARE * len(totals)))
        if timed_ns is None:
            distance = np.abs(totals - np.median(totals))
        else:
            timed = np.array([timed_ns[i] / 1e3 for i in self.kept], dtype=float)
            ratio = np.divide(totals, timed, out=np.zeros_like(totals), where=timed > 0)
            p50 = float(np.median(timed_ns)) / 1e3
            distance = np.abs(timed - p50) / max(p50, 1e-9) + np.abs(ratio - np.median(ratio))
        nearest = np.argsort(distance, kind="stable")[:count]
        return self.times_us[nearest].mean(axis=0), count


def run_keys(events: Sequence[ProfilerEvent]) -> tuple[list[tuple], list[int]]:
    """The timed things of one inference, in order, and their µs. XNNPACK numbers its operators from 0
    in each partition, so an index that does not grow starts the next partition.

    Example:
        >>> evs = [ProfilerEvent(8, "Convolution (NHWC, F32)", 0, 5), ProfilerEvent(2, "DIV", 3, 2),
        ...        ProfilerEvent(8, "Softmax (NC, F32)", 0, 1)]
        >>> run_keys(evs)[0]
        [('xnn', 1, 0, 'Convolution (NHWC, F32)'), ('node', 3, 'DIV'), ('xnn', 2, 0, 'Softmax (NC, F32)')]
    """
    keys, times, partition, last = [], [], 0, None
    for event in events:
        if event.kind == OPERATOR_EVENT:
            keys.append(("node", event.index, event.tag))
            last = None
        elif event.kind == DELEGATE_PROFILED_EVENT:
            if last is None or event.index <= last:
                partition += 1
            keys.append(("xnn", partition, event.index, event.tag))
            last = event.index
        else:
            continue
        times.append(event.elapsed_us)
    return keys, times


def collect(runs: Sequence[Sequence[ProfilerEvent]]) -> RunSamples:
    """Line up the events of many inferences; those shaped unlike the first complete one are skipped.

    Example:
        >>> run = [ProfilerEvent(2, "ADD", 0, 3)]
        >>> collect([run, run]).times_us.tolist()
        [[3.0], [3.0]]
    """
    reference, rows, kept = None, [], []
    for position, events in enumerate(runs):
        keys, times = run_keys(events)
        if not keys:
            continue
        if reference is None:
            reference = keys
        if keys != reference:
            continue
        rows.append(times)
        kept.append(position)
    if reference is None:
        return RunSamples((), np.zeros((0, 0)), len(runs))
    return RunSamples(tuple(reference), np.asarray(rows, dtype=float), len(runs) - len(kept), tuple(kept))


def paired_ratio(samples: RunSamples, timed_ns: Sequence[int]) -> float | None:
    """Median over inferences of (profiled op total) / (the timed inference just before it).

    Each ratio compares two inferences taken at the same moment of the machine, so a load that
    comes and goes cancels out of it, where it would move the two medians apart.

    Example:
        >>> s = RunSamples((("node", 0, "ADD"),), np.array([[9.0], [18.0], [27.0]]), kept=(0, 1, 2))
        >>> paired_ratio(s, [10_000, 20_000, 30_000])  # the machine slowed down 3× meanwhile
        0.9
    """
    totals = samples.times_us.sum(axis=1) if samples.keys else []
    ratios = [1e3 * total / timed_ns[i] for total, i in zip(totals, samples.kept) if timed_ns[i] > 0]
    return float(np.median(ratios)) if ratios else None


def xnn_kind(operator_name: str) -> str:
    """XNNPACK's operator kind: "Convolution (NHWC, QC8) IGEMM" -> "Convolution"."""
    return operator_name.split(" (", 1)[0].strip()


def _score(operator_name: str, op_name: str) -> int:
    kind = xnn_kind(operator_name)
    if kind in _KINDS.get(op_name, ()):
        return _OWN_KIND
    return _GLUE_SCORE if kind in _GLUE else _FORCED


def align(operators: Sequence[str], op_names: Sequence[str]) -> list[int]:
    """Give each XNNPACK operator (in run order) the position of the TFLite op it belongs to.

    Positions never go back (XNNPACK keeps the ops' order); among equally good assignments an
    operator goes to the later op, so the glue XNNPACK puts before an op (the Static Reshape of a
    FULLY_CONNECTED's input) goes to that op.

    Example:
        >>> align(["Convolution (NHWC, F32)", "Static Reshape (NC)", "Fully Connected (NC, F32)"],
        ...       ["CONV_2D", "RELU", "FULLY_CONNECTED"])
        [0, 2, 2]
    """
    m, n = len(operators), len(op_names)
    if m == 0 or n == 0:
        return []
    score = [[_score(o, t) for t in op_names] for o in operators]
    # State (i, f): the current operator sits on op i; f: op i already has an operator of its own
    # kind. Each op that gets one earns _NEW_OP once, so two FULLY_CONNECTED in a row each get their
    # own Fully Connected instead of the second taking both. back[j][i][f] = the previous state.
    best = [[-math.inf, -math.inf] for _ in range(n)]
    for i in range(n):
        own = score[0][i] == _OWN_KIND
        best[i][int(own)] = score[0][i] + (_NEW_OP if own else 0)
    back: list[list[list[tuple[int, int] | None]]] = [[[None, None] for _ in range(n)]]
    for j in range(1, m):
        row = [[-math.inf, -math.inf] for _ in range(n)]
        pointers: list[list[tuple[int, int] | None]] = [[None, None] for _ in range(n)]
        earlier, earlier_state = -math.inf, None  # the best state on an op before i (ties: the later one)
        for i in range(n):
            own = score[j][i] == _OWN_KIND
            for f in (0, 1):  # stay on op i
                if best[i][f] == -math.inf:
                    continue
                value = best[i][f] + score[j][i] + (_NEW_OP if own and not f else 0)
                g = int(f or own)
                if value >= row[i][g]:
                    row[i][g], pointers[i][g] = value, (i, f)
            if earlier_state is not None:  # move on from an earlier op
                value = earlier + score[j][i] + (_NEW_OP if own else 0)
                g = int(own)
                if value > row[i][g]:  # a tie keeps staying: the later position
                    row[i][g], pointers[i][g] = value, earlier_state
            for f in (0, 1):
                if best[i][f] >= earlier:
                    earlier, earlier_state = best[i][f], (i, f)
        best = row
        back.append(pointers)
    state = max(((i, f) for i in range(n) for f in (0, 1)), key=lambda s: (best[s[0]][s[1]], s[0]))
    positions = [0] * m
    for j in range(m - 1, -1, -1):
        positions[j] = state[0]
        if j:
            state = back[j][state[0]][state[1]]
    return positions


def op_dtype(op: OpInfo) -> str | None:
    """The op's arithmetic for a person: "int8", "float32, int8 weights", "float32→int8".

    Example:
        >>> op_dtype(OpInfo(0, "QUANTIZE", 0, "float32", None, "int8", 0, 0, 0, 0, 0, 0))
        'float32→int8'
    """
    if op.input_dtype and op.output_dtype and op.input_dtype != op.output_dtype and not op.weight_dtype:
        return f"{op.input_dtype}→{op.output_dtype}"
    if op.weight_dtype and op.weight_dtype != op.input_dtype:
        return f"{op.input_dtype}, {op.weight_dtype} weights"
    return op.input_dtype or op.output_dtype


def attribute(samples: RunSamples, ops: Sequence[OpInfo], partitions: Sequence[Sequence[int]],
              timed_ns: Sequence[int] | None = None) -> tuple[list[OpTime], list[str]]:
    """One `OpTime` per TFLite op, in op order, from the typical inferences; and notes on what was uncertain.

    Args:
        samples: The profiled inferences (`collect`).
        ops: The model's ops (`TfliteInfo.ops`).
        partitions: The op indices of each XNNPACK partition, partitions in execution order (as
            the Python interpreter delegated them; `xnnpack_partitions`).
        timed_ns: The timed inference beside each profiled one, to choose the typical ones by
            (`RunSamples.typical_means`).

    Returns:
        The rows and notes.
    """
    means, _ = samples.typical_means(timed_ns) if samples.keys else (np.zeros(0), 0)
    notes: list[str] = []
    times: dict[int, float] = {}
    kernels: dict[int, list[str]] = {}
    how: dict[int, str] = {}
    extra_rows: list[OpTime] = []
    for key, mean in zip(samples.keys, means):
        if key[0] == "node":
            _, node, tag = key
            if node < len(ops) and ops[node].op_name == tag:
                times[node] = times.get(node, 0.0) + float(mean)
                kernels.setdefault(node, []).append(tag)
                how[node] = "measured"
            else:  # a delegate other than XNNPACK profiled as one node, or numbering we cannot follow
                extra_rows.append(OpTime(None, tag, (), None, 0, float(mean), "LiteRT", kernels=(tag,)))
                notes.append(f"an event for node {node} ({tag}) matches no op of the file; shown as its own row.")
    groups: dict[int, list[tuple[str, float]]] = {}
    for key, mean in zip(samples.keys, means):
        if key[0] == "xnn":
            groups.setdefault(key[1], []).append((key[3], float(mean)))
    delegated = sorted(i for p in partitions for i in p)
    ordered = [sorted(p) for p in partitions]
    if len(groups) != len(ordered):  # align everything XNNPACK ran against everything it took, in order
        if groups:
            notes.append(f"the profiled model ran {len(groups)} XNNPACK partition(s) where the interpreter "
                         f"made {len(ordered)}; operators matched to ops across partitions.")
        sequences = [([op for g in sorted(groups) for op in groups[g]], delegated)]
    else:
        sequences = [(groups[g], members) for g, members in zip(sorted(groups), ordered)]
    forced: list[str] = []
    for operators, members in sequences:
        positions = align([name for name, _ in operators], [ops[i].op_name for i in members])
        for (name, mean), position in zip(operators, positions):
            index = members[position]
            times[index] = times.get(index, 0.0) + mean
            kernels.setdefault(index, []).append(name)
            if _score(name, ops[index].op_name) == _FORCED:
                how[index] = "by order"
                forced.append(f"`{name}` on op {index} {ops[index].op_name}")
            else:
                how.setdefault(index, "measured")
    if forced:
        notes.append(f"{len(forced)} XNNPACK operator(s) matched no op of their kind and were put on the op at "
                     f"their place: {'; '.join(sorted(set(forced)))}.")
    partition_of = {i: number for number, members in enumerate(ordered, start=1) for i in members}
    rows = []
    for op in ops:
        inside = op.index in partition_of
        state = how.get(op.index, "fused" if inside else "no event")
        rows.append(OpTime(op.index, op.op_name, tuple(op.output_shape), op_dtype(op), op.macs,
                           times.get(op.index), "XNNPACK" if inside else "LiteRT", partition_of.get(op.index),
                           tuple(kernels.get(op.index, ())), state))
    if any(r.how == "no event" for r in rows):
        missing = ", ".join(f"{r.index} {r.op_name}" for r in rows if r.how == "no event")
        notes.append(f"no event timed op(s) {missing}: LiteRT may have folded them away.")
    return rows + extra_rows, notes
