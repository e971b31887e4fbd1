"""Running a recipe: parse and validate it (`recipe.py`, `overrides.py`), run its steps and
profile what they make (`pipeline.py`), or run independent branches on Ray (`ray_executor.py`).
"""
