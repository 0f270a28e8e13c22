"""NumPy references written from the papers (or transcribed from the authors' code), one
module per optimizer family, named like ``tests/cases/<family>.py``.

A reference is ``make(**kwargs) -> (init, step)``, called with a case's keyword arguments
(a schedule in place of a scheduled hyperparameter): ``init(p)`` returns the state of one
leaf, ``step(g, state, p)`` updates it in place and returns the leaf's update. It computes
in float64, with the hyperparameters rounded to the parameters' precision (as gradtx stores
them: :func:`references.common.hp`), so that a float32 run is compared with the exact rule
for the same hyperparameters. References that need the whole tree (the D-adaptation sums,
the loss-driven methods) adapt to this leaf-by-leaf protocol (``common.whole_tree``,
``loss_driven.per_leaf``).
"""
