r"""Curvature-vector products (Hessian, Gauss–Newton) and the linear CG solver of Hessian-free."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _vectors
from gradtx._base import Scalar
from gradtx.second_order import _records


def hessian_vector_product(fun: Any, params: Any, v: Any) -> Any:
    r"""The Hessian-vector product $\nabla^2 f(x)\, v$, without forming the Hessian.

    $$H v = \frac{d}{d\epsilon} \nabla f(x + \epsilon v)\Big|_{\epsilon = 0}$$

    computed as ``jax.jvp(jax.grad(fun), (params,), (v,))`` (forward over reverse).

    Args:
      fun: $f$, a scalar function of the parameters.
      params: $x$, any pytree.
      v: a tree like ``params``.

    Returns:
      $H v$, a tree like ``params``.

    References:
      Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6(1),
      1994, doi:10.1162/neco.1994.6.1.147.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import hessian_vector_product
      >>> f = lambda x: x[0] ** 2 * x[1]
      >>> hessian_vector_product(f, jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0])).tolist()
      [4.0, 2.0]
    """
    return jax.jvp(jax.grad(fun), (params,), (v,))[1]


def gauss_newton_vector_product(model_fn: Any, loss_of_outputs: Any, params: Any, v: Any) -> Any:
    r"""The Gauss–Newton-vector product $J^\top H_L J\, v$, without forming a matrix.

    $$G v = J^\top \big(\nabla^2 L(z)\, (J v)\big), \qquad z = m(x),\ J = \partial m/\partial x$$

    with $m$ = ``model_fn`` (any pytree of outputs) and $L$ = ``loss_of_outputs``: a
    ``jax.jvp`` of the model, a Hessian-vector product of the loss in output space, and a
    ``jax.vjp`` back. $G$ is positive semi-definite when $L$ is convex in the outputs
    (squared error, softmax cross-entropy), unlike the Hessian.

    Args:
      model_fn: $m$, ``params -> outputs``.
      loss_of_outputs: $L$, ``outputs -> scalar``.
      params: $x$.
      v: a tree like ``params``.

    Returns:
      $G v$, a tree like ``params``.

    References:
      Schraudolph, "Fast curvature matrix-vector products for second-order gradient
      descent", Neural Computation 14(7), 2002, doi:10.1162/08997660260028683.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import gauss_newton_vector_product
      >>> model = lambda w: jnp.array([[1.0, 2.0], [3.0, 4.0]]) @ w
      >>> loss = lambda z: 0.5 * jnp.sum(z**2)  # G = J^T J
      >>> gauss_newton_vector_product(model, loss, jnp.zeros(2), jnp.array([1.0, 0.0])).tolist()
      [10.0, 14.0]
    """
    outputs, jv = jax.jvp(model_fn, (params,), (v,))
    hjv = jax.jvp(jax.grad(loss_of_outputs), (outputs,), (jv,))[1]
    return jax.vjp(model_fn, params)[1](hjv)[0]


def curvature_operator(params: Any, extra: dict, kind: str) -> tuple[Any, Any]:
    """A linearized curvature operator ``v -> B v`` (built once, applied many times)."""
    model_fn, loss_fn = extra.get("model_fn"), extra.get("loss_of_outputs")
    use_gn = kind == "gauss_newton" or (kind == "auto" and model_fn is not None)
    if use_gn:
        if model_fn is None or loss_fn is None:
            raise ValueError(
                "Gauss-Newton curvature needs the extra arguments model_fn=(params -> outputs) "
                "and loss_of_outputs=(outputs -> scalar)."
            )
        outputs, jvp = jax.linearize(model_fn, params)
        vjp = jax.linear_transpose(jvp, params)
        hess_out = jax.linearize(jax.grad(loss_fn), outputs)[1]
        return lambda v: vjp(hess_out(jvp(v)))[0], _records.step_info(fun=1)
    value_fn = extra.get("value_fn")
    if value_fn is None:
        raise ValueError(
            "Hessian-free needs the extra argument value_fn=f (or model_fn and "
            "loss_of_outputs for Gauss-Newton products)."
        )
    return jax.linearize(jax.grad(value_fn), params)[1], _records.step_info(grad=1)


class CgResult(NamedTuple):
    r"""The result of :func:`conjugate_gradient`.

    Attributes:
      x: the approximate solution.
      residual: $r = b - A x$.
      steps: int32 CG steps.
      products: int32 calls of ``matvec``.
      curvature: $d^\top A d / d^\top d$ of a direction of non-positive curvature that
        stopped the solve, or $+\infty$ when none did.
    """

    x: Any
    residual: Any
    steps: jax.Array
    products: jax.Array
    curvature: jax.Array


def conjugate_gradient(
    matvec: Any,
    b: Any,
    x0: Any,
    precond: Any = None,
    max_steps: int = 250,
    rtol: Scalar = 0.0,
    progress_tol: float = 5e-4,
) -> CgResult:
    r"""Solve $A x = b$ ($A$ symmetric) by preconditioned CG, stopped as in Martens (2010).

    $$\phi(x) = \tfrac12 x^\top A x - b^\top x,\qquad \text{stop when } i > k,\ \phi_i < 0,\
    \frac{\phi_i - \phi_{i-k}}{\phi_i} < k\,\epsilon,\ k = \max(10, \lceil 0.1\,i\rceil),$$

    or when $\|r_i\|_2 \le \text{rtol}\,\|b\|_2$, after ``max_steps``, or on a direction
    of non-positive curvature (then the last iterate is returned, and the curvature).
    The warm start $x_0$ is replaced by 0 when $\phi(x_0) \ge 0$. ``precond`` is the
    diagonal of $M \approx A$ (a tree), or ``None``.

    Args:
      matvec: $v \mapsto A v$ on trees.
      b: the right-hand side.
      x0: the warm start (a tree like ``b``).
      precond: the diagonal preconditioner, or ``None``.
      max_steps: the most CG steps.
      rtol: relative residual tolerance.
      progress_tol: $\epsilon$ of the relative-progress rule.

    Returns:
      A :class:`CgResult` (``products`` counts the calls of ``matvec``).

    References:
      Hestenes & Stiefel, "Methods of conjugate gradients for solving linear systems",
      J. Res. NBS 49(6), 1952; Martens, "Deep learning via Hessian-free optimization",
      ICML 2010, section 4.4.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import conjugate_gradient
      >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
      >>> r = conjugate_gradient(lambda v: A @ v, jnp.array([1.0, 2.0]), jnp.zeros(2), rtol=1e-6)
      >>> [round(v, 5) for v in r.x.tolist()], int(r.steps)
      ([0.09091, 0.63636], 2)
    """
    dtype = _vectors.result_dtype(b)
    solve = (
        (lambda r: r)
        if precond is None
        else (lambda r: _vectors.map_trainable(lambda a, m: a / m, r, precond))
    )
    nonzero = _vectors.norm(x0) > 0
    ax0 = jax.lax.cond(nonzero, matvec, _tree.zeros_like, x0)
    r0 = _vectors.sub(b, ax0)
    phi0 = -0.5 * _vectors.vdot(x0, _vectors.add_scaled(b, 1, r0)).astype(dtype)
    warm = phi0 < 0
    x0, r0 = (
        _vectors.where(warm, x0, _vectors.map_trainable(jnp.zeros_like, b)),
        _vectors.where(warm, r0, b),
    )
    phi0 = jnp.where(warm, phi0, 0)
    z0 = solve(r0)
    bound = rtol * _vectors.norm(b).astype(dtype)
    phis = jnp.zeros([max_steps + 1], dtype).at[0].set(phi0)

    def cond(c):
        i, _, r, _, _, _, _, done, _ = c
        return (~done) & (i < max_steps) & (_vectors.norm(r) > bound)

    def body(c):
        i, x, r, z, d, rz, phis, _, _ = c
        ad = matvec(d)
        dad = _vectors.vdot(d, ad).astype(dtype)
        curved = dad > 0
        rayleigh = jnp.where(curved, jnp.inf, dad / _vectors.vdot(d, d).astype(dtype))
        alpha = jnp.where(curved, rz / jnp.where(curved, dad, 1), 0)
        x = _vectors.add_scaled(x, alpha, d)
        r = _vectors.add_scaled(r, -alpha, ad)
        z = solve(r)
        rz_new = _vectors.vdot(r, z).astype(dtype)
        d = _vectors.add_scaled(z, rz_new / jnp.where(rz > 0, rz, 1), d)
        i = i + 1
        phi = -0.5 * _vectors.vdot(x, _vectors.add_scaled(b, 1, r)).astype(dtype)
        phis = phis.at[i].set(phi)
        k = jnp.maximum(10, jnp.ceil(0.1 * i).astype(jnp.int32))
        prev = phis[jnp.maximum(i - k, 0)]
        stalled = (
            (i > k) & (phi < 0) & ((phi - prev) / jnp.where(phi < 0, phi, -1) < k * progress_tol)
        )
        return i, x, r, z, d, rz_new, phis, stalled | ~curved, rayleigh

    rz0 = _vectors.vdot(r0, z0).astype(dtype)
    inf = jnp.asarray(jnp.inf, dtype)
    init = (jnp.zeros([], jnp.int32), x0, r0, z0, z0, rz0, phis, jnp.asarray(False), inf)
    i, x, r, *_, rayleigh = jax.lax.while_loop(cond, body, init)
    return CgResult(x, r, i, i + nonzero.astype(jnp.int32), rayleigh)
