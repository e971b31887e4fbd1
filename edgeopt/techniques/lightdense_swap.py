"""Replace a trained model's Dense layers by LightDense, initialised from the trained weights.

Each swapped Dense layer's kernel W (m × n) and bias b become LightDense factors by truncated SVD,
W1 = U_r·√S_r and W2 = √S_r·V_rᵀ: the best rank-r approximation of W in the Frobenius norm
(Eckart–Young). Two more steps keep the swapped model close to the trained one before any
fine-tuning:

- The PDE step is a fixed linear map z ↦ z·P of the layer's pre-activation output
  (`edgeopt.layers.light_dense.pde_matrix`), so the factors approximate W·P⁻¹ and the bias is
  b·P⁻¹: at full rank the PDE step then gives back exactly x·W + b.
- L2 normalisation divides each sample by its norm. For a layer given a learnable `scale`, the
  scale starts at the mean norm of the trained layer's pre-activation outputs on real training
  samples, so outputs keep their typical magnitude (a classifier keeps its softmax temperature).

Every other layer keeps its weights; the model is rebuilt layer by layer (`clone_model`), so
Sequential and functional models both work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Literal

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.layers.light_dense import PAPER_RANK, LightDense, lightdense_params, pde_matrix
from edgeopt.tf.runtime import keras

LayerSelection = Literal["hidden", "all"]
ScaleSelection = Literal["head", "all", "none"]
_MAX_PDE_CONDITION = 1e6  # beyond this, inverting the PDE step amplifies rounding noise


@dataclass(frozen=True)
class SwappedLayer:
    """What happened to one Dense layer.

    Attributes:
        name: The layer's name (kept by its LightDense replacement).
        in_features: m, the input width.
        units: n, the output width.
        rank: r, the inner dimension of W1·W2.
        is_head: The layer produces a model output (the classifier's logits).
        dense_params: Parameters of the Dense layer (m·n + n).
        lightdense_params: Parameters of the LightDense layer (m·r + r·n + n, + 1 with a scale).
        energy_kept: Fraction of the squared singular values of the (PDE-compensated) kernel that
            the rank-r factors keep; 1.0 at full rank. None with random initialisation.
        scale: Initial value of the learnable output scale, None without one.
    """

    name: str
    in_features: int
    units: int
    rank: int
    is_head: bool
    dense_params: int
    lightdense_params: int
    energy_kept: float | None
    scale: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def swap_dense_to_lightdense(
    model: keras.Model,
    *,
    layers: LayerSelection | Iterable[str] = "hidden",
    rank: int | None = None,
    rank_ratio: float | None = None,
    ranks: dict[str, int] | None = None,
    pde: bool = True,
    dt: float = 0.1,
    velocity: float = 0.1,
    trainable_pde: bool = False,
    normalize: bool = True,
    scale: ScaleSelection = "all",
    init: Literal["svd", "random"] = "svd",
    calibration: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[keras.Model, list[SwappedLayer]]:
    """A copy of `model` whose chosen Dense layers are LightDense, initialised from their weights.

    Args:
        model: A built Sequential or functional model (not modified).
        layers: "hidden" (every Dense layer except those producing a model output, i.e. not the
            classifier head), "all" (every Dense layer, as in the paper's Table 1), or a list of
            layer names.
        rank: The rank of every swapped layer. With neither `rank` nor `rank_ratio`, the
            paper's rank 8.
        rank_ratio: Instead of `rank`: rank = max(1, round(ratio · min(m, n))) per layer.
        ranks: Per-layer ranks by name, overriding `rank`/`rank_ratio` for those layers.
        pde, dt, velocity, trainable_pde, normalize: Passed to every `LightDense`.
        scale: Which swapped layers get a learnable output scale (only with `normalize`):
            "all" (one parameter per layer; keeps every layer's output magnitude, so the swapped
            model starts close to the trained one), "head" (layers producing a model output:
            hidden layers then have the paper's exact parameter count), or "none" (the paper's
            layer as is; a normalised head gives logits in [−1, 1]).
        init: "svd" (truncated SVD of the trained kernel) or "random" (LightDense's own
            initialisers, for comparison; scales then start at √units).
        calibration: Real input samples (a few hundred) to set the initial scales from; required
            when `init="svd"` and a swapped layer gets a scale (the default).
        seed: Seeds the random initialisers of `init="random"`.

    Returns:
        The new model (uncompiled) and one `SwappedLayer` per swapped layer, in model order.

    Raises:
        EdgeoptError: A named layer is missing or not Dense, a rank does not fit a layer, no
            layer was selected, the PDE step is not invertible for the SVD initialisation, or a
            needed calibration set is missing.

    Example:
        >>> swapped, report = swap_dense_to_lightdense(model, rank=8, calibration=x_train[:300])  # doctest: +SKIP
        >>> [(s.name, s.dense_params, s.lightdense_params) for s in report]  # doctest: +SKIP
        [('fc1', 8320, 1665)]
    """
    if rank is not None and rank_ratio is not None:
        raise EdgeoptError(f"Give `rank` or `rank_ratio`, not both. Received: rank={rank}, rank_ratio={rank_ratio}")
    if rank_ratio is not None and not 0 < rank_ratio <= 1:
        raise EdgeoptError(f"`rank_ratio` must be in (0, 1]. Received: rank_ratio={rank_ratio}")
    if scale not in ("all", "head", "none"):
        raise EdgeoptError(f"`scale` must be 'all', 'head' or 'none'. Received: scale={scale!r}")
    if init not in ("svd", "random"):
        raise EdgeoptError(f"`init` must be 'svd' or 'random'. Received: init={init!r}")
    ranks = dict(ranks or {})
    for key, value in ranks.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise EdgeoptError(f"`ranks` values must be positive integers. Received: ranks[{key!r}]={value!r}")
    _refuse_nested_dense(model)
    heads = _output_layer_names(model)
    dense = {layer.name: layer for layer in model.layers if type(layer) is keras.layers.Dense}
    targets = _select(model, dense, heads, layers)
    unknown = sorted(set(ranks) - set(targets))
    if unknown:
        raise EdgeoptError(f"`ranks` names layers that are not being swapped: {', '.join(unknown)}. "
                           f"Swapped layers: {', '.join(targets)}")

    plans: dict[str, SwappedLayer] = {}
    for name in targets:
        layer = dense[name]
        m, n = (int(d) for d in layer.kernel.shape)
        r = _rank_for(name, m, n, ranks.get(name), rank, rank_ratio)
        with_scale = normalize and (scale == "all" or (scale == "head" and name in heads))
        plans[name] = SwappedLayer(
            name=name, in_features=m, units=n, rank=r, is_head=name in heads,
            dense_params=int(layer.count_params()),
            lightdense_params=lightdense_params(m, n, r, layer.use_bias) + (2 if pde and trainable_pde else 0)
            + (1 if with_scale else 0),
            energy_kept=None, scale=1.0 if with_scale else None)  # scale values are filled in below

    scales = _initial_scales(model, [n for n, p in plans.items() if p.scale is not None], init, calibration)

    def clone(layer):
        if layer.name not in plans:
            return layer.__class__.from_config(layer.get_config())
        plan = plans[layer.name]
        config = layer.get_config()
        return LightDense(
            plan.units, rank=plan.rank, activation=config["activation"], use_bias=config["use_bias"],
            pde=pde, dt=dt, velocity=velocity, trainable_pde=trainable_pde, normalize=normalize,
            scale=scales.get(layer.name), name=layer.name, dtype=config.get("dtype"),
            trainable=layer.trainable,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + targets.index(layer.name)),
        )

    new_model = keras.models.clone_model(model, clone_function=clone)
    report = []
    for layer in model.layers:
        target = new_model.get_layer(layer.name)
        if layer.name not in plans:
            target.set_weights(layer.get_weights())
            continue
        plan = plans[layer.name]
        energy = None
        if init == "svd":
            energy = _load_svd(target, layer, plan.rank, pde, dt, velocity)
        report.append(SwappedLayer(**{**plan.to_dict(), "energy_kept": energy, "scale": scales.get(layer.name)}))
    return new_model, report


def _load_svd(target: LightDense, dense, rank: int, pde: bool, dt: float, velocity: float) -> float:
    """Set target's factors (and bias) from the Dense layer's; return the energy kept."""
    kernel = dense.kernel.numpy().astype(np.float64)
    bias = dense.bias.numpy().astype(np.float64) if dense.use_bias else None
    if pde:
        kernel, bias = _undo_pde(dense.name, kernel, bias, dt, velocity)
    u, s, vt = np.linalg.svd(kernel, full_matrices=False)
    root = np.sqrt(s[:rank])
    values = {"w1": u[:, :rank] * root, "w2": root[:, None] * vt[:rank]}
    target.w1.assign(values["w1"].astype(np.float32))
    target.w2.assign(values["w2"].astype(np.float32))
    if bias is not None:
        target.bias.assign(bias.astype(np.float32))
    total = float(np.sum(s ** 2))
    return float(np.sum(s[:rank] ** 2) / total) if total > 0 else 1.0


def _undo_pde(name: str, kernel: np.ndarray, bias: np.ndarray | None, dt: float, velocity: float):
    """Kernel and bias whose output, after the PDE step z ↦ z·P, is the Dense layer's: W·P⁻¹, b·P⁻¹."""
    p = pde_matrix(kernel.shape[1], dt, velocity)
    condition = np.linalg.cond(p)
    if not np.isfinite(condition) or condition > _MAX_PDE_CONDITION:
        raise EdgeoptError(
            f"The PDE step with dt={dt}, velocity={velocity} is (nearly) singular on layer '{name}' "
            f"(condition number {condition:.3g}), so the SVD initialisation cannot undo it. "
            "Use a smaller dt or velocity (dt < 0.25 with |velocity| ≤ 2·dt is always invertible), or pde: false.")
    inverse = np.linalg.inv(p)
    return kernel @ inverse, (None if bias is None else bias @ inverse)


def _initial_scales(model, names: list[str], init: str, calibration) -> dict[str, float]:
    """The learnable scales' starting values: mean L2 norm of each layer's pre-activation output."""
    if not names:
        return {}
    if init == "random":
        return {name: float(np.sqrt(model.get_layer(name).units)) for name in names}
    if calibration is None or len(calibration) == 0:
        raise EdgeoptError(f"Layers {', '.join(names)} get a learnable scale, which starts at the mean norm of "
                           "their outputs on real samples; pass `calibration` samples (or scale='none').")
    probe = keras.Model(model.inputs, [model.get_layer(n).input for n in names])
    inputs = probe.predict(np.asarray(calibration), batch_size=256, verbose=0)
    inputs = inputs if isinstance(inputs, list) else [inputs]
    scales = {}
    for name, x in zip(names, inputs):
        layer = model.get_layer(name)
        z = np.asarray(x, np.float64) @ layer.kernel.numpy()
        if layer.use_bias:
            z = z + layer.bias.numpy()
        norm = float(np.mean(np.linalg.norm(z.reshape(-1, z.shape[-1]), axis=-1)))
        scales[name] = norm if norm > 0 else 1.0  # a dead layer (all-zero outputs): any start is as good
    return scales


def _rank_for(name: str, m: int, n: int, override: int | None, rank: int | None, ratio: float | None) -> int:
    if override is not None:
        r, source = int(override), f"ranks[{name!r}]={override}"
    elif ratio is not None:
        r, source = max(1, round(ratio * min(m, n))), f"rank_ratio={ratio} → rank {max(1, round(ratio * min(m, n)))}"
    else:
        r = PAPER_RANK if rank is None else int(rank)
        source = f"rank={r}"
    if r < 1 or r > min(m, n):
        raise EdgeoptError(
            f"Layer '{name}' is a {m}→{n} Dense layer, so its rank must be in [1, min({m}, {n}) = {min(m, n)}]. "
            f"Received: {source}. Give this layer its own rank with `ranks: {{{name}: ...}}`, use `rank_ratio`, "
            "or leave it out of `layers`.")
    return r


def _select(model, dense: dict, heads: set[str], layers) -> list[str]:
    if layers == "hidden":
        names = [n for n in dense if n not in heads]
    elif layers == "all":
        names = list(dense)
    elif isinstance(layers, str):
        raise EdgeoptError(f"`layers` must be 'hidden', 'all' or a list of layer names. Received: layers={layers!r}")
    else:
        names = list(layers)
        all_names = [layer.name for layer in model.layers]
        for name in names:
            if name not in all_names:
                raise EdgeoptError(f"`layers` names '{name}', which model '{model.name}' does not have. "
                                   f"Its Dense layers: {', '.join(dense) or 'none'}")
            if name not in dense:
                kind = type(model.get_layer(name)).__name__
                raise EdgeoptError(f"`layers` names '{name}', a {kind} layer; only Dense layers can be swapped. "
                                   f"Dense layers: {', '.join(dense) or 'none'}")
        names = [n for n in dense if n in set(names)]  # model order
    if not names:
        raise EdgeoptError(f"No Dense layer of model '{model.name}' is selected by layers={layers!r} "
                           f"(Dense layers: {', '.join(dense) or 'none'}; outputs: {', '.join(sorted(heads))}). "
                           "Use layers: all to include the classifier head.")
    return names


def _output_layer_names(model) -> set[str]:
    return {tensor._keras_history.layer.name for tensor in model.outputs}


def _refuse_nested_dense(model) -> None:
    for layer in model.layers:
        if isinstance(layer, keras.Model) and any(isinstance(sub, keras.layers.Dense)
                                                  for sub in layer.submodules):
            raise EdgeoptError(f"Model '{model.name}' holds Dense layers inside the nested model '{layer.name}'; "
                               "swapping reaches only top-level layers. Flatten the model first.")
