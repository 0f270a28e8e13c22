r"""``solver_jit``: ``jax.jit`` for the solver loops, with XLA:CPU options that compile faster.

A solve is one ``while_loop`` whose body is mostly scalar logic (line-search brackets,
status codes) around a few vector operations. XLA:CPU compiles every fused kernel of such a
program separately, and its default (MLIR) fusion emitters split these programs into more
kernels than its older LLVM IR emitters and take up to twice their compile CPU time (L-BFGS
on Rosenbrock n = 100: 109 kernels and 2.5 s of compile CPU time against 58 and 1.5 s, the
same result bit for bit; see ``docs/second_order.md``, "First call"). The option
is scoped to the solver's own compilation (never the process's ``XLA_FLAGS``), applies on
the CPU backend only, and is dropped for a jaxlib that does not know it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

try:  # whether no transformation is tracing (JAX's own test before it rejects the options)
    from jax._src.core import trace_state_clean as _top_level
except ImportError:  # pragma: no cover - a JAX without it: look for tracers in the arguments
    _top_level = None

#: XLA:CPU options of the solver loops (see the module docstring).
CPU_COMPILE_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

_NESTED = "can only be passed to top-level"  # JAX's error for options on a nested jit


def solver_jit(fun: Callable, options: dict | None = None, **jit_kwargs: Any) -> Callable:
    """``jax.jit(fun, **jit_kwargs)``, compiled with ``options`` (default
    :data:`CPU_COMPILE_OPTIONS`) on CPU; without them where this jaxlib does not know them.

    The returned function has the jitted functions as attributes ``fast`` (with the
    options) and ``plain`` (without), and ``jitted()`` gives the one a call uses (for
    ahead-of-time ``.trace``/``.lower``). Called under a transformation (``jax.jit``,
    ``jax.vmap``, ...) it is the plain one: JAX takes compile options from a top-level
    ``jax.jit`` only.
    """
    supported = [True]  # the options are known (learned on the first compilation); on CPU
    plain = jax.jit(fun, **jit_kwargs)
    try:
        fast = jax.jit(fun, compiler_options=options or CPU_COMPILE_OPTIONS, **jit_kwargs)
    except TypeError:  # a jax without jit(compiler_options=...)
        fast, supported[0] = plain, False

    def jitted() -> Callable:
        if len(supported) == 1:  # the backend, asked once (it costs ~20 us a call)
            supported.append(jax.default_backend() == "cpu")
        return fast if supported[0] and supported[1] else plain

    @functools.wraps(fun)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _top_level is not None:
            top = _top_level()
        else:
            top = not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs)))
        if top and jitted() is fast:  # options are for a top-level jit only
            try:
                return fast(*args, **kwargs)
            except Exception as error:  # the options refused, or an error of the call itself
                result = plain(*args, **kwargs)  # the call's own error is raised again here
                if _NESTED not in str(error):  # this XLA refuses the options (any message)
                    supported[0] = False
                return result
        return plain(*args, **kwargs)

    call.fast, call.plain, call.jitted = fast, plain, jitted
    return call
