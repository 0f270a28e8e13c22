"""The workloads' data: scikit-learn's bundled digits, MNIST-format IDX files, or generated.

Nothing is downloaded. Every split is fixed (it does not change with a trial's seed), as
in AlgoPerf: the seed moves the initialization and the order of the batches only.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class Images:
    """A classification data set: float32 images in [0, 1] (n, height, width) and labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray

    @property
    def side(self) -> int:
        return self.x_train.shape[1]


@functools.lru_cache(maxsize=1)
def digits() -> Images:
    """scikit-learn's 1,797 8x8 digits: a stratified 80/20 split with ``random_state=0``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return Images("digits", x_tr, y_tr, x_va, y_va)


def idx_images(data_dir: str | Path, name: str = "mnist") -> Images:
    """MNIST or Fashion-MNIST from the four IDX files in ``data_dir`` (gzipped or not).

    The reader is the case study's (``examples/casestudy/data.py``); the 10,000 test images
    are the validation split.
    """
    if str(_EXAMPLES) not in sys.path:
        sys.path.insert(0, str(_EXAMPLES))
    from casestudy.data import load_mnist

    ds = load_mnist(data_dir)
    side = round(ds.x_train.shape[1] ** 0.5)
    shape = (-1, side, side)
    return Images(name, ds.x_train.reshape(shape), ds.y_train, ds.x_test.reshape(shape), ds.y_test)


@dataclass(frozen=True)
class Corpus:
    """Token streams from a known source, and the source's own cross-entropy on them."""

    vocab: int
    order: int
    train: np.ndarray  # (n_train,) int32
    valid: np.ndarray  # (n_valid,) int32
    valid_nll: np.ndarray  # (n_valid,) -log p_source(token | its `order` predecessors)


def markov_corpus(
    vocab: int = 32,
    order: int = 2,
    alpha: float = 0.2,
    n_train: int = 200_000,
    n_valid: int = 16_384,
    seed: int = 0,
) -> Corpus:
    """Text of a random sparse order-``order`` Markov source (a random regular grammar).

    Each context of ``order`` tokens has its own next-token distribution, drawn from a
    symmetric Dirichlet(``alpha``): a small ``alpha`` makes few continuations likely. The
    source's cross-entropy on the validation stream is known exactly, so the held-out
    perplexity a model reaches can be compared with the best possible one.
    """
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(vocab, alpha), size=vocab**order)  # (contexts, vocab)
    cdf = np.cumsum(table, axis=1)
    n = n_train + n_valid
    tokens = np.empty(n, np.int32)
    tokens[:order] = rng.integers(0, vocab, order)
    u = rng.random(n)
    ctx = 0
    for t in range(order):
        ctx = ctx * vocab + int(tokens[t])
    for t in range(order, n):
        nxt = min(int(np.searchsorted(cdf[ctx], u[t], side="right")), vocab - 1)
        tokens[t] = nxt
        ctx = (ctx * vocab + nxt) % vocab**order
    contexts = np.zeros(n, np.int64)
    for k in range(order, 0, -1):  # the context of token t: tokens[t-order:t], oldest first
        contexts[order:] = contexts[order:] * vocab + tokens[order - k : n - k]
    nll = -np.log(np.maximum(table[contexts, tokens], 1e-30))
    valid_nll = nll[n_train:].astype(np.float64)
    return Corpus(vocab, order, tokens[:n_train], tokens[n_train:], valid_nll)


@dataclass(frozen=True)
class LeastSquares:
    """min_x 1/2 ||A x - b||^2 with A = U diag(s) V^T, s log-spaced in [1/sqrt(kappa), 1]."""

    a: np.ndarray  # (m, n) float32
    b: np.ndarray  # (m,) float32
    condition: float  # of the Hessian A^T A: kappa


def least_squares(m: int = 512, n: int = 256, condition: float = 1e4, seed: int = 0):
    """A consistent system (``b = A x*``, so the optimum is 0) whose Hessian ``A^T A`` has
    eigenvalues log-spaced from 1 down to ``1 / condition`` in random (rotated) axes."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0.0, -0.5 * np.log10(condition), n)
    a = (u * s) @ v.T
    b = a @ rng.standard_normal(n)
    return LeastSquares(a.astype(np.float32), b.astype(np.float32), condition)
