"""What every layer of edgeopt shares, TensorFlow-free: the error hierarchy, atomic writes,
signals, the result `Row`, progress output, quieting native logs, and the `train` extra's message.

Nothing here imports another edgeopt package.
"""
