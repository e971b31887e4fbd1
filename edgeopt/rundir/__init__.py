"""A run folder on disk, TensorFlow-free: its files (results.json, models, data/test.npz,
devices/), the lock that keeps one writer per folder, the guard around a run, and profiling a
copied run folder on a device (`edgeopt profile RUN_DIR`).
"""
