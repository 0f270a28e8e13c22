r"""The zoom line search: strong Wolfe (Nocedal & Wright 3.5/3.6) with approximate Wolfe."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, check_state_type, identity
from gradtx.second_order._linesearch import (
    LineSearchState,
    evaluate_on_line,
    finish_search,
    init_search_state,
    scale_by_backtracking_linesearch,
    search_inputs,
)


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


def _interpolate(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, noisy, slow, raised, shift):
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


def _extrapolate(a_lo, d_lo, a_old, d_old, a_max):
    r"""A larger trial: the secant root of $\varphi'$, within [lo + 1.1 Δ, lo + 4 Δ]."""
    delta = a_lo - a_old
    secant = a_lo - d_lo * delta / (d_lo - d_old)
    low, high = a_lo + 0.1 * delta, a_lo + 4 * delta
    t = jnp.where(jnp.isfinite(secant) & (d_lo > d_old), jnp.clip(secant, low, high), high)
    return jnp.minimum(t, a_max)


class _Zoom(NamedTuple):
    i: jax.Array
    done: jax.Array
    failed: jax.Array
    bracketed: jax.Array
    width: jax.Array  # of the bracket (inf before bracketing)
    lo: tuple  # (alpha, phi, dphi, grad) -- satisfies sufficient decrease, lowest so far
    hi: tuple  # (alpha, phi, dphi) -- the other end of the bracket
    old: tuple  # (alpha, dphi) of the previous lo, for extrapolation
    trial: jax.Array


def _zoom_search(
    value_fn, params, d, f0, g0, df0, a0, c1, c2, approx_rtol, a_max, max_steps, more_thuente
):
    dtype = f0.dtype
    eps = jnp.finfo(dtype).eps
    zero = jnp.zeros([], dtype)
    # The resolution of f: approx_rtol |f0|, but never below 1000 ulps (float32: 1.2e-4 |f0|).
    rtol = None if approx_rtol is None else jnp.maximum(approx_rtol, 1000 * eps)
    slack = -jnp.inf if rtol is None else rtol * jnp.abs(f0)

    def cond(c):
        return ~(c.done | c.failed)

    def body(c):
        a = c.trial
        f, df, g = evaluate_on_line(value_fn, params, d, a, dtype)
        a_lo, f_lo, d_lo, g_lo = c.lo
        a_hi, f_hi, d_hi = c.hi
        armijo = f <= f0 + c1 * a * df0
        wolfe = armijo & (jnp.abs(df) <= -c2 * df0)
        # Below the resolution of f, values cannot rank points: use the derivative only.
        noisy = jnp.abs(f - f0) <= slack
        approx = noisy & (df >= c2 * df0) & (df <= (2 * c1 - 1) * df0)
        accept = wolfe | approx
        to_hi = ~accept & jnp.where(noisy, df >= 0, ~armijo | (f >= f_lo))
        to_lo = accept | ~to_hi
        direction = jnp.where(c.bracketed, a_hi - a_lo, 1)
        flip = ~accept & ~noisy & to_lo & (df * direction >= 0)  # the old lo becomes hi
        hi = (
            jnp.where(to_hi, a, jnp.where(flip, a_lo, a_hi)),
            jnp.where(to_hi, f, jnp.where(flip, f_lo, f_hi)),
            jnp.where(to_hi, df, jnp.where(flip, d_lo, d_hi)),
        )
        lo = (
            jnp.where(to_lo, a, a_lo),
            jnp.where(to_lo, f, f_lo),
            jnp.where(to_lo, df, d_lo),
            _tree.where(to_lo, g, g_lo),
        )
        old = (jnp.where(to_lo, a_lo, c.old[0]), jnp.where(to_lo, d_lo, c.old[1]))
        bracketed = c.bracketed | to_hi | flip
        # Moré-Thuente interpolate f, or f shifted by the sufficient-decrease line when the
        # trial is lower than lo but above that line (None: the plain cubic).
        shift = jnp.where(f > f_lo, zero, c1 * df0) if more_thuente else None
        width = jnp.abs(hi[0] - lo[0])
        slow = c.bracketed & (width > 0.66 * c.width)
        at_max = ~bracketed & (lo[0] >= a_max)
        nxt = jnp.where(
            bracketed,
            _interpolate(
                *lo[:3], *hi, jnp.abs(hi[1] - lo[1]) <= slack, slow, to_hi & ~noisy, shift
            ),
            _extrapolate(lo[0], lo[2], old[0], old[1], a_max),
        )
        collapsed = bracketed & (jnp.abs(hi[0] - lo[0]) <= eps * jnp.maximum(lo[0], hi[0]))
        done = accept | at_max
        i = c.i + 1
        failed = ~done & (collapsed | (i >= max_steps))
        width = jnp.where(bracketed, width, jnp.inf)
        return _Zoom(i, done, failed, bracketed, width, lo, hi, old, nxt.astype(dtype))

    descent = df0 < 0
    init = _Zoom(
        jnp.zeros([], jnp.int32),
        ~descent,
        jnp.asarray(False),
        jnp.asarray(False),
        jnp.asarray(jnp.inf, dtype),
        (zero, f0, df0, g0),
        (zero, jnp.asarray(jnp.inf, dtype), jnp.asarray(jnp.nan, dtype)),
        (zero, df0),
        jnp.minimum(a0, a_max).astype(dtype),
    )
    c = jax.lax.while_loop(cond, body, init)
    failed = c.failed | ~(df0 <= 0)  # not a descent direction (or not finite)
    a_lo, f_lo, _, g_lo = c.lo
    return a_lo, f_lo, g_lo, failed, c.i


def scale_by_zoom_linesearch(
    max_linesearch_steps: int = 30,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    max_learning_rate: float = 1e10,
    initial_guess: str = "one",
    interpolation: str = "more_thuente",
) -> GradientTransformation:
    r"""Scale the direction by a step satisfying the strong Wolfe conditions (zoom search).

    $$f(x+\alpha d) \le f(x) + c_1 \alpha\, \varphi'(0), \qquad
    |\varphi'(\alpha)| \le c_2\, |\varphi'(0)|, \qquad
    \varphi'(\alpha) = \langle \nabla f(x+\alpha d), d\rangle,$$

    with $c_1$ = ``slope_rtol`` and $c_2$ = ``curv_rtol``. The search brackets a step
    (extrapolating by the secant of $\varphi'$) and then zooms into the bracket by cubic
    interpolation, bisecting when a trial does not shrink the bracket by a third (Nocedal &
    Wright, Algorithms 3.5/3.6; Moré & Thuente's safeguard). Every trial evaluates the value
    and the gradient. A step is also accepted when it satisfies Hager and Zhang's
    *approximate* Wolfe conditions

    $$c_2\,\varphi'(0) \le \varphi'(\alpha) \le (2c_1 - 1)\,\varphi'(0), \qquad
    |f(x+\alpha d) - f(x)| \le \epsilon\,|f(x)|,$$

    with $\epsilon = \max(\texttt{approx\_dec\_rtol}, 1000\,\epsilon_\text{mach})$ (so 1e-6 in
    float64 and 1.2e-4 in float32 by default). Where values differ by less than $\epsilon|f(x)|$
    they cannot rank points (the decrease is below round-off near a minimizer), so the search
    uses the derivative alone there: the first condition implies sufficient decrease on a
    quadratic, the bracket is updated by the sign of $\varphi'$, and the next trial is the
    secant root of $\varphi'$. Without this a search stalls near the solution of an
    ill-conditioned problem. If nothing is accepted within ``max_linesearch_steps``
    evaluations, the lowest point found that satisfies sufficient decrease is taken (0 if
    none) and ``state.failed`` is set.

    The first trial is 1 (``initial_guess="one"``, for Newton and quasi-Newton directions),
    the last accepted step (``"keep"``), or $\alpha_0 = 2.02\,(f_k - f_{k-1})/\varphi'(0)$
    (``"quadratic"``, Nocedal & Wright's eq. 3.60 without their cap at 1, for gradient and
    conjugate-gradient directions, whose scale is arbitrary); the first search of ``"keep"``
    and ``"quadratic"`` starts from $\min(1, 1/\|d\|_2)$.

    After a trial that raised the value, the next one is Moré and Thuente's
    (``interpolation="more_thuente"``, as in MINPACK's ``dcsrch`` under scipy's L-BFGS-B):
    the cubic minimizer $\alpha_c$ if it is nearer the best point than the minimizer
    $\alpha_q$ of the quadratic through the best point's value and slope and the new value,
    else $(\alpha_c + \alpha_q)/2$, a step back toward the best point when the cubic
    reaches far. ``"cubic"`` always takes $\alpha_c$ (Nocedal & Wright's eq. 3.59).

    Args:
      max_linesearch_steps: the most evaluations per search ($\ge 1$).
      slope_rtol: $c_1 \in (0, 1)$.
      curv_rtol: $c_2 \in (c_1, 1)$; 0.9 for quasi-Newton, 0.1 to 0.4 for conjugate gradients.
      approx_dec_rtol: $\epsilon \ge 0$, or ``None`` to use the strong Wolfe conditions only.
      max_learning_rate: the largest step.
      initial_guess: ``"one"``, ``"keep"`` or ``"quadratic"``.
      interpolation: ``"more_thuente"`` or ``"cubic"``, the trial after a rejected one that
        raised the value.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LineSearchState`; its
      ``update`` needs ``value_fn`` and ``grad`` (or the chain's ``gradient``), and uses
      ``value`` when given.

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, section 3.5;
      Hager & Zhang, "A new conjugate gradient method with guaranteed descent and an
      efficient line search", SIAM J. Optim. 16(1), 2005, doi:10.1137/030601880; Moré &
      Thuente, "Line search algorithms with guaranteed sufficient decrease", ACM TOMS 20(3),
      1994, doi:10.1145/192115.192132.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_zoom_linesearch
      >>> f = lambda x: jnp.sum((x - 1.0) ** 4)
      >>> x = jnp.zeros(2); tx = scale_by_zoom_linesearch()
      >>> u, s = tx.update(jnp.ones(2), tx.init(x), x, value=f(x), grad=-4 * (1 - x), value_fn=f)
      >>> bool(s.failed), bool(s.point.value < f(x)), int(s.info.num_fun_evals) <= 3
      (False, True, True)
    """
    max_steps = _validate.check_int("max_linesearch_steps", max_linesearch_steps, 1)
    _validate.check_range("slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    _validate.check_range("curv_rtol", curv_rtol, slope_rtol, 1.0, low_open=True, high_open=True)
    if approx_dec_rtol is not None:
        _validate.check_nonnegative("approx_dec_rtol", approx_dec_rtol)
    _validate.check_positive("max_learning_rate", max_learning_rate)
    _validate.check_choice("initial_guess", initial_guess, ("one", "keep", "quadratic"))
    _validate.check_choice("interpolation", interpolation, ("more_thuente", "cubic"))

    def update(updates, state, params=None, **extra):
        check_state_type(state, LineSearchState, "scale_by_zoom_linesearch")
        value_fn, f0, g0, df0, evals0 = search_inputs(updates, params, extra, "zoom linesearch")
        dtype = f0.dtype
        one = jnp.ones([], dtype)
        first = jnp.minimum(one, 1 / _tree.norm(updates).astype(dtype))
        first = jnp.where(jnp.isfinite(first) & (first > 0), first, one)
        if initial_guess == "one":
            a0 = one
        elif initial_guess == "keep":
            a0 = jnp.where(state.count > 0, state.learning_rate, first)
        else:
            guess = 2.02 * (f0 - state.prev_value) / df0
            usable = (state.count > 0) & jnp.isfinite(guess) & (guess > 0)
            a0 = jnp.where(usable, guess, jnp.where(state.count > 0, one, first))
        a0 = jnp.where(a0 > 0, a0, one)
        alpha, value, grad, failed, evals = _zoom_search(
            value_fn,
            params,
            updates,
            f0,
            g0,
            df0,
            a0,
            slope_rtol,
            curv_rtol,
            approx_dec_rtol,
            jnp.asarray(max_learning_rate, dtype),
            max_steps,
            interpolation == "more_thuente",
        )
        return finish_search(state, updates, alpha, value, grad, f0, df0, failed, evals + evals0)

    return GradientTransformation(init_search_state, update)


def resolve_linesearch(
    linesearch: GradientTransformation | str | None, who: str, **zoom_options: Any
) -> GradientTransformation:
    """``"zoom"`` (with ``zoom_options``), ``"backtracking"``, ``None`` or a transform."""
    if linesearch is None:
        return identity()
    if isinstance(linesearch, str):
        _validate.check_choice(f"{who}: linesearch", linesearch, ("zoom", "backtracking"))
        if linesearch == "zoom":
            return scale_by_zoom_linesearch(**zoom_options)
        return scale_by_backtracking_linesearch()
    if not (
        callable(getattr(linesearch, "init", None))
        and callable(getattr(linesearch, "update", None))
    ):
        raise ValueError(
            f"{who}: linesearch must be 'zoom', 'backtracking', None or a gradient "
            f"transformation, got {linesearch!r}."
        )
    return linesearch
