"""`edgeopt search`: NetAdapt over channel units and precisions, timed on the target (driver.py)."""
