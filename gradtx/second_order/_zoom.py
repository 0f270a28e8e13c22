r"""The zoom line search: strong Wolfe (Nocedal & Wright 3.5/3.6) with approximate Wolfe."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _validate, _vectors
from gradtx._base import GradientTransformation, Scalar, check_state_type, identity
from gradtx.second_order._backtracking import scale_by_backtracking_linesearch
from gradtx.second_order._linesearch import (
    FLAG_CURVATURE_COND_NOT_SATISFIED,
    FLAG_INTERVAL_NOT_FOUND,
    FLAG_INTERVAL_TOO_SMALL,
    FLAG_NO_STEPSIZE_FOUND,
    FLAG_NOT_A_DESCENT_DIRECTION,
    LineSearchState,
    as_scalars,
    check_rate,
    cond_print,
    evaluate_on_line,
    finish_search,
    init_search_state,
    nonnegative_error,
    search_inputs,
)
from gradtx.second_order._trial_steps import extrapolate, interpolate

# Why a search stopped (``_Zoom.stop``), for ``verbose``.
_RUNNING, _ACCEPTED, _AT_MAX, _SMALL, _COLLAPSED, _MAX_STEPS, _ASCENT = range(-1, 6)


class _Zoom(NamedTuple):
    i: jax.Array
    stop: jax.Array  # one of the codes above
    bracketed: jax.Array
    width: jax.Array  # of the bracket (inf before bracketing)
    lo: tuple  # (alpha, phi, dphi, grad) -- satisfies sufficient decrease, lowest so far
    hi: tuple  # (alpha, phi, dphi) -- the other end of the bracket
    old: tuple  # (alpha, dphi) of the previous lo, for extrapolation
    trial: jax.Array


class _Rule(NamedTuple):
    """The search's constants (scalars of its dtype; ``slack``, ``growth`` may be None)."""

    c1: Any
    c2: Any
    tol: Any
    slack: Any  # approx. Wolfe applies where |f - f0| <= slack (None: never)
    a_max: Any
    growth: Any
    precision: Any
    max_steps: int
    more_thuente: bool


def _zoom_search(value_fn, params, d, f0, g0, df0, a0, r: _Rule):
    dtype = f0.dtype
    eps = jnp.finfo(dtype).eps
    zero = jnp.zeros([], dtype)
    slack = -jnp.inf if r.slack is None else r.slack

    def body(c):
        a = c.trial
        f, df, g = evaluate_on_line(value_fn, params, d, a, dtype)
        a_lo, f_lo, d_lo, g_lo = c.lo
        a_hi, f_hi, d_hi = c.hi
        armijo = f <= f0 + r.c1 * a * df0 + r.tol
        wolfe = armijo & (jnp.abs(df) <= -r.c2 * df0 + r.tol)
        # Below the resolution of f, values cannot rank points: use the derivative only.
        noisy = jnp.abs(f - f0) <= slack
        approx = noisy & (df >= r.c2 * df0 - r.tol) & (df <= (2 * r.c1 - 1) * df0 + r.tol)
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
            _vectors.where(to_lo, g, g_lo),
        )
        old = (jnp.where(to_lo, a_lo, c.old[0]), jnp.where(to_lo, d_lo, c.old[1]))
        bracketed = c.bracketed | to_hi | flip
        # Moré-Thuente interpolate f, or f shifted by the sufficient-decrease line when the
        # trial is lower than lo but above that line (None: the plain cubic).
        shift = jnp.where(f > f_lo, zero, r.c1 * df0) if r.more_thuente else None
        width = jnp.abs(hi[0] - lo[0])
        slow = c.bracketed & (width > 0.66 * c.width)
        at_max = ~bracketed & (lo[0] >= r.a_max)
        nxt = jnp.where(
            bracketed,
            interpolate(*lo[:3], *hi, jnp.abs(hi[1] - lo[1]) <= slack, slow, to_hi & ~noisy, shift),
            extrapolate(lo[0], lo[2], old[0], old[1], r.a_max, r.growth),
        )
        collapsed = bracketed & (width <= eps * jnp.maximum(lo[0], hi[0]))
        small = bracketed & (width <= r.precision) & (r.precision > 0) & (lo[0] > 0)
        i = c.i + 1
        stop = jnp.select(
            [accept, at_max, small, collapsed, i >= r.max_steps],
            [_ACCEPTED, _AT_MAX, _SMALL, _COLLAPSED, _MAX_STEPS],
            _RUNNING,
        )
        width = jnp.where(bracketed, width, jnp.inf)
        return _Zoom(i, stop, bracketed, width, lo, hi, old, nxt.astype(dtype))

    descent = df0 < 0
    init = _Zoom(
        jnp.zeros([], jnp.int32),
        jnp.where(descent, _RUNNING, _ASCENT),
        jnp.asarray(False),
        jnp.asarray(jnp.inf, dtype),
        (zero, f0, df0, g0),
        (zero, jnp.asarray(jnp.inf, dtype), jnp.asarray(jnp.nan, dtype)),
        (zero, df0),
        jnp.minimum(a0, r.a_max).astype(dtype),
    )
    return jax.lax.while_loop(lambda c: c.stop == _RUNNING, body, init)


def _errors(r: _Rule, alpha, f, df, f0, df0):
    """Optax's decrease and curvature errors at the returned step."""
    decrease = f - f0 - r.c1 * alpha * df0
    if r.slack is not None:  # or the approximate Wolfe condition, whichever is smaller
        decrease = jnp.minimum(decrease, jnp.maximum(df - (2 * r.c1 - 1) * df0, f - f0 - r.slack))
    curvature = jnp.abs(df) - r.c2 * jnp.abs(df0)
    return nonnegative_error(decrease), nonnegative_error(curvature)


def _diagnose(c: _Zoom, f0, df0) -> None:
    """``verbose=True``: why the search stopped, when it did not meet the conditions."""
    cond_print(
        c.stop != _ACCEPTED,
        "INFO: gradtx.scale_by_zoom_linesearch:\nValue at current params: {value}\n"
        "Slope along update direction: {slope}\nStepsize reached: {stepsize}",
        value=f0,
        slope=df0,
        stepsize=c.lo[0],
    )
    cond_print(c.stop == _AT_MAX, FLAG_INTERVAL_NOT_FOUND)
    width = jnp.abs(c.hi[0] - c.lo[0])
    cond_print(
        (c.stop == _SMALL) | (c.stop == _COLLAPSED),
        FLAG_INTERVAL_TOO_SMALL + " Interval length: {length}.",
        length=width,
    )
    kept = (c.stop != _ACCEPTED) & (c.lo[0] > 0)
    cond_print(kept, FLAG_CURVATURE_COND_NOT_SATISFIED + " Stepsize: {s}.", s=c.lo[0])
    cond_print((c.stop != _ACCEPTED) & (c.lo[0] == 0), FLAG_NO_STEPSIZE_FOUND)
    cond_print(c.stop == _ASCENT, FLAG_NOT_A_DESCENT_DIRECTION + "Slope: {s}.", s=df0)
    cond_print(
        (c.stop == _MAX_STEPS) & (c.lo[0] == 0),
        "Consider augmenting the maximal number of linesearch iterations.",
    )


def scale_by_zoom_linesearch(
    max_linesearch_steps: int = 30,
    max_learning_rate: Scalar | None = None,
    tol: Scalar = 0.0,
    increase_factor: Scalar | None = 2.0,
    slope_rtol: Scalar = 1e-4,
    curv_rtol: Scalar = 0.9,
    approx_dec_rtol: Scalar | None = 1e-6,
    stepsize_precision: Scalar = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
    interpolation: str = "more_thuente",
    max_initial_guess: Scalar | None = None,
) -> GradientTransformation:
    r"""Scale the direction by a step satisfying the strong Wolfe conditions (zoom search).

    $$f(x+\alpha d) \le f(x) + c_1 \alpha\, \varphi'(0) + \epsilon, \qquad
    |\varphi'(\alpha)| \le c_2\, |\varphi'(0)| + \epsilon, \qquad
    \varphi'(\alpha) = \langle \nabla f(x+\alpha d), d\rangle,$$

    with $c_1$ = ``slope_rtol``, $c_2$ = ``curv_rtol`` ($\infty$ drops the curvature
    condition) and $\epsilon$ = ``tol``. The search brackets a step, each trial the secant
    root of $\varphi'$ but at most $\gamma$ = ``increase_factor`` times the last (``None``:
    MINPACK's bound, 4 times the last increase), and then zooms into the bracket by cubic
    interpolation, bisecting when a trial does not shrink the bracket by a third (Nocedal &
    Wright, Algorithms 3.5/3.6; Moré & Thuente's safeguard). Every trial evaluates the value
    and the gradient. A step is also accepted when it satisfies Hager and Zhang's
    *approximate* Wolfe conditions

    $$c_2\,\varphi'(0) \le \varphi'(\alpha) \le (2c_1 - 1)\,\varphi'(0), \qquad
    |f(x+\alpha d) - f(x)| \le \delta\,|f(x)|,$$

    with $\delta = \max(\texttt{approx\_dec\_rtol}, 1000\,\epsilon_\text{mach})$ (so 1e-6 in
    float64 and 1.2e-4 in float32 by default). Where values differ by less than $\delta|f(x)|$
    they cannot rank points (the decrease is below round-off near a minimizer), so the search
    uses the derivative alone there: the first condition implies sufficient decrease on a
    quadratic, the bracket is updated by the sign of $\varphi'$, and the next trial is the
    secant root of $\varphi'$. Without this a search stalls near the solution of an
    ill-conditioned problem. A search also ends, successfully, when the bracket is shorter
    than ``stepsize_precision`` (0: never) and a step with sufficient decrease is known,
    and it takes the largest step when $\alpha_\max$ = ``max_learning_rate`` is reached
    unbracketed. If nothing is accepted within ``max_linesearch_steps`` evaluations, the
    lowest point found that satisfies sufficient decrease is taken (0 if none) and
    ``state.failed`` is set. ``verbose=True`` prints why a search stopped without meeting
    the conditions (Optax's messages, through :func:`jax.debug.print`).

    The first trial is 1 (``initial_guess_strategy="one"``, for Newton and quasi-Newton
    directions), the last accepted step (``"keep"``, Optax's default; 1 in a fresh state),
    or $\alpha_0 = 2.02\,(f_k - f_{k-1})/\varphi'(0)$ (``"quadratic"``, Nocedal & Wright's
    eq. 3.60, for gradient and conjugate-gradient directions; the first search starts from
    $\min(1, 1/\|d\|_2)$), at most ``max_initial_guess`` (their cap is 1, as in SciPy's CG;
    ``None``: no cap, since a gradient's scale is arbitrary).

    After a trial that raised the value, the next one is Moré and Thuente's
    (``interpolation="more_thuente"``, as in MINPACK's ``dcsrch`` under scipy's L-BFGS-B):
    the cubic minimizer $\alpha_c$ if it is nearer the best point than the minimizer
    $\alpha_q$ of the quadratic through the best point's value and slope and the new value,
    else $(\alpha_c + \alpha_q)/2$, a step back toward the best point when the cubic
    reaches far. ``"cubic"`` always takes $\alpha_c$ (Nocedal & Wright's eq. 3.59).

    Args:
      max_linesearch_steps: the most evaluations per search ($\ge 1$).
      max_learning_rate: $\alpha_\max > 0$, or ``None`` for no bound.
      tol: $\epsilon \ge 0$.
      increase_factor: $\gamma \in (1, \infty]$, or ``None`` (MINPACK's bracketing).
      slope_rtol: $c_1 \in [0, 1)$.
      curv_rtol: $c_2 \in (c_1, \infty]$; 0.9 for quasi-Newton, 0.1 to 0.4 for conjugate
        gradients.
      approx_dec_rtol: $\delta \ge 0$, or ``None`` to use the strong Wolfe conditions only.
      stepsize_precision: the bracket length ($\ge 0$) below which a search stops.
      initial_guess_strategy: ``"keep"``, ``"one"`` or ``"quadratic"``.
      verbose: print why a search stopped without meeting the conditions.
      interpolation: ``"more_thuente"`` or ``"cubic"``, the trial after a rejected one that
        raised the value.
      max_initial_guess: a cap $> 0$ on the ``"quadratic"`` first trial, or ``None``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LineSearchState`; its
      ``update`` needs ``value_fn`` and ``grad`` (or the chain's ``gradient``), uses
      ``value`` when given, and gives ``value_fn`` the extra arguments it names.

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
      >>> float(s.decrease_error), float(s.curvature_error)  # both conditions hold
      (0.0, 0.0)
    """
    max_steps = _validate.check_int("max_linesearch_steps", max_linesearch_steps, 1)
    if max_learning_rate is not None:
        check_rate("max_learning_rate", max_learning_rate)
    _validate.check_nonnegative("tol", tol)
    if increase_factor is not None:
        check_rate("increase_factor", increase_factor, 1.0)
    _validate.check_range("slope_rtol", slope_rtol, 0.0, 1.0, high_open=True)
    c1 = _validate.concrete_value(slope_rtol) or 0.0
    check_rate("curv_rtol", curv_rtol, c1)
    if approx_dec_rtol is not None:
        _validate.check_nonnegative("approx_dec_rtol", approx_dec_rtol)
    _validate.check_nonnegative("stepsize_precision", stepsize_precision)
    if max_initial_guess is not None:
        _validate.check_positive("max_initial_guess", max_initial_guess)
    strategies = ("keep", "one", "quadratic")
    _validate.check_choice("initial_guess_strategy", initial_guess_strategy, strategies)
    _validate.check_choice("interpolation", interpolation, ("more_thuente", "cubic"))
    who = "scale_by_zoom_linesearch"

    def update(updates, state, params=None, **extra):
        check_state_type(state, LineSearchState, who)
        value_fn, f0, g0, df0, evals0 = search_inputs(updates, params, extra, who)
        dtype = f0.dtype
        one = jnp.ones([], dtype)
        first = jnp.minimum(one, 1 / _vectors.norm(updates).astype(dtype))
        first = jnp.where(jnp.isfinite(first) & (first > 0), first, one)
        if initial_guess_strategy == "one":
            a0 = one
        elif initial_guess_strategy == "keep":
            a0 = jnp.asarray(state.learning_rate).astype(dtype)
        else:
            guess = 2.02 * (f0 - jnp.asarray(state.prev_value).astype(dtype)) / df0
            if max_initial_guess is not None:
                guess = jnp.minimum(guess, jnp.asarray(max_initial_guess, dtype))
            usable = (state.count > 0) & jnp.isfinite(guess) & (guess > 0)
            a0 = jnp.where(usable, guess, jnp.where(state.count > 0, one, first))
        a0 = jnp.where((a0 > 0) & jnp.isfinite(a0), a0, one)
        a_max = jnp.inf if max_learning_rate is None else max_learning_rate
        c1, c2, eps, a_max, precision = as_scalars(
            dtype, slope_rtol, curv_rtol, tol, a_max, stepsize_precision
        )
        slack, growth = None, None
        if approx_dec_rtol is not None:
            slack = jnp.maximum(*as_scalars(dtype, approx_dec_rtol, 1000 * jnp.finfo(dtype).eps))
            slack = slack * jnp.abs(f0)
        if increase_factor is not None:
            (growth,) = as_scalars(dtype, increase_factor)
        rule = _Rule(
            c1, c2, eps, slack, a_max, growth, precision, max_steps, interpolation == "more_thuente"
        )
        c = _zoom_search(value_fn, params, updates, f0, g0, df0, a0, rule)
        alpha, value, slope, grad = c.lo
        failed = (c.stop == _COLLAPSED) | (c.stop == _MAX_STEPS)
        failed = failed | ~(df0 <= 0)  # not a descent direction (or not finite); d = 0 is not
        if verbose:
            _diagnose(c, f0, df0)
        return finish_search(
            state,
            updates,
            params,
            alpha,
            (value, grad, True),
            (f0, df0),
            failed,
            c.i,
            (c.i + evals0, c.i),
            _errors(rule, alpha, value, slope, f0, df0),
        )

    return GradientTransformation(init_search_state, update)


# gradtx's own settings, used by lbfgs, nonlinear_cg, newton and minimize: a first trial
# of 1, MINPACK's bracketing, a bound of 1e10, no stepsize_precision rule, and, for
# backtracking, halving and doubling with the gradient stored (minimize reuses it).
_ZOOM = {
    "max_learning_rate": 1e10,
    "increase_factor": None,
    "stepsize_precision": 0.0,
    "initial_guess_strategy": "one",
}
_BACKTRACKING = {"decrease_factor": 0.5, "increase_factor": 2.0, "store_grad": True}


def resolve_linesearch(
    linesearch: GradientTransformation | str | None, who: str, **zoom_options: Any
) -> GradientTransformation:
    """``"zoom"`` (gradtx's settings and ``zoom_options``), ``"backtracking"``, ``None`` or a
    transform."""
    if linesearch is None:
        return identity()
    if isinstance(linesearch, str):
        _validate.check_choice(f"{who}: linesearch", linesearch, ("zoom", "backtracking"))
        if linesearch == "zoom":
            return scale_by_zoom_linesearch(**{**_ZOOM, **zoom_options})
        return scale_by_backtracking_linesearch(**_BACKTRACKING)
    if not (
        callable(getattr(linesearch, "init", None))
        and callable(getattr(linesearch, "update", None))
    ):
        raise ValueError(
            f"{who}: linesearch must be 'zoom', 'backtracking', None or a gradient "
            f"transformation, got {linesearch!r}."
        )
    return linesearch
