"""The TensorFlow / Keras side's base: the one module that imports TensorFlow (`runtime.py`),
training precision, tf.distribute, and the fit loop every training stage shares.

Importing this package loads nothing; the device side (common, profile, data, rundir, report)
never imports it (tests/test_layout.py).
"""
