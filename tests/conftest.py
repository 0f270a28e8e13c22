"""pytest configuration: the hypothesis profile, assertion rewriting for the shared helpers,
and the ``dtype`` fixture. The helpers themselves are in ``helpers.py``."""

from __future__ import annotations

import os

# One OpenBLAS thread per test process, set before numpy, SciPy or jaxlib load OpenBLAS (the
# xdist workers inherit it). JAX's CPU ``eigh``, ``qr`` and triangular solves and SciPy's
# solvers call OpenBLAS, whose worker threads spin while they wait for a busy core: on this
# two-core machine one float32 256x256 ``eigh`` took 1.2-1.9 s with OpenBLAS's default (two)
# threads and 36-51 ms with one at a load of 7-13, 0.8 s and 5 ms at a load of 2; the
# Shampoo/SOAP battery and convergence tests ran in 125 s instead of 73 s. A value set by the
# user is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
from hypothesis import settings

# Before ``helpers`` is first imported: its asserts then report their operands.
pytest.register_assert_rewrite("helpers")

from helpers import precision  # noqa: E402

# Under CI the hypothesis tests replay a fixed sequence of examples (reproducible results);
# locally they draw new ones each run and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    with precision(request.param) as dt:
        yield dt


@pytest.fixture(autouse=True)
def _x64_is_restored(request):
    """Restore ``jax_enable_x64`` after every test, and warn naming the test that changed it:
    a leaked setting silently changes the dtypes every later test on the same worker sees
    (float64 hyperparameters, old checkpoints that no longer match their template).

    It found one: the docs' cross-reference resolver imported any top-level module a role
    named, and after ``test_benchmarks`` had put ``benchmarks/`` on ``sys.path``,
    ``:func:`second_order...``` imported ``benchmarks/second_order.py``, which turns x64 on
    (``docs/_griffe_ext.py`` now imports gradtx modules only)."""
    import warnings

    import jax

    before = jax.config.jax_enable_x64
    yield
    after = jax.config.jax_enable_x64
    if after != before:
        jax.config.update("jax_enable_x64", before)
        warnings.warn(
            f"{request.node.nodeid} left jax_enable_x64={after} (was {before})", stacklevel=2
        )
