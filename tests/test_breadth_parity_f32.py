"""Step-by-step parity of the breadth optimizers in float32 (see test_breadth_parity.py).

Against ``optax.inject_hyperparams(optax_fn)``, which stores hyperparameters as float32
arrays as gradtx does, or against the case's NumPy reference (exact, for the same float32
hyperparameters), to test_parity's float32 tolerance.
"""

from __future__ import annotations

import pytest
from test_breadth_parity import check_parity, parity_runs

pytestmark = pytest.mark.filterwarnings("ignore:`optimistic_adam` is deprecated:DeprecationWarning")


@pytest.mark.parametrize("case, scheduled", parity_runs("float32"))
def test_parity_float32(case, scheduled):
    check_parity(case, "float32", scheduled)
