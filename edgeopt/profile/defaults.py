"""The profiler's default settings, in one place.

`profile_tflite`'s signature, a recipe's `profile:` block (`recipe.ProfileSpec`), `edgeopt profile`'s
options and the settings a run folder is re-profiled with on a device all start from these. A module
of its own with no imports, so the TF-free device part and the recipe can both read it.
"""

PROFILE_DEFAULTS = {
    "runs": 100,              # timed invokes per model
    "warmup": 10,             # untimed invokes first
    "rounds": 60,             # interleaved timing rounds (at most runs): every model once per round, random order
    "threads": 1,             # interpreter threads
    "energy": "auto",         # the first meter that can be read, else the labelled estimate
    "energy_window_s": 1.0,   # seconds per meter window
    "energy_windows": 3,      # meter idle and inference windows
}
