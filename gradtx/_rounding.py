"""Stochastic rounding: a value rounded to a narrower float, up or down at random, unbiased."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def check_key(name: str, key: Any) -> jax.Array:
    """A JAX random key (typed, or raw ``uint32`` key data); anything else is a ValueError."""
    ok = isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or key.dtype == jnp.uint32
    )
    if not ok:
        raise ValueError(
            f"{name} must be a JAX random key (jax.random.key(seed), split or folded in with "
            f"the step so that every step rounds differently) or None, got {key!r}."
        )
    return key


def stochastic_round(x: jax.Array, dtype: Any, key: jax.Array) -> jax.Array:
    r"""Round ``x`` to ``dtype`` up or down at random, so that the expected result is ``x``.

    With $\lfloor x \rfloor$ and $\lceil x \rceil$ the neighbours of $x$ in ``dtype``,

    $$\operatorname{SR}(x) = \begin{cases} \lceil x\rceil & \text{with probability }
    \dfrac{x - \lfloor x\rfloor}{\lceil x\rceil - \lfloor x\rfloor} \\
    \lfloor x\rfloor & \text{otherwise,}\end{cases}\qquad \mathbb E[\operatorname{SR}(x)] = x$$

    (to the resolution of a float32 uniform draw, $2^{-24}$ of a spacing). A value that
    ``dtype`` holds exactly, or ``x`` no wider than ``dtype``, is cast as it is. Unlike
    rounding to nearest, an increment smaller than half a spacing is not lost: it moves the
    value by a whole spacing with the matching probability. Works for any narrower float
    (bfloat16, float16 with its subnormals, float32 from float64).

    Args:
      x: a floating array.
      dtype: the narrower floating dtype.
      key: a JAX random key.

    Returns:
      ``x`` in ``dtype``.

    References:
      Gupta, Agrawal, Gopalakrishnan & Narayanan, "Deep Learning with Limited Numerical
      Precision", ICML 2015, arXiv:1502.02551; Zamirai, Zhang, Aberger & De Sa, "Revisiting
      BFloat16 Training", 2020, arXiv:2010.06192.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from gradtx._rounding import stochastic_round
      >>> x = jnp.full(100_000, 1.0 + 2.0**-10)   # 1/8 of bfloat16's spacing above 1
      >>> x.astype(jnp.bfloat16).astype(jnp.float32).mean().item()   # to nearest: lost
      1.0
      >>> r = stochastic_round(x, jnp.bfloat16, jax.random.key(0)).astype(jnp.float32)
      >>> round(r.mean().item(), 4), sorted(set(r.tolist()))
      (1.001, [1.0, 1.0078125])
    """
    dtype = jnp.dtype(dtype)
    if jnp.finfo(x.dtype).bits <= jnp.finfo(dtype).bits:
        return x.astype(dtype)
    near = x.astype(dtype)
    back = near.astype(x.dtype)
    toward = jnp.where(back > x, -jnp.inf, jnp.inf).astype(dtype)
    other = jnp.nextafter(near, toward)  # the neighbour on x's other side
    lo, hi = jnp.minimum(near, other), jnp.maximum(near, other)
    lo_x, hi_x = lo.astype(x.dtype), hi.astype(x.dtype)
    p_up = (x - lo_x) / (hi_x - lo_x)
    u = jax.random.uniform(key, x.shape, jnp.float32).astype(x.dtype)
    return jnp.where(back == x, near, jnp.where(u < p_up, hi, lo))
