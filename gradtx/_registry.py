"""The registry of optimizers: one entry per public alias, filled by :func:`optimizer`.

The case study iterates over it, and the test suite checks that every public optimizer
appears in it (and in the test table that pairs it with its Optax counterpart).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gradtx._hyper import inject_hyperparams


@dataclass(frozen=True)
class OptimizerInfo:
    """What the library knows about one optimizer alias.

    Attributes:
      name: the public name, e.g. ``"adam"``.
      factory: the public factory (hyperparameters live in the state).
      family: the name of the module that defines it, without its underscore
        (``gradtx/optimizers/_adam.py`` -> ``"adam"``); one documentation page per family.
      static_args: arguments that are fixed Python values (not live hyperparameters).
      example: keyword arguments that train the case study's small MLP well.
      needs_value: whether ``update`` needs the ``value`` extra argument.
    """

    name: str
    factory: Callable[..., Any]
    family: str
    static_args: tuple[str, ...] = ()
    example: dict[str, Any] = field(default_factory=dict)
    needs_value: bool = False


OPTIMIZERS: dict[str, OptimizerInfo] = {}


def family_of(fn: Callable[..., Any]) -> str:
    """The family of an optimizer: its module's name without the leading underscore."""
    return fn.__module__.rsplit(".", 1)[-1].lstrip("_")


def optimizer(
    *,
    static: Iterable[str] = (),
    example: dict[str, Any] | None = None,
    needs_value: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a chain-building function: make its hyperparameters live and register it.

    The decorated function keeps its name, signature and docstring; calling it returns a
    transform whose numeric hyperparameters are in the state (:func:`gradtx.get_hyperparams`)
    and accept schedules.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        public = inject_hyperparams(fn, static_args=static)
        if fn.__name__ in OPTIMIZERS:
            raise ValueError(f"optimizer {fn.__name__!r} is registered twice")
        OPTIMIZERS[fn.__name__] = OptimizerInfo(
            fn.__name__, public, family_of(fn), tuple(static), dict(example or {}), needs_value
        )
        return public

    return register
