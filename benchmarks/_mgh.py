"""Moré–Garbow–Hillstrom test problems for unconstrained minimization, with known minima.

Written from Moré, Garbow & Hillstrom, "Testing Unconstrained Optimization Software", ACM
TOMS 7(1):17-41, 1981, doi:10.1145/355934.355936: each problem is a sum of squares
$f(x) = \\sum_i f_i(x)^2$ of the paper's residuals $f_i$, from its standard starting point
$x_0$, with the values of $f$ at the minimizers the paper lists (a problem may have several:
a solver reaching any of them has solved it). Numbered as in the paper; the
variable-dimension problems are at the sizes given in ``N``.

Used by ``benchmarks/mgh.py`` and ``tests/test_second_order_mgh.py``. Use with
``jax_enable_x64`` on (the data and starts are float64).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np


class Problem(NamedTuple):
    """One MGH problem: ``f(x) = sum(residual(x) ** 2)`` from ``x0``."""

    number: int  # the paper's
    name: str
    residual: Any  # x -> the vector of f_i
    x0: np.ndarray
    minima: tuple  # known values of f at (local) minimizers, the global one first
    atol: float = 1e-8  # |f - f*| <= 1e-5 |f*| + atol counts as reaching f*

    def fun(self, x):
        """$f(x) = \\sum_i f_i(x)^2$."""
        r = self.residual(x)
        return jnp.sum(r * r)

    @property
    def n(self) -> int:
        return self.x0.size

    def reached(self, value: float) -> bool:
        """Whether ``value`` is within the tolerance of one of the known minima."""
        return any(abs(value - m) <= 1e-5 * abs(m) + self.atol for m in self.minima)


def _i(m):
    return jnp.arange(1, m + 1, dtype=jnp.float64)


def rosenbrock(x):  # 1
    return jnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]])


def freudenstein_roth(x):  # 2
    return jnp.stack(
        [
            -13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
            -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1],
        ]
    )


def powell_badly_scaled(x):  # 3
    return jnp.stack([1e4 * x[0] * x[1] - 1, jnp.exp(-x[0]) + jnp.exp(-x[1]) - 1.0001])


def brown_badly_scaled(x):  # 4
    return jnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2])


def beale(x):  # 5
    y = jnp.array([1.5, 2.25, 2.625])
    return y - x[0] * (1 - x[1] ** _i(3))


def jennrich_sampson(x):  # 6, m = 10
    i = _i(10)
    return 2 + 2 * i - (jnp.exp(i * x[0]) + jnp.exp(i * x[1]))


def helical_valley(x):  # 7
    theta = jnp.arctan(x[1] / x[0]) / (2 * jnp.pi) + jnp.where(x[0] < 0, 0.5, 0.0)
    return jnp.stack([10 * (x[2] - 10 * theta), 10 * (jnp.sqrt(x[0] ** 2 + x[1] ** 2) - 1), x[2]])


_BARD_Y = np.array(
    [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
)


def bard(x):  # 8
    u = _i(15)
    v = 16 - u
    w = jnp.minimum(u, v)
    return _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


_GAUSSIAN_Y = np.array(
    [
        *[0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989],
        *[0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009],
    ]
)


def gaussian(x):  # 9
    t = (8 - _i(15)) / 2
    return x[0] * jnp.exp(-x[1] * (t - x[2]) ** 2 / 2) - _GAUSSIAN_Y


_MEYER_Y = np.array(
    [
        *[34780.0, 28610, 23650, 19630, 16370, 13720, 11540, 9744],
        *[8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872],
    ]
)


def meyer(x):  # 10
    t = 45 + 5 * _i(16)
    return x[0] * jnp.exp(x[1] / (t + x[2])) - _MEYER_Y


def gulf(x):  # 11, m = 99
    t = _i(99) / 100
    y = 25 + (-50 * jnp.log(t)) ** (2 / 3)
    return jnp.exp(-(jnp.abs(y - x[1]) ** x[2]) / x[0]) - t


def box_3d(x):  # 12, m = 10
    t = _i(10) / 10
    return jnp.exp(-t * x[0]) - jnp.exp(-t * x[1]) - x[2] * (jnp.exp(-t) - jnp.exp(-10 * t))


def powell_singular(x):  # 13 (and 22 for n = 4k)
    x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
    parts = [x1 + 10 * x2, 5**0.5 * (x3 - x4), (x2 - 2 * x3) ** 2, 10**0.5 * (x1 - x4) ** 2]
    return jnp.stack(parts, axis=1).ravel()


def wood(x):  # 14
    return jnp.stack(
        [
            10 * (x[1] - x[0] ** 2),
            1 - x[0],
            90**0.5 * (x[3] - x[2] ** 2),
            1 - x[2],
            10**0.5 * (x[1] + x[3] - 2),
            10**-0.5 * (x[1] - x[3]),
        ]
    )


_KOWALIK_Y = np.array(
    [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
)
_KOWALIK_U = np.array([4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def kowalik_osborne(x):  # 15
    u = _KOWALIK_U
    return _KOWALIK_Y - x[0] * (u**2 + u * x[1]) / (u**2 + u * x[2] + x[3])


def brown_dennis(x):  # 16, m = 20
    t = _i(20) / 5
    return (x[0] + t * x[1] - jnp.exp(t)) ** 2 + (x[2] + x[3] * jnp.sin(t) - jnp.cos(t)) ** 2


_OSBORNE1_Y = np.array(
    [
        *[0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751],
        *[0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490],
        *[0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406],
    ]
)


def osborne1(x):  # 17
    t = 10 * (_i(33) - 1)
    return _OSBORNE1_Y - (x[0] + x[1] * jnp.exp(-t * x[3]) + x[2] * jnp.exp(-t * x[4]))


def biggs_exp6(x):  # 18, m = 13
    t = _i(13) / 10
    y = jnp.exp(-t) - 5 * jnp.exp(-10 * t) + 3 * jnp.exp(-4 * t)
    return x[2] * jnp.exp(-t * x[0]) - x[3] * jnp.exp(-t * x[1]) + x[5] * jnp.exp(-t * x[4]) - y


def watson(x):  # 20, m = 31
    n = x.shape[0]
    t = _i(29)[:, None] / 29
    j = jnp.arange(n, dtype=jnp.float64)[None, :]  # j - 1 of the paper
    first = jnp.sum(j[:, 1:] * x[1:] * t ** (j[:, 1:] - 1), axis=1)
    second = jnp.sum(x * t**j, axis=1)
    return jnp.concatenate([first - second**2 - 1, jnp.stack([x[0], x[1] - x[0] ** 2 - 1])])


def extended_rosenbrock(x):  # 21
    a, b = x[0::2], x[1::2]
    return jnp.stack([10 * (b - a**2), 1 - a], axis=1).ravel()


def penalty1(x):  # 23, m = n + 1
    return jnp.concatenate([1e-5**0.5 * (x - 1), jnp.stack([jnp.sum(x * x) - 0.25])])


def penalty2(x):  # 24, m = 2n
    n = x.shape[0]
    a = 1e-5**0.5
    i = _i(n)[1:]
    y = jnp.exp(i / 10) + jnp.exp((i - 1) / 10)
    head = a * (jnp.exp(x[1:] / 10) + jnp.exp(x[:-1] / 10) - y)
    tail = a * (jnp.exp(x[1:] / 10) - jnp.exp(-0.1))
    last = jnp.sum((n - _i(n) + 1) * x * x) - 1
    return jnp.concatenate([jnp.stack([x[0] - 0.2]), head, tail, jnp.stack([last])])


def variably_dimensioned(x):  # 25, m = n + 2
    s = jnp.sum(_i(x.shape[0]) * (x - 1))
    return jnp.concatenate([x - 1, jnp.stack([s, s**2])])


def trigonometric(x):  # 26
    n = x.shape[0]
    return n - jnp.sum(jnp.cos(x)) + _i(n) * (1 - jnp.cos(x)) - jnp.sin(x)


def brown_almost_linear(x):  # 27
    n = x.shape[0]
    return jnp.concatenate([x[:-1] + jnp.sum(x) - (n + 1), jnp.stack([jnp.prod(x) - 1])])


def _grid(n):
    h = 1 / (n + 1)
    return h, _i(n) * h


def discrete_boundary_value(x):  # 28
    h, t = _grid(x.shape[0])
    padded = jnp.concatenate([jnp.zeros(1), x, jnp.zeros(1)])
    return 2 * x - padded[:-2] - padded[2:] + h**2 * (x + t + 1) ** 3 / 2


def discrete_integral_equation(x):  # 29
    h, t = _grid(x.shape[0])
    c = (x + t + 1) ** 3
    below = jnp.cumsum(t * c)  # sum over j <= i
    above = jnp.sum((1 - t) * c) - jnp.cumsum((1 - t) * c)  # sum over j > i
    return x + h * ((1 - t) * below + t * above) / 2


def broyden_tridiagonal(x):  # 30
    padded = jnp.concatenate([jnp.zeros(1), x, jnp.zeros(1)])
    return (3 - 2 * x) * x - padded[:-2] - 2 * padded[2:] + 1


def broyden_banded(x):  # 31, ml = 5, mu = 1
    n = x.shape[0]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    band = jnp.asarray(((j >= i - 5) & (j <= i + 1) & (j != i)).astype(np.float64))
    return x * (2 + 5 * x**2) + 1 - band @ (x * (1 + x))


def linear_full_rank(x, m=20):  # 32
    n = x.shape[0]
    s = 2 * jnp.sum(x) / m
    return jnp.concatenate([x - s - 1, jnp.full(m - n, -s - 1)])


def _boundary_start(n):
    t = np.arange(1, n + 1) / (n + 1)
    return t * (t - 1)


N = 10  # the size of the variable-dimension problems

PROBLEMS = (
    Problem(1, "Rosenbrock", rosenbrock, np.array([-1.2, 1.0]), (0.0,)),
    Problem(2, "Freudenstein-Roth", freudenstein_roth, np.array([0.5, -2.0]), (0.0, 48.9842)),
    Problem(3, "Powell badly scaled", powell_badly_scaled, np.array([0.0, 1.0]), (0.0,)),
    Problem(4, "Brown badly scaled", brown_badly_scaled, np.array([1.0, 1.0]), (0.0,)),
    Problem(5, "Beale", beale, np.array([1.0, 1.0]), (0.0,)),
    Problem(6, "Jennrich-Sampson", jennrich_sampson, np.array([0.3, 0.4]), (124.362,), 1e-3),
    Problem(7, "helical valley", helical_valley, np.array([-1.0, 0.0, 0.0]), (0.0,)),
    Problem(8, "Bard", bard, np.array([1.0, 1.0, 1.0]), (8.21487e-3, 17.4286)),
    Problem(9, "Gaussian", gaussian, np.array([0.4, 1.0, 0.0]), (1.12793e-8,), 1e-13),
    Problem(10, "Meyer", meyer, np.array([0.02, 4000.0, 250.0]), (87.9458,), 1e-3),
    Problem(11, "Gulf", gulf, np.array([5.0, 2.5, 0.15]), (0.0, 3.8e-2)),
    Problem(12, "Box 3-D", box_3d, np.array([0.0, 10.0, 20.0]), (0.0,)),
    Problem(13, "Powell singular", powell_singular, np.array([3.0, -1.0, 0.0, 1.0]), (0.0,)),
    Problem(14, "Wood", wood, np.array([-3.0, -1.0, -3.0, -1.0]), (0.0,)),
    Problem(
        15,
        "Kowalik-Osborne",
        kowalik_osborne,
        np.array([0.25, 0.39, 0.415, 0.39]),
        (3.07505e-4, 1.02734e-3),
    ),
    Problem(16, "Brown-Dennis", brown_dennis, np.array([25.0, 5, -5, -1]), (85822.2,), 1e-2),
    Problem(
        17, "Osborne 1", osborne1, np.array([0.5, 1.5, -1.0, 0.01, 0.02]), (5.46489e-5,), 1e-10
    ),
    Problem(18, "Biggs EXP6", biggs_exp6, np.array([1.0, 2, 1, 1, 1, 1]), (0.0, 5.65565e-3)),
    Problem(20, "Watson n=6", watson, np.zeros(6), (2.28767e-3,)),
    Problem(
        21, f"ext. Rosenbrock n={N}", extended_rosenbrock, np.tile([-1.2, 1.0], N // 2), (0.0,)
    ),
    Problem(22, "ext. Powell n=12", powell_singular, np.tile([3.0, -1, 0, 1], 3), (0.0,)),
    Problem(23, f"penalty I n={N}", penalty1, np.arange(1.0, N + 1), (7.08765e-5,), 1e-10),
    Problem(24, f"penalty II n={N}", penalty2, np.full(N, 0.5), (2.93660e-4,), 1e-9),
    Problem(25, f"variably dim. n={N}", variably_dimensioned, 1 - np.arange(1, N + 1) / N, (0.0,)),
    Problem(26, f"trigonometric n={N}", trigonometric, np.full(N, 1 / N), (0.0, 2.79506e-5), 1e-10),
    Problem(27, f"Brown almost-linear n={N}", brown_almost_linear, np.full(N, 0.5), (0.0, 1.0)),
    Problem(28, f"discrete BVP n={N}", discrete_boundary_value, _boundary_start(N), (0.0,)),
    Problem(29, f"discrete integral n={N}", discrete_integral_equation, _boundary_start(N), (0.0,)),
    Problem(30, f"Broyden tridiagonal n={N}", broyden_tridiagonal, -np.ones(N), (0.0,)),
    Problem(31, f"Broyden banded n={N}", broyden_banded, -np.ones(N), (0.0,)),
    Problem(32, f"linear full rank n={N}", linear_full_rank, np.ones(N), (10.0,)),
)

BY_NAME = {p.name: p for p in PROBLEMS}
