"""pytest configuration: the hypothesis profile, assertion rewriting for the shared helpers,
and the ``dtype`` fixture. The helpers themselves are in ``helpers.py``."""

from __future__ import annotations

import os

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
    """A test that turns x64 on (or off) must restore it: a leaked setting silently changes
    the dtypes every later test on the same worker sees."""
    import jax

    before = jax.config.jax_enable_x64
    yield
    after = jax.config.jax_enable_x64
    if after != before:
        jax.config.update("jax_enable_x64", before)
        pytest.fail(f"{request.node.nodeid} left jax_enable_x64={after} (was {before})")
