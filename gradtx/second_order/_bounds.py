r"""Bound constraints for :func:`~gradtx.second_order.minimize`: ``bounds=(lower, upper)``.

The box $\ell \le x \le u$ is given per leaf; the solve runs on the flattened vector
(:func:`jax.flatten_util.ravel_pytree`) in one jitted :func:`jax.lax.while_loop`, whose
bounds are inputs (a new box does not recompile). Each iteration chooses a direction $d$
and a largest step $\alpha_\max$ that keeps $x + \alpha d$ in the box, then runs the zoom
(strong Wolfe, Moré-Thuente) search of :func:`scale_by_zoom_linesearch` on $[0,
\alpha_\max]$; every trial point is projected on the box (a no-op but for round-off, and
values within a few ulps of a bound are put on it). The methods:

* ``"lbfgs"``: L-BFGS-B (``_lbfgsb.py``), with L-BFGS-B's line-search constants
  ($c_1 = 10^{-3}$, $c_2 = 0.9$, 20 trials, a first trial of 1, or $\min(1, 1/\|d\|)$ on
  the first iteration of a problem with an unbounded variable, and $\alpha_\max = 1$ on the
  first iteration), its curvature test for storing a pair, and its restart: a failed search
  empties the memory and retries from the Cauchy point; a failure with an empty memory
  stops with ``LINESEARCH_FAILED``.
* ``"gd"``, ``"cg"``: an active-set projected gradient / PR+ conjugate gradient. A variable
  at a bound whose gradient points out of the box (or with $\ell_i = u_i$) is fixed; the
  direction is $-g$ (CG: $-g + \beta d_{k-1}$, $\beta$ = PR+ on the free variables'
  gradients, restarted whenever the free set changes) on the free variables, and the step
  stops at the first bound met ($\alpha_\max$), which then joins the fixed set.

The stopping rule is the projected gradient's: $\|P(x - g) - x\| \le \varepsilon$ (times
its value at $x_0$ for ``tol_kind="relative"``). A start outside the box is clipped into it,
as SciPy does. Newton and Hessian-free are refused (a projected Newton step is not a descent
direction in general; Bertsekas 1982).

References:
  Byrd, Lu, Nocedal & Zhu, "A limited memory algorithm for bound constrained optimization",
  SIAM J. Sci. Comput. 16(5), 1995. Bertsekas, "Projected Newton methods for optimization
  problems with simple constraints", SIAM J. Control Optim. 20(2), 1982.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradtx import _tree, _vectors
from gradtx.second_order import _lbfgsb
from gradtx.second_order._cg import cg_beta
from gradtx.second_order._jit import solver_jit
from gradtx.second_order._result import RUNNING, MinimizeResult, Status, status_rule
from gradtx.second_order._zoom import _MAX_STEPS, _Rule, _zoom_search

BOUNDED_METHODS = ("lbfgs", "gd", "cg")
_BIG = 1e10  # L-BFGS-B's largest step


def _side(name: str, value: Any, x0: Any, fill: float) -> list[Any]:
    """One side of the box as a list of arrays like ``x0``'s leaves (checked)."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(x0)
    if value is None or (np.ndim(value) == 0 and not isinstance(value, (dict, list, tuple))):
        values = [fill if value is None else value] * len(leaves)
    else:
        values, tdef = jax.tree_util.tree_flatten(value, is_leaf=lambda v: v is None)
        if tdef != treedef:
            raise ValueError(
                f"bounds: {name} must be None, a scalar, or a pytree with x0's structure "
                f"{treedef}, got the structure {tdef}."
            )
    out = []
    for (path, leaf), v in zip(leaves, values):
        where = jax.tree_util.keystr(path) or "x0"
        v = jnp.asarray(fill if v is None else v)
        if v.ndim and v.shape != jnp.shape(leaf):
            raise ValueError(
                f"bounds: {name} at {where} has shape {v.shape}; it must be a scalar or "
                f"x0's shape {jnp.shape(leaf)}."
            )
        if not isinstance(v, jax.core.Tracer) and np.isnan(np.asarray(v, float)).any():
            raise ValueError(f"bounds: {name} at {where} contains NaN (use +-inf for no bound).")
        out.append(jnp.broadcast_to(v, jnp.shape(leaf)))
    return out


def resolve_bounds(bounds: Any, x0: Any) -> tuple[jax.Array, jax.Array]:
    r"""``bounds=(lower, upper)`` as two flat arrays in the order of ``ravel_pytree(x0)``.

    Each side is ``None`` (unbounded), a scalar (every entry) or a pytree like ``x0`` whose
    leaves are ``None``, scalars or arrays of the leaf's shape; $\pm\infty$ means no bound.
    Raises a ``ValueError`` naming the leaf for a wrong structure or shape, NaN, or
    ``lower > upper`` (checked where the bounds are concrete).

    Example:
      >>> import jax.numpy as jnp
      >>> lo, up = resolve_bounds((0.0, {"a": None, "b": jnp.array([1.0, 2.0])}),
      ...                         {"a": jnp.zeros(1), "b": jnp.zeros(2)})
      >>> lo.tolist(), up.tolist()
      ([0.0, 0.0, 0.0], [inf, 1.0, 2.0])
    """
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (lower, upper), got {bounds!r}.")
    lower = _side("lower", bounds[0], x0, -np.inf)
    upper = _side("upper", bounds[1], x0, np.inf)
    paths = [
        jax.tree_util.keystr(p) or "x0" for p, _ in jax.tree_util.tree_flatten_with_path(x0)[0]
    ]
    for where, lo, up in zip(paths, lower, upper):
        if isinstance(lo, jax.core.Tracer) or isinstance(up, jax.core.Tracer):
            continue
        lo, up = np.asarray(lo, float), np.asarray(up, float)
        bad = (lo > up) | (lo == np.inf) | (up == -np.inf)
        if bad.any():
            raise ValueError(
                f"bounds: at {where} need lower <= upper, lower < inf and upper > -inf; got "
                f"lower={lo[bad]!r}, upper={up[bad]!r} (where they fail)."
            )
    dtype = ravel_pytree(x0)[0].dtype
    flat = lambda side: jnp.concatenate([jnp.ravel(v).astype(dtype) for v in side])
    return flat(lower), flat(upper)


def project(p: jax.Array, x: jax.Array, lower: jax.Array, upper: jax.Array) -> jax.Array:
    """``p`` clipped to the box, entries within 8 ulps (of ``x`` or the bound) put on it."""
    p = jnp.clip(p, lower, upper)
    tol = 8 * jnp.finfo(p.dtype).eps
    near = lambda b: jnp.isfinite(b) & (jnp.abs(p - b) <= tol * jnp.maximum(jnp.abs(x), jnp.abs(b)))
    return jnp.where(near(lower), lower, jnp.where(near(upper), upper, p))


def projected_gradient(x, g, lower, upper) -> jax.Array:
    r"""$x - P(x - g)$: the gradient with the components that leave the box cut at it."""
    return x - jnp.clip(x - g, lower, upper)


def max_step(x, d, lower, upper) -> jax.Array:
    r"""The largest $\alpha \le 10^{10}$ with $\ell \le x + \alpha d \le u$."""
    to_l = jnp.where(d < 0, jnp.minimum(lower - x, 0) / jnp.where(d < 0, d, -1), jnp.inf)
    to_u = jnp.where(d > 0, jnp.maximum(upper - x, 0) / jnp.where(d > 0, d, 1), jnp.inf)
    return jnp.minimum(jnp.minimum(jnp.min(to_l), jnp.min(to_u)), _BIG)


class _Method(NamedTuple):
    """A bounded method: its memory, direction, memory update and restart."""

    init: Callable  # (x) -> memory
    direction: Callable  # (x, f, g, memory, lower, upper, k) -> (d, a0, a_max)
    update: Callable  # (memory, x, f, g, x_new, g_new, d, alpha, a_max, lower, upper)
    reset: Callable  # (memory) -> (memory, whether a retry is possible)
    c1: float
    c2: float
    more_thuente: bool


def lbfgsb_method(memory_size: int = 10) -> _Method:
    """L-BFGS-B with ``memory_size`` pairs (see ``_lbfgsb.py``)."""

    def direction(x, f, g, mem, lower, upper, k):
        constrained = jnp.any(jnp.isfinite(lower) | jnp.isfinite(upper))
        boxed = jnp.all(jnp.isfinite(lower) & jnp.isfinite(upper))
        d = _lbfgsb.direction(x, g, lower, upper, mem, constrained)
        a_max = jnp.where(constrained & (k == 0), 1.0, max_step(x, d, lower, upper))
        first = jnp.minimum(1 / jnp.sqrt(d @ d), a_max)
        return d, jnp.where((k == 0) & ~boxed, first, 1.0), a_max

    def update(mem, x, f, g, x_new, g_new, d, alpha, a_max, lower, upper):
        return _lbfgsb.update_memory(mem, x_new - x, g_new - g, g)

    def reset(mem):
        return _lbfgsb.init_memory(mem.s[0], mem.s.shape[0]), mem.size > 0

    init = lambda x: _lbfgsb.init_memory(x, memory_size)
    return _Method(init, direction, update, reset, 1e-3, 0.9, True)


def _fixed(x, g, lower, upper) -> jax.Array:
    """The variables held at a bound: the gradient points out of the box there, or l = u."""
    return (lower == upper) | ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))


class _CgMemory(NamedTuple):
    count: jax.Array  # iterations since the last restart
    value: jax.Array  # f at the previous iterate
    grad: jax.Array  # the previous free gradient
    p: jax.Array  # the previous -d
    free: jax.Array  # the previous free set
    capped: jax.Array  # whether the previous step stopped at a bound


def projected_method(conjugate: bool) -> _Method:
    """Projected gradient descent (``conjugate=False``) or PR+ CG on the free variables."""

    def init(x):
        zeros = jnp.zeros_like(x)
        return _CgMemory(
            jnp.zeros([], jnp.int32), jnp.zeros([], x.dtype), zeros, zeros,
            jnp.ones(x.shape, bool), jnp.asarray(False),
        )  # fmt: skip

    def direction(x, f, g, mem, lower, upper, k):
        fixed = _fixed(x, g, lower, upper)
        gf = jnp.where(fixed, 0, g)
        p = gf
        if conjugate:
            same = (mem.count > 0) & ~mem.capped & jnp.all(fixed == ~mem.free)
            beta = jnp.where(same, cg_beta("polak_ribiere", gf, mem.grad, mem.p), 0)
            p = gf + beta * mem.p
            p = jnp.where((gf @ p > 0) & jnp.all(jnp.isfinite(p)), p, gf)
        d = -p
        d = jnp.where(((x <= lower) & (d < 0)) | ((x >= upper) & (d > 0)), 0, d)
        df0 = g @ d
        guess = 2.02 * (f - mem.value) / df0
        first = jnp.minimum(1, 1 / jnp.sqrt(d @ d))
        a0 = jnp.where(mem.count > 0, jnp.where(jnp.isfinite(guess) & (guess > 0), guess, 1), first)
        return d, a0, max_step(x, d, lower, upper)

    def update(mem, x, f, g, x_new, g_new, d, alpha, a_max, lower, upper):
        fixed = _fixed(x, g, lower, upper)
        return _CgMemory(
            _tree.safe_increment(mem.count), f, jnp.where(fixed, 0, g), -d, ~fixed, alpha >= a_max
        )

    def reset(mem):
        return init(mem.grad), mem.count > 0

    return _Method(init, direction, update, reset, 1e-4, 0.1, False)


def search(fun, method: _Method, x, f, g, d, a0, a_max, lower, upper):
    """The zoom search on $[0, \\alpha_\\max]$; the accepted point, projected."""
    dtype = x.dtype
    slack = jnp.maximum(1e-6, 1000 * jnp.finfo(dtype).eps) * jnp.abs(f)
    rule = _Rule(
        *(jnp.asarray(v, dtype) for v in (method.c1, method.c2, 0.0, slack, a_max)),
        None, jnp.zeros([], dtype), 20, method.more_thuente,
    )  # fmt: skip

    def value_fn(p):  # f at the projected point, its gradient taken there
        return fun(p + jax.lax.stop_gradient(project(p, x, lower, upper) - p))

    df0 = g @ d
    z = _zoom_search(value_fn, x, d, f, g, df0, jnp.asarray(a0, dtype), rule)
    alpha, f_new, _, g_new = z.lo
    x_new = project(x + alpha * d, x, lower, upper)
    failed = (z.stop == _MAX_STEPS) | ~(df0 < 0) | ~(alpha > 0)
    return x_new, f_new, g_new, alpha, failed, z.i


_METHODS = {
    "lbfgs": lambda: lbfgsb_method(10),
    "gd": lambda: projected_method(False),
    "cg": lambda: projected_method(True),
}


class _Carry(NamedTuple):
    x: jax.Array
    value: jax.Array
    grad: jax.Array
    grad_norm: jax.Array  # of the projected gradient
    memory: Any
    iterations: jax.Array
    counts: jax.Array  # value-and-gradient evaluations
    best: jax.Array
    stall: jax.Array
    status: jax.Array


def _solve(static, x0, lower, upper, tol, maxiter):

    fun, name, tol_kind, ord, return_state = static.items
    method = _METHODS[name]()
    flat0, unravel = ravel_pytree(x0)
    x0 = jnp.clip(flat0, lower, upper)  # as SciPy: a start outside the box is clipped
    vg = jax.value_and_grad(lambda v: fun(unravel(v)))

    def evaluate(x):
        f, g = vg(x)
        return jnp.asarray(f).astype(x.dtype), g

    f0, g0 = evaluate(x0)
    gn0 = _vectors.norm(projected_gradient(x0, g0, lower, upper), ord)
    threshold = tol.astype(x0.dtype) * (gn0 if tol_kind == "relative" else 1)

    status_of = status_rule(threshold, maxiter)

    def body(c: _Carry) -> _Carry:
        d, a0, a_max = method.direction(c.x, c.value, c.grad, c.memory, lower, upper, c.iterations)
        x, f, g, alpha, failed, evals = search(
            lambda v: fun(unravel(v)), method, c.x, c.value, c.grad, d, a0, a_max, lower, upper
        )
        f = f.astype(c.value.dtype)
        fresh, retry = method.reset(c.memory)
        ok = ~failed
        memory = method.update(c.memory, c.x, c.value, c.grad, x, g, d, alpha, a_max, lower, upper)
        memory = jax.tree.map(lambda a, b: jnp.where(ok, a, b), memory, fresh)
        x, f, g = jnp.where(ok, x, c.x), jnp.where(ok, f, c.value), jnp.where(ok, g, c.grad)
        gn = _vectors.norm(projected_gradient(x, g, lower, upper), ord)
        it = c.iterations + ok.astype(jnp.int32)
        record = f < c.best
        stall = jnp.where(ok, jnp.where(record, 0, c.stall + 1), c.stall).astype(jnp.int32)
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
        status = status_of(finite, gn, failed & ~retry, stall, it)
        best = jnp.minimum(c.best, f)
        return _Carry(x, f, g, gn, memory, it, c.counts + evals, best, stall, status)

    zero = jnp.zeros([], jnp.int32)
    finite0 = jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0))
    init = _Carry(
        x0, f0, g0, gn0, method.init(x0), zero, jnp.ones([], jnp.int32), f0, zero,
        status_of(finite0, gn0, False, zero, zero),
    )  # fmt: skip
    c = jax.lax.while_loop(lambda c: c.status == RUNNING, body, init)
    return MinimizeResult(
        unravel(c.x), c.value, unravel(c.grad), c.grad_norm, c.iterations, c.counts, c.counts,
        zero, zero, c.status, c.status == Status.CONVERGED, c.memory if return_state else None,
    )  # fmt: skip


_solve_jit = solver_jit(_solve, static_argnums=0)


def minimize_bounded(fun, x0, method, bounds, tol, tol_kind, norm, maxiter, others, return_state):
    """:func:`~gradtx.second_order.minimize` with ``bounds`` (``x0`` and ``fun`` checked)."""
    from gradtx.second_order._minimize import _Static

    if not (isinstance(method, str) and method in BOUNDED_METHODS):
        raise ValueError(
            f"bounds: method must be one of {BOUNDED_METHODS} (L-BFGS-B, projected gradient "
            f"descent, projected CG), got {method!r}; Newton, Hessian-free and general "
            "transforms cannot honour bounds (reparametrize x, or use method='lbfgs')."
        )
    for what, value in others.items():
        if value:
            raise ValueError(f"bounds: {what} cannot be given with bounds, got {value!r}.")
    lower, upper = resolve_bounds(bounds, x0)
    dtype = lower.dtype
    static = _Static(fun, method, tol_kind, norm, bool(return_state))
    return _solve_jit(static, x0, lower, upper, np.asarray(tol, dtype), np.int32(maxiter))
