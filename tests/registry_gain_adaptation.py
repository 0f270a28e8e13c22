"""Test cases of ``gradtx.optimizers.gain_adaptation``, merged into ``registry_breadth``.

The same formats as ``registry_breadth`` (``CASES``, ``SETTINGS``), ``test_convergence``
(``CONVERGENCE``) and ``test_breadth_errors`` (``BAD``, ``PRIMITIVES``, ``BAD_PRIMITIVES``), so
every optimizer registered here goes through the common battery, parity, training, errors,
checkpoint and convergence tests.
"""

from __future__ import annotations

from typing import Any

from registry import Case

import gradtx.optimizers.gain_adaptation  # noqa: F401 - importing the module registers the aliases

CASES: list[Case] = []
SETTINGS: dict[str, tuple[Any, ...]] = {}  # (lr, tol[, kwargs]): registry_breadth
CONVERGENCE: dict[str, tuple[Any, ...]] = {}  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
BAD: list[tuple[str, dict[str, Any], str]] = []
PRIMITIVES: list[Any] = []
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = []
