r"""Newton's method with an exact Hessian, damped by a modified Cholesky factorization."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from gradtx import _tree, _validate, _vectors
from gradtx._base import GradientTransformation, Scalar, chain, check_state_type
from gradtx.second_order import _records
from gradtx.second_order._zoom import resolve_linesearch
from gradtx.transforms._scaling import scale, scale_by_learning_rate


class ScaleByNewtonState(NamedTuple):
    r"""State of :func:`scale_by_newton`.

    Attributes:
      count: int32 number of updates.
      damping: the multiple $\tau$ of the identity added to the last Hessian (0 when it
        was positive definite).
      info: evaluations made by the last update (one Hessian).
      report: (a property, not a field) ``info`` as a :class:`~gradtx.second_order.Report`
        with no point (a direction does not choose the step) and no failure.
    """

    count: jax.Array
    damping: jax.Array
    info: _records.StepInfo

    @property
    def report(self) -> _records.Report:
        """The last update's evaluations (a direction reports no point)."""
        return _records.Report(self.info, None, jnp.asarray(False))


def damped_newton_solve(
    hessian: jax.Array, g: jax.Array, min_damping_rtol: float = 1e-3, max_tries: int = 64
) -> tuple[jax.Array, jax.Array]:
    r"""Solve $(H + \tau I)\,p = g$ with the smallest $\tau$ of a doubling sequence that
    makes $H + \tau I$ positive definite (Nocedal & Wright, Algorithm 3.3).

    $$\tau_0 = \begin{cases} 0 & \min_i H_{ii} > 0\\ \beta - \min_i H_{ii} & \text{else}
    \end{cases},\qquad \tau_{j+1} = \max(2\tau_j, \beta),\qquad
    \beta = \text{rtol}\cdot \max_i |H_{ii}|$$

    until the Cholesky factorization succeeds. $\beta$ is relative to the Hessian's scale.
    If no factorization succeeds (a non-finite Hessian), $p = g$.

    Args:
      hessian: $H$, shape $(n, n)$ (symmetrized here).
      g: the right-hand side, shape $(n,)$.
      min_damping_rtol: rtol $> 0$ in $\beta$.
      max_tries: the most factorizations.

    Returns:
      ``(p, tau)``.

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, Algorithm 3.3.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import damped_newton_solve
      >>> p, tau = damped_newton_solve(jnp.diag(jnp.array([2.0, -1.0])), jnp.array([2.0, 1.0]))
      >>> float(tau) > 1.0, bool(p[1] > 0)
      (True, True)
    """
    h = (hessian + hessian.T) / 2
    n, dtype = h.shape[0], h.dtype
    diag = jnp.diag(h)
    beta = min_damping_rtol * jnp.max(jnp.abs(diag))
    beta = jnp.where(beta > 0, beta, jnp.finfo(dtype).eps)
    tau0 = jnp.where(jnp.min(diag) > 0, 0, beta - jnp.min(diag)).astype(dtype)

    def factor(tau):
        chol = jnp.linalg.cholesky(h + tau * jnp.eye(n, dtype=dtype))
        return chol, jnp.all(jnp.isfinite(chol))

    def cond(c):
        i, _, _, ok = c
        return (~ok) & (i < max_tries)

    def body(c):
        i, tau, _, _ = c
        tau = jnp.maximum(2 * tau, beta)
        chol, ok = factor(tau)
        return i + 1, tau, chol, ok

    chol, ok = factor(tau0)
    _, tau, chol, ok = jax.lax.while_loop(cond, body, (0, tau0, chol, ok))
    p = jax.scipy.linalg.cho_solve((chol, True), g)
    ok &= jnp.all(jnp.isfinite(p))
    return jnp.where(ok, p, g), tau


def scale_by_newton(min_damping_rtol: float = 1e-3) -> GradientTransformation:
    r"""Precondition the gradient by the inverse of the (damped) exact Hessian.

    $$u_k = (H_k + \tau_k I)^{-1} g_k, \qquad H_k = \nabla^2 f(x_k)$$

    with $\tau_k \ge 0$ from :func:`damped_newton_solve`: $\tau = 0$ (the Newton step) when
    $H_k$ is positive definite, otherwise the smallest tried multiple of the identity that
    makes it so. The direction $-u_k$ is then always a descent direction, and on an
    indefinite Hessian it keeps the curvature information instead of falling back to
    steepest descent. The Hessian is formed densely on the flattened parameters
    (``jax.flatten_util.ravel_pytree``), $O(n^2)$ memory and $O(n^3)$ time: for small
    problems. ``update`` needs ``params`` and the extra argument ``value_fn`` (the Hessian
    is ``jax.hessian`` of it) or ``hessian_fn(params) -> (n, n)`` array in
    ``ravel_pytree`` order. Every trained leaf must be a real float array.

    Args:
      min_damping_rtol: the smallest shift, relative to $\max_i |H_{ii}|$ ($> 0$).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByNewtonState`; its
      output has the sign of the gradient.

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, section 3.4;
      Gill & Murray, "Newton-type methods for unconstrained and linearly constrained
      optimization", Math. Program. 7, 1974, doi:10.1007/BF01585529.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_newton
      >>> f = lambda x: x[0] ** 2 + 3 * x[1] ** 2
      >>> x = jnp.array([1.0, 1.0]); tx = scale_by_newton()
      >>> u, _ = tx.update(jnp.array([2.0, 6.0]), tx.init(x), x, value_fn=f)
      >>> [round(v, 5) for v in u.tolist()]  # x - u is the minimizer
      [1.0, 1.0]
    """
    _validate.check_positive("min_damping_rtol", min_damping_rtol)

    def init(params):
        dtype = _vectors.result_dtype(params)
        return ScaleByNewtonState(
            jnp.zeros([], jnp.int32), jnp.zeros([], dtype), _records.step_info()
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, ScaleByNewtonState, "scale_by_newton")
        if params is None:
            raise ValueError("scale_by_newton needs params (the point of the Hessian).")
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            if not _tree.is_trainable(leaf):
                raise ValueError(
                    "scale_by_newton needs real float leaves; "
                    f"{jax.tree_util.keystr(path)} has dtype {leaf.dtype}."
                )
        flat, unravel = ravel_pytree(params)
        hessian_fn, value_fn = extra.get("hessian_fn"), extra.get("value_fn")
        if hessian_fn is not None:
            hessian = jnp.asarray(hessian_fn(params))
        elif value_fn is not None:
            hessian = jax.hessian(lambda v: value_fn(unravel(v)))(flat)
        else:
            raise ValueError(
                "scale_by_newton needs the extra argument value_fn=f or hessian_fn=H, "
                "e.g. tx.update(grad, state, params, value_fn=f)."
            )
        if hessian.shape != (flat.size, flat.size):
            raise ValueError(
                f"hessian_fn must return an ({flat.size}, {flat.size}) array, got {hessian.shape}."
            )
        g = ravel_pytree(updates)[0].astype(hessian.dtype)
        p, tau = damped_newton_solve(hessian, g, min_damping_rtol)
        new = ScaleByNewtonState(
            _tree.safe_increment(state.count),
            tau.astype(state.damping.dtype),
            _records.step_info(hessian=1),
        )
        return unravel(p.astype(flat.dtype)), new

    return GradientTransformation(init, update)


def newton(
    learning_rate: Scalar | None = None,
    min_damping_rtol: float = 1e-3,
    linesearch: GradientTransformation | str | None = "zoom",
) -> GradientTransformation:
    r"""Damped Newton's method with a line search.

    $$x_{k+1} = x_k - \alpha_k\,(\nabla^2 f(x_k) + \tau_k I)^{-1} \nabla f(x_k)$$

    ``chain(scale_by_newton(...), scale(-1) or scale_by_learning_rate(lr), linesearch)``;
    the line search tries $\alpha = 1$ first, so near a minimizer the steps are pure
    Newton steps (quadratic convergence; one step on a quadratic). ``update`` needs
    ``value``, ``grad`` and ``value_fn`` (or also ``hessian_fn``).

    Args:
      learning_rate: $\eta \ge 0$ multiplying the direction, or ``None`` (1).
      min_damping_rtol: see :func:`scale_by_newton`.
      linesearch: ``"zoom"``, ``"backtracking"``, ``None`` or a line-search transform.

    Returns:
      A :class:`~gradtx.GradientTransformation` (a chain).

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, sections 3.3-3.4.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx.second_order import newton
      >>> f = lambda x: jnp.sum((x - 1.0) ** 2) + 0.5 * x[0] * x[1]
      >>> tx, x = newton(), jnp.zeros(2)
      >>> value, grad = jax.value_and_grad(f)(x)
      >>> u, _ = tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
      >>> [round(v, 6) for v in (x + u).tolist()]  # one step on a quadratic
      [0.8, 0.8]
    """
    step = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    search = resolve_linesearch(linesearch, "newton", initial_guess_strategy="one")
    return chain(scale_by_newton(min_damping_rtol), step, search)
