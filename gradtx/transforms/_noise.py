"""Gradient noise: add annealed Gaussian noise to the updates."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, KeyLike, Scalar, check_state_type


class AddNoiseState(NamedTuple):
    """Step count and the random key (raw ``uint32`` key data, so the state is plain arrays)."""

    count: jax.Array
    rng_key: jax.Array


def add_noise(
    eta: Scalar, gamma: Scalar, key: KeyLike = None, *, seed: KeyLike = None
) -> GradientTransformation:
    r"""Add Gaussian noise whose variance decays with the step: $\sigma_t^2 = \eta / t^\gamma$.

    $$u_t \leftarrow u_t + \sigma_t\, \xi_t,\qquad \xi_t \sim \mathcal N(0, I),\qquad
    \sigma_t = \sqrt{\eta / t^{\gamma}},\quad t = 1, 2, \dots$$

    $\eta$ = ``eta``, $\gamma$ = ``gamma``. The key is split once per step, then once per leaf
    (in the order of ``jax.tree.leaves``), so the noise is that of Optax's ``add_noise``
    for the same key. Complex leaves get complex noise of the same variance (half in each
    part), as ``jax.random.normal`` draws it.

    Args:
      eta: $\eta \ge 0$, the initial variance.
      gamma: $\gamma \ge 0$, the decay exponent of the variance (0.55 in the paper).
      key: an int seed or a JAX random key; ``None`` means seed 0 (as in Optax, which
        warns).
      seed: Optax's deprecated name for ``key``; give one or the other.

    Returns:
      A :class:`~gradtx.GradientTransformation` with an :class:`AddNoiseState`.

    References:
      Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient Noise
      Improves Learning for Very Deep Networks", 2015, arXiv:1511.06807.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import add_noise
      >>> tx = add_noise(eta=0.0, gamma=0.55, key=0)     # no variance: no noise
      >>> tx.update(jnp.array([1.0, 2.0]), tx.init(jnp.zeros(2)))[0].tolist()
      [1.0, 2.0]
      >>> tx = add_noise(eta=1.0, gamma=0.55, key=0)
      >>> u, s = tx.update(jnp.zeros(1000), tx.init(jnp.zeros(1000)))
      >>> 0.9 < float(jnp.std(u)) < 1.1, int(s.count)
      (True, 1)
    """
    _validate.check_nonnegative("eta", eta)
    _validate.check_nonnegative("gamma", gamma)
    if seed is not None:
        if key is not None:
            raise ValueError("add_noise: give `key` or its deprecated name `seed`, not both.")
        key = seed
    key = _validate.key_data("key", key)

    def init(params):
        del params
        return AddNoiseState(_tree.zero_count(), key)

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(state, AddNoiseState, "add_noise")
        count = _tree.safe_increment(state.count)
        gamma_ = jnp.asarray(gamma)
        if not jnp.issubdtype(gamma_.dtype, jnp.inexact):
            gamma_ = gamma_.astype(float)
        sigma = jnp.sqrt(eta / count.astype(gamma_.dtype) ** gamma_)
        rng_key, sample_key = jax.random.split(state.rng_key)
        treedef = jax.tree.structure(updates)
        keys = jax.tree.unflatten(treedef, list(jax.random.split(sample_key, treedef.num_leaves)))
        scalars = _tree.Scalars(sigma=sigma)

        def step(u, k):
            return u + scalars(u).sigma * jax.random.normal(k, u.shape, u.dtype)

        updates = _tree.leafwise(step, updates, keys, names=("updates", "keys"))
        return updates, AddNoiseState(count, rng_key)

    return GradientTransformation(init, update)
