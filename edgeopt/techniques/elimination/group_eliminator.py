"""Seed 003's elimination on a channel group (`groups.py`): one choice of kept channels for the
whole group, one least-squares reconstruction per reader.

1. **What the readers see.** For every distinct read point (the tensor a reader takes the group
   from, and the group's offset on it) the Gram matrix G_r = X_r·X_rᵀ of the group's channels is
   summed over calibration images and positions, batch by batch, all read points in one pass.
2. **One selection for the group.** The read points are stacked, X = [X_1 | X_2 | …], each scaled
   to unit energy (G_r / trace G_r) so that a read point deep in a residual stream, whose values
   are larger, or one with more positions, does not decide alone; Algorithm 2 (SVD, then QR with
   column pivoting on U_pᵀ) runs on the stacked Gram matrix. Channels that are exact linear
   combinations of others at *every* read point are beyond its rank, and go first.
3. **Each reader its own T.** Eq. 6 is solved per read point on that point's own G_r, and T_rᵀ is
   folded into that reader's rows for the group's channels, so every reader sees a
   reconstruction fitted on exactly what it sees (the stream after one Add is not the stream
   after the next).

The producers are sliced, the per-channel layers in between follow (`group_surgery.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.techniques.elimination.group_surgery import GroupMaskedEvaluator, fold_reader, resized_group_architecture, \
    shrink_group
from edgeopt.techniques.elimination.groups import ChannelGroup, ReadPoint, group_of
from edgeopt.techniques.elimination.keep import check_keep
from edgeopt.techniques.elimination.linalg import blas_single_thread, gram_spectrum, largest_outgoing_norms, reconstruction, \
    representative_rows
from edgeopt.techniques.elimination.surgery import EliminationError, dtype_eps


@dataclass(frozen=True)
class GroupPlan:
    """One elimination of a group: the channels kept and every reader's new kernel."""

    group: ChannelGroup
    method: str
    keep: np.ndarray
    reader_kernels: dict[str, np.ndarray]

    @property
    def neurons_kept(self) -> int:
        return int(len(self.keep))


def point_grams(model, group: ChannelGroup, x: np.ndarray, batch_size: int = 64):
    """{(source, offset): G} for the group's read points, in one pass over `x`; also the number
    of columns of each X and the dtype name the maps were computed in."""
    from edgeopt.tf.runtime import keras, tf

    points = list(dict.fromkeys((r.source, r.offset) for r in group.readers))
    sources = list(dict.fromkeys(source for source, _ in points))
    tensors = [model.get_layer(source).output for source in sources]
    reader = keras.Model(model.inputs, tensors)
    call = tf.function(lambda batch: reader(batch, training=False))
    width = group.width
    grams = {point: np.zeros((width, width)) for point in points}
    columns = dict.fromkeys(points, 0)
    for start in range(0, len(x), batch_size):
        outputs = call(tf.constant(x[start:start + batch_size]))
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        maps = {source: np.asarray(out, dtype=np.float64) for source, out in zip(sources, outputs)}
        for source, offset in points:
            flat = maps[source].reshape(-1, maps[source].shape[-1])[:, offset:offset + width]
            grams[(source, offset)] += flat.T @ flat
            columns[(source, offset)] += flat.shape[0]
    return grams, columns, tensors[0].dtype.name


class GroupEliminator:
    """Plans eliminations of one channel group at any width from one pass over calibration data.

    Example:
        >>> eliminator = GroupEliminator(model, "conv1", calibration_x)     # the group conv1 writes
        >>> smaller = eliminator.apply(eliminator.plan(8))                  # 16 → 8 channels in every member
    """

    unit = "channels"

    def __init__(self, model, group: ChannelGroup | str, calibration_x: np.ndarray):
        self.model = model
        self.group = group_of(model, group) if isinstance(group, str) else group
        self._calibration_x = calibration_x
        self._spectra = None  # the calibration pass is the costly part, and the weight-norm baseline needs none
        self._kernels = {r.reader: model.get_layer(r.reader).get_weights()[0] for r in self.group.readers}

    def _collect(self) -> None:
        grams, columns, dtype = point_grams(self.model, self.group, self._calibration_x)
        self.eps = dtype_eps(dtype)
        self._samples = max(columns.values())  # columns of the largest X (images × positions)
        with blas_single_thread():
            self._spectra = {point: gram_spectrum(gram, self.eps) for point, gram in grams.items()}
            traces = {point: float(np.trace(gram)) for point, gram in grams.items()}
            live = [gram / traces[point] for point, gram in grams.items() if traces[point] > 0]
            self._spectrum = gram_spectrum(sum(live) if live else next(iter(grams.values())), self.eps)

    @property
    def spectrum(self):
        """The stacked read points' spectrum (Algorithm 2 runs on it)."""
        if self._spectra is None:
            self._collect()
        return self._spectrum

    @property
    def samples(self) -> int:
        if self._spectra is None:
            self._collect()
        return self._samples

    @property
    def name(self) -> str:
        return self.group.name

    @property
    def width(self) -> int:
        return self.group.width

    @property
    def producers(self) -> tuple[str, ...]:
        return self.group.producers

    def describe(self) -> str:
        readers = ", ".join(dict.fromkeys(r.reader for r in self.group.readers))
        return f"group {self.group.describe()} (read by {readers})"

    @property
    def rank(self) -> int:
        """Rank of the stacked maps: channels beyond it are exact combinations of others at every read point."""
        return self.spectrum.rank

    def _rows(self, point: ReadPoint) -> np.ndarray:
        from edgeopt.techniques.elimination.channels import reader_rows

        return reader_rows(self._kernels[point.reader], point.positions)[point.offset:point.offset + self.width]

    def plan(self, neurons_kept: int, method: str = "svd_qr") -> GroupPlan:
        """Choose `neurons_kept` channels for the group and compute every reader's kernel."""
        check_keep(self.group, neurons_kept)
        if method == "svd_qr":
            if neurons_kept > self.samples:
                raise EliminationError(
                    f"keeping {neurons_kept} channels of group '{self.name}' needs at least that many calibration "
                    f"positions; got {self.samples}. Raise calibration_samples.")
            with blas_single_thread():
                keep = representative_rows(self.spectrum.compressed, neurons_kept, self.spectrum)
                new_rows = {}
                for point in self.group.readers:
                    spec = self._spectra[(point.source, point.offset)]  # filled by self.spectrum
                    new_rows[point] = reconstruction(spec.compressed, keep).T @ self._rows(point)
        elif method == "weight_norm":
            outgoing = np.hstack([self._rows(point) for point in self.group.readers])
            keep = largest_outgoing_norms(outgoing, neurons_kept)
            new_rows = {point: self._rows(point)[keep] for point in self.group.readers}
        else:
            raise ValueError(f"method must be one of svd_qr, weight_norm. Received: method={method!r}")
        kernels = {}
        for reader in dict.fromkeys(r.reader for r in self.group.readers):
            points = [(p.offset, p.positions, new_rows[p]) for p in self.group.readers if p.reader == reader]
            kernels[reader] = fold_reader(self._kernels[reader], points, self.width).astype(np.float32)
        return GroupPlan(self.group, method, keep, kernels)

    def apply(self, plan: GroupPlan):
        """The physically smaller Keras model of `plan`."""
        return shrink_group(self.model, plan.group, plan.keep, plan.reader_kernels)

    def evaluator(self, x: np.ndarray) -> GroupMaskedEvaluator:
        return GroupMaskedEvaluator(self.model, self.group, x)

    def costs_at(self, neurons_kept: int):
        """The layer costs (`energy.LayerCost`) of the model with the group at `neurons_kept` channels."""
        from edgeopt.techniques.elimination.energy import keras_layer_costs

        return keras_layer_costs(resized_group_architecture(self.model, self.group, neurons_kept))


def eliminate_group(model, group: ChannelGroup | str, width: int, calibration_x: np.ndarray, method: str = "svd_qr"):
    """Narrow one channel group to `width` channels without retraining: (smaller model, GroupPlan).

    `group` is a ChannelGroup from `channel_groups(model)` or the name of any Conv2D that writes
    it. This is what a search calls per group and width.

    Example:
        >>> smaller, plan = eliminate_group(model, "conv1", 8, calibration_x)   # doctest: +SKIP
        >>> plan.group.producers                                                 # doctest: +SKIP
        ('conv1', 'stack1_conv2')
    """
    eliminator = GroupEliminator(model, group, calibration_x)
    plan = eliminator.plan(width, method)
    return eliminator.apply(plan), plan


def group_macs(model, group: ChannelGroup, width: int) -> int:
    """The model's multiply-accumulates per image with `group` at `width` channels, from the
    layer shapes alone (no rebuild): every conv or Dense cost is linear in its input and output
    channels, so each layer of the group scales by the new width over the old on each axis it
    shares with the group.

    Example:
        >>> group_macs(model, group, group.width) == count_macs(model)         # doctest: +SKIP
        True
    """
    from edgeopt.models.keras_profile import _leaf_layers, layer_macs

    removed = group.width - int(width)
    total = 0
    for layer in _leaf_layers(model):
        macs = layer_macs(layer)
        if not macs:
            continue
        scale = 1.0
        if layer.name in group.producers:
            scale *= width / group.width
        depthwise = sum(1 for name, _ in group.sliced if name == layer.name)
        if depthwise and type(layer).__name__ == "DepthwiseConv2D":
            channels = int(layer.output_shape[-1])
            scale *= (channels - depthwise * removed) / channels
        reads = [p for p in group.readers if p.reader == layer.name]
        if reads:
            channels = int(layer.input_shape[-1])  # after a Flatten: positions × channels
            scale *= (channels - sum(p.positions for p in reads) * removed) / channels
        total += int(round(macs * scale))
    return total
