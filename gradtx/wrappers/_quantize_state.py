"""Keep an optimizer's moment buffers at 8 or 4 bits per entry (block-wise quantized state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _quantization, _validate
from gradtx._base import DTypeLike, GradientTransformation, as_transform, check_state_type
from gradtx._quantization import QuantizedArray

SIGNED, UNSIGNED = "signed", "unsigned"

# The state fields that hold a per-parameter moment, by the map that suits them. Field names
# of gradtx's states, and of Optax's (``mu``/``nu``) and of the PyTorch-style ports
# (``exp_avg``/``exp_avg_sq``). Anything else (iterates such as schedule-free's ``z``, copies
# of the initial parameters, previous gradients, step sizes, gains) is kept as it is: an
# error in a moment is forgotten at the rate of its decay, an error in an iterate is not.
FIRST_MOMENTS = frozenset({"ema", "trace", "mu", "exp_avg", "diff", "momentum"})
SECOND_MOMENTS = frozenset(
    {"nu", "nu_max", "sum_of_squares", "exp_avg_sq", "v", "v_row", "v_col", "accumulators"}
)
# States whose field of a standard name may be negative: Sophia's ``nu`` is an EMA of
# Hutchinson estimates of the Hessian diagonal, of either sign.
SIGNED_OWNERS = frozenset({"HessianDiagonalState"})


class StateBuffer(NamedTuple):
    """What a quantization rule sees of one array of the inner state.

    Attributes:
      path: its path in the inner state, as ``jax.tree_util.keystr`` writes it
        (``"[0][1].nu['dense']['w']"``).
      field: the name of the NamedTuple field that holds it (``"nu"``), or ``None``.
      owner: the class name of that NamedTuple (``"ScaleByRmsState"``), or ``None``.
      shape, dtype: the array's.
    """

    path: str
    field: str | None
    owner: str | None
    shape: tuple[int, ...]
    dtype: Any


def moment_rule(buffer: StateBuffer) -> str | None:
    """The default rule: quantize first moments (signed) and second moments (unsigned).

    A buffer is a first moment when its field is one of :data:`FIRST_MOMENTS` (``ema``,
    ``trace``, ``mu``, ``exp_avg``, ``diff``, ``momentum``) and a second moment when it is one
    of :data:`SECOND_MOMENTS` (``nu``, ``nu_max``, ``sum_of_squares``, ``exp_avg_sq``,
    Adafactor's ``v``/``v_row``/``v_col``, SM3's ``accumulators``); a second moment of a
    state in :data:`SIGNED_OWNERS` (Sophia's, which may be negative) gets the signed map.
    Every other buffer stays in full precision.

    Returns:
      ``"signed"``, ``"unsigned"`` or ``None`` (keep it).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> buffer = gradtx.StateBuffer("[1].nu['w']", "nu", "ScaleByRmsState", (4096,), jnp.float32)
      >>> gradtx.moment_rule(buffer), gradtx.moment_rule(buffer._replace(field="z"))
      ('unsigned', None)
      >>> only_second = lambda b: "unsigned" if gradtx.moment_rule(b) == "unsigned" else None
    """
    if buffer.field in FIRST_MOMENTS:
        return SIGNED
    if buffer.field in SECOND_MOMENTS:
        return SIGNED if buffer.owner in SIGNED_OWNERS else UNSIGNED
    return None


class QuantizedState(NamedTuple):
    """State of :func:`quantize_state`: the inner state, each chosen buffer a
    :class:`~gradtx._quantization.QuantizedArray` (``codes``, ``scale``)."""

    inner_state: Any


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _map_buffers(fn: Callable[[Any, StateBuffer], Any], tree: Any, path: str = "",
                 field: str | None = None, owner: str | None = None) -> Any:  # fmt: skip
    """``fn(leaf, StateBuffer)`` at every array leaf, knowing the field that holds it."""
    if _is_namedtuple(tree):
        name = type(tree).__name__
        return type(tree)(*(_map_buffers(fn, getattr(tree, f), f"{path}.{f}", f, name)
                            for f in tree._fields))  # fmt: skip
    stop = lambda x: x is None or (x is not tree and _is_namedtuple(x))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=stop)
    out = []
    for key, leaf in leaves:
        where = path + jax.tree_util.keystr(key)
        if _is_namedtuple(leaf):
            out.append(_map_buffers(fn, leaf, where, field, owner))
        elif leaf is None or not hasattr(leaf, "shape"):
            out.append(leaf)
        else:
            out.append(fn(leaf, StateBuffer(where, field, owner, tuple(leaf.shape), leaf.dtype)))
    return jax.tree.unflatten(treedef, out)


def _is_quantized(x: Any) -> bool:
    return x is None or isinstance(x, QuantizedArray)


def dequantize_state(state: Any) -> Any:
    """The state with every :class:`~gradtx._quantization.QuantizedArray` decoded.

    Use it to read a moment of a :func:`quantize_state` state (the transform itself decodes
    on every update).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.quantize_state(gradtx.scale_by_adam(), min_size=1)
      >>> _, state = tx.update(jnp.full(4, 2.0), tx.init(jnp.zeros(4)))
      >>> [round(x, 6) for x in gradtx.dequantize_state(state.inner_state)[1].nu.tolist()]
      [0.004, 0.004, 0.004, 0.004]
    """
    decode = lambda x: _quantization.dequantize(x) if isinstance(x, QuantizedArray) else x
    return jax.tree.map(decode, state, is_leaf=_is_quantized)


def quantize_state(
    tx: GradientTransformation,
    bits: int = 8,
    block_size: int = 256,
    min_size: int = 4096,
    rule: Callable[[StateBuffer], str | None] | None = None,
    scale_dtype: DTypeLike = jnp.float32,
) -> GradientTransformation:
    r"""Keep the moments of ``tx`` block-wise quantized at ``bits`` bits per entry.

    $$\tilde S = \operatorname{dequantize}(S),\qquad
    (u, \tilde S') = \text{tx.update}(g, \tilde S),\qquad S' = \operatorname{quantize}(\tilde S')$$

    Each chosen buffer of the inner state is stored as ``uint8`` codes and one ``scale_dtype``
    scale per block of ``block_size`` entries, with the dynamic maps of Dettmers et al.
    (signed for first moments, unsigned for second moments; see
    ``gradtx/_quantization.py``). The inner transform runs unchanged on the decoded state in
    its own dtype (float32), inside the jitted step, with nothing done on the host; only what
    is stored between steps is quantized. 8-bit Adam keeps $2 + 8/\text{block\_size}$
    bytes per parameter (2.03 at 256) against 8.

    **Which buffers.** ``rule(buffer)`` decides for each real floating array of at least
    ``min_size`` entries (smaller ones, counts, keys and complex buffers stay as they are):
    ``"signed"``, ``"unsigned"`` or ``None``. The default, :func:`moment_rule`, goes by the
    name of the state field that holds the buffer: first moments (``ema``, ``trace``,
    ``mu``, ``exp_avg``...) signed, second moments (``nu``, ``sum_of_squares``,
    ``exp_avg_sq``, Adafactor's ``v_row``/``v_col``...) unsigned, everything else (iterates,
    copies of parameters) kept. It covers the Adam family, Lion, SGD momentum, RMSprop,
    AdaGrad, Adafactor and Optax's own states.

    Args:
      tx: the transform whose state to quantize (gradtx or Optax).
      bits: 8 or 4 bits per entry.
      block_size: entries per block, an integer $\ge 1$ (even for 4 bits): smaller blocks
        follow outliers more closely and cost ``4 / block_size`` bytes per entry of scale.
      min_size: buffers with fewer entries stay in full precision (an integer $\ge 0$).
      rule: ``rule(StateBuffer) -> "signed" | "unsigned" | None``; default
        :func:`moment_rule`.
      scale_dtype: the floating dtype of the block scales (float32; bfloat16 halves their
        cost at a relative error of $2^{-9}$ on every entry).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`QuantizedState`.

    References:
      Dettmers, Lewis, Shleifer & Zettlemoyer, "8-bit Optimizers via Block-wise
      Quantization", ICLR 2022, arXiv:2110.02861; Li, Chen & Zhu, "Memory Efficient
      Optimizers with 4-bit States", NeurIPS 2023, arXiv:2309.01507.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> params = {"w": jnp.zeros((512, 512))}
      >>> tx = gradtx.quantize_state(gradtx.adam(1e-3))
      >>> round(gradtx.state_bytes(tx, params).bytes_per_param, 2)   # against 8.0
      2.03
      >>> u, state = tx.update({"w": jnp.ones((512, 512))}, tx.init(params), params)
      >>> float(u["w"][0, 0])
      -0.0010000000474974513
    """
    if bits not in _quantization.BITS:
        raise ValueError(f"bits must be 4 or 8, got {bits!r}.")
    block_size = _validate.check_int("block_size", block_size, 1)
    if bits == 4 and block_size % 2:
        raise ValueError(
            f"block_size must be an even integer >= 2 with bits=4 (two codes share a byte), "
            f"got {block_size}."
        )
    min_size = _validate.check_int("min_size", min_size, 0)
    scale_dtype = _validate.check_dtype("scale_dtype", scale_dtype)
    if scale_dtype is None or jnp.issubdtype(scale_dtype, jnp.complexfloating):
        raise ValueError(f"scale_dtype must be a real floating dtype, got {scale_dtype!r}.")
    if rule is None:
        rule = moment_rule
    elif not callable(rule):
        raise ValueError(f"rule must be a function of a StateBuffer, got {rule!r}.")
    inner = as_transform(tx, "quantize_state's tx")

    def choose(leaf: Any, buffer: StateBuffer) -> Any:
        dtype = jnp.dtype(leaf.dtype)
        if not jnp.issubdtype(dtype, jnp.floating) or leaf.size < max(min_size, 1):
            return leaf
        kind = rule(buffer)
        if kind is None:
            return leaf
        if kind not in (SIGNED, UNSIGNED):
            raise ValueError(
                f"quantize_state: rule returned {kind!r} for {buffer.path}; "
                "expected 'signed', 'unsigned' or None."
            )
        return _quantization.quantize(leaf, bits, block_size, kind == SIGNED, scale_dtype)

    def init(params):
        return QuantizedState(_map_buffers(choose, inner.init(params)))

    def update(updates, state, params=None, **extra):
        check_state_type(state, QuantizedState, "quantize_state")
        decoded = dequantize_state(state.inner_state)
        updates, new = inner.update(updates, decoded, params, **extra)
        store = lambda old, x: (
            x
            if not isinstance(old, QuantizedArray)
            else (_quantization.quantize(x, old.bits, old.block_size, old.signed, old.scale.dtype))
        )
        new = jax.tree.map(store, state.inner_state, new, is_leaf=_is_quantized)
        return updates, QuantizedState(new)

    return GradientTransformation(init, update)
