"""Reporting, TensorFlow-free: the table (terminal, markdown, JSON), the Pareto plots, every
machine's table side by side, and `edgeopt check`'s CI gate.

It reads rows and run folders; it never times anything.
"""
