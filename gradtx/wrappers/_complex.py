"""Run a real-valued transform on complex parameters, as pairs of real arrays."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx._base import GradientTransformation, as_transform


class SplitRealAndImaginaryArrays(NamedTuple):
    """The real and imaginary parts of a complex array, as two real arrays."""

    real: Any
    imaginary: Any


class SplitRealAndImaginaryState(NamedTuple):
    """The state of the inner transform, built on the split parameters."""

    inner_state: Any


def _split(x: Any) -> Any:
    """A complex array as a :class:`SplitRealAndImaginaryArrays`; anything else as it is."""
    if x is not None and jnp.iscomplexobj(x):
        return SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x))
    return x


def _merge(x: Any) -> Any:
    """The inverse of :func:`_split`: $x + i y$ from a split pair."""
    if isinstance(x, SplitRealAndImaginaryArrays):
        return jax.lax.complex(x.real, x.imaginary)
    return x


def _split_tree(tree: Any) -> Any:
    return jax.tree.map(_split, tree)


def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    r"""Apply ``inner`` to the real and imaginary parts of complex updates as separate reals.

    $$z = x + i y \;\mapsto\; (x, y),\qquad
    T_\mathbb{C}(z) = T(x, y)_\text{re} + i\, T(x, y)_\text{im}$$

    Every complex leaf of the updates, the parameters and the ``gradient`` keyword becomes
    a pair of real leaves (a :class:`SplitRealAndImaginaryArrays`) before ``inner`` sees
    it, and each pair of transformed real updates is merged back into a complex update;
    real leaves pass through as they are. An optimizer then treats a complex parameter
    exactly as two real ones: Adam's second moment, for example, is kept for the real and
    the imaginary part separately, where gradtx's own optimizers keep one real moment of
    $|g|^2$ per complex entry. As in Optax, the gradient of a real loss from ``jax.grad``
    must be conjugated before ``update`` (JAX's convention differs from PyTorch's).

    Args:
      inner: the transform to wrap (gradtx or Optax); it sees only real leaves.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SplitRealAndImaginaryState`.

    References:
      Optax issue #196, "Complex-valued optimization" (the convention of conjugated
      gradients); Kreutz-Delgado, "The Complex Gradient Operator and the CR-Calculus",
      2009, arXiv:0906.4835.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.split_real_and_imaginary(gradtx.scale_by_sign())
      >>> z = jnp.array([3.0 - 0.5j])
      >>> u, _ = tx.update(z, tx.init(z))
      >>> u.tolist()
      [(1-1j)]
    """
    inner = as_transform(inner, "split_real_and_imaginary inner")

    def init(params):
        return SplitRealAndImaginaryState(inner.init(_split_tree(params)))

    def update(updates, state, params=None, **extra):
        if "gradient" in extra:
            extra = {**extra, "gradient": _split_tree(extra["gradient"])}
        split_updates, inner_state = inner.update(
            _split_tree(updates), state.inner_state, _split_tree(params), **extra
        )
        is_pair = lambda x: isinstance(x, SplitRealAndImaginaryArrays)
        merged = jax.tree.map(_merge, split_updates, is_leaf=is_pair)
        return merged, SplitRealAndImaginaryState(inner_state)

    return GradientTransformation(init, update)
