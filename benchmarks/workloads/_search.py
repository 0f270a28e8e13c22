"""Quasi-random search spaces: a seeded, shifted Halton sequence mapped onto each dimension.

Each optimizer declares a small space (typically its log learning rate and its main
momentum-like coefficient); trial ``i`` is point ``i`` of the sequence, the same points for
every workload. The shift (a Cranley-Patterson rotation drawn from ``seed``) keeps the
first point from being the corner of the space; as in AlgoPerf's ``halton.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19)


@dataclass(frozen=True)
class Log:
    """``lo * (hi / lo) ** u``: a positive scale such as a learning rate."""

    lo: float
    hi: float

    def __call__(self, u: float) -> float:
        return self.lo * (self.hi / self.lo) ** u

    def describe(self) -> str:
        return f"log-uniform [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class OneMinusLog:
    """``1 - Log(lo, hi)(u)``: a decay close to 1 (a momentum, a beta) by its complement."""

    lo: float
    hi: float

    def __call__(self, u: float) -> float:
        return 1.0 - Log(self.lo, self.hi)(u)

    def describe(self) -> str:
        return f"1 - log-uniform [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class Uniform:
    """``lo + (hi - lo) u``."""

    lo: float
    hi: float

    def __call__(self, u: float) -> float:
        return self.lo + (self.hi - self.lo) * u

    def describe(self) -> str:
        return f"uniform [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class Choice:
    """One of ``values``, equally likely."""

    values: tuple

    def __call__(self, u: float) -> Any:
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


def radical_inverse(i: int, base: int) -> float:
    """The van der Corput point ``i`` in ``base``: the digits of ``i`` mirrored after the point."""
    x, f = 0.0, 1.0 / base
    while i:
        i, digit = divmod(i, base)
        x += digit * f
        f /= base
    return x


def halton(n: int, dims: int, seed: int = 0) -> np.ndarray:
    """``n`` points of the ``dims``-dimensional Halton sequence in [0, 1), shifted by a
    random vector drawn from ``seed`` (modulo 1). Point ``i`` does not depend on ``n``."""
    if not 1 <= dims <= len(_PRIMES):
        raise ValueError(f"dims must be in [1, {len(_PRIMES)}], got {dims}")
    shift = np.random.default_rng(seed).random(dims)
    pts = [[radical_inverse(i + 1, _PRIMES[d]) for d in range(dims)] for i in range(n)]
    return np.mod(np.asarray(pts, dtype=np.float64).reshape(n, dims) + shift, 1.0)


def trials(space: dict[str, Any], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """The first ``n`` hyperparameter points of ``space`` (name -> dimension)."""
    if not space:
        return [{} for _ in range(n)]
    names = list(space)
    points = halton(n, len(names), seed)
    return [{k: _round(space[k](u)) for k, u in zip(names, row)} for row in points]


def _round(x: Any) -> Any:
    """Six significant digits: the JSON lines stay readable and compare equal on rereading."""
    if isinstance(x, float) and x != 0 and math.isfinite(x):
        return float(f"{x:.6g}")
    return x
