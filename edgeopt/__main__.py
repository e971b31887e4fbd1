"""`python -m edgeopt ...`: the same command as `edgeopt ...`."""

from edgeopt.cli import main

main()
