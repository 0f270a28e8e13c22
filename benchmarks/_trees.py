"""Parameter-tree shapes for the step-time benchmark, built as NumPy float32 trees.

Every shape has a full-size version (the benchmark proper) and a quick version of at most
100k parameters (``--quick``, used by the test suite). Trees are nested dicts of
``np.ndarray`` leaves; each contender converts them to its own arrays (JAX, torch, C).
Parameter values and gradients are drawn from a fixed seed, so every run times the same
numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Tree = dict


@dataclass(frozen=True)
class Shape:
    """A named tree shape: ``build(quick)`` returns the tree of parameter shapes."""

    name: str
    description: str
    build: Callable[[bool], Tree]


def _flat(n_full: int, n_quick: int) -> Callable[[bool], Tree]:
    return lambda quick: {"w": (n_quick if quick else n_full,)}


def _transformer(quick: bool) -> Tree:
    """A GPT-like tree: 12 layers × 16 leaves + 4 = 196 leaves, ≈24.8M parameters.

    Per layer: separate q, k, v and output projections (weight + bias each), two
    LayerNorms (scale + bias) and a 4× MLP (two weights + biases); then token and position
    embeddings and a final LayerNorm. ``d_model`` is 384: the 768-wide GPT-2-small layers
    would make 12 layers 85M parameters, not 24.8M. The quick tree keeps the structure
    (2 layers, d = 32, 36 leaves).
    """
    layers, d, vocab, ctx = (2, 32, 256, 64) if quick else (12, 384, 8192, 1024)
    tree: Tree = {"tok_emb": (vocab, d), "pos_emb": (ctx, d)}
    for i in range(layers):
        tree[f"layer{i:02d}"] = {
            "attn": {
                **{f"{n}_w": (d, d) for n in ("q", "k", "v", "o")},
                **{f"{n}_b": (d,) for n in ("q", "k", "v", "o")},
            },
            "ln1": {"scale": (d,), "bias": (d,)},
            "ln2": {"scale": (d,), "bias": (d,)},
            "mlp": {"fc1_w": (d, 4 * d), "fc1_b": (4 * d,), "fc2_w": (4 * d, d), "fc2_b": (d,)},
        }
    tree["ln_f"] = {"scale": (d,), "bias": (d,)}
    return tree


def _varied(n_leaves: int, total: int, seed: int) -> Tree:
    """``n_leaves`` 1-D leaves of log-normally varied sizes summing to exactly ``total``."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(mean=0.0, sigma=1.5, size=n_leaves)
    sizes = np.maximum(1, np.floor(weights / weights.sum() * total)).astype(np.int64)
    sizes[int(np.argmax(sizes))] += total - int(sizes.sum())
    return {f"p{i:04d}": (int(s),) for i, s in enumerate(sizes)}


def _leaves(quick: bool) -> Tree:
    return _varied(100, 50_000, seed=0) if quick else _varied(1000, 10_000_000, seed=0)


def _tiny(quick: bool) -> Tree:
    rng = np.random.default_rng(1)
    n = 30 if quick else 1000
    return {f"p{i:04d}": (int(s),) for i, s in enumerate(rng.integers(10, 101, size=n))}


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("flat10m", "one array of 10M (quick: 100k)", _flat(10_000_000, 100_000)),
        Shape("transformer", "12-layer transformer-like, 196 leaves", _transformer),
        Shape("leaves1000", "1000 leaves of varied sizes, 10M total", _leaves),
        Shape("flat50m", "one array of 50M (quick: 80k)", _flat(50_000_000, 80_000)),
        Shape("tiny1000", "1000 leaves of 10-100 elements (quick: 30)", _tiny),
    )
}
# Short names accepted by ``--shapes``.
ALIASES = {"flat": "flat10m", "leaves": "leaves1000", "tiny": "tiny1000", "tf": "transformer"}


def resolve(names: list[str]) -> list[Shape]:
    """Shapes for the ``--shapes`` names (canonical names or aliases), in the given order."""
    out = []
    for name in names:
        key = ALIASES.get(name, name)
        if key not in SHAPES:
            known = ", ".join([*SHAPES, *ALIASES])
            raise SystemExit(f"unknown shape {name!r}; known: {known}")
        out.append(SHAPES[key])
    return out


def _is_shape(x) -> bool:
    return isinstance(x, tuple)


def map_shapes(fn: Callable, tree: Tree) -> Tree:
    """Apply ``fn(path, shape)`` to every leaf shape of a nested-dict tree of tuples."""

    def go(node, path):
        if _is_shape(node):
            return fn(path, node)
        return {k: go(v, (*path, k)) for k, v in node.items()}

    return go(tree, ())


def leaves(tree: Tree) -> list:
    """The leaves of a nested dict in insertion order (JAX sorts keys; order is irrelevant)."""
    out: list = []

    def go(node):
        if isinstance(node, dict):
            for v in node.values():
                go(v)
        else:
            out.append(node)

    go(tree)
    return out


def make_arrays(shape_tree: Tree, seed: int = 0) -> tuple[Tree, Tree]:
    """Parameters ~ N(0, 0.02²) and gradients ~ N(0, 0.01²) as float32 NumPy trees.

    The gradient scale puts the chain's global norm above 1 for the large shapes, so the
    clip actually rescales; the benchmark does not depend on it (the work is the same).
    """
    rng = np.random.default_rng(seed)

    def draw(_path, shp, scale):
        return (rng.standard_normal(shp, dtype=np.float32) * np.float32(scale)).astype(np.float32)

    params = map_shapes(lambda p, s: draw(p, s, 0.02), shape_tree)
    grads = map_shapes(lambda p, s: draw(p, s, 1e-2), shape_tree)
    return params, grads


def count(shape_tree: Tree) -> tuple[int, int]:
    """``(number of parameters, number of leaves)`` of a tree of shapes."""
    shapes = leaves(shape_tree)
    return int(sum(int(np.prod(s)) for s in shapes)), len(shapes)
