"""``python -m benchmarks.workloads``: see :mod:`benchmarks.workloads.run`."""

from .run import main

main()
