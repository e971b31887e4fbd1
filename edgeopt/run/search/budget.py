"""How the time limit is spent: the fine-tunes get what the cheap phases and the final timing leave.

Every candidate fine-tuned gets the same fine-tune (the same images, the same cosine rate), so the
uniform cuts and the allocations compete on equal terms. Its size is set once, before the first
fine-tune, from the time left and this machine's measured training speed, and kept in the trace,
so a resumed search makes the same steps.
"""

from __future__ import annotations

import time

import numpy as np

CALIBRATION_BATCHES = 12  # timed training batches (after two untimed ones that trace the graph)


def training_images_per_second(model, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """This machine's training speed for `model` (a throw-away copy), in images per second."""
    from edgeopt.tf.runtime import keras
    from edgeopt.tf.training import compile_classifier

    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    compile_classifier(work, 1e-4)
    batches = [(x[i:i + batch_size], y[i:i + batch_size])
               for i in range(0, min(len(x), batch_size * (CALIBRATION_BATCHES + 2)), batch_size)]
    for bx, by in batches[:2]:
        work.train_on_batch(bx, by)
    start = time.perf_counter()
    for bx, by in batches[2:]:
        work.train_on_batch(bx, by)
    seconds = time.perf_counter() - start
    return sum(len(bx) for bx, _ in batches[2:]) / max(seconds, 1e-6)


def finetune_images(seconds_for_training: float, images_per_second: float, fine_tunes: int, train_images: int,
                    max_epochs: int) -> int:
    """Images each of `fine_tunes` equal fine-tunes can train on in `seconds_for_training`: at least
    a tenth of an epoch (or 500 images), at most `max_epochs` epochs.

    Example:
        >>> finetune_images(300, 1000.0, 6, 54000, 2)
        50000
        >>> finetune_images(3000, 1000.0, 6, 54000, 2)
        108000
    """
    images = int(seconds_for_training * images_per_second / max(fine_tunes, 1))
    least = min(train_images, max(500, train_images // 10))
    return int(min(max(images, least), max_epochs * train_images))


def finetune_shape(images: int, train_images: int) -> dict:
    """The `finetune` step's keys that make it train on `images` images: whole epochs when it is
    more than one epoch, else one epoch over a seeded subset.

    Example:
        >>> finetune_shape(108000, 54000), finetune_shape(20000, 54000)
        ({'epochs': 2}, {'epochs': 1, 'samples_per_epoch': 20000})
    """
    if images >= train_images:
        return {"epochs": max(1, round(images / train_images))}
    return {"epochs": 1, "samples_per_epoch": images}
