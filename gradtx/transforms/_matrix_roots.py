r"""Matrix functions of Kronecker statistics: inverse $p$-th roots and eigenbases.

Every function takes a batch of symmetric positive semi-definite matrices ``(..., n, n)``
and works in at least float32 whatever the input dtype, with matrix products at
``Precision.HIGHEST`` (so a TPU or GPU does not round them to bfloat16 or TF32).

* :func:`inverse_root_eigh` and :func:`inverse_root_newton` compute
  $(A + \epsilon\lambda_\max I)^{-1/p}$, the ridge $\epsilon$ relative to the largest
  eigenvalue (Anil et al. 2020, section 3.1). A zero matrix has no root: both return zeros,
  which :func:`gradtx.graft` reads as "not preconditioned yet".
* :func:`root_residual` measures how well a root fits a matrix, and :func:`refresh_roots`
  keeps the previous root wherever a new one is worse (or not finite).
* :func:`eigenbasis` (an ``eigh``) and :func:`power_qr_step` (one step of subspace
  iteration) give SOAP's rotation (Vyas et al. 2024, Algorithm 4).

The accuracy that float32 allows is set by the ridge: ``eigh`` is backward stable, so an
eigenvalue comes out with an absolute error of about $u\,\lambda_\max$ ($u = 6\cdot 10^{-8}$),
which is a relative error of $u/\epsilon$ on the smallest *damped* eigenvalue
$\epsilon\lambda_\max$ and $u/(p\,\epsilon)$ on the root. The measured numbers are in
``docs/matrix_preconditioners.md``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx._base import Scalar

HIGHEST = jax.lax.Precision.HIGHEST
METHODS = ("eigh", "newton")


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.matmul(a, b, precision=HIGHEST)


def _work_dtype(dtype: Any) -> Any:
    return jnp.promote_types(dtype, jnp.float32)


def _symmetric(a: jax.Array) -> jax.Array:
    a = a.astype(_work_dtype(a.dtype))
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def per_matrix(fn: Any, a: jax.Array) -> Any:
    """``fn(a)`` for a batch of matrices ``(..., n, n)``; on XLA:CPU one matrix at a time.

    jaxlib 0.10 runs the matrices of a batched LAPACK call (``eigh``, ``qr``) as parallel
    tasks of the intra-op thread pool and waits for them; two such calls at once can take
    every thread of a small pool and wait forever (jax-ml/jax#39292 and the reports around
    it; reproduced here on two cores under load). A ``lax.map`` over the batch makes every
    call a single matrix, which never waits on the pool. Accelerators keep the batched call.
    """
    if jax.default_backend() != "cpu" or a.ndim == 2:
        return fn(a)
    flat = a.reshape((-1, *a.shape[-2:]))
    out = jax.lax.map(fn, flat)
    return jax.tree.map(lambda y: y.reshape((*a.shape[:-2], *y.shape[1:])), out)


def _eye_like(a: jax.Array) -> jax.Array:
    return jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)


def max_eigenvalue(
    a: jax.Array, iterations: int = 100, tolerance: float | None = None
) -> jax.Array:
    r"""$\lambda_\max$ of each symmetric PSD matrix in ``a`` by power iteration.

    Starts from the all-ones vector plus a fixed perturbation and stops when the Rayleigh
    quotient changes by less than ``tolerance`` (relative; default $u^{3/4}$ for the dtype's
    machine epsilon $u$: 6.5e-6 in float32, 1.8e-12 in float64) or after ``iterations`` steps.
    Only used by :func:`inverse_root_newton` (``eigh`` gives $\lambda_\max$ for free).
    """
    a = _symmetric(a)
    if tolerance is None:
        tolerance = float(jnp.finfo(a.dtype).eps) ** 0.75
    n = a.shape[-1]
    v0 = 1.0 + jnp.arange(n, dtype=a.dtype) / (7.0 * n)
    v0 = jnp.broadcast_to(v0 / jnp.linalg.norm(v0), a.shape[:-1])

    def cond(carry):
        i, _, lam, prev = carry
        change = jnp.abs(lam - prev) > tolerance * jnp.abs(lam)
        return (i < iterations) & ((i < 2) | jnp.any(change))

    def body(carry):
        i, v, lam, _ = carry
        w = jnp.einsum("...ij,...j->...i", a, v, precision=HIGHEST)
        norm = jnp.linalg.norm(w, axis=-1, keepdims=True)
        v_new = jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1), v)
        lam_new = jnp.einsum("...i,...i->...", v, w, precision=HIGHEST)
        return i + 1, v_new, lam_new, lam

    zero = jnp.zeros(a.shape[:-2], a.dtype)
    _, _, lam, _ = jax.lax.while_loop(cond, body, (0, v0, zero, zero))
    return jnp.maximum(lam, 0)


def inverse_root_eigh(
    a: jax.Array, p: int, ridge_epsilon: Scalar = 1e-6, lam_max: jax.Array | None = None
) -> jax.Array:
    r"""$(A + \epsilon\lambda_\max I)^{-1/p}$ by an eigendecomposition $A = V \Lambda V^\top$.

    $$X = V\,\operatorname{diag}\big(\max(\lambda_i, 0) + \epsilon\lambda_\max\big)^{-1/p}
    V^\top,\qquad X = 0 \text{ if } \lambda_\max = 0$$

    Args:
      a: symmetric PSD matrices, shape ``(..., n, n)``.
      p: the root, an integer $\ge 1$.
      ridge_epsilon: $\epsilon \ge 0$, relative to the largest eigenvalue.
      lam_max: $\lambda_\max$ per matrix, shape ``a.shape[:-2]`` (default: from ``eigh``).

    Returns:
      The roots, shape of ``a``, in at least float32.

    References:
      Anil, Gupta, Koren, Regan & Singer, "Scalable Second Order Optimization for Deep
      Learning", 2020, arXiv:2002.09018, section 3.1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.transforms._matrix_roots import inverse_root_eigh
      >>> inverse_root_eigh(jnp.diag(jnp.array([16.0, 1.0])), 4, 0.0).diagonal().tolist()
      [0.5, 1.0]
    """
    return _eigh_root(a, p, ridge_epsilon, lam_max)[0]


def _eigh_root(a, p, ridge_epsilon, lam_max=None):
    r"""The root and the $\lambda_\max$ it used."""
    a = _symmetric(a)
    w, v = per_matrix(jnp.linalg.eigh, a)
    lam_max = jnp.maximum(w[..., -1] if lam_max is None else lam_max, 0)
    damped = jnp.maximum(w, 0) + jnp.asarray(ridge_epsilon, a.dtype) * lam_max[..., None]
    scale = jnp.where(damped > 0, jnp.where(damped > 0, damped, 1) ** (-1.0 / p), 0)
    return _mm(v * scale[..., None, :], jnp.swapaxes(v, -1, -2)), lam_max


def inverse_root_newton(
    a: jax.Array,
    p: int,
    ridge_epsilon: Scalar = 1e-6,
    iterations: int = 100,
    tolerance: float = 1e-6,
    lam_max: jax.Array | None = None,
) -> jax.Array:
    r"""$(A + \epsilon\lambda_\max I)^{-1/p}$ by the coupled Newton iteration.

    With $A_\epsilon = A + \epsilon\lambda_\max I$ and $z = \frac{1+p}{2\,\|A_\epsilon\|_2}$:

    $$M_0 = z A_\epsilon,\quad X_0 = z^{1/p} I,\qquad
    T_k = \tfrac{1}{p}\big((p+1) I - M_k\big),\quad X_{k+1} = X_k T_k,\quad
    M_{k+1} = T_k^p M_k$$

    so that $M_k = X_k^p A_\epsilon \to I$ and $X_k \to A_\epsilon^{-1/p}$ (quadratically once
    $M_k$ is near $I$). It stops when $\max|M_k - I| \le$ ``tolerance``, when that error grows
    by more than 20% (the previous iterate is kept), or after ``iterations`` steps. It needs
    only matrix products, which is why Distributed Shampoo uses it on accelerators.

    Args:
      a: symmetric PSD matrices, shape ``(..., n, n)``.
      p: the root, an integer $\ge 1$.
      ridge_epsilon: $\epsilon \ge 0$, relative to $\lambda_\max$ (by power iteration).
      iterations: the most Newton steps.
      tolerance: the target of $\max|M_k - I|$.
      lam_max: $\lambda_\max$ per matrix (default: :func:`max_eigenvalue`).

    Returns:
      The roots, shape of ``a``, in at least float32 (zeros where $A = 0$).

    References:
      Guo & Higham, "A Schur–Newton Method for the Matrix p'th Root and its Inverse", SIAM
      J. Matrix Anal. Appl. 28(3), 2006; Anil et al., arXiv:2002.09018, Algorithm 3.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.transforms._matrix_roots import inverse_root_newton
      >>> x = inverse_root_newton(jnp.diag(jnp.array([16.0, 1.0])), 4, 0.0)
      >>> [round(v, 5) for v in x.diagonal().tolist()]
      [0.5, 1.0]
    """
    a = _symmetric(a)
    eye = _eye_like(a)
    lam_max = (max_eigenvalue(a) if lam_max is None else lam_max)[..., None, None]
    damped = a + jnp.asarray(ridge_epsilon, a.dtype) * lam_max * eye
    norm = lam_max * (1 + jnp.asarray(ridge_epsilon, a.dtype))
    z = (1 + p) / (2 * jnp.where(norm > 0, norm, 1))
    m0, x0 = z * damped, z ** (1.0 / p) * eye
    err0 = jnp.max(jnp.abs(m0 - eye), axis=(-2, -1))

    def cond(carry):
        i, _, _, err, grew = carry
        return (i < iterations) & jnp.any((err > tolerance) & ~grew)

    def body(carry):
        i, m, x, err, grew = carry
        t = ((p + 1) * eye - m) / p
        m_new = _mm(jnp.linalg.matrix_power(t, p), m)
        x_new = _mm(x, t)
        err_new = jnp.max(jnp.abs(m_new - eye), axis=(-2, -1))
        take = ~grew & (err > tolerance) & (err_new <= 1.2 * err)
        keep = lambda new, old: jnp.where(take[..., None, None], new, old)
        grew = grew | (~take & (err > tolerance))
        return i + 1, keep(m_new, m), keep(x_new, x), jnp.where(take, err_new, err), grew

    no = jnp.zeros(err0.shape, bool)
    _, _, x, _, _ = jax.lax.while_loop(cond, body, (0, m0, x0, err0, no))
    return jnp.where(lam_max > 0, x, 0)


def root_residual(
    x: jax.Array, a: jax.Array, p: int, ridge_epsilon: Any, lam_max: jax.Array
) -> jax.Array:
    r"""$\max|X^p A_\epsilon - I|$ per matrix ($A_\epsilon = A + \epsilon\lambda_\max I$),
    $+\infty$ for a zero or non-finite $X$."""
    a = _symmetric(a)
    x = x.astype(a.dtype)
    eye = _eye_like(a)
    damped = a + jnp.asarray(ridge_epsilon, a.dtype) * lam_max[..., None, None] * eye
    r = jnp.max(jnp.abs(_mm(jnp.linalg.matrix_power(x, p), damped) - eye), axis=(-2, -1))
    empty = jnp.all(x == 0, axis=(-2, -1))
    return jnp.where(empty | ~jnp.isfinite(r), jnp.inf, r)


def inverse_root(
    a: jax.Array, p: int, ridge_epsilon: Any, method: str, lam_max: jax.Array | None = None
) -> jax.Array:
    """:func:`inverse_root_eigh` or :func:`inverse_root_newton`, by name."""
    if method == "eigh":
        return inverse_root_eigh(a, p, ridge_epsilon, lam_max=lam_max)
    if method == "newton":
        return inverse_root_newton(a, p, ridge_epsilon, lam_max=lam_max)
    raise ValueError(f"inverse_root must be one of {METHODS}, got {method!r}.")


def refresh_roots(
    a: jax.Array, old: jax.Array, p: int, ridge_epsilon: Any, method: str
) -> jax.Array:
    r"""New roots of ``a``, except where the previous root ``old`` fits ``a`` better.

    A new root is kept when it is finite and its :func:`root_residual` is at most the old
    root's on the *current* matrix (a zero old root, "none yet", has residual $+\infty$).
    This is Distributed Shampoo's guard against a failed root (Anil et al. 2020, section
    3.1), with "failed" measured against the root it would replace rather than a threshold.
    """
    if method == "eigh":  # the exact lambda_max comes with the eigendecomposition
        new, lam_max = _eigh_root(a, p, ridge_epsilon)
    else:
        lam_max = max_eigenvalue(a)
        new = inverse_root_newton(a, p, ridge_epsilon, lam_max=lam_max)
    r_new = root_residual(new, a, p, ridge_epsilon, lam_max)
    r_old = root_residual(old, a, p, ridge_epsilon, lam_max)
    ok = jnp.all(jnp.isfinite(new), axis=(-2, -1)) & (r_new <= r_old)
    return jnp.where(ok[..., None, None], new, old.astype(new.dtype))


def eigenbasis(a: jax.Array) -> jax.Array:
    """The eigenvectors of each symmetric matrix, columns by decreasing eigenvalue."""
    _, v = per_matrix(jnp.linalg.eigh, _symmetric(a))
    return v[..., ::-1]


def power_qr_step(a: jax.Array, q: jax.Array) -> jax.Array:
    r"""One step of subspace iteration towards the eigenvectors of ``a``, from ``q``.

    $$d = \operatorname{diag}(Q^\top A Q),\quad \pi = \operatorname{argsort}(-d),\quad
    Q'R = (A + s\,\max d\, I)\,Q_{:,\pi},\quad Q_{\text{new}, :,\pi} = Q'$$

    The columns are orthogonalized in the order of their estimated eigenvalues (so the
    Gram–Schmidt order follows the spectrum, as in the paper) and then put back in their
    places, so that column $j$ of the new basis continues column $j$ of the old one and a
    state expressed in the basis stays aligned (the paper permutes Adam's second moment
    instead). The signs are fixed so that $\operatorname{diag}(R) \ge 0$. The shift
    $s = \sqrt{u}$ (the dtype's machine epsilon $u$) keeps $A Q$ full rank when $A$ is
    singular (a dead unit), so that the null-space columns do not jump with rounding noise.

    References:
      Vyas, Morwani, Zhao, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving and
      Stabilizing Shampoo using Adam", ICLR 2025, arXiv:2409.11321, Algorithm 4.
    """
    a = _symmetric(a)
    q = q.astype(a.dtype)
    d = jnp.einsum("...ij,...ik,...kj->...j", q, a, q, precision=HIGHEST)
    order = jnp.argsort(-d, axis=-1)
    shift = jnp.sqrt(jnp.finfo(a.dtype).eps) * jnp.max(jnp.abs(d), axis=-1)
    qs = jnp.take_along_axis(q, order[..., None, :], axis=-1)
    work = _mm(a, qs) + shift[..., None, None] * qs
    qq, r = per_matrix(jnp.linalg.qr, work)
    signs = jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))
    qq = qq * jnp.where(signs == 0, 1, signs)[..., None, :]
    inverse = jnp.argsort(order, axis=-1)
    new = jnp.take_along_axis(qq, inverse[..., None, :], axis=-1)
    alive = jnp.max(jnp.abs(a), axis=(-2, -1)) > 0
    return jnp.where(alive[..., None, None], new, q)
