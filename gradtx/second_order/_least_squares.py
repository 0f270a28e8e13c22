r"""``least_squares``: nonlinear least squares (Levenberg–Marquardt, dogleg, Gauss–Newton)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradtx import _validate
from gradtx.second_order._jit import solver_jit
from gradtx.second_order._lsq_models import (
    armijo_backtrack,
    dense_model,
    dogleg_radius,
    matrix_free_model,
    more_radius,
    nielsen_damping,
    propose,
)
from gradtx.second_order._minimize import _check_x0, _Static

LSQ_METHODS = ("lm", "dogleg", "gauss_newton")
DENSE_MAX = 1000  # jac="auto": a dense Jacobian up to this many parameters


class LeastSquaresStatus(enum.IntEnum):
    """Why :func:`least_squares` stopped (SciPy's codes, plus ``NONFINITE``)."""

    MAX_NFEV = 0
    GTOL = 1
    FTOL = 2
    XTOL = 3
    FTOL_XTOL = 4
    NONFINITE = 5


_RUNNING = -1
_MESSAGES = {
    0: "stopped: the maximum number of residual evaluations was reached",
    1: "converged: the gradient test (gtol) is satisfied",
    2: "converged: the relative reduction of the cost is within ftol",
    3: "converged: the relative step is within xtol",
    4: "converged: both the ftol and the xtol tests are satisfied",
    5: "stopped: the residual or its Jacobian is not finite (x is the last finite iterate)",
}


class LeastSquaresResult(NamedTuple):
    """The result of :func:`least_squares` (arrays; ``message`` gives the status in words).

    Attributes:
      x: the solution (a tree like ``x0``).
      value: the cost $\\tfrac12\\|r(x)\\|^2$.
      residual: $r(x)$ (a tree like ``residual_fn``'s output).
      residual_norm: $\\|r(x)\\|_2$.
      grad: $J^\\top r$ at ``x`` (a tree like ``x0``).
      grad_norm: $\\|J^\\top r\\|_\\infty$.
      iterations: int32 number of accepted steps.
      num_fun_evals: int32 residual evaluations at new points, $x_0$ included (SciPy's
        ``nfev``).
      num_jac_evals: int32 dense Jacobians formed.
      num_jvp_evals, num_vjp_evals: int32 Jacobian-vector and vector-Jacobian products
        (matrix-free mode, and the final gradient).
      status: int32 :class:`LeastSquaresStatus` code.
      success: ``status`` is one of the ``gtol``/``ftol``/``xtol`` tests.
    """

    x: Any
    value: jax.Array
    residual: Any
    residual_norm: jax.Array
    grad: Any
    grad_norm: jax.Array
    iterations: jax.Array
    num_fun_evals: jax.Array
    num_jac_evals: jax.Array
    num_jvp_evals: jax.Array
    num_vjp_evals: jax.Array
    status: jax.Array
    success: jax.Array

    @property
    def message(self) -> str:
        """The status in words."""
        code = int(np.asarray(self.status))
        return _MESSAGES[code]


class _Outer(NamedTuple):
    x: jax.Array
    r: jax.Array
    cost: jax.Array
    d: jax.Array
    mu: jax.Array  # LM damping
    nu: jax.Array  # LM growth factor on rejection
    radius: jax.Array  # dogleg trust radius (scaled norm)
    iterations: jax.Array
    counts: jax.Array  # (fun, jac, jvp, vjp)
    status: jax.Array
    first: jax.Array


class _Inner(NamedTuple):
    x: jax.Array
    r: jax.Array
    cost: jax.Array
    mu: jax.Array
    nu: jax.Array
    radius: jax.Array
    alpha: jax.Array  # Gauss-Newton step length
    rejected: jax.Array  # LM: the norm of the last rejected step (inf: none)
    counts: jax.Array
    status: jax.Array
    accepted: jax.Array


def _solve(
    static: _Static, x0: Any, d0: jax.Array, tols: jax.Array, max_nfev: jax.Array
) -> LeastSquaresResult:
    residual_fn, method, rule, dense, jac_scale, tau, radius0, max_cg, cg_rtol = static.items
    ftol, xtol, gtol = tols[0], tols[1], tols[2]
    x0, unravel = ravel_pytree(x0)
    dtype = x0.dtype
    r0_tree = residual_fn(unravel(x0))
    r0, unravel_r = ravel_pytree(r0_tree)
    res = lambda x: ravel_pytree(residual_fn(unravel(x)))[0].astype(dtype)
    r0 = r0.astype(dtype)
    d0 = d0.astype(dtype)  # zeros for Moré's scaling
    cost = lambda r: 0.5 * (r @ r)

    def outer(o: _Outer) -> _Outer:
        if dense:
            model = dense_model(res, o.x, o.r, o.d, jac_scale)
            njac = 1
        else:
            model = matrix_free_model(res, o.x, o.d, method != "lm", o.first, max_cg, cg_rtol)
            njac = 0
        counts = o.counts + jnp.stack([0, njac, model.jvps, model.vjps]).astype(jnp.int32)
        mu = jnp.where(o.first, tau * model.mu_scale, o.mu).astype(dtype)
        xnorm0 = jnp.linalg.norm(model.d * o.x)
        radius = jnp.where(o.first, radius0 * jnp.where(xnorm0 > 0, xnorm0, 1), o.radius)
        finite = jnp.all(jnp.isfinite(model.g)) & jnp.all(jnp.isfinite(model.dots))
        status = jnp.where(model.gtol_measure <= gtol, LeastSquaresStatus.GTOL, _RUNNING)
        status = jnp.where(finite, status, LeastSquaresStatus.NONFINITE).astype(jnp.int32)

        def trial(c: _Inner) -> _Inner:
            counts = c.counts
            mu, nu, radius = c.mu, c.nu, c.radius
            step, pred, jc2, mu, prods = propose(method, rule, model, mu, radius, c.alpha)
            counts = counts + jnp.stack([0, 0, prods, prods]).astype(jnp.int32)
            x_new = o.x + model.to_x(step)
            r_new = res(x_new)
            counts = counts.at[0].add(1)
            cost_new = cost(r_new)
            ok = jnp.isfinite(cost_new)
            actred = jnp.where(ok, o.cost - cost_new, -jnp.inf)
            rho = jnp.where(pred > 0, actred / jnp.where(pred > 0, pred, 1), -1.0)
            step_norm = jnp.linalg.norm(step)
            alpha = c.alpha
            if method == "gauss_newton":
                accept, alpha = armijo_backtrack(
                    model.g @ model.gn, c.alpha, actred, cost_new - o.cost, ok
                )
            elif method == "lm" and rule == "more":
                first = o.iterations == 0
                radius, accept = more_radius(
                    radius, step_norm, mu, jc2, actred, rho, o.cost, ok, first
                )
            else:
                accept = ok & (rho > 0)
                if method == "lm":
                    mu, nu = nielsen_damping(mu, nu, rho, accept)
                else:
                    radius = dogleg_radius(radius, step_norm, rho)
            x_acc = jnp.where(accept, x_new, o.x)
            # SciPy's (MINPACK's) tests, relative to the cost and to the scaled x
            f_ok = (jnp.abs(actred) <= ftol * o.cost) & (pred <= ftol * o.cost) & (rho <= 2)
            moved = radius if (method == "lm" and rule == "more") else step_norm
            x_ok = moved <= xtol * (xtol + jnp.linalg.norm(model.d * x_acc))
            code = jnp.where(counts[0] >= max_nfev, LeastSquaresStatus.MAX_NFEV, _RUNNING)
            code = jnp.where(x_ok, LeastSquaresStatus.XTOL, code)
            code = jnp.where(f_ok, LeastSquaresStatus.FTOL, code)
            code = jnp.where(f_ok & x_ok, LeastSquaresStatus.FTOL_XTOL, code)
            return _Inner(
                x_acc, jnp.where(accept, r_new, o.r), jnp.where(accept, cost_new, o.cost),
                mu, nu, radius, alpha, jnp.where(accept, jnp.inf, step_norm).astype(dtype), counts,
                code.astype(jnp.int32), accept,
            )  # fmt: skip

        one, inf = jnp.ones([], dtype), jnp.asarray(jnp.inf, dtype)
        init = _Inner(o.x, o.r, o.cost, mu, o.nu, radius, one, inf, counts, status,
                      jnp.asarray(False))  # fmt: skip
        c = jax.lax.while_loop(lambda c: (c.status == _RUNNING) & ~c.accepted, trial, init)
        return _Outer(
            c.x, c.r, c.cost, model.d, c.mu, c.nu, c.radius,
            o.iterations + c.accepted.astype(jnp.int32), c.counts, c.status, jnp.asarray(False),
        )  # fmt: skip

    finite0 = jnp.all(jnp.isfinite(r0))
    zero = jnp.zeros([], dtype)
    start = _Outer(
        x0, r0, cost(r0), d0, zero, jnp.asarray(2, dtype), zero, jnp.zeros([], jnp.int32),
        jnp.array([1, 0, 0, 0], jnp.int32),
        jnp.where(finite0, _RUNNING, LeastSquaresStatus.NONFINITE).astype(jnp.int32),
        jnp.asarray(True),
    )  # fmt: skip
    o = jax.lax.while_loop(lambda o: o.status == _RUNNING, outer, start)
    vjp = jax.vjp(res, o.x)[1]  # the final gradient J^T r (one VJP)
    g = vjp(o.r)[0]
    counts = o.counts.at[3].add(1)
    return LeastSquaresResult(
        unravel(o.x), o.cost, unravel_r(o.r), jnp.linalg.norm(o.r), unravel(g),
        jnp.max(jnp.abs(g)), o.iterations, *counts, o.status, (o.status >= 1) & (o.status <= 4),
    )  # fmt: skip


_solve_jit = solver_jit(_solve, static_argnums=0)


def least_squares(
    residual_fn: Callable[[Any], Any],
    x0: Any,
    method: str = "lm",
    *,
    jac: str = "auto",
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    max_nfev: int | None = None,
    x_scale: Any = None,
    damping: float = 1e-3,
    damping_update: str | None = None,
    initial_radius: float = 100.0,
    max_cg_steps: int | None = None,
    cg_rtol: float = 1e-10,
) -> LeastSquaresResult:
    r"""Minimize $\tfrac12\|r(x)\|^2$ by a Gauss–Newton method; one jitted while-loop.

    Every method steps from the linearization $r(x + h) \approx r + J h$ in the scaled
    variables $z = D x$ ($J_s = J D^{-1}$, $g = J_s^\top r$), with the model decrease
    $L(0) - L(c) = -g^\top c - \tfrac12 \|J_s c\|^2$ and the gain ratio
    $\rho = \big(F(x) - F(x + D^{-1}c)\big) / \big(L(0) - L(c)\big)$:

    * ``"lm"`` (Levenberg–Marquardt) $(J_s^\top J_s + \mu I)\,c = -g$, with $\mu$ set by
      ``damping_update``: ``"more"`` (Moré 1978, MINPACK's ``lmder`` as in SciPy's
      ``method="lm"``): $\mu = 0$ if $\|c_{gn}\| \le 1.1\Delta$, else $\mu$ such that
      $\|c\| \approx \Delta$ (Newton's method on $1/\Delta - 1/\|c(\mu)\|$), accept if
      $\rho \ge 10^{-4}$, $\Delta$ shrunk by $\in [0.1, 0.5]$ if $\rho \le \frac14$
      and set to $2\|c\|$ if $\rho \ge \frac34$; or ``"nielsen"`` (Nielsen 1999):
      $$\begin{cases}\text{accept},\ \mu \leftarrow \mu \max\big(\tfrac13,\,
      1 - (2\rho - 1)^3\big),\ \nu \leftarrow 2 & \rho > 0\\
      \mu \leftarrow \nu\mu,\ \nu \leftarrow 2\nu & \text{else}\end{cases}$$
      with $\mu_0 = \tau \max \operatorname{eig}(J_s^\top J_s)$, $\tau$ = ``damping``
      (matrix-free: the Rayleigh quotient $\|J_s g\|^2/\|g\|^2$). ``None``: ``"more"``
      with a dense Jacobian (it needs $\|c(\mu)\|$ for many $\mu$: one SVD), else
      ``"nielsen"``. On the NIST problems Moré's rule stays within 1.1x of SciPy's
      evaluations; Nielsen's uses fewer on four starts, solves MGH09 from start 1, and up
      to 2x more on two (``docs/second_order.md``);
    * ``"dogleg"`` (Powell): $c$ the point of the path $0 \to c_{cp} \to c_{gn}$ at
      distance $\Delta$ (or $c_{gn}$ inside the region), with the Cauchy step
      $c_{cp} = -\frac{\|g\|^2}{\|J_s g\|^2} g$ and the Gauss–Newton step $c_{gn}$;
      accept if $\rho > 0$; $\Delta \leftarrow \max(\Delta, 3\|c\|)$ if
      $\rho > \frac34$, $\Delta \leftarrow \frac12\min(\Delta, \|c\|)$ if
      $\rho < \frac14$; $\Delta_0$ = ``initial_radius`` $\times \|D x_0\|$ (or
      ``initial_radius`` if $x_0 = 0$; MINPACK's ``factor``);
    * ``"gauss_newton"``: $c = \alpha\,c_{gn}$ with backtracking from $\alpha = 1$
      (quadratic interpolation, $\alpha$ reduced 2-10x) until the Armijo condition
      $F(x + \alpha D^{-1}c_{gn}) \le F(x) + 10^{-4}\alpha\, g^\top c_{gn}$.

    The Jacobian is dense (``jac="dense"``: ``jax.jacfwd``, or ``jax.jacrev`` when there
    are fewer residuals than parameters, on the raveled $x$; one SVD of $J_s$ per Jacobian
    gives every step in closed form, $c_{gn}$ the least-norm solution) or never formed
    (``jac="matrix_free"``: ``jax.linearize`` once per accepted point, the normal
    equations solved by CG with one JVP and one VJP per product). ``"auto"`` is dense up to
    1000 parameters. The scaling $D$ (``x_scale``) is Moré's by default in dense mode
    ($d_j$ the largest norm of column $j$ of $J$ so far, SciPy's ``x_scale="jac"``),
    else $D = \operatorname{diag}(1/\text{x\_scale})$ (default 1).

    Stopping rules (SciPy's, MINPACK's): ``gtol``: $\max_j |g_j| \le \text{gtol}\,\|r\|$
    (with Moré's scaling the cosine between $r$ and the columns of $J$); ``ftol``: the
    actual and predicted relative reductions of $F$ within ``ftol`` (and $\rho \le 2$);
    ``xtol``: $\|c\| \le \text{xtol}\,(\text{xtol} + \|D x\|)$; ``max_nfev`` residual
    evaluations (default $100 n$). A trial point where $r$ is not finite is rejected.

    The solve is one jitted ``lax.while_loop`` (a loop over Jacobians around a loop over
    trial steps), so ``jax.vmap`` over starting points (or data closed over by a
    vmapped function) works.

    Args:
      residual_fn: $r$, a function of one pytree returning a float array or pytree.
      x0: the starting point, any pytree of float arrays.
      method: ``"lm"``, ``"dogleg"`` or ``"gauss_newton"``.
      jac: ``"auto"``, ``"dense"`` or ``"matrix_free"``.
      ftol, xtol, gtol: tolerances $\ge 0$ (SciPy's defaults).
      max_nfev: the most residual evaluations ($\ge 1$), or ``None`` for $100 n$.
      x_scale: ``"jac"`` (dense only), a positive number or a pytree like ``x0``; ``None``
        is ``"jac"`` in dense mode and 1 in matrix-free mode.
      damping: $\tau > 0$ of $\mu_0$ (``"lm"`` with ``damping_update="nielsen"``).
      damping_update: ``"more"``, ``"nielsen"`` or ``None`` (see above).
      initial_radius: the factor $> 0$ of $\Delta_0$ (``"dogleg"``, Moré's ``"lm"``).
      max_cg_steps: CG steps per solve in matrix-free mode ($\ge 1$; ``None``:
        $\min(n, 500)$).
      cg_rtol: CG's relative residual tolerance ($\ge 0$).

    Returns:
      A :class:`LeastSquaresResult`.

    References:
      Moré, "The Levenberg-Marquardt algorithm: implementation and theory", Numerical
      Analysis (Dundee 1977), Lecture Notes in Mathematics 630, Springer 1978,
      doi:10.1007/BFb0067700; Nielsen, "Damping parameter in Marquardt's method", IMM-REP-
      1999-05, Technical University of Denmark, 1999; Madsen, Nielsen & Tingleff, "Methods
      for non-linear least squares problems", 2nd ed., IMM, DTU, 2004; Powell, "A hybrid
      method for nonlinear equations", in Numerical Methods for Nonlinear Algebraic
      Equations, Gordon and Breach 1970; Nocedal & Wright, "Numerical Optimization", 2nd
      ed., Springer 2006, chapter 10.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import least_squares
      >>> t = jnp.linspace(0.0, 1.0, 8)
      >>> y = 2.0 * jnp.exp(-1.5 * t)
      >>> r = least_squares(lambda b: b[0] * jnp.exp(-b[1] * t) - y, jnp.array([1.0, 0.0]))
      >>> [round(v, 4) for v in r.x.tolist()], bool(r.success), r.message[:9]
      ([2.0, 1.5], True, 'converged')
    """
    if not callable(residual_fn):
        raise ValueError(f"residual_fn must be a callable r(x) -> array, got {residual_fn!r}.")
    _validate.check_choice("method", method, LSQ_METHODS)
    _validate.check_choice("jac", jac, ("auto", "dense", "matrix_free"))
    for name, value in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol), ("cg_rtol", cg_rtol)):
        _validate.check_nonnegative(name, value)
    _validate.check_positive("damping", damping)
    _validate.check_positive("initial_radius", initial_radius)
    x0, dtype = _check_x0(x0)
    n = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(x0))
    max_nfev = 100 * n if max_nfev is None else _validate.check_int("max_nfev", max_nfev, 1)
    max_cg = (
        min(n, 500)
        if max_cg_steps is None
        else _validate.check_int("max_cg_steps", max_cg_steps, 1)
    )
    dense = jac == "dense" or (jac == "auto" and n <= DENSE_MAX)
    _validate.check_choice("damping_update", damping_update, (None, "nielsen", "more"))
    rule = damping_update or ("more" if dense else "nielsen")
    if rule == "more" and not dense:
        raise ValueError(
            "damping_update='more' needs the dense Jacobian (jac='dense'); use 'nielsen'."
        )
    d0 = _scaling(x_scale, x0, dense, dtype)
    _check_residual(residual_fn, x0)
    static = _Static(
        residual_fn, method, rule, dense, not d0.any(),
        float(damping), float(initial_radius), max_cg, float(cg_rtol),
    )  # fmt: skip
    tols = np.asarray([ftol, xtol, gtol], dtype)
    return _solve_jit(static, x0, d0, tols, np.int32(min(max_nfev, np.iinfo(np.int32).max)))


def _scaling(x_scale: Any, x0: Any, dense: bool, dtype: Any) -> np.ndarray:
    r"""$d = 1/\text{x\_scale}$ raveled like ``x0`` (zeros for ``"jac"``); raises on bad input."""
    x_scale = ("jac" if dense else 1.0) if x_scale is None else x_scale
    if isinstance(x_scale, str) and x_scale == "jac" and dense:
        return np.zeros(sum(int(np.prod(x.shape)) for x in jax.tree.leaves(x0)), dtype)
    if isinstance(x_scale, str):
        raise ValueError(
            f"x_scale must be 'jac' (with a dense Jacobian), a positive number or a tree like "
            f"x0, got {x_scale!r}."
        )
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(x_scale)) and np.ndim(x_scale) == 0:
        x_scale = jax.tree.map(lambda x: x_scale, x0)
    try:
        leaves = jax.tree.leaves(
            jax.tree.map(lambda s, x: np.broadcast_to(np.asarray(s, float), x.shape), x_scale, x0)
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"x_scale must be a positive number or a tree like x0 ({err}).") from None
    flat = np.concatenate([leaf.ravel() for leaf in leaves])
    if not (np.all(flat > 0) and np.all(np.isfinite(flat))):
        raise ValueError(f"x_scale must be in (0, inf), got {x_scale!r}.")
    return (1 / flat).astype(dtype)


def _check_residual(residual_fn: Callable, x0: Any) -> None:
    """``residual_fn(x0)`` must be float arrays with at least one element (``eval_shape``)."""
    out = jax.eval_shape(residual_fn, x0)
    leaves = jax.tree.leaves(out)
    bad = [x for x in leaves if not jnp.issubdtype(getattr(x, "dtype", np.int32), jnp.floating)]
    if not leaves or bad or sum(int(np.prod(x.shape)) for x in leaves) == 0:
        raise ValueError(
            "residual_fn must return a real floating array (or a pytree of them) with at least "
            f"one element, got {out!r}."
        )
