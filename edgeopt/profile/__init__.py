"""The on-device profiler: LiteRT only, never TensorFlow (it runs where TF is not installed)."""
