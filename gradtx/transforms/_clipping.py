"""Clipping primitives: elementwise and by the global norm, and Optax's per-example clipping.

:func:`per_example_global_norm_clip` and :func:`per_example_layer_norm_clip` are functions,
not transforms: they clip a batch of per-example gradients (DP-SGD's first step) and sum it.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import EmptyState, GradientTransformation, Scalar


def clip(max_delta: Scalar) -> GradientTransformation:
    r"""Clip every update elementwise to $[-\delta, \delta]$.

    $$u \leftarrow \min(\max(u, -\delta), \delta),\qquad \delta = \text{max\_delta}$$

    Args:
      max_delta: $\delta \ge 0$.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.clip(1.0).update(jnp.array([-3.0, 0.5, 2.0]), gradtx.EmptyState())[0].tolist()
      [-1.0, 0.5, 1.0]
    """
    _validate.check_nonnegative("max_delta", max_delta)

    def update(updates, state, params=None, **extra):
        del params, extra

        scalars = _tree.Scalars(delta=max_delta)

        def step(u):
            d = scalars(u).delta
            return jnp.clip(u, -d, d)

        return _tree.leafwise(step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def clip_by_global_norm(max_norm: Scalar) -> GradientTransformation:
    r"""Rescale all updates together so that their joint l2 norm is at most ``max_norm``.

    $$u \leftarrow u \cdot \min\!\Big(1, \frac{c}{\lVert u \rVert_2}\Big),\qquad
    \lVert u\rVert_2 = \Big(\sum_\text{leaves}\sum_i |u_i|^2\Big)^{1/2},\ c = \text{max\_norm}$$

    The factor is one scalar, so the clip fuses into whatever follows it: it never writes a
    clipped copy of the gradient. A zero gradient stays zero (no 0/0).

    Args:
      max_norm: $c > 0$.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
      ICML 2013, arXiv:1211.5063.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.clip_by_global_norm(1.0)
      >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]["b"].tolist()
      [0.800000011920929]
    """
    _validate.check_positive("max_norm", max_norm)

    def update(updates, state, params=None, **extra):
        del params, extra
        norm = _tree.global_norm(updates)
        c = jnp.asarray(max_norm, norm.dtype)
        # c / max(norm, c) is 1 exactly when norm <= c, and ends in a division: XLA passes
        # the factor to each leaf's kernel instead of copying a select into every one.
        scalars = _tree.Scalars(factor=c / jnp.maximum(norm, c))
        return _tree.leafwise(lambda u: u * scalars(u).factor, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def _per_example(grads: Any, who: str) -> list[Any]:
    """The leaves of ``grads`` as arrays, checked to share a leading batch axis."""
    leaves = jax.tree.leaves(grads)
    shapes = [jnp.shape(g) for g in leaves]
    batch = shapes[0][0] if leaves and shapes[0] else None
    if batch is None or any(not s or s[0] != batch for s in shapes):
        raise ValueError(
            f"Unlike other transforms, `{who}` expects `grads` to have a batch dimension in "
            f"the 0th axis (the same size in every leaf); got shapes "
            f"{jax.tree.map(jnp.shape, grads)}."
        )
    return [jnp.asarray(g) for g in leaves]


def _clip_and_sum(leaves: list[Any], l2_norm_clip: Any) -> tuple[list[Any], jax.Array]:
    """Scale each example to global norm at most ``l2_norm_clip``; the sums and the count."""
    # Float leaves in at least float32, integer ones in the default float dtype (as jnp.sqrt).
    floats = [
        g.astype(jnp.promote_types(g.dtype, jnp.float32) if _tree.is_trainable(g) else float)
        for g in leaves
    ]
    norms = jnp.sqrt(sum(jnp.sum(_tree.abs_sq(g), axis=tuple(range(1, g.ndim))) for g in floats))
    factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    sums = [jnp.tensordot(factors.astype(_tree.real_dtype(f.dtype)), f, axes=1) for f in floats]
    return sums, jnp.sum(factors < 1.0, dtype=jnp.int32)


def per_example_global_norm_clip(grads: Any, l2_norm_clip: Scalar) -> tuple[Any, jax.Array]:
    r"""Clip each example's gradient to global l2 norm ``l2_norm_clip``, and sum the batch.

    $$\bar g = \sum_{b=1}^{B} g_b \min\!\Big(1, \frac{C}{\lVert g_b\rVert_2}\Big),\qquad
    \lVert g_b\rVert_2 = \Big(\sum_\text{leaves}\sum_i |g_{b,i}|^2\Big)^{1/2}$$

    with $C$ = ``l2_norm_clip`` and $g_b$ example $b$'s gradient: the leading axis of every
    leaf of ``grads``. A zero gradient is not clipped (no 0/0). The norms are accumulated in at
    least float32; integer leaves are summed as floats, as Optax does.

    Args:
      grads: a tree of per-example gradients, every leaf with the batch axis first.
      l2_norm_clip: $C \in [0, \infty]$.

    Returns:
      ``(clipped_sum, num_clipped)``: the sum over the batch of the clipped gradients
      (``grads``'s structure without the batch axis) and the int32 number of examples
      whose gradient was scaled down.

    References:
      Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
      Differential Privacy", CCS 2016, arXiv:1607.00133.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import per_example_global_norm_clip
      >>> grads = [jnp.array([[0.0, 0.0, 0.0], [0.0, 3.0, 4.0], [4.0, 0.0, 3.0]])]
      >>> total, n = per_example_global_norm_clip(grads, 1.25)   # norms 0, 5, 5: x 1/4
      >>> total[0].tolist(), int(n)
      ([1.0, 0.75, 1.75], 2)
    """
    _validate.check_nonnegative_or_inf("l2_norm_clip", l2_norm_clip)
    leaves = _per_example(grads, "per_example_global_norm_clip")
    sums, count = _clip_and_sum(leaves, l2_norm_clip)
    return jax.tree.unflatten(jax.tree.structure(grads), sums), count


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: Scalar, uniform: bool = True
) -> tuple[Any, Any]:
    r"""Clip each example's gradient leaf by leaf (layer by layer), and sum the batch.

    $$\bar g_\ell = \sum_{b=1}^{B} g_{b,\ell}
      \min\!\Big(1, \frac{C_\ell}{\lVert g_{b,\ell}\rVert_2}\Big),\qquad
    C_\ell = \begin{cases} C/\sqrt{L} & \text{uniform} \\
      C\sqrt{D_\ell / D} & \text{otherwise}\end{cases}$$

    with $C$ = ``global_l2_norm_clip``, $L$ leaves, $D_\ell$ the size of one example of leaf
    $\ell$ and $D = \sum_\ell D_\ell$: either way $\sum_\ell C_\ell^2 = C^2$, so the clipped
    gradient of an example has global norm at most $C$. With one leaf it is
    :func:`per_example_global_norm_clip`.

    Args:
      grads: a tree of per-example gradients, every leaf with the batch axis first.
      global_l2_norm_clip: $C \in [0, \infty]$.
      uniform: the same clip norm for every leaf, or one proportional to the root of its
        size.

    Returns:
      ``(clipped_sum, num_clipped)``: two trees with ``grads``'s structure, the sums over the
      batch of the clipped gradients and, per leaf, the int32 number of examples clipped.

    References:
      McMahan, Ramage, Talwar & Zhang, "Learning Differentially Private Recurrent Language
      Models", ICLR 2018, arXiv:1710.06963.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import per_example_layer_norm_clip
      >>> grads = {"a": jnp.array([[0.5], [3.0]]), "b": jnp.array([[0.0], [-4.0]])}
      >>> total, n = per_example_layer_norm_clip(grads, 2.0 ** 0.5)  # C_l = 1
      >>> total["a"].tolist(), total["b"].tolist(), int(n["a"]), int(n["b"])
      ([1.5], [-1.0], 1, 1)
    """
    _validate.check_nonnegative_or_inf("global_l2_norm_clip", global_l2_norm_clip)
    leaves = _per_example(grads, "per_example_layer_norm_clip")
    if uniform:
        clips = [global_l2_norm_clip * (1.0 / len(leaves)) ** 0.5 for _ in leaves]
    else:
        sizes = [math.prod(g.shape[1:]) for g in leaves]
        clips = [global_l2_norm_clip * (d / sum(sizes)) ** 0.5 for d in sizes]
    out = [_clip_and_sum([g], c) for g, c in zip(leaves, clips)]
    treedef = jax.tree.structure(grads)
    return (
        jax.tree.unflatten(treedef, [s[0] for s, _ in out]),
        jax.tree.unflatten(treedef, [n for _, n in out]),
    )
