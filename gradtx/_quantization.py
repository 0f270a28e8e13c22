r"""Block-wise quantization of a floating array to 8 or 4 bits with dynamic (non-linear) maps.

An array is cut into blocks of ``block_size`` consecutive entries (flattened, the last block
padded with zeros); each block keeps one float32 scale, its largest magnitude
$s = \max_i |x_i|$, and each entry an integer *code* $c_i$ of ``bits`` bits such that
$x_i \approx s \cdot q[c_i]$, where $q$ is a fixed, sorted table of values in $[-1, 1]$
(the *map*). Rounding is to the nearest entry of $q$; the entry that sets the scale is
stored exactly ($q$ contains $\pm 1$).

**The dynamic map** (Dettmers, "8-Bit Approximations for Parallelism in Deep Learning",
ICLR 2016; Dettmers, Lewis, Shleifer & Zettlemoyer, "8-bit Optimizers via Block-wise
Quantization", ICLR 2022, arXiv:2110.02861, section 2). With $n$ magnitude bits (``bits``
for the unsigned map, ``bits - 1`` plus a sign bit for the signed one), the magnitudes are
decades $e = 0, \dots, n-1$, each a uniform grid on $[10^{-e-1}, 10^{-e}]$ with
$2^{n-1-e}$ steps:

$$q_{e,j} = 10^{-e}\Big(0.1 + j\,\frac{0.9}{2^{n-1-e}}\Big),\qquad j = 0, \dots, 2^{n-1-e}$$

($j = 0$ of decade $e$ is the top of decade $e+1$), so the largest values of a block get
the finest absolute resolution and the map still reaches $10^{-n}$ of the block's maximum:
a relative precision that adapts to the magnitude, as a floating-point format's does.
This is the paper's "dynamic tree" (a sign bit, the decade as a run of zero bits ended by
an indicator bit, the remaining bits a linear fraction), with the grid's end points where
the paper takes midpoints, so that $1$ and $10^{-e}$ are exact.

* The **signed** map (first moments, any sign) adds $0$ as the lowest magnitude (an
  all-zero block stays zero; entries below $10^{-n+1}/2$ of the block's maximum round to 0).
* The **unsigned** map (second moments, $\ge 0$) has no sign bit, so one more bit of
  magnitude, and its lowest value is $10^{-n}$, not $0$: a small positive second moment
  never becomes the zero that would divide a first moment by $\epsilon$ alone (the
  "zero-point problem" of Li, Chen & Zhu, "Memory Efficient Optimizers with 4-bit States",
  NeurIPS 2023, arXiv:2309.01507). A block of zeros still has scale 0 and decodes to 0;
  negative entries, which the map cannot hold, are stored as its lowest value.

Codes are ``uint8``; with ``bits=4`` two codes share a byte. Non-finite entries make their
block's scale non-finite, so the whole block decodes to non-finite values (a NaN is never
silently turned into a number).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

BITS = (4, 8)


def magnitude_bits(bits: int, signed: bool) -> int:
    """$n$: the bits of a code that hold the magnitude (``bits``, less one for a sign)."""
    return bits - 1 if signed else bits


@functools.cache
def dynamic_map(bits: int, signed: bool) -> np.ndarray:
    """The table $q$ of a ``bits``-bit dynamic map, indexed by code (float32, ``2**bits``).

    A signed code is ``sign << n | magnitude``; the table is not sorted by code, but every
    value in it is a value of the map.

    Example:
      >>> from gradtx._quantization import dynamic_map
      >>> q = dynamic_map(4, signed=False)
      >>> [round(float(v), 4) for v in q[:5]], float(q[-1])   # codes 0-4 and 15
      ([0.0001, 0.001, 0.0055, 0.01, 0.0325], 1.0)
    """
    n = magnitude_bits(bits, signed)
    mags = []
    for c in range(2**n):  # c = 2**k - 1 + j with k = n - 1 - e fraction bits, j in [0, 2**k]
        k = (c + 1).bit_length() - 1
        j = c + 1 - 2**k
        e = n - 1 - k
        mags.append(10.0**-e * (0.1 + j * 0.9 / 2**k))
    if signed:
        mags[0] = 0.0
        mags = mags + [-m for m in mags]
    return np.asarray(mags, np.float32)


def _encode_magnitude(a: jax.Array, n: int, signed: bool) -> jax.Array:
    """The magnitude code of the nearest map value to ``a`` in $[0, 1]$ (int32).

    The decade is found by comparisons and its constants by selects (``n - 1`` of each), not
    by ``log10`` and ``pow``: on a CPU this is ten times faster and the result is the same.
    """
    f = a  # a * 10**decade: in [0.1, 1] (less in the lowest decade)
    steps = jnp.full(a.shape, 2.0 ** (n - 1), a.dtype)  # 2**k, k = n - 1 - decade
    for e in range(1, n):
        below = a < np.float32(10.0**-e)
        f = jnp.where(below, a * np.float32(10.0**e), f)
        steps = jnp.where(below, np.float32(2.0 ** (n - 1 - e)), steps)
    if signed:  # the lowest decade of the signed map runs from 0, not 0.1: its j = 0 is 0
        low = jnp.where(steps == 1, 0.0, 0.1).astype(a.dtype)
    else:
        low = np.float32(0.1)
    j = jnp.clip(jnp.round((f - low) * steps / (1 - low)), 0, steps)
    return (steps - 1 + j).astype(jnp.int32)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class QuantizedArray:
    """An array stored block-wise at ``bits`` bits per entry (see the module docstring).

    Attributes:
      codes: ``uint8`` codes, shape ``(num_blocks, block_size * bits // 8)``.
      scale: the scale of each block (float32 by default), shape ``(num_blocks,)``.
      shape, dtype: the shape and dtype of the array it stands for (static).
      signed: which map (static).
      bits: 8 or 4 (static).
    """

    codes: jax.Array
    scale: jax.Array
    shape: tuple[int, ...] = dataclasses.field(metadata={"static": True})
    dtype: Any = dataclasses.field(metadata={"static": True})
    signed: bool = dataclasses.field(metadata={"static": True})
    bits: int = dataclasses.field(metadata={"static": True})

    @property
    def block_size(self) -> int:
        return self.codes.shape[-1] * 8 // self.bits


def _blocks(size: int, block_size: int) -> int:
    return max(1, -(-size // block_size))


def quantize(
    x: jax.Array,
    bits: int = 8,
    block_size: int = 256,
    signed: bool = True,
    scale_dtype: Any = jnp.float32,
) -> Any:
    r"""Store ``x`` block-wise at ``bits`` bits per entry with a dynamic map.

    $$s_b = \max_{i \in b} |x_i|,\qquad c_i = \operatorname*{arg\,min}_c
    \big|x_i / s_b - q[c]\big|$$

    Args:
      x: a real floating array.
      bits: 8 or 4.
      block_size: entries per block ($\ge 1$; even for 4 bits).
      signed: the signed map (any sign) or the unsigned one (entries $\ge 0$).
      scale_dtype: the dtype of the block scales.

    Returns:
      A :class:`QuantizedArray`.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx._quantization import quantize, dequantize
      >>> x = jnp.array([1.0, -0.5, 0.02, 0.0])
      >>> [round(v, 5) for v in dequantize(quantize(x, block_size=4)).tolist()]
      [1.0, -0.49375, 0.02125, 0.0]
    """
    n = magnitude_bits(bits, signed)
    size = math.prod(x.shape)
    blocks = _blocks(size, block_size)
    flat = jnp.ravel(x).astype(jnp.float32)
    flat = jnp.pad(flat, (0, blocks * block_size - size)).reshape(blocks, block_size)
    scale = jnp.max(jnp.abs(flat), axis=1).astype(scale_dtype)
    wide = scale.astype(jnp.float32)
    inverse = jnp.where(wide > 0, 1 / jnp.where(wide > 0, wide, 1.0), 0.0)[:, None]
    a = (jnp.abs(flat) if signed else jnp.maximum(flat, 0.0)) * inverse  # one division a block
    code = _encode_magnitude(jnp.minimum(a, 1.0), n, signed)
    if signed:
        code = code | (jnp.signbit(flat).astype(jnp.int32) << n)
    code = code.astype(jnp.uint8)
    if bits == 4:
        code = code[:, 0::2] | (code[:, 1::2] << 4)
    return QuantizedArray(code, scale, tuple(x.shape), jnp.dtype(x.dtype), signed, bits)


def dequantize(q: QuantizedArray) -> jax.Array:
    r"""The array that a :class:`QuantizedArray` stands for: $x_i = s_b\, q[c_i]$.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx._quantization import quantize, dequantize
      >>> x = jnp.array([4.0, 0.3])   # 0.3 / 4 = 0.075: nearest value 0.055 (4 bits, signed)
      >>> [round(v, 5) for v in dequantize(quantize(x, bits=4, block_size=2)).tolist()]
      [4.0, 0.22]
    """
    code = q.codes
    if q.bits == 4:
        code = jnp.stack([code & 15, code >> 4], axis=-1).reshape(code.shape[0], -1)
    table = jnp.asarray(dynamic_map(q.bits, q.signed))
    flat = (table[code.astype(jnp.int32)] * q.scale.astype(jnp.float32)[:, None]).ravel()
    size = math.prod(q.shape)
    return flat[:size].reshape(q.shape).astype(q.dtype)


def layout(shape: tuple[int, ...], bits: int, block_size: int) -> tuple[tuple, tuple]:
    """The shapes ``(codes, scale)`` of an array of ``shape`` quantized this way."""
    blocks = _blocks(math.prod(shape), block_size)
    return (blocks, block_size * bits // 8), (blocks,)
