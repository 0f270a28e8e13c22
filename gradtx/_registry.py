"""The registry of optimizers: one entry per public alias, filled by :func:`optimizer`.

The case study, the documentation and the test suite iterate over :data:`OPTIMIZERS`; the
test suite checks that every public optimizer appears in it and in its table of cases.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gradtx import _hyper
from gradtx._hyper import Hyperparameter
from gradtx._inject import inject_hyperparams


@dataclass(frozen=True)
class OptimizerInfo:
    """What the library knows about one optimizer alias.

    Attributes:
      name: the public name, e.g. ``"adam"``.
      factory: the public factory (hyperparameters live in the state).
      family: the name of the module that defines it, without its underscore
        (``gradtx/optimizers/_adam.py`` -> ``"adam"``); one documentation page per family.
      hyperparams: the declaration of every argument, in signature order (see
        :mod:`gradtx._hyper`): which are live, static or structural, and what each accepts.
      example: keyword arguments that train the case study's small MLP well.
      needs_value: whether ``update`` needs the ``value`` extra argument.
      per_example: whether ``update`` takes per-example gradients (a batch axis first in
        every leaf, as DP-SGD does) rather than one gradient shaped like the parameters.
      optax: the same method in Optax, as Markdown (``"`optax.adam`"``; ``"—"``: none;
        ``None``: not declared, which ``tests/test_docs.py`` reports).
      pytorch: the same method in ``torch.optim``, as Markdown (``"—"``: none).
    """

    name: str
    factory: Callable[..., Any]
    family: str
    hyperparams: dict[str, Hyperparameter]
    example: dict[str, Any] = field(default_factory=dict)
    needs_value: bool = False
    per_example: bool = False
    optax: str | None = None
    pytorch: str | None = None

    @property
    def static_args(self) -> tuple[str, ...]:
        """The arguments that are never live (static and structural ones)."""
        return tuple(n for n, h in self.hyperparams.items() if h.kind != _hyper.LIVE)

    @property
    def live_args(self) -> tuple[str, ...]:
        """The arguments that are live when given a number or a schedule."""
        return tuple(n for n, h in self.hyperparams.items() if h.kind == _hyper.LIVE)


OPTIMIZERS: dict[str, OptimizerInfo] = {}


def family_of(fn: Callable[..., Any]) -> str:
    """The family of an optimizer: its module's name without the leading underscore."""
    return fn.__module__.rsplit(".", 1)[-1].lstrip("_")


def declare(
    fn: Callable[..., Any],
    hyperparams: dict[str, Hyperparameter] | None = None,
    joint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Hyperparameter]:
    """Attach the declaration of every argument of ``fn`` to it and return it.

    An argument is declared by ``hyperparams`` or, when its name is one of the library-wide
    names (:data:`gradtx._hyper.STANDARD`, masks, dtypes), by that name; any other argument
    is an error, so that no argument's rules are left to a guess.
    """
    name = fn.__name__
    params = inspect.signature(fn).parameters
    declared = dict(hyperparams or {})
    unknown = set(declared) - set(params)
    if unknown:
        raise TypeError(f"{name}: declared hyperparameters {sorted(unknown)} are not arguments")
    specs = {}
    for arg, param in params.items():
        spec = declared.get(arg)
        if spec is None:
            spec = _hyper.standard(arg, param.default)
            if arg not in _hyper.STANDARD and spec not in (_hyper.MASK, _hyper.DTYPE):
                raise TypeError(
                    f"{name}: argument {arg!r} has no declaration; add it to "
                    "hyperparams={...} of @optimizer (see gradtx/_hyper.py)."
                )
        specs[arg] = spec
    fn.__gradtx_hyperparams__ = specs
    fn.__gradtx_joint__ = joint
    return specs


def optimizer(
    *,
    hyperparams: dict[str, Hyperparameter] | None = None,
    example: dict[str, Any] | None = None,
    needs_value: bool = False,
    per_example: bool = False,
    joint: Callable[[dict[str, Any]], None] | None = None,
    optax: str | None = None,
    pytorch: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a chain-building function: declare its arguments, make them live, register it.

    Args:
      hyperparams: the declaration of each argument whose name is not one of the
        library-wide names (``learning_rate``, ``b1``, ``eps``, ``mask``, ``mu_dtype``, ...;
        see :mod:`gradtx._hyper`), e.g. ``{"b3": DECAY, "ns_steps": count(1)}``.
      example: keyword arguments that train the case study's small MLP well.
      needs_value: whether ``update`` needs the loss (``value=``).
      per_example: whether ``update`` takes per-example gradients (batch axis first).
      joint: a check of several concrete values together (``joint(values_by_name)``).
      optax, pytorch: the same method's name in Optax and in ``torch.optim`` (Markdown, for
        the documentation's tables; ``"—"`` where there is none).

    The decorated function keeps its name, signature and docstring; calling it validates
    every argument against its declaration and returns a transform whose live
    hyperparameters are in the state (:func:`gradtx.get_hyperparams`) and accept schedules.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        specs = declare(fn, hyperparams, joint)
        public = inject_hyperparams(fn)
        if fn.__name__ in OPTIMIZERS:
            raise ValueError(f"optimizer {fn.__name__!r} is registered twice")
        OPTIMIZERS[fn.__name__] = OptimizerInfo(
            fn.__name__,
            public,
            family_of(fn),
            specs,
            dict(example or {}),
            needs_value=needs_value,
            per_example=per_example,
            optax=optax,
            pytorch=pytorch,
        )
        return public

    return register
