"""LightDense (seed 000): a low-rank dense layer with a PDE update and L2 normalisation.

The paper replaces a CNN's Dense layers by a layer that computes, for an input row x,

    z = x·W1·W2 + b                         (low-rank factorisation, W ≈ W1·W2)
    z ← z + Δt·∂z/∂t + v·∇z                 (one explicit step of a PDE solver)
    z ← z / ‖z‖₂                            (L2 normalisation along the feature axis)

and gives only these formulas. What this module makes concrete is documented on the class.
"""

from __future__ import annotations

import numbers

import numpy as np

from edgeopt.tf.runtime import keras, tf

PAPER_RANK = 8  # see the LightDense docstring for the derivation from Table 1


def pde_matrix(units: int, dt: float, velocity: float) -> np.ndarray:
    """The PDE step as the (units × units) matrix P with z_out = z·P, for fixed Δt and v.

    The step is linear in z, so it is one matrix; the layer never multiplies by it (that would
    cost units² MACs), but `swap_fc` inverts it to initialise a swapped layer so that the PDE
    step does not change the trained layer's outputs.

    Example:
        >>> pde_matrix(3, 0.1, 0.0)[:, 0]  # output feature 0 = 0.9·z0 + 0.1·z1
        array([0.9, 0.1, 0. ])
    """
    matrix = np.zeros((units, units))
    for j in range(units):  # column j: where output feature j takes its inputs from
        matrix[j, j] += 1.0 - 2.0 * dt
        matrix[max(j - 1, 0), j] += dt - velocity / 2  # z[j-1], the edge value at j = 0
        matrix[min(j + 1, units - 1), j] += dt + velocity / 2  # z[j+1], the edge value at the end
    return matrix


@keras.saving.register_keras_serializable(package="edgeopt")
class LightDense(keras.layers.Layer):
    """Dense layer with a rank-r weight, a PDE update step and L2 normalisation (seed 000).

    The output for an input x (last axis of size m) is
    `activation(scale · normalise(pde(x·W1·W2 + b)))`, with W1 (m × rank), W2 (rank × units).

    **The PDE step**, z ← z + Δt·∂z/∂t + v·∇z, treats the `units` features of a sample as a 1-D
    field on a grid of spacing 1 and takes one explicit Euler step of an advection–diffusion
    equation:

    - ∂z/∂t is diffusion, the discrete Laplacian z[j-1] − 2·z[j] + z[j+1];
    - ∇z is the central difference (z[j+1] − z[j-1]) / 2;
    - at the two ends the field is extended by its edge value (zero-flux boundary), so
      z[-1] = z[0] and z[units] = z[units-1].

    So each feature becomes (1 − 2Δt)·z[j] + (Δt − v/2)·z[j-1] + (Δt + v/2)·z[j+1]: a fixed
    3-tap mixing of neighbouring features, i.e. z ↦ z·P for a tridiagonal P (`pde_matrix`).
    Because it is linear, the layer applies it to the rows of W2 and to b instead of to z —
    the same result, computed once per call rather than per sample — and a TFLite converter folds
    it into the stored W2 and b: the step costs nothing at inference and adds no ops to the
    .tflite graph. (The flip side: it adds no expressiveness either — an invertible
    fixed P is a reparameterisation of W2 — and with tfmot pruning the exported W2·P is not sparse.)
    Δt = `dt` and v = `velocity` are constants by default; with `trainable_pde=True` they are
    two trainable scalars (2 more parameters). Explicit diffusion is stable for Δt ≤ 0.5; all
    three weights are non-negative (no new oscillations) for |v| ≤ 2Δt, and P is invertible for
    Δt < 0.25 with |v| ≤ 2Δt (diagonally dominant).
    The defaults Δt = 0.1, v = 0.1 (the paper gives no values) give weights 0.8, 0.05, 0.15.

    **Normalisation** divides each sample's feature vector by its L2 norm (plus ε² = `epsilon`
    under the root). It makes the output's scale useless as information: fine for a hidden layer,
    but a classifier's logits then lie in [−1, 1] and softmax is nearly uniform. `scale` (a
    float) adds one trainable scalar, initialised to that value, that multiplies the normalised
    output — a learned temperature as in cosine classifiers. The default (None) is the paper's
    layer: no scale. On a classifier head, normalisation never changes the argmax (accuracy);
    the loss and its gradients are what suffer. `pde=False` / `normalize=False` remove each step to measure it.

    **The paper's default rank is 8**, derived from Table 1: a 64-wide input to LightDense(128)
    has 1,664 parameters and LightDense(128 → 100) has 1,924. With a bias, m·r + r·n + n gives
    192·r + 128 = 1,664 and 228·r + 100 = 1,924, both r = 8 exactly (without a bias r would be
    8.67 and 8.44, not integers). So the bias is counted, and the PDE step adds no parameters:
    Δt and v are constants, not weights, in the paper's layer (also true here by default).

    MACs for one sample are m·rank + rank·units (`count_macs()`). The bias, normalisation and
    scale are elementwise work and are not counted as MACs; the PDE step is per-call work on the
    weights (about 5·rank·units flops), not per-sample work, and is not counted either.

    Args:
        units: Output features, a positive integer.
        rank: Inner dimension r of W1·W2, 1 ≤ rank ≤ min(input features, units). Default 8
            (the paper's).
        activation: Applied last, as in `keras.layers.Dense`. None is linear.
        use_bias: Add b before the PDE step.
        pde: Apply the PDE step.
        dt: Δt, the diffusion step.
        velocity: v, the advection velocity.
        trainable_pde: Make Δt and v trainable scalars (initialised to `dt`, `velocity`).
        normalize: Apply L2 normalisation along the feature axis.
        epsilon: Added to the squared norm before the square root, so a zero vector stays finite.
        scale: None for no output scale (the paper's), or the initial value of a trainable scalar
            multiplying the normalised output. Requires `normalize=True`.
        kernel_initializer: For W1 and W2.
        bias_initializer: For b.
        kernel_regularizer: For W1 and W2.
        bias_regularizer: For b.
        **kwargs: `keras.layers.Layer` arguments (name, dtype, trainable).

    Raises:
        ValueError: `units` or `rank` is not a positive integer, `rank` exceeds
            min(input features, units) (at build), `scale` is given with `normalize=False`, or
            `dt`/`velocity`/`epsilon`/`scale` are not finite numbers (epsilon and scale > 0).

    Example:
        >>> layer = LightDense(128)  # rank 8, PDE step and L2 normalisation on
        >>> _ = layer(tf.zeros((1, 64)))
        >>> layer.count_params(), layer.count_macs()
        (1664, 1536)
    """

    def __init__(self, units, rank=PAPER_RANK, activation=None, use_bias=True, pde=True, dt=0.1,
                 velocity=0.1, trainable_pde=False, normalize=True, epsilon=1e-12, scale=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)
        self.rank = _positive_int("rank", rank)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.pde = bool(pde)
        self.dt = _finite("dt", dt)
        self.velocity = _finite("velocity", velocity)
        self.trainable_pde = bool(trainable_pde)
        self.normalize = bool(normalize)
        self.epsilon = _finite("epsilon", epsilon, positive=True)
        self.scale = None if scale is None else _finite("scale", scale, positive=True)
        if self.scale is not None and not self.normalize:
            raise ValueError("`scale` multiplies the L2-normalised output, so it needs normalize=True. "
                             f"Received: scale={scale}, normalize={normalize}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(f"LightDense needs a known last input dimension. Received: input_shape={input_shape}")
        in_features = int(in_features)
        if self.rank > min(in_features, self.units):
            raise ValueError(
                f"`rank` must be at most min(input features, units) = min({in_features}, {self.units}) = "
                f"{min(in_features, self.units)} for layer '{self.name}': W1·W2 already has full rank there, "
                f"so more only adds parameters. Received: rank={self.rank}")
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: in_features})
        self.w1 = self.add_weight("w1", shape=(in_features, self.rank), initializer=self.kernel_initializer,
                                  regularizer=self.kernel_regularizer, trainable=True)
        # W2 gets its own initializer instance: one instance called twice repeats its values,
        # and a seeded one would draw W2 from W1's random stream, so it gets the next seed.
        init_config = self.kernel_initializer.get_config()
        if init_config.get("seed") is not None:
            init_config["seed"] += 1
        second = self.kernel_initializer.__class__.from_config(init_config)
        self.w2 = self.add_weight("w2", shape=(self.rank, self.units), initializer=second,
                                  regularizer=self.kernel_regularizer, trainable=True)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", shape=(self.units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, trainable=True)
        self.dt_weight = self.velocity_weight = None
        if self.pde and self.trainable_pde:
            self.dt_weight = self.add_weight("dt", shape=(), initializer=keras.initializers.Constant(self.dt))
            self.velocity_weight = self.add_weight("velocity", shape=(),
                                                   initializer=keras.initializers.Constant(self.velocity))
        self.scale_weight = None
        if self.scale is not None:
            self.scale_weight = self.add_weight("scale", shape=(), initializer=keras.initializers.Constant(self.scale))
        super().build(input_shape)

    def call(self, inputs):
        inputs = tf.cast(inputs, self.compute_dtype)
        w2, bias = self.w2, self.bias
        if self.pde:
            # The step is linear along the feature axis, so stepping the rows of W2 and the bias
            # is the same as stepping z = x·W1·W2 + b: O(rank·units) work per call instead of per
            # sample, and a converter folds it into the constants (no PDE ops in a .tflite).
            w2 = self._pde_step(w2)
            bias = None if bias is None else self._pde_step(bias)
        z = _matmul_last_axis(_matmul_last_axis(inputs, self.w1), w2)
        if bias is not None:
            z = tf.nn.bias_add(z, bias)
        if self.normalize:
            # Written out with z·z rather than tf.math.l2_normalize / tf.square: in full-int8
            # TFLite those become an L2_NORMALIZATION with a fixed 1/128 output scale or a float
            # SQUARE between DEQUANTIZE/QUANTIZE; this form stays int8 with calibrated ranges and
            # halved the int8 output error in a 64→100→10 check (1.4 % vs 2.5 %).
            inverse_norm = tf.math.rsqrt(tf.reduce_sum(z * z, axis=-1, keepdims=True) + self.epsilon)
            if self.scale_weight is not None:
                inverse_norm = inverse_norm * self.scale_weight  # one number per sample, not per feature
            z = z * inverse_norm
        if self.activation is not None:
            z = self.activation(z)
        return z

    def _pde_step(self, z):
        """One explicit step along the last axis of z (a batch of outputs, W2's rows, or b)."""
        if self.units == 1:  # one grid point: both finite differences are 0 at a zero-flux edge
            return z
        previous = tf.concat([z[..., :1], z[..., :-1]], axis=-1)  # z[j-1], edge value at j = 0
        following = tf.concat([z[..., 1:], z[..., -1:]], axis=-1)  # z[j+1], edge value at the end
        if self.dt_weight is None:
            # z + Δt·(previous − 2z + following) + v·(following − previous)/2, regrouped.
            dt, v = self.dt, self.velocity
            return z * (1.0 - 2.0 * dt) + previous * (dt - v / 2) + following * (dt + v / 2)
        dt, v = self.dt_weight, self.velocity_weight
        return z * (1.0 - 2.0 * dt) + previous * (dt - v * 0.5) + following * (dt + v * 0.5)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def count_macs(self) -> int:
        """Multiply-accumulates for one sample: m·rank + rank·units (elementwise work excluded)."""
        if not self.built:
            raise ValueError(f"LightDense '{self.name}' knows its MACs once built (call it on an input first).")
        return int(self.w1.shape[0]) * self.rank + self.rank * self.units

    def get_prunable_weights(self):
        """The two factors W1 and W2 (tfmot's PrunableLayer protocol); bias and scalars are kept."""
        return [self.w1, self.w2]

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "rank": self.rank,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "pde": self.pde,
            "dt": self.dt,
            "velocity": self.velocity,
            "trainable_pde": self.trainable_pde,
            "normalize": self.normalize,
            "epsilon": self.epsilon,
            "scale": self.scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        })
        return config


def lightdense_params(in_features: int, units: int, rank: int = PAPER_RANK, use_bias: bool = True) -> int:
    """Weights of a LightDense layer with the defaults (no trainable PDE, no scale).

    Example:
        >>> lightdense_params(64, 128), lightdense_params(128, 100)
        (1664, 1924)
    """
    return in_features * rank + rank * units + (units if use_bias else 0)


def _matmul_last_axis(x, w):
    if x.shape.rank == 2:
        return tf.matmul(x, w)
    return tf.tensordot(x, w, axes=[[x.shape.rank - 1], [0]])


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _finite(name: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or (positive and value <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")
    return float(value)
