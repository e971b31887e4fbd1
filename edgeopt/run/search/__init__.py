"""`edgeopt search`: precisions and widths allocated over channel units on the kernels' cost plateaus,
timed on the target (driver.py)."""
