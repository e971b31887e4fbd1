"""LEAN: batch power-iteration channel reduction (seed 001, Algorithm 2), as a Keras layer.

LEAN reduces the last axis of its input from C_in channels to C' ≪ C_in without a projection
layer. For every position (pixel, time step or sample) it splits the C_in channels into C' groups
of C'' = C_in / C' consecutive channels, builds the C'×C' affinity A = X·Xᵀ between the groups,
random-walk-normalises it (Ã = D⁻¹A: each ROW sums to 1 in ℓ1) and runs power iteration
V ← ÃV / ‖ÃV‖₁ from a learnable initial vector V ∈ R^{C'}. The output is V, one C'-vector per
position.

Which axis is normalised: Algorithm 2 says "its second last dimension is ℓ1-normalised", which read
as PyTorch's `normalize(A, p=1, dim=-2)` would make every *column* sum to 1 (A·D⁻¹). Algorithm 1
and the definition of random-walk normalisation (Lin & Cohen, 2010) both say each *row* sums to 1
(D⁻¹A), and only that makes Ã a transition matrix whose power iteration has the paper's
eigen-analysis (λ₁ = 1 with a constant eigenvector). Since A is symmetric the two differ only by a
transpose, but ÃV differs, so this matters: edgeopt uses rows (D⁻¹A), as in Algorithm 1.

Numerical safety, and int8: Ã and the output are invariant to scaling X and V, so the layer first
scales each position's X to unit ℓ2 norm and V to unit ℓ1 norm. That changes nothing in exact
arithmetic, but bounds every quantity: |A| ≤ 1, each row sum of |A| ≤ √C' (Cauchy–Schwarz) and
‖ÃV‖₁ ≤ C'·‖V‖∞. Every ℓ1 norm takes absolute values (activations may be negative when LEAN does
not follow a ReLU) and is floored at `epsilon` times its bound before dividing. The floor is what
makes an all-zero position give zeros instead of 0/0 = NaN. Above the floor the maths is exactly
Algorithm 2; below it a row of Ã sums to less than 1, damping that group instead of amplifying
noise. A row's sum is at least its group's share of the position's squared ℓ2 norm, so only
groups holding under `epsilon`·√C' of it (2.5 % at C' = 10) can ever be floored.

Never forming A: with G the (C', C'') groups of a position, A·V = G·(Gᵀ·V), i.e. row i is
g_i·m with m = Σ_k V_k·g_k, and for non-negative input (LEAN after a ReLU, as in the paper) the
row sums Σ_j A_ij = g_i·(Σ_j g_j) are already the ℓ1 row sums. So the layer computes the same
numbers from two weighted sums of the groups and two dot products per group: 3·C_in MACs per
position instead of C'·C_in + C'². Inputs that may be negative need `signed_inputs=True`: then A
is formed once to take Σ_j |A_ij|; with the default, negative inputs are clipped to zero first.

Ops XNNPACK runs (docs/lean.md, "The int8 graph"): every sum over groups or positions, every tile
(a C''-vector repeated for each group) and the V-weighted sum is a product with a constant 0/1 (or
V-valued) matrix, i.e. a FULLY_CONNECTED with fixed weights; the dot products are a MUL and such a
product. No per-position BATCH_MATMUL, no SUM over a short inner axis, no L2_NORMALIZATION (no
XNNPACK kernel in float or int8): the ℓ2 normalisation is x·rsqrt(max(Σx², 1e-12)) spelled out.

Division in float: XNNPACK has no int8 DIV, MAXIMUM, ABS, RSQRT or RELU, so in a full-int8 graph
those would run in TFLite's reference kernels and cut the graph into delegate partitions (13 for
`lean_cnn`). The layer names them `lean_float_*` (FLOAT_OP_PREFIX) and the int8 conversion
(`edgeopt.models.conversion.tflite_bytes`) leaves them in float, inside XNNPACK's one partition: the
unit normalisation, the floored D, the divisions and ℓ1 norms (C'-wide), and the numerator A·V.

The numerator: with its products in int8 (MUL, then the group sums), the trained Fashion-MNIST
`lean_cnn` lost 2.6 points of int8 accuracy (0.857 against 0.884 with it in float, first 3 000
test images): n_i = g_i·m mixes signs and D⁻¹ amplifies its rounding. The row sums, all
non-negative, stay int8.

`random_walk=False` is an explicit variant that changes the mathematics: power iteration on A
itself, V ← A·V / ‖A·V‖₁, without the random-walk normalisation D⁻¹ (Algorithm 2's step 3). It
needs neither the row sums, nor the unit normalisation (the output is scale-free and no floor is
relative to a bound), nor a float numerator (there is no D⁻¹ to amplify its rounding): in a full
int8 graph it is three fixed products and a MUL in int8, then the C'-wide ℓ1 normalisation in
float. docs/lean.md ("The fast variant") has its speed and accuracy; it is never the default.
"""

from __future__ import annotations

import math

import numpy as np

from edgeopt.tf.runtime import keras, tf


# Name prefix of the ops the int8 graph keeps in float: the divisions and what only they use
# (XNNPACK has no int8 DIV, MAXIMUM or ABS; see "Division in float" in the module docstring).
FLOAT_OP_PREFIX = "lean_float_"


def _unchanged(tensor):
    """The identity, in place of `LEAN._int8_rounding` outside int8-aware training."""
    return tensor


@keras.saving.register_keras_serializable(package="edgeopt")
class LEAN(keras.layers.Layer):
    """Reduce the last axis from C_in to `preserved` channels by batch power iteration.

    Args:
        preserved: C', the number of channels kept; the input's last axis must be a multiple of it.
        iterations: power-iteration steps (the paper uses 1; many steps converge to a constant
            vector and lose information, which is why the paper stops early).
        epsilon: floor of every ℓ1 norm, relative to that norm's largest possible value, before
            dividing: all-zero activations give zeros, not NaN, and int8 DIVs never meet a zero
            divisor. The default 1/128 is two int8 steps of the bounded range.
        initial_vector_initializer: initialiser of the learnable initial vector V ∈ R^{C'}. It must
            not be constant: a constant V is a fixed point of Ã (rows sum to 1) and would make the
            output the same for every input. None (default): uniform in [0, 1).
        signed_inputs: False (default) for non-negative input, e.g. after a ReLU as in the paper:
            negative values are clipped to zero and the row sums come from the groups' sum without
            forming A. True for input that may be negative: A is formed to take Σ_j |A_ij|.
        int8_aware: True rounds every tensor inside the layer to the int8 grid full-int8 TFLite will
            store it on, during training only (`training=True`), with straight-through gradients,
            so training sees the rounding error post-training quantisation adds and learns around
            it. Inference, the saved weights and the converted graph are the same as without it.
        random_walk: True (default) is Algorithm 2: power iteration on the random-walk normalised
            affinity Ã = D⁻¹A. False is a variant that changes the mathematics, V ← A·V / ‖A·V‖₁
            (no D⁻¹): fewer ops and an int8 graph about 1.3× faster than the default's on
            `lean_cnn` (docs/lean.md, "The fast variant"); a model must be trained with it.
        **kwargs: standard Keras layer arguments (name, dtype, trainable).

    Input shape: (..., C_in) of rank ≥ 2, e.g. (N, H, W, C_in) after a conv, or (N, C_in) before a
    Dense layer. Output shape: (..., preserved).

    Example:
        >>> layer = LEAN(preserved=10)
        >>> layer(tf.random.uniform((2, 8, 8, 50))).shape
        TensorShape([2, 8, 8, 10])
    """

    def __init__(self, preserved: int, iterations: int = 1, epsilon: float = 1 / 128,
                 initial_vector_initializer=None, signed_inputs: bool = False, int8_aware: bool = False,
                 random_walk: bool = True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(preserved, bool) or not isinstance(preserved, int) or preserved < 1:
            raise ValueError(f"`preserved` must be an integer ≥ 1. Received: preserved={preserved!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"`iterations` must be an integer ≥ 1. Received: iterations={iterations!r}")
        if not (isinstance(epsilon, (int, float)) and 0 < epsilon < 1):
            raise ValueError(f"`epsilon` must be in (0, 1), e.g. 1/128. Received: epsilon={epsilon!r}")
        if not isinstance(signed_inputs, bool):
            raise ValueError(f"`signed_inputs` must be True or False. Received: signed_inputs={signed_inputs!r}")
        if not isinstance(int8_aware, bool):
            raise ValueError(f"`int8_aware` must be True or False. Received: int8_aware={int8_aware!r}")
        if not isinstance(random_walk, bool):
            raise ValueError(f"`random_walk` must be True or False. Received: random_walk={random_walk!r}")
        self.random_walk = random_walk
        self.signed_inputs = signed_inputs
        self.int8_aware = int8_aware
        self.preserved = preserved
        self.iterations = iterations
        self.epsilon = float(epsilon)
        self.initial_vector_initializer = (keras.initializers.RandomUniform(0.0, 1.0)
                                           if initial_vector_initializer is None
                                           else keras.initializers.get(initial_vector_initializer))
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"LEAN needs a known channel count (last axis). Received input shape {input_shape}")
        if channels % self.preserved:
            divisors = [d for d in range(1, channels + 1) if channels % d == 0]
            raise ValueError(
                f"LEAN splits the {channels} input channels into `preserved` equal groups, so `preserved` must "
                f"divide {channels}. Received: preserved={self.preserved}. Divisors of {channels}: {divisors}")
        self.reducible = channels // self.preserved  # C''
        # Positions per sample (H·W for images, 1 for (N, C) input); None if a middle axis is unknown.
        middle = input_shape[1:-1].as_list()
        self.positions = math.prod(middle) if all(d is not None for d in middle) else None
        self.initial_vector = self.add_weight(
            name="initial_vector", shape=(self.preserved,), initializer=self.initial_vector_initializer,
            trainable=True)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: channels})
        super().build(input_shape)

    def normalized_affinity(self, inputs):
        """Ã = D⁻¹·A with A = X·Xᵀ per position: shape (..., C', C'); each row of |Ã| sums to 1.

        A row whose ℓ1 sum is below `epsilon`·√C' of the position's squared ℓ2 norm (a group carrying
        almost none of the position's energy, or an all-zero position) is divided by that floor
        instead, so it sums to less than 1. The layer itself never forms Ã; this is for inspection
        and tests. It is Algorithm 2's Ã whatever `random_walk`; the variant multiplies by A itself.
        """
        x = self._unit(inputs)
        groups = self._split(x)
        affinity = tf.linalg.matmul(groups, groups, transpose_b=True)
        return affinity / self._degree(x)[..., None]

    def call(self, inputs, training=None):
        # q marks every tensor full-int8 TFLite stores as int8; it rounds only in int8-aware training.
        q = self._int8_rounding if (self.int8_aware and training) else _unchanged
        if not self.random_walk:
            return q(self._iterate_on_affinity(inputs, q))
        unit = self._unit(inputs, q)       # (..., C_in): each position's X at unit ℓ2 norm, float
        degree = self._degree(q(unit), q)  # (..., C'): int8 row sums of the quantised unit X, floored in float
        # The output is invariant to scaling V too; with ‖V‖₁ = 1 and rows of Ã summing to ≤ 1,
        # ‖ÃV‖₁ ≤ C'·‖V‖∞ (a constant expression the TFLite converter folds into the weights).
        vector = self._unit_l1_initial_vector(unit.dtype)
        bound = self.preserved * tf.reduce_max(tf.abs(vector))
        for iteration in range(self.iterations):
            with tf.name_scope(f"{FLOAT_OP_PREFIX}numerator"):  # float in int8: see "The numerator"
                numerator = self._affinity_times(unit, vector, per_position=iteration > 0)  # (A·V)_i: (..., C')
            vector = tf.math.divide(numerator, degree, name=f"{FLOAT_OP_PREFIX}transition")  # (ÃV)_i
            vector = self._l1_normalised(vector, tf.cast(self.epsilon * bound, vector.dtype))
            bound = tf.cast(self.preserved, vector.dtype)  # later iterations start from ‖V‖₁ ≤ 1
        return q(vector)

    def _unit_l1_initial_vector(self, dtype):
        """V scaled to ‖V‖₁ = 1 (the output does not depend on V's scale), in the compute dtype."""
        vector = tf.cast(self.initial_vector, dtype)
        return vector / tf.maximum(tf.reduce_sum(tf.abs(vector)), tf.cast(1e-12, vector.dtype))

    @staticmethod
    def _l1_normalised(vector, floor):
        """vector / max(‖vector‖₁, floor) per position: the power-iteration step's normalisation, float."""
        l1 = tf.maximum(tf.reduce_sum(tf.abs(vector, name=f"{FLOAT_OP_PREFIX}abs"), axis=-1, keepdims=True,
                                      name=f"{FLOAT_OP_PREFIX}l1"), floor, name=f"{FLOAT_OP_PREFIX}l1_floor")
        return tf.math.divide(vector, l1, name=f"{FLOAT_OP_PREFIX}normalise")

    def _iterate_on_affinity(self, inputs, q):
        """The `random_walk=False` variant: V ← A·V / ‖A·V‖₁ on the input as it is (no unit norm).

        Every position's output is invariant to scaling its X, so no floor needs a bound: ‖A·V‖₁ is
        zero only where m = Σ_k V_k·g_k is (Σ_i V_i·(A·V)_i = ‖m‖²), and the tiny floor turns such
        positions into zeros. m is scaled to unit ℓ1 norm first (C'' values per position, in float;
        the output does not change): the int8 products g_i·m then stay on one grid for every
        position instead of growing with ‖X‖².
        """
        x = inputs if self.signed_inputs else tf.nn.relu(inputs, name=f"{FLOAT_OP_PREFIX}relu")
        x = q(x)
        vector = self._unit_l1_initial_vector(x.dtype)
        tiny = tf.cast(self._l2_floor(x.dtype), x.dtype)
        for iteration in range(self.iterations):
            mixture = q(self._mixture(x, vector, per_position=iteration > 0))  # m = Σ_k V_k·g_k: (..., C'')
            with tf.name_scope(f"{FLOAT_OP_PREFIX}mixture_scale"):
                mixture = mixture / tf.maximum(tf.reduce_sum(tf.abs(mixture), axis=-1, keepdims=True), tiny)
            product = self._times_groups(x, q(mixture), q)  # (A·V)_i = g_i·m, int8
            vector = self._l1_normalised(product, tiny)
        return vector

    # --- the fixed matrices: group sums, tiles and selections as products with constant 0/1 matrices

    def _fixed(self, x, matrix):
        """x (..., K) times a constant (K, L) matrix: a FULLY_CONNECTED with fixed weights in TFLite."""
        return tf.linalg.matmul(x, tf.cast(matrix, x.dtype))

    def _position_sum(self) -> np.ndarray:
        """(C_in, C''): column k sums channel k of every group (Σ_i g_i)."""
        channel = np.arange(self.preserved * self.reducible)
        return (channel[:, None] % self.reducible == np.arange(self.reducible)[None, :]).astype(np.float32)

    def _group_sum(self) -> np.ndarray:
        """(C_in, C'): column i sums group i's channels (g_i·1)."""
        channel = np.arange(self.preserved * self.reducible)
        return (channel[:, None] // self.reducible == np.arange(self.preserved)[None, :]).astype(np.float32)

    def _times_groups(self, x, vector, q=_unchanged):
        """g_i·vector for every group i, vector (..., C'') per position: tile it C' times, multiply, sum."""
        tiled = q(self._fixed(vector, self._position_sum().T))  # (..., C_in): vector_k at every g_ik
        return q(self._fixed(q(x * tiled), self._group_sum()))

    def _mixture(self, x, vector, per_position: bool):
        """m = Σ_k V_k·g_k, (..., C''): a product with a fixed matrix holding V, or per position."""
        if per_position:  # V differs per position (later iterations): Σ_k V_k·g_k as a product
            weights = self._fixed(vector, self._group_sum().T)  # V_i at every channel of g_i
            return self._fixed(x * weights, self._position_sum())
        weights = tf.repeat(vector, self.reducible)[:, None]  # the same V everywhere: (C_in, 1), folded
        return self._fixed(x, weights * tf.cast(self._position_sum(), x.dtype))

    def _affinity_times(self, x, vector, per_position: bool):
        """A·V = G·(Gᵀ·V) for A = G·Gᵀ, without forming A: m = Σ_k V_k·g_k, then g_i·m per group."""
        return self._times_groups(x, self._mixture(x, vector, per_position))

    def _unit(self, inputs, q=_unchanged):
        """Each position's X scaled to unit ℓ2 norm (zeros stay zeros), in float in the int8 graph.

        Ã is invariant to scaling X per position; unit norm bounds everything after it (|A| ≤ 1,
        row sums ≤ √C'), so int8 quantises every position's products on the same grid. It is
        x·rsqrt(max(Σx², 1e-12)), as `tf.math.l2_normalize`, spelled out: TFLite's
        L2_NORMALIZATION has no XNNPACK kernel, in float or int8.
        """
        # relu: a no-op after a ReLU (the converter then drops it); float, as XNNPACK has no int8 RELU
        x = inputs if self.signed_inputs else tf.nn.relu(inputs, name=f"{FLOAT_OP_PREFIX}relu")
        x = q(x)
        energy = tf.reduce_sum(tf.math.multiply(x, x, name=f"{FLOAT_OP_PREFIX}square"), axis=-1, keepdims=True,
                               name=f"{FLOAT_OP_PREFIX}energy")
        energy = tf.maximum(energy, tf.cast(self._l2_floor(x.dtype), energy.dtype), name=f"{FLOAT_OP_PREFIX}energy_floor")
        return tf.math.multiply(x, tf.math.rsqrt(energy, name=f"{FLOAT_OP_PREFIX}rsqrt"), name=f"{FLOAT_OP_PREFIX}unit")

    def _degree(self, x, q=_unchanged):
        """D: the ℓ1 row sums of A = G·Gᵀ of the unit-norm X, floored at `epsilon`·√C', (..., C')."""
        if self.signed_inputs:  # Σ_j |A_ij| needs A itself: the C'×C' affinity, in float
            groups = self._split(x)
            affinity = tf.linalg.matmul(groups, groups, transpose_b=True, name=f"{FLOAT_OP_PREFIX}affinity")
            row_l1 = tf.reduce_sum(tf.abs(affinity, name=f"{FLOAT_OP_PREFIX}affinity_abs"), axis=-1,
                                   name=f"{FLOAT_OP_PREFIX}row_l1")
        else:  # A ≥ 0, so Σ_j |A_ij| = Σ_j g_i·g_j = g_i·(Σ_j g_j)
            row_l1 = self._times_groups(x, q(self._fixed(x, self._position_sum())), q)
        floor = self.epsilon * math.sqrt(self.preserved)
        return tf.maximum(row_l1, tf.cast(floor, row_l1.dtype), name=f"{FLOAT_OP_PREFIX}degree")

    @staticmethod
    def _int8_rounding(x):
        """x rounded to the int8 grid full-int8 TFLite gives this tensor, with a straight-through
        gradient. TFLite quantises every intermediate per tensor over the range it saw on the
        calibration images; the batch's own min/max (widened to hold 0, as TFLite's are) stands in
        for it."""
        x32 = tf.cast(x, tf.float32)
        low = tf.stop_gradient(tf.minimum(tf.reduce_min(x32), 0.0))
        high = tf.stop_gradient(tf.maximum(tf.reduce_max(x32), 0.0))
        return tf.cast(tf.quantization.fake_quant_with_min_max_vars(x32, low, high, num_bits=8), x.dtype)

    def _l2_floor(self, dtype) -> float:
        # Floor of Σx² before rsqrt; TF's 1e-12 is 0 in float16, where 0·rsqrt(0) would be NaN
        # (and TF flushes float16 subnormals), so float16 gets its smallest normal number.
        return float(np.finfo(np.float16).tiny) if tf.as_dtype(dtype) == tf.float16 else 1e-12

    def _split(self, inputs):
        # Static shapes where known keep the TFLite graph free of SHAPE/STRIDED_SLICE/PACK ops.
        static = inputs.shape.as_list()
        if all(d is not None for d in static[1:]):
            shape = [-1, *static[1:-1], self.preserved, self.reducible]
        else:
            shape = tf.concat([tf.shape(inputs)[:-1], [self.preserved, self.reducible]], axis=0)
        return tf.reshape(inputs, shape)  # channel c = group·C'' + k, as PyTorch's `view`

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.preserved])

    def count_macs(self) -> int:
        """Multiply-accumulates for one sample: the row sums of A plus A·V per iteration.

        Per position: C_in for the row sums g_i·Σ_j g_j (C'·C_in for A = X·Xᵀ with
        `signed_inputs`; none with `random_walk=False`), and per iteration C_in for m = Σ_k V_k·g_k
        plus C_in for the dot products g_i·m. Sums, norms and the 2·C' divisions per iteration are
        not counted, as for other layers' activations. In TFLite the sums and tiles are FULLY_CONNECTED ops with fixed 0/1
        weights, whose MACs the .tflite counts add (`edgeopt run`'s table counts the .tflite);
        the layer also lowers to MUL, SUM, MAXIMUM, RSQRT, ABS, DIV (BATCH_MATMUL for A with
        `signed_inputs`).
        """
        if self.positions is None:
            raise ValueError("LEAN.count_macs needs every input axis but the batch known; "
                             f"this layer was built for positions={self.positions}")
        channels = self.preserved * self.reducible
        if not self.random_walk:  # the variant has no row sums
            row_sums = 0
        else:
            row_sums = self.preserved * channels if self.signed_inputs else channels
        per_position = row_sums + 2 * channels * self.iterations
        return self.positions * per_position

    def get_prunable_weights(self):
        # The initial vector is C' numbers that set the whole output; zeroing any of them is not pruning.
        return []

    def get_config(self):
        config = super().get_config()
        config.update({
            "preserved": self.preserved,
            "iterations": self.iterations,
            "epsilon": self.epsilon,
            "initial_vector_initializer": keras.initializers.serialize(self.initial_vector_initializer),
            "signed_inputs": self.signed_inputs,
            "int8_aware": self.int8_aware,
            "random_walk": self.random_walk,
        })
        return config

