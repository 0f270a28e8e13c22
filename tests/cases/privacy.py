"""Cases of ``gradtx/optimizers/_privacy.py``: DP-SGD.

DP-SGD takes per-example gradients (a batch axis first in every leaf), so the
registry-wide tests, which give one gradient shaped like the parameters, leave it out
(``cases.ONE_CASE_PER_OPTIMIZER``); its parity with ``optax.contrib.dpsgd`` on per-example
gradients is in ``tests/test_optax_contrib_names.py``. The case is here for the registry
checks (``tests/test_protocol.py``) and its bad arguments.
"""

from __future__ import annotations

from typing import Any

from cases.common import Case

CASES: list[Case] = [
    Case(
        "dpsgd",
        {"learning_rate": 0.1, "l2_norm_clip": 1.0, "noise_multiplier": 0.1, "seed": 0},
        complex_ok=False,
    ),
]
BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "dpsgd",
        {"learning_rate": 0.1, "l2_norm_clip": -1.0, "noise_multiplier": 0.1, "seed": 0},
        r"l2_norm_clip must be in \[0, inf\)",
    ),
]
