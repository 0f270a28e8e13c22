"""Gradient-free primitives (they read ``value_fn``): random search (the (1+1)-ES with the
one-fifth success rule) and the SPSA gradient estimate."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate
from gradtx._base import (
    GradientTransformation,
    KeyLike,
    Scalar,
    ScalarOrSchedule,
    apply_updates,
    check_state_type,
)
from gradtx.transforms._loss_driven import grow, scalar_dtype
from gradtx.transforms._scaling import value_at


def _leaf_keys(rng_key: jax.Array, updates: Any) -> tuple[jax.Array, Any]:
    """Split the state's key once per step, then once per leaf (``jax.tree.leaves`` order)."""
    rng_key, sample = jax.random.split(rng_key)
    treedef = jax.tree.structure(updates)
    keys = jax.random.split(sample, treedef.num_leaves)
    return rng_key, jax.tree.unflatten(treedef, list(keys))


class RandomSearchState(NamedTuple):
    """Step count, the adapted factor $s_t$ of the step size, accepted steps, the key."""

    count: jax.Array
    scale: jax.Array
    accepted: jax.Array
    rng_key: jax.Array


def random_search_step(
    learning_rate: ScalarOrSchedule = 0.1,
    increase: Scalar = 1.4,
    target_rate: Scalar = 0.2,
    key: KeyLike = None,
) -> GradientTransformation:
    r"""Local random search: a Gaussian step kept if it lowers the loss (the (1+1)-ES).

    $$u_t = \begin{cases}\sigma_t z_t & f(w_t + \sigma_t z_t) < f(w_t) \\ 0 & \text{otherwise}
    \end{cases},\quad z_t \sim \mathcal N(0, I),\quad \sigma_t = \eta_t s_t,\quad
    s_{t+1} = s_t\, \beta^{([\text{kept}] - p)/(1 - p)}$$

    $f$ is the ``value_fn`` keyword of ``update`` (one evaluation per step), $f(w_t)$ its
    ``value`` (``value_fn(params)`` if absent), $\eta_t$ = ``learning_rate``, $\beta$ =
    ``increase``, $p$ = ``target_rate``. $s$ is stationary when a fraction $p$ of the steps
    is kept: Rechenberg's 1/5th success rule for $p = 1/5$ (Hansen, Arnold & Auger suggest
    $\beta = e^{0.8/\sqrt{n+1}}$ for $n$ parameters). The input updates are ignored; put it
    last in a chain. Keys are split as in :func:`gradtx.add_noise`.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      increase: $\beta \ge 1$, the factor of the step size after a kept step.
      target_rate: $p \in (0, 1)$, the success rate at which the step size is stationary.
      key: an int seed or a JAX random key; ``None`` means 0.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`RandomSearchState`; its
      ``update`` needs ``params`` and ``value_fn``.

    References:
      Schumer & Steiglitz, "Adaptive step size random search", IEEE Trans. Automatic
      Control 13(3), 1968; Rechenberg, "Evolutionsstrategie", 1973; Hansen, Arnold & Auger,
      "Evolution Strategies", Springer Handbook of Computational Intelligence, 2015.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import random_search_step
      >>> f = lambda w: jnp.sum(w**2)
      >>> tx, w = random_search_step(0.5), jnp.ones(4)
      >>> s = tx.init(w)
      >>> for _ in range(50):
      ...     u, s = tx.update(w, s, w, value=f(w), value_fn=f)
      ...     w = w + u
      >>> bool(f(w) < 0.5), int(s.accepted) > 5
      (True, True)
    """
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    _validate.check_range("increase", increase, 1.0)
    _validate.check_range("target_rate", target_rate, 0.0, 1.0, low_open=True, high_open=True)
    key = _validate.key_data("key", key)

    def init(params):
        one = jnp.ones([], scalar_dtype(params))
        return RandomSearchState(_tree.zero_count(), one, _tree.zero_count(), key)

    def update(updates, state, params=None, **extra):
        who = "random_search_step"
        check_state_type(state, RandomSearchState, who)
        params, value_fn = (
            _extra.require_params(params, who),
            _extra.require(extra, "value_fn", who),
        )
        value = extra["value"] if extra.get("value") is not None else value_fn(params)
        sigma = jnp.asarray(value_at(learning_rate, state.count)) * state.scale
        rng_key, keys = _leaf_keys(state.rng_key, updates)
        s = _tree.Scalars(sigma=sigma)
        draw = lambda u, k: s(u).sigma * jax.random.normal(k, u.shape, u.dtype)
        step = _tree.leafwise(draw, updates, keys, names=("updates", "keys"))
        kept = value_fn(apply_updates(params, step)) < value
        updates = _tree.leafwise(lambda d: jnp.where(kept, d, jnp.zeros_like(d)), step)
        shrink = jnp.asarray(increase, state.scale.dtype) ** (-target_rate / (1 - target_rate))
        scale = jnp.where(kept, grow(state.scale, increase), state.scale * shrink)
        accepted = jnp.where(kept, _tree.safe_increment(state.accepted), state.accepted)
        count = _tree.safe_increment(state.count)
        return updates, RandomSearchState(count, scale, accepted, rng_key)

    return GradientTransformation(init, update)


class SPSAState(NamedTuple):
    """Step count $k$ and the random key (raw ``uint32`` key data)."""

    count: jax.Array
    rng_key: jax.Array


def spsa_gradient(
    perturbation: Scalar = 0.01, gamma: Scalar = 0.101, key: KeyLike = None
) -> GradientTransformation:
    r"""Spall's simultaneous-perturbation estimate of the gradient, from two loss values.

    $$\Delta_k \in \{-1, 1\}^n \text{ (Rademacher)},\quad c_k = \frac{c}{(k+1)^\gamma},\quad
    \hat g_k = \frac{f(w_k + c_k\Delta_k) - f(w_k - c_k\Delta_k)}{2 c_k}\,\Delta_k^{-1}$$

    ($\Delta^{-1} = \Delta$ elementwise), $f$ the ``value_fn`` keyword of ``update``, $c$ =
    ``perturbation``, $\gamma$ = ``gamma``, $k = 0, 1, \dots$ It replaces the input updates,
    so it chains with any optimizer: ``chain(spsa_gradient(), gradtx.sgd(0.1))``. Unbiased
    up to $O(c_k^2)$ in any dimension $n$, but of variance $\sim n \lVert\nabla f\rVert^2$.
    Real parameters (a complex leaf moves along its real part). Keys as in
    :func:`gradtx.add_noise`.

    Args:
      perturbation: $c > 0$ (Spall: about the noise level of $f$, small if there is none).
      gamma: $\gamma \ge 0$ (Spall's practical 0.101; 1/6 is asymptotically optimal).
      key: an int seed or a JAX random key; ``None`` means 0.

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`SPSAState`; its ``update``
      needs ``params`` and ``value_fn``.

    References:
      Spall, "Multivariate stochastic approximation using a simultaneous perturbation
      gradient approximation", IEEE Trans. Automatic Control 37(3), 1992; Spall,
      "Implementation of the simultaneous perturbation algorithm for stochastic
      optimization", IEEE Trans. Aerospace and Electronic Systems 34(3), 1998.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import spsa_gradient
      >>> f = lambda w: jnp.sum(w)              # linear: the estimate is exactly D (D . 1)
      >>> tx, w = spsa_gradient(), jnp.zeros(2)
      >>> g, _ = tx.update(w, tx.init(w), w, value_fn=f)
      >>> [abs(x) in (0.0, 2.0) for x in g.tolist()]
      [True, True]
    """
    _validate.check_positive("perturbation", perturbation)
    _validate.check_nonnegative("gamma", gamma)
    key = _validate.key_data("key", key)

    def init(params):
        return SPSAState(_tree.zero_count(), key)

    def update(updates, state, params=None, **extra):
        who = "spsa_gradient"
        check_state_type(state, SPSAState, who)
        params, value_fn = (
            _extra.require_params(params, who),
            _extra.require(extra, "value_fn", who),
        )
        c = jnp.asarray(perturbation, jnp.result_type(perturbation, float))
        c = c / (state.count.astype(c.dtype) + 1) ** gamma
        rng_key, keys = _leaf_keys(state.rng_key, updates)
        sign = lambda u, k: jax.random.rademacher(k, u.shape, _tree.real_dtype(u.dtype))
        delta = _tree.leafwise(sign, updates, keys, names=("updates", "keys"))
        s = _tree.Scalars(c=c)
        shift = _tree.leafwise(lambda d: s(d).c * d, delta)
        ahead = value_fn(apply_updates(params, shift))
        behind = value_fn(apply_updates(params, _tree.leafwise(jnp.negative, shift)))
        # Both probes overflowed (inf - inf): no estimate rather than NaN.
        diff = ahead - behind
        g = _tree.Scalars(slope=jnp.where(jnp.isfinite(diff), diff / (2 * c), 0))
        updates = _tree.leafwise(lambda d: g(d).slope * d, delta)
        return updates, SPSAState(_tree.safe_increment(state.count), rng_key)

    return GradientTransformation(init, update)
