"""What the machine is and how fast it copies memory; is it busy?

* :func:`describe` - CPU model, cores, library versions, the JAX device.
* :func:`numpy_copy_bandwidth` / :func:`device_copy_bandwidth` - the physical reference:
  GB/s of a large copy, counting read + write (a step that moves B bytes per parameter at
  this rate is as fast as memory allows).
* :func:`load_warning` / :func:`calibration_ms` - busy-machine checks: the 1-minute load
  average against the core count before starting, and a fixed 100 MB memcpy timed at the
  start and at the end of the run.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:
        return "not installed"


def describe() -> dict:
    """Machine and library facts for the report header."""
    import jax

    dev = jax.devices()[0]
    return {
        "cpu": cpu_model(),
        "cores": cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "optax": _version("optax"),
        "torch": _version("torch"),
        "numpy": np.__version__,
        "jax_device": f"{dev.platform}: {getattr(dev, 'device_kind', str(dev))}",
        "jax_platform": dev.platform,
    }


def _best_time(fn, repeats: int) -> float:
    fn()  # fault the pages in, warm caches
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_copy_bandwidth(nbytes: int = 400 * 2**20, repeats: int = 5) -> float:
    """``np.copyto`` of an ``nbytes`` float32 buffer (single-threaded), GB/s read + write."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / _best_time(lambda: np.copyto(dst, src), repeats) / 1e9


def device_copy_bandwidth(nbytes: int = 400 * 2**20, repeats: int = 5) -> float:
    """A jitted ``x + 1`` on the JAX device (all its threads / the GPU), GB/s read + write."""
    import jax
    import jax.numpy as jnp

    x = jnp.ones(nbytes // 4, jnp.float32)
    f = jax.jit(lambda x: x + 1)
    jax.block_until_ready(f(x))
    return 2 * x.nbytes / _best_time(lambda: jax.block_until_ready(f(x)), repeats) / 1e9


def calibration_ms(nbytes: int = 100 * 2**20, repeats: int = 7) -> float:
    """Median time (ms) of a fixed NumPy memcpy, compared at the start and end of a run."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def load_warning(threshold: float = 0.5) -> str | None:
    """A warning if the 1-minute load average exceeds ``threshold`` × the number of cores."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    n = cores()
    if load > threshold * n:
        return (
            f"WARNING: machine busy before starting: 1-minute load average {load:.2f} on "
            f"{n} cores (> {threshold:.0%} of the cores); timings are unreliable"
        )
    return None


def drift_warning(start_ms: float, end_ms: float, tolerance: float = 0.2) -> str | None:
    """A warning if the calibration memcpy changed by more than ``tolerance`` during the run."""
    change = abs(end_ms - start_ms) / min(start_ms, end_ms)
    if change > tolerance:
        return (
            f"WARNING: machine speed drifted during the run: the 100 MB calibration memcpy "
            f"took {start_ms:.2f} ms at the start and {end_ms:.2f} ms at the end "
            f"({change:.0%} apart, > {tolerance:.0%}); timings are unreliable"
        )
    return None
