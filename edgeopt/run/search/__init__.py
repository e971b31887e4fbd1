"""`edgeopt search`: widths allocated over channel units on the kernels' cost plateaus, and precisions, timed on the target (driver.py)."""
