"""Keras surgery for a channel group: the physically narrower model, and a masked working copy
that computes the same outputs without being rebuilt (for sweeps).

Narrowing a group to the channels `keep`: every producer keeps those output channels (kernel and
bias), every per-channel layer in the group keeps them at the group's offset on its own channel
axis (BatchNormalization's four vectors, a DepthwiseConv2D's kernel and bias, PReLU's slopes),
every Reshape that names the channel count gets the new count, and every reader gets the kernel
the plan computed for it. A layer that both reads and writes the group (a conv inside a residual
stream) gets both: its input rows folded, then its output channels sliced.
"""

from __future__ import annotations

import numpy as np

from edgeopt.techniques.elimination.channels import reader_rows, rows_to_kernel, slice_channel_weights
from edgeopt.techniques.elimination.groups import ChannelGroup


def removed_positions(group: ChannelGroup, keep: np.ndarray, layer: str, total: int) -> np.ndarray:
    """The indices that stay on `layer`'s channel axis of `total` channels once `group` keeps
    `keep`: the group's removed channels leave at every offset where it sits on that axis."""
    removed = np.setdiff1d(np.arange(group.width), keep)
    gone = {int(offset + r) for name, offset in group.sliced if name == layer for r in removed}
    return np.array([i for i in range(total) if i not in gone], dtype=int)


def resized_group_architecture(model, group: ChannelGroup, width: int):
    """A copy of `model`'s architecture (fresh weights) in which `group` has `width` channels."""
    from edgeopt.tf.runtime import keras

    import edgeopt.layers  # noqa: F401  custom layers must be known to rebuild from their configs

    producers, reshapes = set(group.producers), {name: group.reshapes.count(name) for name in group.reshapes}

    def rebuild(original):
        config = original.get_config()
        if original.name in producers:
            config["filters" if "filters" in config else "units"] = int(width)
        if original.name in reshapes:
            shape = list(config["target_shape"])
            shape[-1] = int(shape[-1]) - reshapes[original.name] * (group.width - int(width))
            config["target_shape"] = tuple(shape)
        return original.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=rebuild)


def shrink_group(model, group: ChannelGroup, keep: np.ndarray, reader_kernels: dict[str, np.ndarray]):
    """A new model in which `group` keeps only the channels `keep` (sorted indices), its readers
    have the given kernels, and every other weight is copied unchanged."""
    keep = np.asarray(keep)
    smaller = resized_group_architecture(model, group, len(keep))
    producers, sliced = set(group.producers), {name for name, _ in group.sliced}
    for old in model.layers:
        weights = old.get_weights()
        if old.name in reader_kernels:
            weights[0] = np.asarray(reader_kernels[old.name], dtype=weights[0].dtype)
        if old.name in producers:
            weights[0] = weights[0][..., keep]
            if len(weights) > 1:
                weights[1] = weights[1][keep]
        if old.name in sliced:
            total = int(old.output_shape[-1])
            weights = slice_channel_weights(old, removed_positions(group, keep, old.name, total), weights)
        smaller.get_layer(old.name).set_weights(weights)
    return smaller


def fold_reader(kernel: np.ndarray, points: list[tuple[int, int, np.ndarray]], width: int) -> np.ndarray:
    """`kernel` with the group's rows replaced: each (offset, positions, new_rows) swaps the `width`
    rows at `offset` (as `reader_rows` lays them out) for `new_rows`.

    Example:
        >>> k = np.arange(8.0).reshape(4, 2)                  # Dense: rows 1–2 are the group
        >>> fold_reader(k, [(1, 1, np.array([[10.0, 20.0]]))], 2).tolist()
        [[0.0, 1.0], [10.0, 20.0], [6.0, 7.0]]
    """
    positions = points[0][1]
    rows = reader_rows(kernel, positions)
    for offset, _, new_rows in sorted(points, key=lambda p: -p[0]):  # later offsets first: earlier ones stay valid
        rows = np.concatenate([rows[:offset], new_rows, rows[offset + width:]])
    return rows_to_kernel(rows, kernel.shape, positions)


class GroupMaskedEvaluator:
    """Scores eliminations of one group on fixed inputs `x` without rebuilding the model.

    A working copy keeps the full width; each reader's rows for the removed channels are zero and
    its kept rows are the plan's. Whatever the removed channels carry is then multiplied by zero
    wherever it is read, and every other layer of the group treats channels one by one, so the
    outputs are exactly the physically smaller model's.
    """

    def __init__(self, model, group: ChannelGroup, x: np.ndarray, batch_size: int = 1024):
        from edgeopt.tf.runtime import keras, tf

        self.group = group
        self._x, self._batch_size = x, batch_size
        self._work = keras.models.clone_model(model)
        self._work.set_weights(model.get_weights())
        self._original = {r.reader: model.get_layer(r.reader).get_weights() for r in group.readers}
        self._call = tf.function(lambda batch: self._work(batch, training=False))

    def set(self, keep: np.ndarray, reader_kernels: dict[str, np.ndarray]) -> None:
        """Make the working copy compute what `shrink_group(model, group, keep, reader_kernels)` would."""
        keep = np.asarray(keep)
        for reader, weights in self._original.items():
            points = [r for r in self.group.readers if r.reader == reader]
            narrow = reader_rows(reader_kernels[reader], points[0].positions)
            full_rows = reader_rows(weights[0], points[0].positions).copy()
            # The narrow kernel's rows: the other channels, then the group's kept channels at each offset.
            kept_at = {p.offset: p.offset - sum(self.group.width - len(keep) for q in points if q.offset < p.offset)
                       for p in points}
            for offset, narrow_offset in kept_at.items():
                block = np.zeros((self.group.width, full_rows.shape[1]), dtype=full_rows.dtype)
                block[keep] = narrow[narrow_offset:narrow_offset + len(keep)]
                full_rows[offset:offset + self.group.width] = block
            self._work.get_layer(reader).set_weights(
                [rows_to_kernel(full_rows, weights[0].shape, points[0].positions), *weights[1:]])

    def set_plan(self, plan) -> None:
        """`set` with a GroupPlan's channels and kernels."""
        self.set(plan.keep, plan.reader_kernels)

    def outputs(self) -> np.ndarray:
        """The model's outputs on `x` under the current elimination."""
        step = self._batch_size
        return np.concatenate([np.asarray(self._call(self._x[i:i + step])) for i in range(0, len(self._x), step)])
