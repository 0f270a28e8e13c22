"""The transformation protocol: `GradientTransformation`, `chain`, `apply_updates`.

A gradtx transform is a pair of pure functions,

* ``init(params) -> state`` and
* ``update(updates, state, params=None, **extra) -> (updates, state)``,

held in a two-field NamedTuple, so it *is* an Optax ``GradientTransformation`` by
structure: it drops into ``optax.chain``, ``optax.apply_updates`` and
``flax.nnx.Optimizer``, and Optax transforms drop into :func:`chain`.

**How the raw gradient reaches every member.** In a plain chain each member sees only
the previous member's output, yet Adam divides the *running average* by the root of the
second moment *of the gradient*. :func:`chain` therefore calls every member as
``update(updates, state, params, gradient=g, **extra)``, where ``g`` is what the chain
itself received. Statistics primitives such as :func:`gradtx.scale_by_rms` take a
``source`` argument saying whether they accumulate their own input (``"updates"``, the
Optax behaviour) or the chain's input (``"gradient"``). A nested chain starts a new
gradient: in ``chain(clip_by_global_norm(1.0), adam(1e-3))`` Adam's second moment sees
the clipped gradient, exactly as in Optax. See ``docs/concepts.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx import _rounding, _tree

Params = Any
Updates = Any
OptState = Any

# The types of the arguments of factories, written as Optax writes them (so that an Optax
# test asking ``annotation in (optax.ScalarOrSchedule, optax.Schedule)`` sees the same type).
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]
"""A function of the int32 step count returning a scalar."""
ScalarOrSchedule = float | jax.Array | Schedule
"""A real number (a float, a 0-d array, a tracer) or a :data:`Schedule`."""
Scalar = float | jax.Array
"""A real number: a float, a 0-d array, or a tracer under ``jit``/``inject_hyperparams``."""
MaskOrFn = Any | Callable[[Params], Any] | None
"""A tree of bools shaped like the parameters (or a prefix of them), or a function
``params -> tree of bools``."""
BatchDims = int | Any | Callable[[Params], Any] | None
"""The leading axes of each leaf that index stacked layers: an int for every leaf, a tree of
ints (or a prefix of one), or a function ``params -> tree of ints``."""
DTypeLike = jax.typing.DTypeLike
"""A dtype (``jnp.bfloat16``, ``"float32"``, ...)."""
KeyLike = int | jax.Array | None
"""An int seed or a JAX random key (typed or raw ``uint32`` data)."""


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``; structurally an Optax transform.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.sgd(learning_rate=0.1)
      >>> params = {"w": jnp.ones(2)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.ones(2)}, state, params)
      >>> gradtx.apply_updates(params, updates)["w"].tolist()
      [0.8999999761581421, 0.8999999761581421]
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """Optax's name for a transform whose ``update`` takes extra keyword arguments.

    Every gradtx transform's ``update`` takes ``**extra`` (``value``, ``grad``,
    ``value_fn``, ...), so this adds nothing to :class:`GradientTransformation`; it exists so
    that ``isinstance(tx, GradientTransformationExtraArgs)`` holds where it holds in Optax:
    :func:`chain`, :func:`named_chain`, :func:`gradtx.inject_hyperparams` and
    :func:`with_extra_args_support` return one.

    Example:
      >>> import gradtx
      >>> tx = gradtx.chain(gradtx.clip(1.0), gradtx.scale(-0.1))
      >>> isinstance(tx, gradtx.GradientTransformationExtraArgs)
      True
    """


class EmptyState(NamedTuple):
    """The state of a stateless transform."""


def _accepts_extra(update: Callable[..., Any]) -> bool:
    """Whether a (possibly foreign) update function takes ``**extra`` keyword arguments."""
    try:
        sig = inspect.signature(update)
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def as_transform(tx: GradientTransformation, where: str) -> GradientTransformation:
    """Accept any object with ``init``/``update`` (gradtx, Optax); wrap foreign ones for extras."""
    init, update = getattr(tx, "init", None), getattr(tx, "update", None)
    if not callable(init) or not callable(update):
        raise TypeError(
            f"{where} must be a gradient transformation with `init` and `update`, "
            f"got {type(tx).__name__}: {tx!r}"
        )
    if _accepts_extra(update):  # gradtx's, Optax's GradientTransformationExtraArgs
        return GradientTransformation(init, update)

    def update_without_extra(updates, state, params=None, **extra):
        del extra  # a foreign transform that takes no extra arguments
        return update(updates, state, params)

    return GradientTransformation(init, update_without_extra)


def with_extra_args_support(tx: Any) -> GradientTransformationExtraArgs:
    r"""Return ``tx`` as a transform whose ``update`` accepts (and ignores) extra arguments.

    $$\texttt{update}(u, s, p, \ldots) = \texttt{tx.update}(u, s, p)$$

    A transform whose ``update`` takes ``**extra`` already (gradtx's, Optax's
    ``GradientTransformationExtraArgs``) keeps its function; one that does not (a
    hand-written ``update(updates, state, params=None)``) is wrapped so that it ignores the
    extra keyword arguments. Optax's name and behaviour.

    Args:
      tx: any object with ``init`` and ``update`` (gradtx or Optax).

    Returns:
      A :class:`GradientTransformationExtraArgs` with the same ``init``.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> plain = gradtx.GradientTransformation(lambda p: (), lambda u, s, p=None: (u, s))
      >>> tx = gradtx.with_extra_args_support(plain)
      >>> tx.update(jnp.ones(1), (), value=3.0)[0].tolist()
      [1.0]
    """
    return GradientTransformationExtraArgs(*as_transform(tx, "with_extra_args_support"))


def _check_members_state(state: Any, n: int, keys: tuple | None, who: str) -> None:
    if keys is None:
        ok = isinstance(state, (tuple, list)) and len(state) == n
        what = f"a tuple of {n} member states"
    else:
        ok = isinstance(state, dict) and tuple(state) == keys
        what = f"a dict with keys {list(keys)}"
    if not ok:
        got = f"{type(state).__name__}"
        if isinstance(state, (tuple, list, dict)):
            got += f" of length {len(state)}"
        raise ValueError(
            f"{who} expects {what}, got {got}. "
            "Was this state created by the same optimizer's `init`?"
        )


def chain(*transforms: Any) -> GradientTransformation:
    r"""Apply transforms one after the other, each to the previous one's output.

    $$u^{(0)} = g, \qquad u^{(k)} = T_k\big(u^{(k-1)};\ \text{gradient}=g\big), \qquad
    \text{output} = u^{(K)}$$

    Every member also receives the chain's input $g$ as the keyword ``gradient`` (see
    the module docstring), plus every extra keyword argument given to the chain
    (``value``, ``grad``, ``value_fn``, ...). Members may be gradtx or Optax transforms.

    Args:
      *transforms: the members, applied left to right.

    Returns:
      A :class:`GradientTransformationExtraArgs` (a :class:`GradientTransformation`, as in
      Optax) whose state is the tuple of member states.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.chain(gradtx.clip(1.0), gradtx.scale(-0.5))
      >>> u, _ = tx.update(jnp.array([3.0, -0.2]), tx.init(jnp.zeros(2)))
      >>> u.tolist()
      [-0.5, 0.10000000149011612]
    """
    members = tuple(as_transform(t, f"chain member {i}") for i, t in enumerate(transforms))
    return _chain_of(members, keys=None, who="gradtx.chain")


def named_chain(*named: tuple[str, Any]) -> GradientTransformation:
    """Like :func:`chain`, but members are ``(name, transform)`` pairs and the state is a dict.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.named_chain(("clip", gradtx.clip(1.0)), ("lr", gradtx.scale(-0.1)))
      >>> sorted(tx.init(jnp.zeros(2)))
      ['clip', 'lr']
    """
    keys = []
    for i, item in enumerate(named):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(
                f"named_chain member {i} must be a (name, transform) pair, got {item!r}"
            )
        keys.append(item[0])
    if len(set(keys)) != len(keys):
        raise ValueError(f"named_chain names must be unique, got {keys}")
    members = tuple(as_transform(t, f"named_chain member {k!r}") for k, t in named)
    return _chain_of(members, keys=tuple(keys), who="gradtx.named_chain")


def _chain_of(members, keys, who) -> GradientTransformation:
    def init(params):
        states = [m.init(params) for m in members]
        states = tuple(states) if keys is None else dict(zip(keys, states))
        return _tree.distinct_buffers(states, params)  # a donatable state

    def update(updates, state, params=None, **extra):
        _check_members_state(state, len(members), keys, who)
        extra = {**extra, "gradient": updates}
        old = state if keys is None else [state[k] for k in keys]
        new_states = []
        for member, s in zip(members, old):
            updates, s = member.update(updates, s, params, **extra)
            new_states.append(s)
        return updates, tuple(new_states) if keys is None else dict(zip(keys, new_states))

    return GradientTransformationExtraArgs(init, update)


def identity() -> GradientTransformation:
    """Return the updates unchanged (a stateless no-op).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.identity().update(jnp.ones(2), gradtx.EmptyState())[0].tolist()
      [1.0, 1.0]
    """

    def update(updates, state, params=None, **extra):
        del params, extra
        return updates, state

    return GradientTransformation(lambda params: EmptyState(), update)


def set_to_zero() -> GradientTransformation:
    """Replace every update by zeros (freezes the parameters it is applied to).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.set_to_zero().update(jnp.ones(2), gradtx.EmptyState())[0].tolist()
      [0.0, 0.0]
    """

    def update(updates, state, params=None, **extra):
        del params, extra
        return _tree.leafwise(jnp.zeros_like, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def stateless(fn: Callable[[Updates, Params | None], Updates]) -> GradientTransformation:
    """Make a transform from a pure function ``fn(updates, params) -> updates``.

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> tx = gradtx.stateless(lambda u, p: jax.tree.map(lambda x: 2 * x, u))
      >>> tx.update(jnp.ones(2), tx.init(None))[0].tolist()
      [2.0, 2.0]
    """
    if not callable(fn):
        raise TypeError(f"stateless expects a function fn(updates, params), got {fn!r}")

    def update(updates, state, params=None, **extra):
        del extra
        return fn(updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


def apply_updates(
    params: Params, updates: Updates, rounding_key: jax.Array | None = None
) -> Params:
    r"""Return ``params + updates``, cast back to each parameter's dtype.

    $$w \leftarrow \operatorname{cast}_{\operatorname{dtype}(w)}(w + u)$$

    ``None`` parameters stay ``None``; a ``None`` update leaves its parameter unchanged,
    and so does an update of a non-trainable (integer, boolean, ``float0``) leaf.

    **Stochastic rounding.** With ``rounding_key``, the sum is formed in at least float32 and
    rounded to a narrower parameter dtype (bfloat16, float16) up or down at random
    (:func:`gradtx._rounding.stochastic_round`), so that $\mathbb E[w_{t+1}] = w_t + u_t$
    exactly: an update below half a spacing of $w$ (``lr * step < 2**-9 * |w|`` in
    bfloat16), which rounding to nearest discards every step, moves $w$ on average as it
    would in float32. Give a fresh key each step (``jax.random.fold_in(key, step)``); each
    leaf draws from its own split of it. Float32 parameters with float32 updates are
    unaffected. With ``None`` (the default) the result rounds to nearest, as in Optax.

    Args:
      params: the parameters.
      updates: updates with the structure of ``params``.
      rounding_key: a JAX random key for stochastic rounding, or ``None``.

    Returns:
      The new parameters, with the dtypes of ``params``.

    References:
      Zamirai, Zhang, Aberger & De Sa, "Revisiting BFloat16 Training", 2020,
      arXiv:2010.06192 (stochastic rounding of the weight update).

    Example:
      >>> import jax, jax.numpy as jnp, gradtx
      >>> p = {"w": jnp.ones(2, jnp.bfloat16), "frozen": None}
      >>> new = gradtx.apply_updates(p, {"w": jnp.full(2, 0.5), "frozen": None})
      >>> new["w"].dtype, new["frozen"]
      (dtype(bfloat16), None)
      >>> w, tiny = jnp.ones(10_000, jnp.bfloat16), jnp.full(10_000, 1e-3)  # < 2**-8 / 2
      >>> gradtx.apply_updates(w, tiny).astype(float).mean().item()   # to nearest: stuck
      1.0
      >>> sr = gradtx.apply_updates(w, tiny, rounding_key=jax.random.key(0))
      >>> round(sr.astype(float).mean().item(), 3)   # 1 + 1e-3 on average
      1.001
    """
    _tree.check_same_structure(("params", "updates"), (params, updates))
    if rounding_key is not None:
        rounding_key = _rounding.check_key("rounding_key", rounding_key)
        n = len(_tree.leaves_with_none(params))
        keys = _tree.replace_leaves(params, list(jax.random.split(rounding_key, max(n, 1))[:n]))
    else:
        keys = jax.tree.map(lambda p: None, params, is_leaf=_tree.is_none)

    def add(p, u, key):
        if p is None or u is None:
            return p
        p = jnp.asarray(p)
        if not _tree.is_trainable(u):
            return p
        if key is None:
            return (p + u).astype(p.dtype)
        wide = jnp.promote_types(jnp.promote_types(p.dtype, jnp.result_type(u)), jnp.float32)
        return _rounding.stochastic_round(p.astype(wide) + u.astype(wide), p.dtype, key)

    return jax.tree.map(add, params, updates, keys, is_leaf=_tree.is_none)


def check_state_type(state: Any, expected: type, who: str) -> None:
    """Raise a clear ``ValueError`` when ``state`` is not the state ``who`` creates."""
    if not isinstance(state, expected):
        raise ValueError(
            f"{who} expects a {expected.__name__} state, got {type(state).__name__}. "
            "Was this state created by a different optimizer's `init`?"
        )
