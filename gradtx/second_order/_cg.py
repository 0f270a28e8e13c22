r"""Nonlinear conjugate gradients: Polak–Ribière+, Fletcher–Reeves, Hestenes–Stiefel, Dai–Yuan."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate, _vectors
from gradtx._base import GradientTransformation, Scalar, chain, check_state_type
from gradtx.second_order._zoom import resolve_linesearch
from gradtx.transforms._scaling import scale, scale_by_learning_rate

VARIANTS = ("polak_ribiere", "fletcher_reeves", "hestenes_stiefel", "dai_yuan")


class ScaleByNonlinearCgState(NamedTuple):
    r"""State of :func:`scale_by_nonlinear_cg`.

    Attributes:
      count: int32 number of updates.
      grad: $g_{k-1}$, the previous gradient.
      direction: $p_{k-1}$, the previous output (the search direction is $-p$).
      beta: the $\beta_k$ of the last update (0 after a restart).
      restarted: whether the last update restarted from the gradient.
    """

    count: jax.Array
    grad: Any
    direction: Any
    beta: jax.Array
    restarted: jax.Array


def cg_beta(variant: str, g: Any, g_prev: Any, p_prev: Any) -> jax.Array:
    r"""The conjugate-gradient coefficient $\beta_k$ (see :func:`scale_by_nonlinear_cg`).

    Denominators at or below the dtype's smallest normal number, and non-finite results,
    give $\beta = 0$ (a restart); there is no absolute clamp.

    References:
      Hager & Zhang, "A survey of nonlinear conjugate gradient methods", Pacific J. Optim.
      2(1), 2006 (the formulas in one notation).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import cg_beta
      >>> g, g_prev, p_prev = jnp.array([1.0, 0.0]), jnp.array([2.0, 0.0]), jnp.array([2.0, 0.0])
      >>> float(cg_beta("fletcher_reeves", g, g_prev, p_prev))
      0.25
    """
    y = _vectors.sub(g, g_prev)
    gg, dtype = _vectors.vdot(g, g), _vectors.result_dtype(g)
    if variant in ("polak_ribiere", "fletcher_reeves"):
        num = _vectors.vdot(g, y) if variant == "polak_ribiere" else gg
        den = _vectors.vdot(g_prev, g_prev)
    else:  # d = -p, so d^T y = -p^T y
        num = _vectors.vdot(g, y) if variant == "hestenes_stiefel" else gg
        den = -_vectors.vdot(p_prev, y)
    tiny = jnp.finfo(dtype).tiny
    beta = num / jnp.where(jnp.abs(den) > tiny, den, 1)
    beta = jnp.where((jnp.abs(den) > tiny) & jnp.isfinite(beta), beta, 0)
    if variant == "polak_ribiere":
        beta = jnp.maximum(beta, 0)
    return beta.astype(dtype)


def scale_by_nonlinear_cg(
    variant: str = "polak_ribiere", restart_threshold: Scalar | None = 0.2
) -> GradientTransformation:
    r"""Turn gradients into nonlinear conjugate-gradient directions.

    $$p_k = g_k + \beta_k\, p_{k-1}\quad(\text{the step is } -\alpha_k p_k),\qquad
    y = g_k - g_{k-1},\ d_{k-1} = -p_{k-1},$$
    $$\beta^{PR+} = \max\Big(\frac{g_k^\top y}{\|g_{k-1}\|^2}, 0\Big),\
    \beta^{FR} = \frac{\|g_k\|^2}{\|g_{k-1}\|^2},\
    \beta^{HS} = \frac{g_k^\top y}{d_{k-1}^\top y},\
    \beta^{DY} = \frac{\|g_k\|^2}{d_{k-1}^\top y}.$$

    $\beta = 0$ on the first step and, with $\nu$ = ``restart_threshold``, whenever
    successive gradients are far from orthogonal, $|g_k^\top g_{k-1}| \ge \nu\,\|g_k\|^2$
    (Powell's restart; it keeps PR+ from crawling along near-singular valleys: on Powell's
    singular function from its standard start it cut the evaluations from 723 to 196, and
    Wood's from 232 to 80). If $p_k$ is not a descent direction
    ($g_k^\top p_k \le 0$, i.e. $-p_k$ does not descend) or not finite, the method restarts
    with $p_k = g_k$. Guards are relative or use the dtype's smallest normal number (never
    an absolute clamp such as $\max(\|g\|^2, 10^{-6})$, which slows small-gradient problems
    down). Use it with a strong-Wolfe line search ($c_2 \le 0.4$; :func:`nonlinear_cg`).

    Args:
      variant: ``"polak_ribiere"`` (PR+, the default), ``"fletcher_reeves"``,
        ``"hestenes_stiefel"`` or ``"dai_yuan"``.
      restart_threshold: $\nu > 0$ of Powell's restart (0.2, Powell's value), or ``None``
        for no such restart.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByNonlinearCgState`;
      its output has the sign of the gradient.

    References:
      Polak & Ribière, "Note sur la convergence de méthodes de directions conjuguées",
      ESAIM M2AN 3(R1), 1969; Fletcher & Reeves, "Function minimization by conjugate
      gradients", Comput. J. 7(2), 1964, doi:10.1093/comjnl/7.2.149; Hestenes & Stiefel,
      "Methods of conjugate gradients for solving linear systems", J. Res. NBS 49(6), 1952;
      Dai & Yuan, "A nonlinear conjugate gradient method with a strong global convergence
      property", SIAM J. Optim. 10(1), 1999, doi:10.1137/S1052623497318992; Gilbert &
      Nocedal, "Global convergence properties of conjugate gradient methods for
      optimization", SIAM J. Optim. 2(1), 1992 (PR+); Powell, "Restart procedures for the
      conjugate gradient method", Math. Program. 12, 1977, doi:10.1007/BF01593790.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.second_order import scale_by_nonlinear_cg
      >>> tx = scale_by_nonlinear_cg("fletcher_reeves")
      >>> _, s = tx.update(jnp.array([2.0, 0.0]), tx.init(jnp.zeros(2)))
      >>> tx.update(jnp.array([0.0, 1.0]), s)[0].tolist()
      [0.5, 1.0]
    """
    _validate.check_choice("variant", variant, VARIANTS)
    if restart_threshold is not None:
        _validate.check_positive("restart_threshold", restart_threshold)

    def init(params):
        dtype = _vectors.result_dtype(params)
        return ScaleByNonlinearCgState(
            jnp.zeros([], jnp.int32),
            _tree.zeros_like(params),
            _tree.zeros_like(params),
            jnp.zeros([], dtype),
            jnp.asarray(False),
        )

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, ScaleByNonlinearCgState, "scale_by_nonlinear_cg")
        g = updates
        beta = cg_beta(variant, g, state.grad, state.direction)
        beta = jnp.where(state.count > 0, beta, 0).astype(state.beta.dtype)
        if restart_threshold is not None:
            overlap = jnp.abs(_vectors.vdot(g, state.grad))
            beta = jnp.where(overlap >= restart_threshold * _vectors.vdot(g, g), 0, beta)
        p = _vectors.add_scaled(g, beta, state.direction)
        descent = (_vectors.vdot(g, p) > 0) & _vectors.all_finite(p)
        p = _vectors.where(descent, p, g)
        restarted = ~descent | (beta == 0)
        new = ScaleByNonlinearCgState(
            _tree.safe_increment(state.count),
            _vectors.trainable_or_none(g),
            _vectors.trainable_or_none(p),
            jnp.where(descent, beta, 0).astype(state.beta.dtype),
            restarted,
        )
        return p, new

    return GradientTransformation(init, update)


def nonlinear_cg(
    learning_rate: Scalar | None = None,
    variant: str = "polak_ribiere",
    linesearch: GradientTransformation | str | None = "zoom",
    restart_threshold: Scalar | None = 0.2,
) -> GradientTransformation:
    r"""Nonlinear conjugate gradients with a strong-Wolfe line search.

    $$x_{k+1} = x_k - \alpha_k\, p_k, \qquad p_k = g_k + \beta_k\, p_{k-1}$$

    ``chain(scale_by_nonlinear_cg(variant), scale(-1) or scale_by_learning_rate(lr),
    linesearch)``. The default line search is the zoom search with $c_2 = 0.1$ (Nocedal &
    Wright's choice for CG), the quadratic-interpolation first trial (their eq. 3.60, without
    their and SciPy's cap at 1: with Powell's restart the cap took Powell singular from 196
    to 171 evaluations and Kowalik-Osborne from 106 to 76, but logistic regression on the
    digits from 185 to 223; ``max_initial_guess=1.0`` of :func:`scale_by_zoom_linesearch`
    restores it), so its steps are close to exact line
    minimizations, and plain cubic interpolation after a rejected trial (Moré and Thuente's
    step back toward the best point cost CG 9% and 22% more evaluations on the Rosenbrock
    functions); ``update`` needs ``value``, ``grad`` and
    ``value_fn``.

    Args:
      learning_rate: $\eta \ge 0$ multiplying the direction, or ``None`` (1).
      variant: see :func:`scale_by_nonlinear_cg`.
      linesearch: ``"zoom"``, ``"backtracking"``, ``None`` or a line-search transform.
      restart_threshold: see :func:`scale_by_nonlinear_cg`.

    Returns:
      A :class:`~gradtx.GradientTransformation` (a chain).

    References:
      Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, section 5.2;
      Hager & Zhang, "A survey of nonlinear conjugate gradient methods", Pacific J. Optim.
      2(1), 2006.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx.second_order import nonlinear_cg
      >>> A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
      >>> f = lambda x: 0.5 * x @ A @ x - x.sum()
      >>> tx, x = nonlinear_cg(), jnp.zeros(2)
      >>> state = tx.init(x)
      >>> for _ in range(2):  # a 2-D quadratic: two exact steps
      ...     value, grad = jax.value_and_grad(f)(x)
      ...     u, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=f)
      ...     x = x + u
      >>> [round(v, 4) for v in x.tolist()]
      [0.2, 0.4]
    """
    step = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    search = resolve_linesearch(
        linesearch,
        "nonlinear_cg",
        curv_rtol=0.1,
        initial_guess_strategy="quadratic",
        interpolation="cubic",
    )
    return chain(scale_by_nonlinear_cg(variant, restart_threshold), step, search)
