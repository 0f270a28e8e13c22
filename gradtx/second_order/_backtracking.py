r"""The backtracking (Armijo) line search, with Optax's arguments."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx import _validate, _vectors
from gradtx._base import GradientTransformation, Scalar, apply_updates, check_state_type
from gradtx.second_order._linesearch import (
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


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int = 30,
    slope_rtol: Scalar = 1e-4,
    decrease_factor: Scalar = 0.8,
    increase_factor: Scalar = 1.5,
    max_learning_rate: Scalar = 1.0,
    atol: Scalar = 0.0,
    rtol: Scalar = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    r"""Scale the direction by the first step that decreases $f$ enough (Armijo).

    $$\alpha_0 = \min(\alpha_\max, \gamma\,\alpha_{k-1}),\quad \alpha_{j+1} = \tau\,\alpha_j
    \ \text{ until }\ f(x + \alpha_j d) \le (1 + \delta) f(x) + c_1\,\alpha_j\,\langle\nabla
    f(x), d\rangle + \epsilon$$

    with $c_1$ = ``slope_rtol``, $\tau$ = ``decrease_factor``, $\gamma$ =
    ``increase_factor`` ($\infty$: start every search at $\alpha_\max$), $\alpha_\max$ =
    ``max_learning_rate``, $\delta$ = ``rtol``, $\epsilon$ = ``atol``, and
    $\alpha_{-1} = 1$ (Optax's arguments, defaults and first trial). With
    ``store_grad=True`` each trial evaluates the value and the gradient, and the gradient at
    the accepted point is stored for the next step (:func:`value_and_grad_from_state`);
    otherwise only values are evaluated and ``state.point.valid`` stays False. If no trial
    is accepted (or $d$ is not a descent direction) the step is 0 and ``state.failed`` is
    set (Optax takes the last, rejected, trial). ``verbose=True`` prints a diagnostic when
    a search fails (through :func:`jax.debug.print`).

    Args:
      max_backtracking_steps: the most reductions of the first trial per search ($\ge 0$;
        at most ``max_backtracking_steps + 1`` trials, as in Optax).
      slope_rtol: $c_1 \in [0, 1)$.
      decrease_factor: $\tau \in (0, 1)$.
      increase_factor: $\gamma \in (0, \infty]$.
      max_learning_rate: $\alpha_\max > 0$.
      atol: $\epsilon \ge 0$.
      rtol: $\delta \ge 0$.
      store_grad: evaluate and store the gradient at the accepted point.
      verbose: print why a search failed.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LineSearchState`; its
      ``update`` needs ``value_fn`` and ``grad`` (or the chain's ``gradient``), uses
      ``value`` when given, and gives ``value_fn`` the extra arguments it names.

    References:
      Armijo, "Minimization of functions having Lipschitz continuous first partial
      derivatives", Pacific J. Math. 16(1), 1966; Nocedal & Wright, "Numerical
      Optimization", 2nd ed., Springer 2006, Algorithm 3.1; Vaswani et al., "Painless
      stochastic gradient: interpolation, line-search, and convergence rates", NeurIPS
      2019, arXiv:1905.09997.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_backtracking_linesearch
      >>> f = lambda x, a: jnp.sum((x - a) ** 2)  # value_fn takes the extra argument a
      >>> x = jnp.array([1.0, 2.0]); tx = scale_by_backtracking_linesearch(decrease_factor=0.5)
      >>> g = 2 * x  # at a = 0
      >>> u, s = tx.update(-g, tx.init(x), x, value=f(x, 0.0), grad=g, value_fn=f, a=0.0)
      >>> u.tolist(), float(s.learning_rate), float(s.point.value)
      ([-1.0, -2.0], 0.5, 0.0)
    """
    max_steps = _validate.check_int("max_backtracking_steps", max_backtracking_steps, 0)
    _validate.check_range("slope_rtol", slope_rtol, 0.0, 1.0, high_open=True)
    _validate.check_range(
        "decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True
    )
    check_rate("increase_factor", increase_factor)
    _validate.check_positive("max_learning_rate", max_learning_rate)
    _validate.check_nonnegative("atol", atol)
    _validate.check_nonnegative("rtol", rtol)
    who = "scale_by_backtracking_linesearch"

    def update(updates, state, params=None, **extra):
        check_state_type(state, LineSearchState, who)
        value_fn, f0, g0, df0, evals0 = search_inputs(updates, params, extra, who)
        dtype = f0.dtype
        c1, tau, gamma, amax, eps_abs, eps_rel = as_scalars(
            dtype, slope_rtol, decrease_factor, increase_factor, max_learning_rate, atol, rtol
        )
        previous = jnp.asarray(state.learning_rate).astype(dtype)
        a0 = jnp.minimum(amax, gamma * previous)
        a0 = jnp.where(a0 > 0, a0, amax)  # after a failed search (or inf * 0)
        bound = (1 + eps_rel) * f0 + eps_abs

        def trial(a):
            if store_grad:
                f, _, g = evaluate_on_line(value_fn, params, updates, a, dtype)
                return f, g
            p = apply_updates(params, _vectors.scale(a, updates))
            f = jnp.real(jnp.asarray(value_fn(p))).astype(dtype)
            return jnp.where(jnp.isfinite(f), f, jnp.inf), g0

        def cond(c):
            i, done, *_ = c
            return (~done) & (i <= max_steps) & (df0 < 0)

        def error_at(a, f):  # Optax's decrease error (atol excluded)
            return nonnegative_error(f - (1 + eps_rel) * f0 - c1 * a * df0)

        def body(c):
            i, _, a, _, _, _ = c
            f, g = trial(a)
            ok = f <= bound + c1 * a * df0
            return i + 1, ok, jnp.where(ok, a, a * tau), f, g, error_at(a, f)

        # No trial (d = 0, or not a descent direction): the error of the step 0, or inf.
        error0 = jnp.where(df0 == 0, error_at(0, f0), jnp.inf)
        init = (jnp.zeros([], jnp.int32), jnp.asarray(False), a0, f0, g0, error0)
        i, done, a, f, g, error = jax.lax.while_loop(cond, body, init)
        alpha = jnp.where(done, a, 0).astype(dtype)
        value = jnp.where(done, f, f0)
        grad = _vectors.where(done, g, g0) if store_grad else state.point.grad
        failed = ~done & (df0 != 0)  # then error is the last trial's (> 0), as in Optax
        if verbose:
            cond_print(
                failed,
                "INFO: gradtx.scale_by_backtracking_linesearch:\n"
                + FLAG_NO_STEPSIZE_FOUND
                + "\nValue at current params: {value},\nSlope along update direction: "
                "{slope}\nLast stepsize tried: {stepsize}\nUsing a stepsize of 0.",
                value=f0,
                slope=df0,
                stepsize=a / tau,
            )
            cond_print(df0 >= 0, FLAG_NOT_A_DESCENT_DIRECTION)
        return finish_search(
            state,
            updates,
            params,
            alpha,
            (value, grad, store_grad),
            (f0, df0),
            failed,
            i,
            (i + evals0, i if store_grad else 0),
            (error, jnp.zeros_like(error)),
        )

    return GradientTransformation(init_search_state, update)
