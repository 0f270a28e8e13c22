r"""Run any transform in a rotated basis, re-expressing its state when the basis changes.

:func:`change_basis` rotates each block of the input, $\tilde G = Q_0^\top G Q_1$ (one
orthogonal factor per axis), runs the inner transform on $\tilde G$, and rotates its output
back, $U = Q_0 \tilde U Q_1^\top$. SOAP is this with Adam inside and Shampoo's eigenvectors as
the basis (:func:`gradtx.kronecker_eigenbasis`):
``change_basis(scale_by_adam(b1, b2, eps), kronecker_eigenbasis(b2))``.

When the basis is refreshed ($Q \to Q' = Q R$, $R = Q^\top Q'$ per factor), a moment left in
the old basis would be stale. Every parameter-shaped leaf of the inner state is re-expressed
by the rule of its field name:

* ``"linear"`` (first moments: ``ema``, ``trace``, ``mu``, ...): $\tilde M' = R_0^\top \tilde M
  R_1$, exact, the moment the inner transform would hold had it always run in $Q'$;
* ``"squared"`` (second moments: ``nu``, ``sum_of_squares``, ...):
  $\tilde V' = (R_0 \circ R_0)^\top \tilde V (R_1 \circ R_1)$, the diagonal of the rotated
  second moment if the rotated entries are uncorrelated; it stays non-negative and is exact
  for a permutation (the paper permutes Adam's $v$ when it re-sorts the basis);
* ``"keep"``: unchanged (the paper's and heavyball's SOAP for $v$, whose basis columns keep
  their places).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, as_transform, check_state_type
from gradtx.transforms import _kronecker as kron
from gradtx.transforms._eigenbasis import KroneckerBasis

RULES = ("linear", "squared", "keep")
DEFAULT_RULES = {
    **dict.fromkeys(("ema", "trace", "mu", "m", "momentum", "exp_avg"), "linear"),
    **dict.fromkeys(("nu", "nu_max", "v", "sum_of_squares", "exp_avg_sq"), "squared"),
}


class ChangeBasisState(NamedTuple):
    """The basis' state and the inner transform's state (expressed in the current basis)."""

    basis: Any
    inner: Any


def rotate(tree: Any, factors: list[Any], plans: list[Any], *, back: bool = False) -> Any:
    """Each block of each leaf into the basis ($Q^\\top X Q$) or back ($Q X Q^\\top$)."""
    out = []
    for x, fs, plan in zip(_tree.leaves_with_none(tree), factors, plans):
        if plan is None or plan.diagonal or x is None:
            out.append(x)
            continue
        xb = kron.to_blocks(x.astype(kron.work_dtype(x)), plan)
        xb = kron.apply_factors(xb, fs, transpose=not back)
        out.append(kron.from_blocks(xb, plan).astype(x.dtype))
    return _tree.replace_leaves(tree, out)


def _transition(old: list[Any], new: list[Any]) -> list[Any]:
    """$R = Q^\\top Q'$ for every factor."""
    mm = lambda a, b: None if a is None else kron.einsum("zji,zjk->zik", a, b)
    return [None if o is None else tuple(map(mm, o, n)) for o, n in zip(old, new)]


def _reexpress(inner: Any, updates: Any, rs: list[Any], plans: list[Any], rules: dict) -> Any:
    """The inner state with every parameter-shaped leaf of a ruled field re-expressed."""
    flat_paths = jax.tree_util.tree_flatten_with_path(updates, is_leaf=_tree.is_none)[0]
    position = {jax.tree_util.keystr(p): k for k, (p, _) in enumerate(flat_paths)}

    def one(path, leaf):
        for split in range(len(path), 0, -1):
            field = getattr(path[split - 1], "name", None)
            rest = jax.tree_util.keystr(tuple(path[split:]))
            if field is None or rest not in position:
                continue
            k = position[rest]
            plan, r = plans[k], rs[k]
            rule = rules.get(field, "keep")
            if plan is None or plan.diagonal or rule == "keep" or leaf.shape != plan.shape:
                return leaf
            mats = [None if m is None else (m * m if rule == "squared" else m) for m in r]
            xb = kron.to_blocks(leaf.astype(kron.work_dtype(leaf)), plan)
            xb = kron.apply_factors(xb, mats, transpose=True)
            return kron.from_blocks(xb, plan).astype(leaf.dtype)
        return leaf

    return jax.tree_util.tree_map_with_path(one, inner)


def change_basis(
    inner: GradientTransformation, basis: KroneckerBasis, *, rules: dict[str, str] | None = None
) -> GradientTransformation:
    r"""Run ``inner`` on the input rotated into ``basis``; rotate its output back.

    $$\tilde G_t = Q_{t,0}^\top G_t Q_{t,1},\qquad (\tilde U_t, s_t) =
    \mathrm{inner}(\tilde G_t, s_{t-1}'),\qquad U_t = Q_{t,0} \tilde U_t Q_{t,1}^\top$$

    for every block (one factor per axis of a tensor; leaves or axes without a factor are
    not rotated), where $s'_{t-1}$ is the inner state re-expressed in the new basis when the
    basis was refreshed at this step (see the module docstring for the rules). The inner
    transform also receives ``params`` rotated into the basis and ``gradient`` = $\tilde G_t$.

    Args:
      inner: the transform to run in the basis (gradtx or Optax).
      basis: a basis, e.g. :func:`gradtx.kronecker_eigenbasis`.
      rules: field name -> ``"linear"``, ``"squared"`` or ``"keep"``, merged over the
        defaults (``ema``, ``trace``, ``mu``: linear; ``nu``, ``sum_of_squares``: squared;
        other fields: keep).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ChangeBasisState`.

    References:
      Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam", ICLR 2025,
      arXiv:2409.11321; George, Laurent, Bouthillier, Ballas & Vincent, "Fast Approximate
      Natural Gradient Descent in a Kronecker-factored Eigenbasis", NeurIPS 2018,
      arXiv:1806.03884.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> basis = gradtx.kronecker_eigenbasis()
      >>> tx = gradtx.change_basis(gradtx.scale(2.0), basis)  # linear: the same as outside
      >>> g = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> tx.update(g, tx.init(g))[0].round(4).tolist()
      [[2.0, 4.0], [6.0, 8.0]]
    """
    inner = as_transform(inner, "change_basis: inner")
    rules = {**DEFAULT_RULES, **(rules or {})}
    for field, rule in rules.items():
        _validate.check_choice(f"rules[{field!r}]", rule, RULES)

    def init(params):
        return ChangeBasisState(basis.init(params), inner.init(params))

    def update(updates, state, params=None, **extra):
        check_state_type(state, ChangeBasisState, "change_basis")
        plans = basis.plans(updates)
        new_basis, refreshed = basis.update(updates, state.basis)
        old_f, new_f = basis.factors(state.basis, updates), basis.factors(new_basis, updates)

        def reexpress(inner_state):
            rs = _transition(old_f, new_f)
            return _reexpress(inner_state, updates, rs, plans, rules)

        inner_state = jax.lax.cond(refreshed, reexpress, lambda s: s, state.inner)
        rotated = rotate(updates, new_f, plans)
        rparams = None if params is None else rotate(params, new_f, plans)
        u, inner_state = inner.update(
            rotated, inner_state, rparams, **{**extra, "gradient": rotated}
        )
        return rotate(u, new_f, plans, back=True), ChangeBasisState(new_basis, inner_state)

    return GradientTransformation(init, update)
