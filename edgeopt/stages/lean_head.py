"""`lean_head`: put a LEAN layer in front of named Dense layers, shrinking their input width.

For each named Dense layer with input width C_in, the stage inserts `LEAN(preserved)` before it
and rebuilds the Dense with input width C' = preserved, so its kernel shrinks from C_in×units to
C'×units (seed 001 §3.2 item 5: LEAN "can also be applied to simple fully connected network").
Every other layer keeps its trained weights.

The new kernel cannot be copied: LEAN's output is not a linear function of its input. The default
initialisation, `least_squares`, fits it on `calibration_samples` training images: with X the
old input and U = LEAN(X) (LEAN's vector freshly initialised), it solves [U 1]·[W'; b'] ≈ X·W + b
in the (lightly ridge-regularised) least-squares sense — the new layer, bias included, starts as
the best linear reproduction of the old pre-activations. On Fashion-MNIST's gap_cnn (fc1: 64 → 8 inputs) that is 0.49 test accuracy right
after the swap, against 0.10 for the alternatives: `scaled_group_mean` (input c' gets the mean of
the trained rows of its channel group times the mean ℓ1 norm of X — it assumes LEAN's output
tracks each group's share of the mass, which it does not) and `glorot_uniform` (from scratch).
Either way the stage then fine-tunes the whole model for `epochs`; it records the accuracy right
after the swap in `step.json`. The other two keep the trained bias.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgeopt.common.errors import RecipeError
from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage


class LeanHeadParams(StageParams):
    layers: list[str] = Field(min_length=1, description="names of the Dense layers to put LEAN in front of, e.g. [fc1]")
    preserved: int = Field(ge=1, le=65536, description="C', the input width the Dense layers keep; must divide C_in")
    iterations: int = Field(1, ge=1, le=100, description="power-iteration steps (the paper uses 1)")
    init: Literal["least_squares", "scaled_group_mean", "glorot_uniform"] = Field(
        "least_squares", description="how the shrunk Dense kernel starts (see docs/lean.md)")
    epochs: int = Field(3, ge=0, le=1000, description="fine-tuning epochs after the swap (0: none)")
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(5e-4, gt=0, le=1)
    calibration_samples: int = Field(500, ge=1, le=100_000, description="training images the initialisation is fitted on")
    int8_aware: bool = Field(False, description="fine-tune with LEAN's int8 rounding simulated, for a full-int8 convert")
    random_walk: bool = Field(True, description="Algorithm 2 (true); false: the faster variant without D⁻¹ (docs/lean.md)")

    @field_validator("layers")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"`layers` names a layer twice. Received: layers={value!r}")
        return value


@register_stage("lean_head", params=LeanHeadParams, consumes="keras", produces="keras")
def lean_head(params: LeanHeadParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Insert LEAN before named Dense layers (input C_in → C'), re-initialise them, fine-tune."""
    import numpy as np

    from edgeopt.models.keras_io import load_checked_model, save_keras_model
    from edgeopt.tf.training import compile_classifier, fit_classifier, seed_everything

    seed_everything(ctx.seed)
    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    _check_targets(model, params, ctx.step_id)
    calibration = ctx.dataset.calibration_samples(params.calibration_samples, ctx.seed)
    new_model, swapped = insert_lean(model, params.layers, params.preserved, iterations=params.iterations,
                                     init=params.init, calibration=calibration, int8_aware=params.int8_aware,
                                     random_walk=params.random_walk)
    sample = ctx.dataset.x_test[:2000], ctx.dataset.y_test[:2000]
    accuracy_after_init = float(np.mean(np.argmax(new_model.predict(sample[0], batch_size=256, verbose=0), -1)
                                        == sample[1]))
    ctx.log(f"  LEAN before {', '.join(params.layers)}: params {model.count_params()} → {new_model.count_params()}, "
            f"accuracy right after the swap {accuracy_after_init:.4f} (first {len(sample[1])} test images)")
    info = {"params_before": int(model.count_params()), "params_after": int(new_model.count_params()),
            "swapped": swapped, "accuracy_after_init": accuracy_after_init, "train_seconds": 0.0}
    if params.epochs:
        compile_classifier(new_model, params.learning_rate, ctx.log)
        fit = fit_classifier(new_model, ctx.dataset, epochs=params.epochs, batch_size=params.batch_size,
                             label=ctx.step_id, seed=ctx.seed, log_fn=ctx.log)
        info.update(train_seconds=fit.train_seconds, history=fit.history)
    path = save_keras_model(new_model, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", path, "float32", info)


def _check_targets(model, params: LeanHeadParams, step_id: str) -> None:
    from edgeopt.common.errors import did_you_mean
    from edgeopt.tf.runtime import keras

    dense = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Dense)}
    for name in params.layers:
        if name not in dense:
            raise RecipeError(f"step '{step_id}' (stage lean_head): `layers` names no Dense layer of the input model. "
                              f"Received: {name!r}.{did_you_mean(name, dense)} Dense layers: {', '.join(dense) or 'none'}")
        width = int(dense[name].kernel.shape[0])
        if width % params.preserved:
            divisors = [d for d in range(1, width + 1) if width % d == 0]
            raise RecipeError(f"step '{step_id}' (stage lean_head): `preserved` must divide the input width "
                              f"{width} of Dense layer '{name}'. Received: preserved={params.preserved}. "
                              f"Divisors: {divisors}")


def insert_lean(model, layer_names, preserved: int, *, iterations: int = 1, init: str = "least_squares",
                calibration=None, int8_aware: bool = False, random_walk: bool = True):
    """A copy of `model` with `LEAN(preserved)` in front of each named Dense layer, that Dense shrunk.

    Works on Sequential and functional models (each layer used once). Layers other than the
    named Dense ones are reused with their weights.

    Args:
        model: a built Keras model.
        layer_names: names of Dense layers in `model`.
        preserved: C', the new input width of those layers; must divide their input width.
        iterations: LEAN's power-iteration steps.
        init: "least_squares" or "scaled_group_mean" (both need `calibration`), or "glorot_uniform".
        calibration: input images the initialisation is fitted on.
        int8_aware: LEAN's `int8_aware` (simulate its int8 rounding in training).
        random_walk: LEAN's `random_walk` (False: the variant without D⁻¹).

    Returns:
        (new_model, facts): facts maps each layer name to its widths, parameters and init scale.

    Example:
        >>> new, facts = insert_lean(model, ["fc1"], 8, calibration=x_train[:200])
        >>> facts["fc1"]["input_width_after"]
        8
    """
    import numpy as np

    from edgeopt.layers import LEAN
    from edgeopt.tf.runtime import keras, tf

    targets = set(layer_names)
    dense_inputs, scales = {}, {}
    if init in ("least_squares", "scaled_group_mean") and calibration is None:
        raise ValueError(f"init={init!r} needs calibration images")
    if calibration is not None:
        probe = keras.Model(model.inputs, [model.get_layer(n).input for n in layer_names])
        inputs = probe.predict(calibration, batch_size=256, verbose=0)
        dense_inputs = dict(zip(layer_names, inputs if isinstance(inputs, list) else [inputs]))
        scales = {n: float(np.mean(np.sum(np.abs(x), axis=-1))) for n, x in dense_inputs.items()}

    new_inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name.split(":")[0]) for t in model.inputs]
    tensor_dict = {str(id(old)): [new] * model._tensor_usage_count[str(id(old))]
                   for old, new in zip(model.inputs, new_inputs)}
    facts = {}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            args, kwargs = node.map_arguments(tensor_dict)
            layer = node.layer
            if layer.name in targets:
                old_kernel, *rest = layer.get_weights()
                width = old_kernel.shape[0]
                # LEAN's cheaper form needs non-negative input (after a ReLU); without calibration
                # images to show that, take the form that is exact for any sign.
                signed = bool(dense_inputs[layer.name].min() < 0) if dense_inputs else True
                lean = LEAN(preserved, iterations=iterations, signed_inputs=signed, int8_aware=int8_aware,
                            random_walk=random_walk, name=f"{layer.name}_lean", dtype=layer.dtype_policy)
                dense = layer.__class__.from_config(layer.get_config())
                outputs = dense(lean(args[0]), **kwargs)
                if init == "scaled_group_mean":
                    grouped = old_kernel.reshape(preserved, width // preserved, -1).mean(axis=1)
                    dense.set_weights([grouped * scales[layer.name], *rest])
                elif init == "least_squares":
                    dense.set_weights(_least_squares_weights(layer, lean, dense_inputs[layer.name]))
                facts[layer.name] = {"input_width_before": int(width), "input_width_after": preserved,
                                     "params_before": int(layer.count_params()),
                                     "params_after": int(dense.count_params() + lean.count_params()),
                                     "init": init, "signed_inputs": signed, "init_scale": scales.get(layer.name) if init == "scaled_group_mean" else None}
            else:
                outputs = layer(*args, **kwargs)
            for out_id, tensor in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                tensor_dict[out_id] = [tensor] * model._tensor_usage_count[out_id]
    new_outputs = [tensor_dict[str(id(t))].pop() for t in model.outputs]
    new_model = keras.Model(new_inputs, new_outputs if len(new_outputs) > 1 else new_outputs[0], name=model.name)
    return new_model, facts


def _least_squares_weights(old_dense, lean, dense_input, ridge: float = 1e-3):
    """Kernel (and bias) of the shrunk Dense that best reproduce the old pre-activations.

    On the calibration images, the old layer computed X·W + b from its input X; the new one sees
    U = LEAN(X) (with LEAN's freshly initialised vector). Solving [U 1]·[W'; b'] ≈ X·W + b in the
    least-squares sense gives the best linear start the new layer can have. U's columns sum to 1
    (collinear with the bias column) and can be nearly collinear among themselves, so the solve is
    ridge-regularised (`ridge` × the mean diagonal of the normal matrix): without it the weights
    can grow large enough that int8 conversion yields a model XNNPACK refuses to prepare.
    """
    import numpy as np

    kernel, *bias = old_dense.get_weights()
    flat = dense_input.reshape(-1, dense_input.shape[-1]).astype(np.float64)
    target = flat @ kernel + (bias[0] if bias else 0.0)
    features = lean(dense_input).numpy().reshape(-1, lean.preserved).astype(np.float64)
    if bias:
        features = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    normal = features.T @ features
    normal += ridge * np.mean(np.diag(normal)) * np.eye(len(normal))
    solution = np.linalg.solve(normal, features.T @ target).astype(np.float32)
    return [solution[:-1], solution[-1]] if bias else [solution]
