"""Five NIST StRD nonlinear regression problems, with NIST's starts and certified values.

Typed in from NIST's data files (https://www.itl.nist.gov/div898/strd/nls/data/, e.g.
``LINKS/DATA/Misra1a.dat``; public domain, U.S. Government work). Each problem has a model
``model(b, x)``, the data ``x``, ``y``, NIST's start 1 and start 2, the certified parameters
and the certified residual sum of squares. ``residual(problem)`` is ``b -> model(b, x) - y``.

Used by ``benchmarks/least_squares.py`` and ``tests/test_least_squares.py``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np


class Problem(NamedTuple):
    """A NIST StRD nonlinear regression problem."""

    name: str
    difficulty: str  # NIST's level: "lower", "average" or "higher"
    model: Any  # (b, x) -> predictions
    x: np.ndarray
    y: np.ndarray
    start1: np.ndarray
    start2: np.ndarray
    certified: np.ndarray
    certified_rss: float


def residual(problem: Problem) -> Any:
    """``b -> model(b, x) - y`` (float64 data; use with x64 on)."""
    x, y = jnp.asarray(problem.x), jnp.asarray(problem.y)
    return lambda b: problem.model(b, x) - y


def _arr(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split()])


def _misra1a(b, x):
    return b[0] * (1 - jnp.exp(-b[1] * x))


def _thurber(b, x):
    num = b[0] + b[1] * x + b[2] * x**2 + b[3] * x**3
    return num / (1 + b[4] * x + b[5] * x**2 + b[6] * x**3)


def _mgh09(b, x):
    return b[0] * (x**2 + x * b[1]) / (x**2 + x * b[2] + b[3])


def _boxbod(b, x):
    return b[0] * (1 - jnp.exp(-b[1] * x))


def _eckerle4(b, x):
    return (b[0] / b[1]) * jnp.exp(-0.5 * ((x - b[2]) / b[1]) ** 2)


PROBLEMS = {
    "Misra1a": Problem(
        name="Misra1a",
        difficulty="lower",
        model=_misra1a,
        x=_arr(
            "77.6E0 114.9E0 141.1E0 190.8E0 239.9E0 289.0E0 332.8E0 378.4E0 434.8E0 477.3E0 "
            "536.8E0 593.1E0 689.1E0 760.0E0 "
        ),
        y=_arr(
            "10.07E0 14.73E0 17.94E0 23.93E0 29.61E0 35.18E0 40.02E0 44.82E0 50.76E0 55.05E0 "
            "61.01E0 66.40E0 75.47E0 81.78E0 "
        ),
        start1=_arr("500 0.0001"),
        start2=_arr("250 0.0005"),
        certified=_arr("2.3894212918E+02 5.5015643181E-04"),
        certified_rss=1.2455138894e-01,
    ),
    "Thurber": Problem(
        name="Thurber",
        difficulty="higher",
        model=_thurber,
        x=_arr(
            "-3.067E0 -2.981E0 -2.921E0 -2.912E0 -2.840E0 -2.797E0 -2.702E0 -2.699E0 -2.633E0 "
            "-2.481E0 -2.363E0 -2.322E0 -1.501E0 -1.460E0 -1.274E0 -1.212E0 -1.100E0 -1.046E0 "
            "-0.915E0 -0.714E0 -0.566E0 -0.545E0 -0.400E0 -0.309E0 -0.109E0 -0.103E0 0.010E0 "
            "0.119E0 0.377E0 0.790E0 0.963E0 1.006E0 1.115E0 1.572E0 1.841E0 2.047E0 2.200E0 "
        ),
        y=_arr(
            "80.574E0 84.248E0 87.264E0 87.195E0 89.076E0 89.608E0 89.868E0 90.101E0 92.405E0 "
            "95.854E0 100.696E0 101.060E0 401.672E0 390.724E0 567.534E0 635.316E0 733.054E0 "
            "759.087E0 894.206E0 990.785E0 1090.109E0 1080.914E0 1122.643E0 1178.351E0 1260.531E0 "
            "1273.514E0 1288.339E0 1327.543E0 1353.863E0 1414.509E0 1425.208E0 1421.384E0 "
            "1442.962E0 1464.350E0 1468.705E0 1447.894E0 1457.628E0 "
        ),
        start1=_arr("1000 1000 400 40 0.7 0.3 0.03"),
        start2=_arr("1300 1500 500 75 1 0.4 0.05"),
        certified=_arr(
            "1.2881396800E+03 1.4910792535E+03 5.8323836877E+02 7.5416644291E+01 9.6629502864E-01 "
            "3.9797285797E-01 4.9727297349E-02 "
        ),
        certified_rss=5.6427082397e03,
    ),
    "MGH09": Problem(
        name="MGH09",
        difficulty="higher",
        model=_mgh09,
        x=_arr(
            "4.000000E+00 2.000000E+00 1.000000E+00 5.000000E-01 2.500000E-01 1.670000E-01 "
            "1.250000E-01 1.000000E-01 8.330000E-02 7.140000E-02 6.250000E-02 "
        ),
        y=_arr(
            "1.957000E-01 1.947000E-01 1.735000E-01 1.600000E-01 8.440000E-02 6.270000E-02 "
            "4.560000E-02 3.420000E-02 3.230000E-02 2.350000E-02 2.460000E-02 "
        ),
        start1=_arr("25 39 41.5 39"),
        start2=_arr("0.25 0.39 0.415 0.39"),
        certified=_arr("1.9280693458E-01 1.9128232873E-01 1.2305650693E-01 1.3606233068E-01"),
        certified_rss=3.0750560385e-04,
    ),
    "BoxBOD": Problem(
        name="BoxBOD",
        difficulty="higher",
        model=_boxbod,
        x=_arr("1 2 3 5 7 10"),
        y=_arr("109 149 149 191 213 224"),
        start1=_arr("1 1"),
        start2=_arr("100 0.75"),
        certified=_arr("2.1380940889E+02 5.4723748542E-01"),
        certified_rss=1.1680088766e03,
    ),
    "Eckerle4": Problem(
        name="Eckerle4",
        difficulty="higher",
        model=_eckerle4,
        x=_arr(
            "400.000000E0 405.000000E0 410.000000E0 415.000000E0 420.000000E0 425.000000E0 "
            "430.000000E0 435.000000E0 436.500000E0 438.000000E0 439.500000E0 441.000000E0 "
            "442.500000E0 444.000000E0 445.500000E0 447.000000E0 448.500000E0 450.000000E0 "
            "451.500000E0 453.000000E0 454.500000E0 456.000000E0 457.500000E0 459.000000E0 "
            "460.500000E0 462.000000E0 463.500000E0 465.000000E0 470.000000E0 475.000000E0 "
            "480.000000E0 485.000000E0 490.000000E0 495.000000E0 500.000000E0 "
        ),
        y=_arr(
            "0.0001575E0 0.0001699E0 0.0002350E0 0.0003102E0 0.0004917E0 0.0008710E0 0.0017418E0 "
            "0.0046400E0 0.0065895E0 0.0097302E0 0.0149002E0 0.0237310E0 0.0401683E0 0.0712559E0 "
            "0.1264458E0 0.2073413E0 0.2902366E0 0.3445623E0 0.3698049E0 0.3668534E0 0.3106727E0 "
            "0.2078154E0 0.1164354E0 0.0616764E0 0.0337200E0 0.0194023E0 0.0117831E0 0.0074357E0 "
            "0.0022732E0 0.0008800E0 0.0004579E0 0.0002345E0 0.0001586E0 0.0001143E0 0.0000710E0 "
        ),
        start1=_arr("1 10 500"),
        start2=_arr("1.5 5 450"),
        certified=_arr("1.5543827178E+00 4.0888321754E+00 4.5154121844E+02"),
        certified_rss=1.4635887487e-03,
    ),
}
