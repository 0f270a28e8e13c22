"""NumPy references for the matrix preconditioners, written from the papers, one matrix at a time.

* Shampoo: Gupta, Koren & Singer 2018 (arXiv:1802.09568), Algorithm 1, with the EMA, ridge,
  root schedule and grafting of Anil et al. 2020 (arXiv:2002.09018, section 3 and Algorithm 2).
* SOAP: Vyas et al. 2024 (arXiv:2409.11321), Algorithms 3 and 4, in gradtx's conventions
  (listed in the ``gradtx.soap`` docstring): the first step is taken, Adam's epsilon, decoupled
  decay, and the second moment re-expressed by the squared rotation (``v_rule="squared"``) or
  only permuted as in the paper (``v_rule="permute"``; the paper keeps the sorted order).
* PSGD-Kron: Li, "Preconditioned Stochastic Gradient Descent", IEEE TNNLS 2018
  (arXiv:1512.04202), and the Kronecker/Lie-group form of psgd_torch / psgd_jax.

Blocks are cut with plain slicing (a block per ``c`` rows and ``d`` columns, zero padding), so
that the blocking of ``gradtx.transforms._kronecker`` is checked against a second route.
"""

from __future__ import annotations

import numpy as np


def blocks_of(shape, block):
    """Slices (rows, cols) of the blocks of a matrix: ``k = ceil(n / block)`` equal blocks."""
    out = []
    sizes = []
    for n in shape:
        if block is None or n <= block:
            sizes.append((1, n))
        else:
            k = -(-n // block)
            sizes.append((k, -(-n // k)))
    (k0, c0), (k1, c1) = sizes
    for i in range(k0):
        for j in range(k1):
            out.append((slice(i * c0, (i + 1) * c0), slice(j * c1, (j + 1) * c1), (c0, c1)))
    return out


def padded(g, rows, cols, dims):
    blk = np.zeros(dims)
    part = g[rows, cols]
    blk[: part.shape[0], : part.shape[1]] = part
    return blk


def inv_root(a, p, eps):
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    lam = max(w[-1], 0.0)
    if lam == 0:
        return np.zeros_like(a)
    d = np.maximum(w, 0) + eps * lam
    return (v * d ** (-1.0 / p)) @ v.T


class ShampooRef:
    """``scale_by_shampoo`` on one matrix (or vector, diagonally)."""

    def __init__(self, shape, b2=1.0, eps=1e-6, block=None, freq=1, start=1, max_dim=1024):
        self.shape, self.b2, self.eps, self.freq, self.start = shape, b2, eps, freq, start
        self.t = 0
        self.w_new = 1.0 if b2 == 1 else 1 - b2
        self.blocks = blocks_of(shape, block) if len(shape) == 2 else None
        self.on = [d <= max_dim for d in self.blocks[0][2]] if self.blocks else [False]
        self.diagonal = not any(self.on)  # 1-D, or no axis short enough: entry by entry
        if self.diagonal:
            self.s = np.zeros(shape)
            return
        self.stats = [[np.zeros((d, d)) for d in dims] for _, _, dims in self.blocks]
        self.roots = [[np.zeros((d, d)) for d in dims] for _, _, dims in self.blocks]

    def step(self, g):
        self.t += 1
        started = self.t >= self.start
        due = started and (self.t - self.start) % self.freq == 0
        if self.diagonal:
            self.s = self.b2 * self.s + self.w_new * g * g
            d = self.s + self.eps * self.s.max()
            return np.where(d > 0, g / np.sqrt(np.where(d > 0, d, 1)), 0) if started else 0 * g
        out = np.zeros(self.shape)
        p = 2 * sum(self.on)
        for b, (rows, cols, dims) in enumerate(self.blocks):
            x = padded(g, rows, cols, dims)
            grams = [x @ x.T, x.T @ x]
            for i in range(2):
                if self.on[i]:
                    self.stats[b][i] = self.b2 * self.stats[b][i] + self.w_new * grams[i]
                    if due:
                        self.roots[b][i] = inv_root(self.stats[b][i], p, self.eps)
            left = self.roots[b][0] if self.on[0] else np.eye(dims[0])
            right = self.roots[b][1] if self.on[1] else np.eye(dims[1])
            y = left @ x @ right
            out[rows, cols] = y[: out[rows, cols].shape[0], : out[rows, cols].shape[1]]
        return out


def graft_blocks(d, a, shape, block):
    """Direction ``d`` with the per-block norm of ``a`` (``a`` where ``d``'s block is 0)."""
    if len(shape) < 2:
        nd, na = np.linalg.norm(d), np.linalg.norm(a)
        return d * na / nd if nd > 0 else a
    out = np.zeros(shape)
    for rows, cols, _ in blocks_of(shape, block):
        db, ab = d[rows, cols], a[rows, cols]
        nd, na = np.linalg.norm(db), np.linalg.norm(ab)
        out[rows, cols] = db * na / nd if nd > 0 else ab
    return out


class ShampooAliasRef:
    """``gradtx.shampoo`` with Adam grafting on one leaf."""

    def __init__(self, shape, lr, b1, b2, eps, matrix_eps, wd, block, freq, start):
        self.pre = ShampooRef(shape, b2, matrix_eps, block, freq, start)
        self.lr, self.b1, self.b2, self.eps, self.wd, self.block = lr, b1, b2, eps, wd, block
        self.v, self.m, self.t, self.shape = np.zeros(shape), np.zeros(shape), 0, shape

    def step(self, g, w):
        self.t += 1
        d = self.pre.step(g)
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        a = g / (np.sqrt(self.v / (1 - self.b2**self.t)) + self.eps)
        s = graft_blocks(d, a, self.shape, self.block)
        self.m = self.b1 * self.m + (1 - self.b1) * s
        return -self.lr * (self.m / (1 - self.b1**self.t) + self.wd * w)


def eigvecs_desc(a):
    return np.linalg.eigh(0.5 * (a + a.T))[1][:, ::-1]


def qr_step(a, q, keep_order=True):
    """One sorted QR power step; returns the new basis and the sorting permutation."""
    a = 0.5 * (a + a.T)
    d = np.einsum("ij,ik,kj->j", q, a, q)
    order = np.argsort(-d, kind="stable")
    qs = q[:, order]
    work = a @ qs + np.sqrt(np.finfo(a.dtype).eps) * np.abs(d).max() * qs
    qq, r = np.linalg.qr(work)
    signs = np.sign(np.diag(r))
    qq = qq * np.where(signs == 0, 1, signs)
    if not np.abs(a).max() > 0:
        return q, np.arange(len(d))
    if not keep_order:
        return qq, order
    new = np.empty_like(qq)
    new[:, order] = qq
    return new, order


class SoapRef:
    """``gradtx.soap`` on one matrix (no blocking) or vector (Adam)."""

    def __init__(self, shape, lr, b1, b2, eps, wd, freq, v_rule="squared", max_dim=10000):
        self.lr, self.b1, self.b2, self.eps, self.wd, self.freq = lr, b1, b2, eps, wd, freq
        self.v_rule, self.shape, self.t = v_rule, shape, 0
        self.m, self.v = np.zeros(shape), np.zeros(shape)
        self.mat = len(shape) == 2
        if self.mat:
            self.on = [n <= max_dim for n in shape]
            self.stats = [np.zeros((n, n)) for n in shape]
            self.q = [np.eye(n) for n in shape]

    def _rot(self, x, back=False):
        for i in range(2):
            if self.on[i]:
                q = self.q[i].T if back else self.q[i]
                x = q.T @ x if i == 0 else x @ q
        return x

    def step(self, g, w):
        self.t += 1
        t = self.t
        if self.mat:
            if t > 1 and (t - 1) % self.freq == 0:
                for i in range(2):
                    if not self.on[i]:
                        continue
                    new, order = qr_step(self.stats[i], self.q[i], self.v_rule != "permute")
                    r = self.q[i].T @ new
                    if self.v_rule == "permute":  # the paper: v follows the sorted columns
                        self.v = self.v[order] if i == 0 else self.v[:, order]
                    elif self.v_rule == "squared":
                        self.v = (r * r).T @ self.v if i == 0 else self.v @ (r * r)
                    self.m = r.T @ self.m if i == 0 else self.m @ r
                    self.q[i] = new
            grams = [g @ g.T, g.T @ g]
            for i in range(2):
                if self.on[i]:
                    self.stats[i] = self.b2 * self.stats[i] + (1 - self.b2) * grams[i]
                    if t == 1:
                        self.q[i] = eigvecs_desc(self.stats[i])
            g = self._rot(g)
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        u = (self.m / (1 - self.b1**t)) / (np.sqrt(self.v / (1 - self.b2**t)) + self.eps)
        if self.mat:
            u = self._rot(u, back=True)
        return -self.lr * (u + self.wd * w)


# ------------------------------------------------------------------------------------------
# The test registry's form, ``reference(**kwargs) -> (init(param), step(g, ref, param))``, one
# leaf at a time (see tests/cases/__init__.py); the cases of tests/cases/kronecker.py use these.


def _at_rate(learning_rate):
    """A reference's step with the rate (a constant or a schedule of the step count)."""

    def step(g, ref, p):
        ref.lr = learning_rate(ref.t) if callable(learning_rate) else learning_rate
        return ref.step(g, p)

    return step


def shampoo_reference(
    learning_rate, b1=0.9, b2=0.999, eps=1e-8, matrix_eps=1e-6, weight_decay=0.0, mask=None,
    block_size=256, max_precond_dim=1024, precondition_frequency=20,
    start_preconditioning_step=10, inverse_root="eigh", graft="adam",
):  # fmt: skip
    """``gradtx.shampoo`` with Adam grafting (the default), leaf by leaf."""
    assert graft == "adam" and mask is None
    args = (learning_rate, b1, b2, eps, matrix_eps, weight_decay, block_size)
    sched = (precondition_frequency, start_preconditioning_step)
    init = lambda p: ShampooAliasRef(np.shape(p), *args, *sched)
    return init, _at_rate(learning_rate)


def soap_reference(
    learning_rate, b1=0.95, b2=0.95, eps=1e-8, weight_decay=0.01, mask=None, shampoo_b2=None,
    precondition_frequency=10, max_precond_dim=10000, block_size=None,
):  # fmt: skip
    """``gradtx.soap`` without blocking, leaf by leaf."""
    assert mask is None and shampoo_b2 in (None, b2) and block_size is None
    args = (learning_rate, b1, b2, eps, weight_decay, precondition_frequency)
    init = lambda p: SoapRef(np.shape(p), *args, max_dim=max_precond_dim)
    return init, _at_rate(learning_rate)


def psgd_kron_reference(
    learning_rate, b1=0.9, weight_decay=0.0, mask=None, preconditioner_update_probability=None,
    max_size_triangular=8192, precond_lr=0.1, precond_init_scale=1.0, key=0,
    trust_region_scale=1.5,
):  # fmt: skip
    """``gradtx.psgd_kron`` with the preconditioner never refitted (probability 0, or
    ``precond_lr`` 0): debiased momentum, $P = s^2 I$, the soft trust region and decoupled
    decay. The fitting itself is checked with the same noise in
    ``tests/test_kronecker_integration.py::test_psgd_kron_matches_reference``."""
    assert mask is None and (preconditioner_update_probability == 0 or precond_lr == 0)

    def init(p):
        return {"m": np.zeros(np.shape(p)), "t": 0}

    def step(g, s, p):
        lr = learning_rate(s["t"]) if callable(learning_rate) else learning_rate
        s["t"] += 1
        s["m"] = b1 * s["m"] + (1 - b1) * g
        u = precond_init_scale**2 * s["m"] / (1 - b1 ** s["t"])
        if trust_region_scale is not None:
            x = u / trust_region_scale
            u = trust_region_scale * (0.1 * np.sign(x) * np.log1p(np.abs(x)) + 0.9 * np.tanh(x))
        return -lr * (u + weight_decay * p)

    return init, step
