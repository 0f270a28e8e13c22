r"""Hessian-free (truncated Newton) optimization with Levenberg–Marquardt damping.

One update is three steps, each a function here: :func:`_propose` (truncated CG on the
damped quadratic model), :func:`_acceptance_test` ($f$ at the proposed point, the reduction
ratio, take the step or not) and :func:`_levenberg_marquardt` (the next damping).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate, _vectors
from gradtx._base import GradientTransformation, apply_updates, check_state_type
from gradtx.second_order import _records
from gradtx.second_order._curvature import CgResult, conjugate_gradient, curvature_operator


class HessianFreeState(NamedTuple):
    r"""State of :func:`hessian_free`.

    Attributes:
      count: int32 number of updates.
      damping: $\lambda$, adapted by the reduction ratio.
      solution: the last CG solution $p$ (the warm start of the next solve).
      rho: the last reduction ratio $\rho$.
      accepted: whether the last step was taken.
      rejections: int32 number of consecutive rejected steps.
      cg_steps: int32 CG steps of the last solve.
      point: value and gradient at ``params + updates`` (reused by the next step).
      info: evaluations made by the last update.
      report: (a property, not a field) ``info`` and ``point`` as the
        :class:`~gradtx.second_order.Report` a driver reads; a rejected step is not a
        failure (the damping rises and the next update tries again).
    """

    count: jax.Array
    damping: jax.Array
    solution: Any
    rho: jax.Array
    accepted: jax.Array
    rejections: jax.Array
    cg_steps: jax.Array
    point: _records.AcceptedPoint
    info: _records.StepInfo

    @property
    def report(self) -> _records.Report:
        """The last update's evaluations and the point it moved to (or stayed at)."""
        return _records.Report(self.info, self.point, jnp.asarray(False))


class _Proposal(NamedTuple):
    p: Any  # the step is -p
    model: jax.Array  # q(-p), the model's change (negative when it predicts a decrease)
    lam_floor: jax.Array  # the least next damping (0 unless CG met negative curvature)
    cg: CgResult


def _propose(g, matvec, lam, warm, diag, exponent, max_cg, cg_rtol, progress_tol, dtype):
    r"""Minimize the damped quadratic model by truncated CG: $p \approx (B + \lambda I)^{-1} g$.

    $$p = \text{CG}\big(B + \lambda I,\ g;\ x_0 = \text{warm},\ M = (d + \lambda)^\xi,\
    \|r\| \le \eta \|g\|\big),\qquad \eta = \min(\tfrac12, \sqrt{\|g\|}) \text{ if
    cg\_rtol is None},\qquad q(-p) = -g^\top p + \tfrac12 p^\top B p,$$

    with $B p = g - r - \lambda p$ from the CG residual $r$, so $q$ costs no product. When CG
    meets a direction of curvature $c = d^\top(B + \lambda I)d/d^\top d \le 0$, $B$ has an
    eigenvalue $\le c - \lambda < 0$, so the next damping must exceed $\lambda - c$: it is
    at least $2(\lambda - c)$ (``lam_floor``); if CG made no progress at all,
    $p = g / \text{lam\_floor}$ and $p^\top B p$ comes from that Rayleigh quotient.

    Args:
      g: the gradient (a tree).
      matvec: $v \mapsto B v$.
      lam: $\lambda$.
      warm: the warm start $x_0$ (a tree like ``g``).
      diag: the preconditioner's $d$ (a tree), or ``None`` for none.
      exponent: $\xi$.
      max_cg, cg_rtol, progress_tol: see :func:`hessian_free`.
      dtype: the dtype of the scalars.

    Returns:
      A ``_Proposal``: ``p``, ``model`` $= q(-p)$, ``lam_floor`` and the :class:`CgResult`.
    """
    precond = None
    if diag is not None:
        precond = _vectors.map_trainable(lambda d: (d + lam.astype(d.dtype)) ** exponent, diag)
    gnorm = _vectors.norm(g).astype(dtype)
    rtol = jnp.minimum(0.5, jnp.sqrt(gnorm)) if cg_rtol is None else cg_rtol
    damped = lambda v: _vectors.add_scaled(matvec(v), lam, v)
    cg = conjugate_gradient(damped, g, warm, precond, max_cg, rtol, progress_tol)
    indefinite = cg.curvature <= 0
    lam_floor = jnp.where(indefinite, 2 * (lam - cg.curvature), 0)
    empty = indefinite & (_vectors.norm(cg.x) == 0)
    p = _vectors.where(empty, _vectors.scale(1 / lam_floor, g), cg.x)
    pbp = jnp.where(
        empty,
        (cg.curvature - lam) * _vectors.vdot(p, p),
        _vectors.vdot(p, _vectors.sub(g, cg.residual)) - lam * _vectors.vdot(p, p),
    )
    model = (-_vectors.vdot(g, p) + 0.5 * pbp).astype(dtype)
    return _Proposal(p, model, lam_floor, cg)


def _acceptance_test(value_fn, params, p, f0, model, dtype):
    r"""Evaluate $f$ at $x - p$; the reduction ratio $\rho$ and whether to take the step.

    $$\rho = \frac{f(x - p) - f(x)}{q(-p)} \ \ (-1 \text{ if } q(-p) \ge 0 \text{ or } f,
    \nabla f \text{ are not finite there}),\qquad \text{accept} \iff f(x - p) < f(x)$$

    Args:
      value_fn: $f$.
      params: $x$.
      p: the proposed $p$ (the step is $-p$).
      f0: $f(x)$.
      model: $q(-p)$.
      dtype: the dtype of the scalars.

    Returns:
      ``(accept, rho, f1, g1)`` with $f_1, g_1 = f(x - p), \nabla f(x - p)$.
    """
    f1, g1 = jax.value_and_grad(value_fn)(apply_updates(params, _vectors.scale(-1, p)))
    f1 = jnp.asarray(f1).astype(dtype)
    finite = jnp.isfinite(f1) & _vectors.all_finite(g1)
    rho = jnp.where(finite & (model < 0), (f1 - f0) / jnp.where(model < 0, model, -1), -1)
    accept = finite & (f1 < f0)
    return accept, rho, f1, g1


def _levenberg_marquardt(lam, rho, accept, rejections, lam_floor, increase, decrease, dtype):
    r"""The next damping by Martens' Levenberg–Marquardt rule.

    $$\lambda_{k+1} = \max\Big(\begin{cases} \lambda_k\,\gamma_\uparrow^{\max(1, s)} &
    \rho < \tfrac14\\ \lambda_k\,\gamma_\downarrow & \rho > \tfrac34\\ \lambda_k &
    \text{else}\end{cases},\ \text{lam\_floor},\ \text{tiny}\Big),\qquad
    s = \begin{cases} 0 & \text{accepted}\\ \min(\text{rejections}, 30) + 1 & \text{else}
    \end{cases}$$

    so consecutive rejections raise $\lambda$ geometrically faster.

    Args:
      lam: $\lambda_k$.
      rho: the reduction ratio.
      accept: whether the step was taken.
      rejections: consecutive rejections before this update.
      lam_floor: the least $\lambda_{k+1}$ (after negative curvature).
      increase, decrease: $\gamma_\uparrow > 1$, $\gamma_\downarrow \in (0, 1)$.
      dtype: the dtype of $\lambda$.

    Returns:
      $\lambda_{k+1}$.
    """
    streak = jnp.where(accept, 0, jnp.minimum(rejections, 30) + 1)
    boost = jnp.asarray(increase, dtype) ** jnp.maximum(streak, 1)
    lam_new = jnp.where(rho < 0.25, lam * boost, lam)
    lam_new = jnp.where(rho > 0.75, lam * decrease, lam_new)
    lam_new = jnp.maximum(jnp.maximum(lam_new, lam_floor), jnp.finfo(dtype).tiny)
    return lam_new.astype(dtype)


def hessian_free(
    damping: float = 1e-3,
    curvature: str = "auto",
    max_cg_steps: int = 250,
    cg_rtol: float | None = None,
    cg_progress_tol: float = 5e-4,
    warm_start: float = 0.95,
    damping_increase: float = 1.5,
    damping_decrease: float = 2 / 3,
    preconditioner_exponent: float = 0.75,
) -> GradientTransformation:
    r"""Hessian-free optimization: truncated CG on a damped quadratic model, LM damping.

    $$p_k \approx (B_k + \lambda_k I)^{-1} g_k,\qquad
    \rho_k = \frac{f(x_k - p_k) - f(x_k)}{q_k(-p_k)},\qquad
    q_k(\delta) = g_k^\top \delta + \tfrac12 \delta^\top B_k \delta,$$
    $$x_{k+1} = \begin{cases} x_k - p_k & f(x_k - p_k) < f(x_k)\\ x_k & \text{else}
    \end{cases},\qquad \lambda_{k+1} = \begin{cases} \tfrac32\lambda_k & \rho_k < \tfrac14\\
    \tfrac23 \lambda_k & \rho_k > \tfrac34 \\ \lambda_k & \text{else}\end{cases}$$

    $B_k$ is the Hessian (matrix-free products, ``jax.linearize`` of ``jax.grad``) or the
    Gauss–Newton matrix $J^\top H_L J$ (products through the model's Jacobian, never a
    matrix). The system is solved by :func:`conjugate_gradient`, warm-started from
    ``warm_start`` $\times\, p_{k-1}$ and stopped by Martens' relative-progress rule or
    when $\|r\| \le \eta_k \|g_k\|$, $\eta_k$ = ``cg_rtol`` or, when ``None``, the forcing
    term $\min(\tfrac12, \sqrt{\|g_k\|})$ of truncated Newton. With the extra argument
    ``preconditioner_diag`` $=d$ (a tree, e.g. the sum of squared per-example gradients)
    CG is preconditioned by $(d + \lambda)^\xi$, $\xi$ = ``preconditioner_exponent``.

    The transform outputs the final step (not a direction) and evaluates
    $f$ and $\nabla f$ at $x_k - p_k$ itself (one evaluation per step), storing them in
    ``state.point`` for the next step (``state.report`` is what a driver reads). Use it as
    the *last* member of a chain, without a line search: a member after it changes the
    step, and a driver then no longer reuses the point.

    **Extra arguments of** ``update`` (the Gauss–Newton API works for any pytree model,
    Flax included): ``value`` ($f(x_k)$, optional), and either ``value_fn`` (``params ->
    loss``: exact Hessian products) or ``model_fn`` (``params -> outputs``, any pytree) and
    ``loss_of_outputs`` (``outputs -> loss``): Gauss–Newton products, with ``value_fn``
    defaulting to ``loss_of_outputs(model_fn(params))``. An L2 penalty on the parameters
    enters the Gauss–Newton matrix exactly if ``model_fn`` also returns the parameters and
    ``loss_of_outputs`` adds the penalty on them. On mini-batches pass the batch's
    functions (closures over the batch): the curvature, the acceptance test and $\rho$ then
    use the same batch.

    Args:
      damping: the initial $\lambda > 0$.
      curvature: ``"auto"`` (Gauss–Newton when ``model_fn`` is given, else Hessian),
        ``"hessian"`` or ``"gauss_newton"``.
      max_cg_steps: the most CG steps per update.
      cg_rtol: $\eta \ge 0$, or ``None`` for the forcing term.
      cg_progress_tol: $\epsilon$ of Martens' rule (see :func:`conjugate_gradient`).
      warm_start: the decay $\zeta \in [0, 1]$ of the warm start.
      damping_increase: the factor $> 1$ applied when $\rho < 1/4$.
      damping_decrease: the factor in $(0, 1)$ applied when $\rho > 3/4$.
      preconditioner_exponent: $\xi \ge 0$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`HessianFreeState`.

    References:
      Martens, "Deep learning via Hessian-free optimization", ICML 2010; Nocedal & Wright,
      "Numerical Optimization", 2nd ed., Springer 2006, section 7.1 (truncated Newton).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx.second_order import hessian_free
      >>> A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
      >>> f = lambda x: 0.5 * x @ A @ x - x.sum()
      >>> tx, x = hessian_free(damping=1e-6, cg_rtol=1e-8), jnp.zeros(2)
      >>> u, state = tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f)
      >>> [round(v, 4) for v in (x + u).tolist()], bool(state.accepted)
      ([0.2, 0.4], True)
    """
    _validate.check_positive("damping", damping)
    _validate.check_choice("curvature", curvature, ("auto", "hessian", "gauss_newton"))
    max_cg = _validate.check_int("max_cg_steps", max_cg_steps, 1)
    if cg_rtol is not None:
        _validate.check_nonnegative("cg_rtol", cg_rtol)
    _validate.check_nonnegative("cg_progress_tol", cg_progress_tol)
    _validate.check_range("warm_start", warm_start, 0.0, 1.0)
    _validate.check_range("damping_increase", damping_increase, 1.0, None, low_open=True)
    _validate.check_range(
        "damping_decrease", damping_decrease, 0.0, 1.0, low_open=True, high_open=True
    )
    _validate.check_nonnegative("preconditioner_exponent", preconditioner_exponent)

    def init(params):
        dtype = _vectors.result_dtype(params)
        return HessianFreeState(
            jnp.zeros([], jnp.int32),
            jnp.asarray(damping, dtype),
            _tree.zeros_like(params),
            jnp.zeros([], dtype),
            jnp.asarray(False),
            jnp.zeros([], jnp.int32),
            jnp.zeros([], jnp.int32),
            _records.empty_point(params),
            _records.step_info(),
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, HessianFreeState, "hessian_free")
        if params is None:
            raise ValueError("hessian_free needs params (the point of the curvature).")
        model_fn, loss_fn = extra.get("model_fn"), extra.get("loss_of_outputs")
        value_fn = extra.get("value_fn")
        if value_fn is None and model_fn is not None and loss_fn is not None:
            value_fn = lambda p: loss_fn(model_fn(p))
        matvec, info = curvature_operator(params, {**extra, "value_fn": value_fn}, curvature)
        dtype, lam, g = state.damping.dtype, state.damping, updates
        f0, evals = extra.get("value"), 0
        if f0 is None:
            f0, evals = value_fn(params), 1
        f0 = jnp.asarray(f0).astype(dtype)
        warm = _vectors.scale(warm_start, state.solution)
        diag = extra.get("preconditioner_diag")
        p, model, lam_floor, cg = _propose(
            g, matvec, lam, warm, diag, preconditioner_exponent, max_cg, cg_rtol,
            cg_progress_tol, dtype,
        )  # fmt: skip
        accept, rho, f1, g1 = _acceptance_test(value_fn, params, p, f0, model, dtype)
        lam_new = _levenberg_marquardt(
            lam, rho, accept, state.rejections, lam_floor, damping_increase, damping_decrease,
            dtype,
        )  # fmt: skip
        step = _vectors.where(
            accept, _vectors.scale(-1, p), _vectors.map_trainable(jnp.zeros_like, p)
        )
        point = _records.AcceptedPoint(
            jnp.where(accept, f1, f0), _vectors.where(accept, g1, g), jnp.asarray(True)
        )
        solution = _vectors.where(
            _vectors.all_finite(p), p, _vectors.map_trainable(jnp.zeros_like, p)
        )
        info = _records.step_info(
            info.num_fun_evals + 1 + evals, info.num_grad_evals + 1, cg.products, 0
        )
        new = HessianFreeState(
            _tree.safe_increment(state.count),
            lam_new,
            _vectors.trainable_or_none(solution),
            rho.astype(dtype),
            accept,
            _tree.safe_increment(state.rejections) * ~accept,
            cg.steps.astype(jnp.int32),
            point,
            info,
        )
        return step, new

    return GradientTransformation(init, update)
