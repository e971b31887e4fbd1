"""Datasets by name, a user's own data, and the checks that refuse hostile data before training.

TensorFlow-free to import (the device reads its test split through here); only a dataset that
must be downloaded through `keras.datasets` loads Keras, at that moment.
"""
