r"""The trials of the zoom search: interpolation inside a bracket, extrapolation outside.

Each works on the line $\varphi(\alpha) = f(x + \alpha d)$ through its values and slopes
at known steps; :func:`gradtx.second_order.scale_by_zoom_linesearch` chooses among them.
"""

from __future__ import annotations

import jax.numpy as jnp


def _cubic_min(a, fa, da, b, fb, db):
    """Minimizer of the cubic through $(a, f_a, f'_a)$, $(b, f_b, f'_b)$ (N&W eq. 3.59)."""
    d1 = da + db - 3 * (fa - fb) / (a - b)
    d2 = jnp.sign(b - a) * jnp.sqrt(jnp.maximum(d1 * d1 - da * db, 0))
    t = b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2)
    return jnp.where(d1 * d1 - da * db >= 0, t, jnp.nan)


def _quad_min(a, fa, da, b, fb):
    """Minimizer of the quadratic through $(a, f_a, f'_a)$ and $(b, f_b)$."""
    denom = 2 * (fb - fa - da * (b - a))
    return jnp.where(denom > 0, a - da * (b - a) ** 2 / denom, jnp.nan)


def _more_thuente_step(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, shift):
    r"""Moré and Thuente's trial after a trial that raised the value (their case 1).

    The cubic minimizer $\alpha_c$ when it is nearer the best point $\alpha_\ell$ than the
    quadratic one $\alpha_q$, else $(\alpha_c + \alpha_q)/2$; both interpolate
    $\psi(\alpha) = f(\alpha) - \text{shift}\cdot\alpha$ (the shifted function of their
    first stage when the trial is lower than $\alpha_\ell$ but fails sufficient decrease).
    """
    p_lo, p_hi, s_lo, s_hi = f_lo - shift * a_lo, f_hi - shift * a_hi, d_lo - shift, d_hi - shift
    cubic = _cubic_min(a_lo, p_lo, s_lo, a_hi, p_hi, s_hi)
    quad = _quad_min(a_lo, p_lo, s_lo, a_hi, p_hi)
    t = jnp.where(jnp.abs(cubic - a_lo) < jnp.abs(quad - a_lo), cubic, (cubic + quad) / 2)
    return jnp.where(jnp.isfinite(t), t, jnp.where(jnp.isfinite(cubic), cubic, quad))


def interpolate(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, noisy, slow, raised, shift):
    r"""A trial inside the bracket: cubic, else quadratic, else bisection.

    An interpolated trial may lie anywhere strictly inside the bracket; bisection is used
    when the last trial did not shrink the bracket by a third (``slow``), as in Moré and
    Thuente's safeguard. When the last trial raised the value (``raised``) and a ``shift``
    is given, Moré and Thuente's rule (:func:`_more_thuente_step`) replaces the plain cubic.
    When the two values differ by less than the resolution of $f$ (``noisy``) the trial is
    the secant root of $\varphi'$: derivatives only, exact on a quadratic.
    """
    left, right = jnp.minimum(a_lo, a_hi), jnp.maximum(a_lo, a_hi)
    mid = left + (right - left) / 2

    def inside(t):
        return jnp.isfinite(t) & (t > left) & (t < right)

    cubic = _cubic_min(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi)
    quad = _quad_min(a_lo, f_lo, d_lo, a_hi, f_hi)
    secant = a_lo - d_lo * (a_hi - a_lo) / (d_hi - d_lo)
    smooth = jnp.where(inside(cubic), cubic, jnp.where(inside(quad), quad, mid))
    if shift is not None:
        mt = _more_thuente_step(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, shift)
        smooth = jnp.where(raised & inside(mt), mt, smooth)
    t = jnp.where(noisy, jnp.where(inside(secant), secant, mid), smooth)
    return jnp.where(slow, mid, t)


def extrapolate(a_lo, d_lo, a_old, d_old, a_max, growth):
    r"""A larger trial: the secant root of $\varphi'$, within [lo + 0.1 Δ, γ lo] (or, with
    ``growth=None``, MINPACK's [lo + 0.1 Δ, lo + 4 Δ]), Δ = lo - old."""
    delta = a_lo - a_old
    secant = a_lo - d_lo * delta / (d_lo - d_old)
    low = a_lo + 0.1 * delta
    high = a_lo + 4 * delta if growth is None else growth * a_lo
    t = jnp.where(jnp.isfinite(secant) & (d_lo > d_old), jnp.clip(secant, low, high), high)
    return jnp.minimum(t, a_max)
