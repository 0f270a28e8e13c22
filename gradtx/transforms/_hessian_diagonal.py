"""Diagonal curvature (Sophia): Hutchinson's estimate of the Hessian diagonal and the
clipped, curvature-scaled step built on it.

The estimator needs the objective: it takes it as the extra argument ``value_fn`` (the name
every loss-driven transform of gradtx uses), or as ``obj_fn``, Optax's name for it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree, _validate
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    KeyLike,
    Scalar,
    as_transform,
    chain,
    check_state_type,
    identity,
)
from gradtx.transforms._clipping import clip
from gradtx.transforms._momentum import ema, ema_scalars, ema_update


class HutchinsonState(NamedTuple):
    """The random key of the probes (raw ``uint32`` key data)."""

    key: jax.Array


def _objective(value_fn: Any, obj_fn: Any, who: str) -> Any:
    if value_fn is not None and obj_fn is not None and value_fn is not obj_fn:
        raise ValueError(f"{who}: give the objective as `value_fn` or as `obj_fn`, not both.")
    fn = value_fn if value_fn is not None else obj_fn
    if fn is None:
        raise ValueError(
            f"{who} needs the objective: call update(updates, state, params, "
            "value_fn=lambda params: loss) (Optax's name `obj_fn` works too)."
        )
    return fn


def trainable_hvp(fn: Any, params: Any, tangents: Any) -> Any:
    r"""The Hessian-vector product $\nabla^2 f(w)\, v$ over the trainable leaves of ``params``.

    $$H v = \frac{d}{d\epsilon} \nabla f(w + \epsilon v)\Big|_{\epsilon = 0}$$

    by ``jax.jvp`` of ``jax.grad`` (forward over reverse), with the other leaves (``None``,
    integer, boolean) held fixed; ``tangents`` is a tree like ``params`` whose entries at
    those leaves are ignored (``None`` will do). Hutchinson's diagonal estimators (Sophia's
    and vSGD's) are built on it.

    Args:
      fn: $f$, a scalar function of the parameters.
      params: $w$, any pytree.
      tangents: $v$, a tree like ``params``.

    Returns:
      $H v$ at the trainable leaves, ``None`` at the others.

    References:
      Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6(1),
      1994.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.transforms._hessian_diagonal import trainable_hvp
      >>> w = {"x": jnp.array([1.0, 2.0]), "n": jnp.array(3)}
      >>> f = lambda w: jnp.sum(w["x"] ** 3) * w["n"]
      >>> trainable_hvp(f, w, {"x": jnp.array([1.0, 0.0]), "n": None})["x"].tolist()
      [18.0, 0.0]
    """
    leaves, treedef = jax.tree.flatten(params, is_leaf=_tree.is_none)
    vs = treedef.flatten_up_to(tangents)
    trained = [i for i, p in enumerate(leaves) if p is not None and _tree.is_trainable(p)]

    def objective(trained_leaves):
        full = list(leaves)
        for i, x in zip(trained, trained_leaves):
            full[i] = x
        return fn(jax.tree.unflatten(treedef, full))

    primals = [leaves[i] for i in trained]
    _, hv = jax.jvp(jax.grad(objective), (primals,), ([vs[i] for i in trained],))
    out: list[Any] = [None] * len(leaves)
    for i, h in zip(trained, hv):
        out[i] = h
    return jax.tree.unflatten(treedef, out)


def hutchinson_estimator_diag_hessian(random_seed: KeyLike = None) -> GradientTransformation:
    r"""Estimate the diagonal of the Hessian of the objective with one Rademacher probe.

    $$\widehat{\operatorname{diag}}(H) = z \odot (H z),\qquad z_i \in \{-1, +1\}
    \text{ uniformly},\qquad \mathbb E[z \odot H z] = \operatorname{diag}(H)$$

    The Hessian-vector product $Hz$ is ``jax.jvp`` of ``jax.grad(value_fn)`` at the
    parameters, one forward-over-reverse pass. The key is split once per call, then once
    per leaf (in the order of ``jax.tree.leaves``), so the probes are those of Optax's
    estimator for the same key. The output replaces the updates; leaves that are not
    trained (``None``, integer) pass through. Complex parameters are not supported.

    Args:
      random_seed: an int seed or a JAX random key; ``None`` means seed 0 (Optax's
        ``PRNGKey(0)``).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`HutchinsonState`; its
      ``update`` needs ``params`` and the objective as ``value_fn`` (or ``obj_fn``).

    References:
      Hutchinson, "A stochastic estimator of the trace of the influence matrix for
      Laplacian smoothing splines", Comm. Statist. Simul. Comput. 1990; Liu, Li, Hall,
      Liang & Ma, "Sophia", ICLR 2024, arXiv:2305.14342.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import hutchinson_estimator_diag_hessian
      >>> tx = hutchinson_estimator_diag_hessian(random_seed=1)
      >>> w = jnp.array([1.0, 2.0])
      >>> h, _ = tx.update(w, tx.init(w), w, value_fn=lambda w: jnp.sum(3 * w**2))
      >>> h.tolist()
      [6.0, 6.0]
    """
    key = _validate.key_data("random_seed", random_seed)

    def init(params):
        del params
        return HutchinsonState(key)

    def update(updates, state, params=None, *, value_fn=None, obj_fn=None, **extra):
        del extra
        check_state_type(state, HutchinsonState, "hutchinson_estimator_diag_hessian")
        if params is None:
            raise ValueError("hutchinson_estimator_diag_hessian needs `params`.")
        fn = _objective(value_fn, obj_fn, "hutchinson_estimator_diag_hessian")
        _tree.check_same_structure(("updates", "params"), (updates, params))
        leaves, treedef = jax.tree.flatten(params, is_leaf=_tree.is_none)
        present = [i for i, p in enumerate(leaves) if p is not None]
        trained = [i for i in present if _tree.is_trainable(leaves[i])]
        if any(jnp.iscomplexobj(leaves[i]) for i in trained):
            raise ValueError(
                "hutchinson_estimator_diag_hessian: complex parameters are not supported."
            )
        key, subkey = jax.random.split(state.key)
        keys = dict(zip(present, jax.random.split(subkey, len(present))))
        probes = [None] * len(leaves)
        for i in trained:  # one key per present leaf, as Optax draws them
            z = jax.random.rademacher(keys[i], leaves[i].shape, jnp.float32)
            probes[i] = z.astype(leaves[i].dtype)
        hz = treedef.flatten_up_to(trainable_hvp(fn, params, treedef.unflatten(probes)))
        out = jax.tree.leaves(updates, is_leaf=_tree.is_none)
        for i in trained:
            out[i] = probes[i] * hz[i]
        return jax.tree.unflatten(treedef, out), HutchinsonState(key)

    return GradientTransformation(init, update)


class HessianDiagonalState(NamedTuple):
    """State of :func:`scale_by_hessian_diagonal`.

    Attributes:
      count: int32 number of updates so far.
      nu: the EMA of the Hessian-diagonal estimates (``None`` for untrained leaves).
      hessian_fn_state: the state of the estimator.
    """

    count: jax.Array
    nu: Any
    hessian_fn_state: Any


def scale_by_hessian_diagonal(
    b2: Scalar = 0.99,
    eps: Scalar = 1e-8,
    gamma: Scalar = 0.01,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    *,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide the updates by an EMA of a Hessian-diagonal estimate, refreshed every $k$ steps.

    $$u_t \leftarrow \frac{u_t}{\max(\gamma\, h_{t-1}, \epsilon)},\qquad
    h_t = \begin{cases}\beta_2 h_{t-1} + (1-\beta_2)\,\hat H_t & t \equiv 0 \pmod k\\
    h_{t-1} & \text{otherwise}\end{cases}$$

    with $t = 0, 1, \dots$ the step count, $k$ = ``update_interval``, $h_{-1} = 0$ and
    $\hat H_t$ the output of ``hessian_diagonal_fn`` (Hutchinson's estimate by default). As
    in Sophia and Optax, the step divides by the EMA *before* this step's refresh (the
    first steps divide by $\epsilon$, so a following clip makes them sign steps) and the
    estimator runs only on refresh steps (a ``lax.cond``). The estimator gets the chain's
    gradient as its updates and every extra argument (``value_fn``, ``obj_fn``).

    Args:
      b2: $\beta_2 \in [0, 1)$, decay of the EMA (per refresh: its horizon is $k/(1-\beta_2)$
        steps).
      eps: $\epsilon \ge 0$, the floor of the denominator.
      gamma: $\gamma \ge 0$, the scale of the curvature.
      update_interval: $k \ge 1$.
      hessian_diagonal_fn: a transform whose ``update`` returns a Hessian-diagonal
        estimate (gradtx or Optax); ``None`` for :func:`hutchinson_estimator_diag_hessian`.
      accumulator_dtype: dtype of the stored $h$ (default: the parameter's); the arithmetic
        is in at least float32, rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`HessianDiagonalState`.

    References:
      Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
      Language Model Pre-training", ICLR 2024, arXiv:2305.14342.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_hessian_diagonal
      >>> tx = scale_by_hessian_diagonal(b2=0.0, gamma=1.0, update_interval=1)
      >>> f = lambda w: jnp.sum(2 * w**2)          # Hessian diagonal 4
      >>> w, s = jnp.ones(1), tx.init(jnp.ones(1))
      >>> _, s = tx.update(jnp.ones(1), s, w, value_fn=f)  # first step: divides by eps
      >>> tx.update(jnp.ones(1), s, w, value_fn=f)[0].tolist()
      [0.25]
    """
    _validate.check_decay("b2", b2)
    _validate.check_nonnegative("eps", eps)
    _validate.check_nonnegative("gamma", gamma)
    integer = isinstance(update_interval, (int, np.integer)) and not isinstance(
        update_interval, bool
    )
    if not integer or update_interval < 1:
        raise ValueError(f"update_interval must be an integer >= 1, got {update_interval!r}.")
    if hessian_diagonal_fn is None:
        hessian_diagonal_fn = hutchinson_estimator_diag_hessian()
    estimator = as_transform(hessian_diagonal_fn, "hessian_diagonal_fn")
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return HessianDiagonalState(
            _tree.zero_count(), _tree.zeros_like(params, accumulator_dtype), estimator.init(params)
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, HessianDiagonalState, "scale_by_hessian_diagonal")
        if params is None:
            raise ValueError("scale_by_hessian_diagonal needs `params` (for the Hessian).")
        gradient = extra.get("gradient", updates)  # the estimator's input, as in Optax
        floor = _tree.Scalars(gamma=gamma, eps=eps)

        def precondition(u, h):
            s = floor(u)
            return u / jnp.maximum(s.gamma * h, s.eps)

        updates = _tree.leafwise(precondition, updates, state.nu, names=("updates", "nu"))
        scalars = ema_scalars(b2, state.count)

        def refresh(estimator_state, nu):
            estimate, estimator_state = estimator.update(gradient, estimator_state, params, **extra)
            step = lambda e, v: (e, ema_update(v, e, scalars(e)))
            nu = _tree.leafwise(step, estimate, nu, names=("estimate", "nu"), n_out=2)[1]
            return estimator_state, nu

        estimator_state, nu = jax.lax.cond(
            state.count % update_interval == 0,
            refresh,
            lambda estimator_state, nu: (estimator_state, nu),
            state.hessian_fn_state,
            state.nu,
        )
        return updates, HessianDiagonalState(_tree.safe_increment(state.count), nu, estimator_state)

    return GradientTransformation(init, update)


class WinRateState(NamedTuple):
    """Step count of the win-rate printout."""

    count: jax.Array


def _print_win_rate(clip_threshold: Any, every: int) -> GradientTransformation:
    """Print the fraction of coordinates not clipped (Sophia's "win rate") every ``every``
    steps; the updates pass through."""

    def update(updates, state, params=None, **extra):
        del params, extra
        count = _tree.safe_increment(state.count)
        leaves = [x for x in jax.tree.leaves(updates) if _tree.is_trainable(x)]
        kept = sum(jnp.sum(jnp.abs(x) < clip_threshold) for x in leaves)
        rate = kept / max(1, sum(x.size for x in leaves))
        jax.lax.cond(
            count % every == 0,
            lambda: jax.debug.print("Sophia optimizer win rate: {}", rate),
            lambda: None,
        )
        return updates, WinRateState(count)

    return GradientTransformation(lambda params: WinRateState(_tree.zero_count()), update)


def scale_by_sophia(
    b1: Scalar = 0.965,
    b2: Scalar = 0.99,
    eps: Scalar = 1e-8,
    gamma: Scalar = 0.01,
    clip_threshold: Scalar | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation | None = None,
    mu_dtype: DTypeLike | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Sophia's direction: the debiased momentum over the clipped curvature, clipped.

    $$u_t = \operatorname{clip}\Big(\frac{\hat m_t}{\max(\gamma h_{t-1}, \epsilon)},
    -\rho, \rho\Big),\qquad \hat m_t = \frac{m_t}{1-\beta_1^t}$$

    It is ``chain(ema(b1), scale_by_hessian_diagonal(b2, eps, gamma, update_interval),
    clip(clip_threshold))``, Optax's ``scale_by_sophia``; $\rho$ = ``clip_threshold``.

    Args:
      b1: $\beta_1 \in [0, 1)$, decay of the momentum.
      b2, eps, gamma, update_interval, hessian_diagonal_fn: as in
        :func:`scale_by_hessian_diagonal`.
      clip_threshold: $\rho > 0$, or ``None`` for no clipping.
      mu_dtype: dtype of $m$.
      nu_dtype: dtype of the curvature EMA $h$ (the state's ``nu``; default: the
        parameter's). The arithmetic is in at least float32, rounded once on store.
      verbose: print the fraction of coordinates not clipped (the "win rate", which the
        authors keep in [0.1, 0.5]) every ``print_win_rate_every_n_steps`` steps.
      print_win_rate_every_n_steps: the period of the printout ($\ge 1$ if ``verbose``).

    Returns:
      A :class:`~gradtx.GradientTransformation` (a chain).

    References:
      Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
      Language Model Pre-training", ICLR 2024, arXiv:2305.14342.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_sophia
      >>> tx = scale_by_sophia()
      >>> w = jnp.ones(2)
      >>> u, _ = tx.update(jnp.array([0.5, -2.0]), tx.init(w), w, value_fn=jnp.sum)
      >>> u.tolist()
      [1.0, -1.0]
    """
    _validate.check_decay("b1", b1)
    if clip_threshold is not None:
        _validate.check_positive("clip_threshold", clip_threshold)
    members = [
        ema(b1, debias=True, accumulator_dtype=mu_dtype),
        scale_by_hessian_diagonal(
            b2, eps, gamma, update_interval, hessian_diagonal_fn, accumulator_dtype=nu_dtype
        ),
    ]
    if verbose:
        if clip_threshold is None:
            raise ValueError("verbose=True prints the win rate of the clip: give clip_threshold.")
        every = print_win_rate_every_n_steps
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(
                f"print_win_rate_every_n_steps must be an integer >= 1 when verbose, got {every!r}."
            )
        members.append(_print_win_rate(clip_threshold, every))
    members.append(identity() if clip_threshold is None else clip(clip_threshold))
    return chain(*members)
