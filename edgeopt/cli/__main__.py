"""`python -m edgeopt.cli ...`: the same command as `edgeopt ...`."""

from edgeopt.cli import main

main()
