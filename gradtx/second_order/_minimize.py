r"""``minimize``: a full-batch solver loop, jitted whole, for any method or transform."""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _validate, _vectors
from gradtx._base import GradientTransformation, apply_updates, chain
from gradtx.second_order import _records
from gradtx.second_order._bfgs import bfgs
from gradtx.second_order._bounds import minimize_bounded
from gradtx.second_order._cg import nonlinear_cg
from gradtx.second_order._hessian_free import hessian_free
from gradtx.second_order._jit import solver_jit
from gradtx.second_order._lbfgs import lbfgs
from gradtx.second_order._newton import newton
from gradtx.second_order._result import (
    RUNNING,
    MinimizeResult,
    Status,
    status_rule,
)
from gradtx.second_order._zoom import resolve_linesearch
from gradtx.transforms._scaling import scale

METHODS = ("gd", "lbfgs", "bfgs", "cg", "newton", "hessian_free")


class _Static:
    """A jit static argument compared by value (numbers, strings) or identity (callables)."""

    def __init__(self, *items: Any):
        self.items = items  # held, so the ids in the key stay unique while it lives
        self.key = self._key(items)

    @classmethod
    def _key(cls, x):
        if isinstance(x, (str, int, float, type(None))):
            return (0, x)
        if type(x) is tuple:
            return (1, tuple(cls._key(y) for y in x))
        return (2, id(x))

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Static) and other.key == self.key


_CACHE: collections.OrderedDict = collections.OrderedDict()


def _build(method: Any, linesearch: Any) -> Any:
    """The transform for ``method`` (memoized, so a repeated call reuses the compiled loop)."""
    try:  # strings, None and transforms (tuples of functions) hash cheaply by identity
        key = (method, linesearch)
        hash(key)
    except TypeError:
        key = _Static(method, linesearch)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    if isinstance(method, str):
        _validate.check_choice("method", method, METHODS)
        search = {} if linesearch is None else {"linesearch": linesearch}
        if method == "hessian_free":
            if linesearch is not None:
                raise ValueError(
                    "method='hessian_free' accepts or rejects its own steps; give linesearch=None."
                )
            tx = hessian_free()
        elif method == "gd":
            default = {"initial_guess_strategy": "quadratic", "interpolation": "cubic"}  # as CG
            tx = chain(scale(-1.0), resolve_linesearch(linesearch or "zoom", "gd", **default))
        else:
            tx = {"lbfgs": lbfgs, "bfgs": bfgs, "cg": nonlinear_cg, "newton": newton}[method](
                **search
            )
    elif callable(getattr(method, "init", None)) and callable(getattr(method, "update", None)):
        tx = (
            method
            if linesearch is None
            else chain(method, resolve_linesearch(linesearch, "minimize"))
        )
    else:
        raise ValueError(
            f"method must be one of {METHODS} or a gradient transformation, got {method!r}."
        )
    _CACHE[key] = tx
    if len(_CACHE) > 64:
        _CACHE.popitem(last=False)
    return tx


def _check_x0(x0: Any) -> tuple[Any, Any]:
    """``x0`` with array leaves, and their common dtype; raises on non-float or non-finite."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(x0)
    if not leaves:
        raise ValueError("x0 must contain at least one array.")
    out = []
    for path, leaf in leaves:
        where = jax.tree_util.keystr(path) or "x0"
        arr = leaf if isinstance(leaf, (jax.Array, jax.core.Tracer)) else jnp.asarray(leaf)
        if not jnp.issubdtype(arr.dtype, jnp.floating):
            raise ValueError(
                f"x0 must have real floating leaves; {where} has dtype {arr.dtype} "
                "(convert it with .astype(float))."
            )
        if not isinstance(arr, jax.core.Tracer) and not np.isfinite(np.asarray(arr)).all():
            raise ValueError(f"x0 contains NaN or inf at {where}.")
        out.append(arr)
    dtypes = {a.dtype for a in out}
    dtype = dtypes.pop() if len(dtypes) == 1 else jnp.result_type(*dtypes)
    return jax.tree.unflatten(treedef, out), dtype


_CHECKED: collections.OrderedDict = collections.OrderedDict()


def _check_objective(fun: Callable, x0: Any) -> None:
    """``fun(x0)`` must be a real float scalar (``jax.eval_shape``, cached per signature)."""
    if not callable(fun):
        raise ValueError(f"fun must be a callable fun(x) -> scalar, got {fun!r}.")
    leaves, treedef = jax.tree.flatten(x0)
    key = (id(fun), treedef, tuple((x.shape, x.dtype) for x in leaves))
    if _CHECKED.get(key, (None,))[0] is fun:
        return
    out = jax.eval_shape(fun, x0)
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        what = f"shape {shape} and dtype {dtype}" if shape is not None else type(out).__name__
        raise ValueError(f"fun must return a real floating scalar, got {what}.")
    _CHECKED[key] = (fun,)  # holding fun keeps its id unique while the entry lives
    if len(_CHECKED) > 64:
        _CHECKED.popitem(last=False)


class _Carry(NamedTuple):
    x: Any
    value: jax.Array
    grad: Any
    grad_norm: jax.Array
    state: Any
    iterations: jax.Array
    counts: jax.Array  # (fun, grad, hvp, hessian)
    best: jax.Array  # the lowest value so far
    stall: jax.Array  # iterations since it was reached
    status: jax.Array


def _solve(static: _Static, x0: Any, tol: jax.Array, maxiter: jax.Array) -> MinimizeResult:
    fun, tx, extra_items, tol_kind, ord, return_state = static.items
    extra = dict(extra_items)
    vg = jax.value_and_grad(fun)
    f0, g0 = vg(x0)
    gn0 = _vectors.norm(g0, ord).astype(f0.dtype)
    threshold = tol.astype(f0.dtype) * (gn0 if tol_kind == "relative" else 1)

    status_of = status_rule(threshold, maxiter)

    def body(c: _Carry) -> _Carry:
        updates, state = tx.update(
            c.grad, c.state, c.x, value=c.value, grad=c.grad, value_fn=fun, **extra
        )
        x = apply_updates(c.x, updates)
        report = _records.report_of(state)  # the contract: see _records.py
        counts, point = c.counts, None
        if report is not None:
            counts, point = counts + jnp.stack(report.info).astype(jnp.int32), report.point
        if point is not None:  # reuse what the line search evaluated at x, if it did
            (value, grad), fresh = _records.stored_or_computed(point, vg, x), ~point.valid
        else:
            (value, grad), fresh = vg(x), jnp.asarray(True)
        value = value.astype(c.value.dtype)
        counts = counts + jnp.stack([fresh, fresh, 0, 0]).astype(jnp.int32)
        failed = False if report is None else report.failed
        decreased = value < c.value
        gn = _vectors.norm(grad, ord).astype(c.value.dtype)
        finite = jnp.isfinite(value) & _vectors.all_finite(grad) & _vectors.all_finite(x)
        record = value < c.best
        stall = jnp.where(record, 0, c.stall + 1).astype(jnp.int32)
        if point is None:  # fixed steps need not decrease f: no stall rule
            stall = jnp.zeros_like(stall)
        it = c.iterations + 1
        status = status_of(finite, gn, failed & ~decreased, stall, it)
        keep = lambda new, old: _vectors.where(finite, new, old)
        return _Carry(
            keep(x, c.x),
            jnp.where(finite, value, c.value),
            keep(grad, c.grad),
            jnp.where(finite, gn, c.grad_norm),
            state,
            it,
            counts,
            jnp.where(finite & record, value, c.best),
            stall,
            status,
        )

    zero = jnp.zeros([], jnp.int32)
    finite0 = jnp.isfinite(f0) & _vectors.all_finite(g0)
    init = _Carry(
        x0,
        f0,
        g0,
        gn0,
        tx.init(x0),
        zero,
        jnp.array([1, 1, 0, 0], jnp.int32),
        f0,
        zero,
        status_of(finite0, gn0, False, zero, zero),
    )
    c = jax.lax.while_loop(lambda c: c.status == RUNNING, body, init)
    return MinimizeResult(
        c.x,
        c.value,
        c.grad,
        c.grad_norm,
        c.iterations,
        *c.counts,
        c.status,
        c.status == Status.CONVERGED,
        c.state if return_state else None,
    )


_solve_jit = solver_jit(_solve, static_argnums=0)


def minimize(
    fun: Callable[[Any], jax.Array],
    x0: Any,
    method: str | GradientTransformation = "lbfgs",
    *,
    tol: float = 1e-5,
    tol_kind: str = "relative",
    norm: float | str = math.inf,
    maxiter: int = 1000,
    linesearch: GradientTransformation | str | None = None,
    extra_args: Mapping[str, Callable] | None = None,
    return_state: bool = False,
    bounds: Any = None,
) -> MinimizeResult:
    r"""Minimize $f$ from $x_0$ in full batch; the whole solve is one jitted while-loop.

    $$x_{k+1} = x_k + u_k,\quad u_k = T(\nabla f(x_k);\ x_k, f(x_k)),\quad\text{until}\quad
    \|\nabla f(x_k)\| \le \begin{cases}\varepsilon\,\|\nabla f(x_0)\| & \text{relative}\\
    \varepsilon & \text{absolute}\end{cases}$$

    with $\varepsilon$ = ``tol``, norm ``norm``. Each update gets ``value``, ``grad``,
    ``value_fn=fun`` (and ``extra_args``); the loop counts the evaluations reported by the
    state (:func:`report_of`) and reuses its $f$, $\nabla f$, or else evaluates them.

    ``method`` is ``"gd"`` (steepest descent, zoom line search), ``"lbfgs"``
    (:func:`lbfgs`), ``"bfgs"`` (:func:`bfgs`, dense: small problems), ``"cg"``
    (:func:`nonlinear_cg`, PR+), ``"newton"`` (:func:`newton`), ``"hessian_free"``
    (:func:`hessian_free`), or any gradtx/Optax transform, with fixed steps or a ``linesearch``
    (``"zoom"``, ``"backtracking"`` or a transform). Repeated calls
    (same ``fun``, method, tree structure) reuse the compiled loop. With ``bounds``, $x -
    P(x - \nabla f)$ replaces $\nabla f$ and ``"lbfgs"`` is L-BFGS-B (Byrd et al. 1995).

    Eager ``ValueError``: an unknown method; a bad ``tol``/``tol_kind``/``norm``/``maxiter``;
    non-float or non-finite ``x0`` leaves; ``fun`` not returning a real scalar. Non-finite
    $f(x_0)$ or $\nabla f(x_0)$ gives ``NONFINITE``, a reported failed search without decrease
    ``LINESEARCH_FAILED``, a point-reporting method 20 iterations without a new low ``STALLED``.

    Args:
      fun: $f$, a function of one pytree returning a real scalar.
      x0: the starting point, any pytree of float arrays.
      method: a method name or a gradient transformation (see above).
      tol: $\varepsilon \ge 0$.
      tol_kind: ``"relative"`` (to $\|\nabla f(x_0)\|$) or ``"absolute"``.
      norm: the norm of the stopping rule: ``math.inf`` (default), 2 or 1.
      maxiter: the most updates ($\ge 0$).
      linesearch: see above (``None``: the method's default, or fixed steps for a transform).
      extra_args: more extra arguments for ``update`` (callables, e.g. ``model_fn`` and
        ``loss_of_outputs`` for Hessian-free's Gauss–Newton products).
      return_state: also return the transform's final state (``MinimizeResult.state``).
      bounds: ``(lower, upper)``: ``None``, scalars or pytrees like ``x0``; ``x0`` is clipped.

    Returns:
      A :class:`MinimizeResult`.

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006. Byrd, Lu, Nocedal
      & Zhu, "A limited memory algorithm for bound constrained optimization", SISC 1995.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import minimize
      >>> f = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
      >>> r = minimize(f, jnp.array([-1.2, 1.0]), "lbfgs", tol=1e-4)
      >>> bool(r.converged), [round(v, 2) for v in r.x.tolist()], r.message[:9]
      (True, [1.0, 1.0], 'converged')
      >>> [round(v, 2) for v in minimize(f, jnp.zeros(2), bounds=(-1.5, 0.5)).x.tolist()]
      [0.5, 0.25]
    """
    _validate.check_nonnegative("tol", tol)
    _validate.check_choice("tol_kind", tol_kind, ("relative", "absolute"))
    if norm not in (1, 2, math.inf):
        raise ValueError(f"norm must be 1, 2 or math.inf, got {norm!r}.")
    maxiter = _validate.check_int("maxiter", maxiter, 0)
    extra_args = dict(extra_args or {})
    for name, value in extra_args.items():
        if not isinstance(name, str) or not callable(value):
            raise ValueError(
                f"extra_args must map names to callables, got {name!r}: {value!r} (close over "
                "arrays inside the callables)."
            )
    tx = _build(method, linesearch)
    x0, dtype = _check_x0(x0)
    _check_objective(fun, x0)
    if bounds is not None:  # L-BFGS-B or projected gd/cg (_bounds.py)
        rest = (norm, maxiter, {"linesearch": linesearch, "extra_args": extra_args}, return_state)
        return minimize_bounded(fun, x0, method, bounds, tol, tol_kind, *rest)
    static = _Static(fun, tx, tuple(sorted(extra_args.items())), tol_kind, norm, bool(return_state))
    return _solve_jit(static, x0, np.asarray(tol, dtype), np.int32(maxiter))
