"""Build and load the C "ideal" kernel (``_ideal_kernel.c``) with gcc and ctypes.

The kernel is compiled at run time into a temporary directory with
``gcc -O3 -march=native -fopenmp -fno-math-errno -shared -fPIC`` (``-fno-math-errno`` lets
gcc vectorize ``sqrtf``). :func:`load` returns ``None`` with a reason when gcc is missing
or the build fails, and the benchmark then skips the ``ideal`` contender with a note.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("_ideal_kernel.c")
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-shared", "-fPIC"]

_f32, _i64, _int, _ptr = ctypes.c_float, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
_SIGNATURES = {
    "adamw_tree": ([_i64, _ptr, _ptr, _ptr, _ptr, _ptr] + [_f32] * 8 + [_int], None),
    "sgd_nesterov_tree": ([_i64, _ptr, _ptr, _ptr, _ptr, _f32, _f32, _int], None),
    "sumsq_tree": ([_i64, _ptr, _ptr, _int], ctypes.c_double),
    "copy_f32": ([_ptr, _ptr, _i64, _int], None),
}


class Kernel:
    """The loaded shared library, with ctypes signatures set (see ``_ideal_kernel.c``)."""

    def __init__(self, lib: ctypes.CDLL, path: Path, tmpdir: tempfile.TemporaryDirectory):
        self.lib, self.path, self._tmpdir = lib, path, tmpdir
        for name, (args, res) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
            setattr(self, name, fn)


def load() -> tuple[Kernel | None, str]:
    """Compile and load the kernel: ``(kernel, command)`` or ``(None, reason)``."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None, "gcc not found: the ideal contender is skipped"
    tmpdir = tempfile.TemporaryDirectory(prefix="gradtx_ideal_")
    out = Path(tmpdir.name) / "libideal.so"
    cmd = [gcc, *FLAGS, str(SOURCE), "-o", str(out), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tmpdir.cleanup()
        return None, f"gcc failed, the ideal contender is skipped: {proc.stderr.strip()[:500]}"
    return Kernel(ctypes.CDLL(str(out)), out, tmpdir), " ".join(["gcc", *FLAGS])


class LeafArrays:
    """A list of contiguous float32 arrays plus the pointer and size arrays the C side takes."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        self.ptrs = (ctypes.c_void_p * len(self.arrays))(*[a.ctypes.data for a in self.arrays])

    @property
    def ptr(self) -> int:
        return ctypes.addressof(self.ptrs)


def sizes_of(arrays: list[np.ndarray]) -> np.ndarray:
    """The leaf sizes as a contiguous int64 array (keep it alive while the kernel runs)."""
    return np.ascontiguousarray([a.size for a in arrays], dtype=np.int64)


def copy_bandwidth(kernel: Kernel, nbytes: int, nthreads: int, repeats: int = 5) -> float:
    """Best multi-threaded copy bandwidth in GB/s (read + write counted) over ``repeats``."""
    n = nbytes // 4
    src, dst = np.ones(n, np.float32), np.zeros(n, np.float32)
    best = float("inf")
    for _ in range(repeats + 1):  # the first one faults the pages in
        t0 = time.perf_counter()
        kernel.copy_f32(dst.ctypes.data, src.ctypes.data, n, nthreads)
        best = min(best, time.perf_counter() - t0)
    return 2 * n * 4 / best / 1e9
