"""Keras models as edgeopt builds, loads, saves, converts and counts them: the named
architectures, Keras I/O, Keras → .tflite conversion, and a table row for a Keras model.
"""
