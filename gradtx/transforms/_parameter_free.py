"""Learning-rate-free primitives: DoG's and DoWG's distance over gradients, COCOB's bets.

:func:`scale_by_dog` and :func:`scale_by_dowg` are SGD whose step is the largest distance
from the start over the root of the summed squared gradient norms;
:func:`scale_by_distance_over_gradients` (Optax's layer-wise DoG) takes DoG's step size for
each leaf; :func:`scale_by_cocob` bets on each coordinate like a gambler on coins. All need
``params``. Sums over the tree are accumulated in at least float32, scalar state is in JAX's
default float dtype (Optax 0.2.8: the parameters' lowest). Prodigy and D-Adaptation, which
estimate the distance to the solution for Adam, are :func:`gradtx.scale_by_prodigy` and
:func:`gradtx.scale_by_dadapt_adam`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, check_state_type


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.real(jnp.vdot(a, b))


class DoGState(NamedTuple):
    """$x_0$, the largest distance from it (DoWG: squared) and the sum of squared gradient
    norms (DoWG: weighted by the squared distance)."""

    count: jax.Array
    init_params: Any
    max_dist: jax.Array
    sum_sq_norm_grads: jax.Array


def _dog_step_size(max_dist, sq_dist, sum_sq, grad_sq, eps):
    """DoG's step size from the squared distance to the start and squared gradient norm:
    ``r = max(r, sqrt(sq_dist))``, ``G = G + grad_sq``, ``eta = r / sqrt(G + eps)``."""
    r = jnp.maximum(max_dist, jnp.sqrt(sq_dist))
    total = sum_sq + grad_sq
    return r, total, r / jnp.sqrt(total + eps)


def _distance_over_gradients(who, first_dist, weighted, eps, first_step=None):
    """DoG (``weighted=False``) and DoWG (``weighted=True``): $u_t = \\eta_t g_t$."""
    _validate.check_nonnegative("eps", eps)

    def init(params):
        r0, zero = (jnp.asarray(x, jnp.result_type(float)) for x in (first_dist(params), 0.0))
        return DoGState(_tree.zero_count(), _tree.copy_trainable(params), r0, zero)

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, DoGState, who)
        _extra.require_params(params, who)
        sq = _tree.tree_total(lambda p0, p: _tree.abs_sq(p0 - p), state.init_params, params)
        grad_sq = _tree.tree_total(_tree.abs_sq, updates)
        if weighted:  # DoWG: squared distances, and gradients weighted by them
            r = jnp.maximum(state.max_dist, sq)
            total = r * grad_sq + state.sum_sq_norm_grads
            lr = r / (jnp.sqrt(total) + eps)
        else:
            r, total, lr = _dog_step_size(state.max_dist, sq, state.sum_sq_norm_grads, grad_sq, eps)
            if first_step is not None:  # init_step = ("learning_rate", value)
                lr = jnp.where(state.count == 0, first_step, lr)
        scalars = _tree.Scalars(lr=lr)
        updates = _tree.leafwise(lambda g: scalars(g).lr * g, updates)
        return updates, DoGState(_tree.safe_increment(state.count), state.init_params, r, total)

    return GradientTransformation(init, update)


def scale_by_dog(
    init_step: tuple[str, Any] = ("heuristic", 1e-6), eps: Scalar = 1e-8
) -> GradientTransformation:
    r"""Distance over Gradients: SGD's step from the distance travelled so far.

    $$\bar r_t = \max\big(\bar r_{t-1}, \lVert x_t - x_0\rVert\big),\qquad
    G_t = G_{t-1} + \lVert g_t\rVert^2,\qquad
    u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t$$

    with norms over the whole tree and $\bar r_0 = r_\epsilon$ from ``init_step``:
    ``("distance", r)``: $r_\epsilon = r$; ``("heuristic", a)``: $r_\epsilon = a(1 +
    \lVert x_0\rVert)$ (so ``init`` needs the real parameters); ``("learning_rate", a)``:
    $r_\epsilon = 0$ and the first step is $a g_1$.

    Args:
      init_step: ``(tag, value)``, tag in ``"distance"``, ``"learning_rate"``,
        ``"heuristic"``, value $> 0$ (the paper: ``1e-6``, ``1e-4`` with batch norm).
      eps: $\epsilon \ge 0$, added to $G_t$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`DoGState`; its ``update``
      needs ``params`` and returns the descent direction (a learning rate follows).

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
      Schedule", ICML 2023, arXiv:2302.12022, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_dog
      >>> tx, p = scale_by_dog(("distance", 1.0), eps=0.0), jnp.zeros(2)
      >>> tx.update(jnp.array([3.0, 4.0]), tx.init(p), p)[0].tolist()  # r / |g| * g
      [0.6000000238418579, 0.800000011920929]
    """
    if not isinstance(init_step, (tuple, list)) or len(init_step) != 2:
        raise ValueError(f"init_step must be a pair (tag, value), got {init_step!r}.")
    tag, value = init_step
    _validate.check_choice("init_step[0]", tag, ("distance", "learning_rate", "heuristic"))
    _validate.check_positive("init_step[1]", value)
    if tag == "heuristic":
        first_dist = lambda params: value * (1 + _tree.global_norm(params))
    else:
        first_dist = lambda params: value if tag == "distance" else 0.0
    first_step = value if tag == "learning_rate" else None
    return _distance_over_gradients("scale_by_dog", first_dist, False, eps, first_step)


def scale_by_dowg(
    init_estim_sq_dist: float | None = None, eps: Scalar = 1e-4
) -> GradientTransformation:
    r"""Distance over Weighted Gradients: DoG with gradients weighted by the distance.

    $$\bar r_t^2 = \max\big(\bar r_{t-1}^2, \lVert x_t - x_0\rVert^2\big),\qquad
    v_t = v_{t-1} + \bar r_t^2 \lVert g_t\rVert^2,\qquad
    u_t = \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\, g_t$$

    with norms over the whole tree and $\bar r_0^2$ = ``init_estim_sq_dist`` (or $\epsilon$).

    Args:
      init_estim_sq_dist: $\bar r_0^2 > 0$, a guess of the squared distance to the
        solution, or ``None`` for $\epsilon$ (used by ``init`` only).
      eps: $\epsilon \ge 0$ (positive if it is the first guess), added to $\sqrt{v_t}$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`DoGState` (squared
      distances); its ``update`` needs ``params`` and returns the descent direction.

    References:
      Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
      Gradient Descent Method", NeurIPS 2023, arXiv:2305.16284, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_dowg
      >>> tx, p = scale_by_dowg(init_estim_sq_dist=4.0, eps=0.0), jnp.zeros(2)
      >>> tx.update(jnp.array([3.0, 4.0]), tx.init(p), p)[0].tolist()  # r / |g| * g
      [1.2000000476837158, 1.600000023841858]
    """
    if init_estim_sq_dist is None:
        _validate.check_positive("eps (the initial squared distance)", eps)
        init_estim_sq_dist = eps
    else:
        _validate.check_positive("init_estim_sq_dist", init_estim_sq_dist)
    return _distance_over_gradients("scale_by_dowg", lambda _: init_estim_sq_dist, True, eps)


class ScaleByDistanceOverGradientsState(NamedTuple):
    """Layer-wise DoG (Optax's fields): per trainable leaf, the largest distance from the
    start and the sum of squared gradient norms (scalars), and the start itself."""

    max_dist: Any
    grad_sum_of_squares: Any
    init_params: Any


def scale_by_distance_over_gradients(
    reps_rel: Scalar = 1e-6,
    eps: Scalar = 1e-8,
    param_dtype: DTypeLike | None = jnp.float32,
    global_scale: Scalar = 1.0,
) -> GradientTransformation:
    r"""Layer-wise DoG (LDoG): :func:`scale_by_dog`'s step size, computed for each leaf.

    $$\bar r_{\ell,t} = \max\big(\bar r_{\ell,t-1}, \lVert x_{\ell,t} - x_{\ell,0}\rVert\big),\quad
    G_{\ell,t} = G_{\ell,t-1} + \lVert g_{\ell,t}\rVert^2,\quad
    u_{\ell,t} = s\,\frac{\bar r_{\ell,t}}{\sqrt{G_{\ell,t} + \epsilon}}\, g_{\ell,t}$$

    for each leaf $\ell$ (a weight matrix, a bias), with $\bar r_{\ell,0} = r_\text{rel}(1 +
    \lVert x_{\ell,0}\rVert)$, $r_\text{rel}$ = ``reps_rel``, $s$ = ``global_scale``. This is
    Optax's ``scale_by_distance_over_gradients``; the step size is DoG's, written once
    (:func:`scale_by_dog` takes the norms over the whole tree). The scalars are kept in the
    leaf's real dtype promoted to at least float32, with shape ``()`` (Optax: ``(1,)``, which
    turns a scalar parameter's update into shape ``(1,)``).

    Args:
      reps_rel: $r_\text{rel} > 0$, the first distance relative to the initial norm (the
        paper: ``1e-6``, ``1e-4`` with batch normalization).
      eps: $\epsilon \ge 0$, added to $G$.
      param_dtype: dtype of the stored $x_0$ (Optax's default float32; ``None``: the
        parameter's, promoted to at least float32).
      global_scale: $s$, a finite factor (``-1.0`` for a descent direction).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a
      :class:`ScaleByDistanceOverGradientsState`; its ``update`` needs ``params``.

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
      Schedule", ICML 2023, arXiv:2302.12022, section 4 (layer-wise DoG).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_distance_over_gradients
      >>> tx = scale_by_distance_over_gradients(reps_rel=0.5, eps=0.0)
      >>> p = {"a": jnp.zeros(2), "b": jnp.array([3.0, 4.0])}   # r_0 = 0.5 and 3
      >>> g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([0.0, 2.0])}
      >>> u, _ = tx.update(g, tx.init(p), p)                     # r_0 / |g| * g
      >>> u["a"].tolist(), u["b"].tolist()
      ([0.30000001192092896, 0.4000000059604645], [0.0, 3.0])
    """
    _validate.check_positive("reps_rel", reps_rel)
    _validate.check_nonnegative("eps", eps)
    _validate.check_finite("global_scale", global_scale)
    param_dtype = _validate.check_dtype("param_dtype", param_dtype)

    def init(params):
        def first(p):
            if p is None or not _tree.is_trainable(p):
                return None
            dtype = jnp.promote_types(_tree.real_dtype(p.dtype), jnp.float32)
            norm = jnp.sqrt(jnp.sum(_tree.abs_sq(p))).astype(dtype)
            return reps_rel * (1 + norm)

        r0 = jax.tree.map(first, params, is_leaf=_tree.is_none)
        zeros = jax.tree.map(jnp.zeros_like, r0)
        start = _tree.accumulator_copy(params, param_dtype)
        return ScaleByDistanceOverGradientsState(r0, zeros, start)

    def update(updates, state, params=None, **extra):
        del extra
        who = "scale_by_distance_over_gradients"
        check_state_type(state, ScaleByDistanceOverGradientsState, who)
        _extra.require_params(params, who)
        scalars = _tree.Scalars(eps=eps, scale=global_scale)

        def step(g, p, p0, r, total):
            s = scalars(r)
            sq = jnp.sum(_tree.abs_sq(p - p0))
            r, total, lr = _dog_step_size(r, sq, total, jnp.sum(_tree.abs_sq(g)), s.eps)
            return (s.scale * lr) * g, r, total

        names = ("updates", "params", "init_params", "max_dist", "grad_sum_of_squares")
        updates, r, total = _tree.leafwise(
            step, updates, params, state.init_params, state.max_dist,
            state.grad_sum_of_squares, names=names, n_out=3,
        )  # fmt: skip
        return updates, ScaleByDistanceOverGradientsState(r, total, state.init_params)

    return GradientTransformation(init, update)


class COCOBState(NamedTuple):
    """Per coordinate: the start, $-\\sum g$, the largest $|g|$, $\\sum |g|$ and the reward."""

    init_particles: Any
    cumulative_gradients: Any
    scale: Any
    subgradients: Any
    reward: Any


def scale_by_cocob(alpha: Scalar = 100.0, eps: Scalar = 1e-8) -> GradientTransformation:
    r"""COCOB-Backprop: bet a fraction of the accumulated reward on each coordinate.

    $$L_t = \max(L_{t-1}, |g_t|),\quad G_t = G_{t-1} + |g_t|,\quad
    R_t = \max\big(R_{t-1} - g_t (x_t - x_0), 0\big),\quad \theta_t = \theta_{t-1} + g_t,$$
    $$x_{t+1} = x_0 - \frac{\theta_t}{L_t \max(G_t + L_t, \alpha L_t)}\,(L_t + R_t),
    \qquad u_t = x_{t+1} - x_t$$

    per coordinate, with $L_0 = \epsilon$ and $G_0 = R_0 = \theta_0 = 0$. The output is
    the update itself (no learning rate follows; one may precede it).

    Args:
      alpha: $\alpha > 0$, bounds the first bets (100 in the paper).
      eps: $\epsilon > 0$, the initial $L$ (used by ``init`` only).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`COCOBState`; its ``update``
      needs ``params``. Real parameters only.

    References:
      Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
      Betting", NeurIPS 2017, arXiv:1705.07795, Algorithm 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_cocob
      >>> tx = scale_by_cocob()
      >>> p = jnp.zeros(1)
      >>> tx.update(jnp.array([2.0]), tx.init(p), p)[0].tolist()  # -2 / (2 * 200) * 2
      [-0.009999999776482582]
    """
    _validate.check_positive("alpha", alpha)
    _validate.check_positive("eps", eps)

    def init(params):
        zeros = _tree.zeros_like(params)
        start = _tree.copy_trainable(params)
        return COCOBState(start, zeros, _tree.full_like(params, eps), zeros, zeros)

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, COCOBState, "scale_by_cocob")
        _extra.require_params(params, "scale_by_cocob")
        if any(jnp.iscomplexobj(g) for g in jax.tree.leaves(updates)):
            raise ValueError("scale_by_cocob is defined for real parameters only (not complex).")
        scalars = _tree.Scalars(alpha=alpha, eps=eps)

        def step(g, p, p0, c, lo, gs, r):
            # L >= eps at every step, as L_0 = eps: a float16 L rounds eps = 1e-8 to 0, and a
            # coordinate with only zero gradients then bet 0 / (0 * 0) = NaN.
            lo = jnp.maximum(jnp.maximum(lo, jnp.abs(g)), scalars(g).eps)
            gs = gs + jnp.abs(g)
            r = jnp.maximum(r - g * (p - p0), 0)
            c = c - g
            bet = c / (lo * jnp.maximum(gs + lo, scalars(g).alpha * lo)) * (lo + r)
            return -p + (p0 + bet), c, lo, gs, r

        names = ("updates", "params", "init_particles", "cumulative_gradients", "scale")
        names += ("subgradients", "reward")
        updates, c, lo, gs, r = _tree.leafwise(
            step, updates, params, state.init_particles, state.cumulative_gradients,
            state.scale, state.subgradients, state.reward, names=names, n_out=5,
        )  # fmt: skip
        return updates, COCOBState(state.init_particles, c, lo, gs, r)

    return GradientTransformation(init, update)
