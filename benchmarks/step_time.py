"""Time one optimizer step: gradtx vs Optax vs PyTorch vs an ideal single-pass C kernel.

An optimizer step is memory-bound (Adam moves 28 bytes per float32 parameter, SGD with
momentum 20), so every contender is compared with the fastest possible in-place pass and
with the machine's copy bandwidth. All contenders run interleaved in one process: each
repetition runs every contender once (starting from a rotating position), so a drift in
machine speed affects all of them alike. Before timing, gradtx and Optax must agree to
float32 precision after 3 steps, and the other contenders must agree loosely (the run
fails otherwise).

Usage (see benchmarks/README.md)::

    python benchmarks/step_time.py --markdown docs/benchmarks.md --json bench.json
    python benchmarks/step_time.py --quick --optimizers adam --shapes tiny
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper modules sit next to this file
    sys.path.insert(0, str(HERE))

import _ideal  # noqa: E402
import _machine  # noqa: E402
import _report  # noqa: E402
import numpy as np  # noqa: E402
from _contenders import ALL_CONTENDERS, Context, build  # noqa: E402
from _specs import SPECS  # noqa: E402
from _trees import SHAPES, count, make_arrays, resolve  # noqa: E402

CHECK_STEPS = 3
TOL_JAX = {"rtol": 1e-5, "atol": 1e-7}  # gradtx vs Optax, float32
TOL_OTHER = {"rtol": 1e-4, "atol": 1e-6}  # torch and ideal vs Optax (other op orders)


class AgreementError(AssertionError):
    """Two contenders computed different parameters: their timings would mean nothing."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--optimizers", default=",".join(SPECS), help="comma-separated")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated")
    ap.add_argument("--contenders", default=",".join(ALL_CONTENDERS), help="comma-separated")
    ap.add_argument("--repeats", type=int, help="timed samples per contender (20; quick 3)")
    ap.add_argument("--quick", action="store_true", help="tiny shapes (<=100k params)")
    ap.add_argument("--markdown", type=Path, help="write the Markdown report here")
    ap.add_argument("--json", type=Path, help="write all results as JSON here")
    ap.add_argument("--threads", type=int, default=_machine.cores(), help="torch/OpenMP")
    ap.add_argument("--compile-repeats", type=int, default=1, help="fresh compiles, min kept")
    ap.add_argument("--min-sample-ms", type=float, help="steps per sample fill this (5; quick 1)")
    ap.add_argument(
        "--gap-ms", type=float, help="idle time between samples, lets spinning threads settle"
    )
    args = ap.parse_args(argv)
    args.optimizers = [s for s in args.optimizers.split(",") if s]
    for name in args.optimizers:
        if name not in SPECS:
            ap.error(f"unknown optimizer {name!r}; known: {', '.join(SPECS)}")
    args.shapes = resolve([s for s in args.shapes.split(",") if s])
    args.contenders = [s for s in args.contenders.split(",") if s]
    for name in args.contenders:
        if name not in ALL_CONTENDERS:
            ap.error(f"unknown contender {name!r}; known: {', '.join(ALL_CONTENDERS)}")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 20
    if args.min_sample_ms is None:
        args.min_sample_ms = 1.0 if args.quick else 5.0
    if args.gap_ms is None:
        args.gap_ms = 2.0 if args.quick else 20.0
    return args


def make_context(args, platform: str, notes: list[str]) -> Context:
    """Threads, the torch device and the C kernel, with a note for whatever is skipped."""
    ctx = Context(nthreads=args.threads, compile_repeats=args.compile_repeats, notes=notes)
    if any(c.startswith("torch") for c in args.contenders):
        try:
            import torch

            torch.set_num_threads(args.threads)
            if platform == "cpu":
                ctx.torch_device = "cpu"
            elif torch.cuda.is_available():
                ctx.torch_device = "cuda"
            else:
                notes.append(f"torch skipped: JAX runs on {platform} but torch has no CUDA")
        except ImportError as e:
            notes.append(f"torch skipped: not importable ({e})")
    if "ideal" in args.contenders:
        if platform != "cpu":
            notes.append(f"ideal skipped: the C kernel is CPU-only and JAX runs on {platform}")
        else:
            ctx.kernel, msg = _ideal.load()
            notes.append(f"ideal kernel built with `{msg}`" if ctx.kernel else msg)
    return ctx


def check_agreement(contenders: list, label: str) -> dict:
    """Run ``CHECK_STEPS`` steps of each contender from the same start and compare params.

    gradtx must match Optax to float32 precision; torch and the ideal kernel (whose
    operation orders differ) must match loosely. Raises :class:`AgreementError`; returns
    ``{"case", "reference", "steps", "passed", "agree": {contender: tolerance}}``.
    """
    final = {}
    for c in contenders:
        c.reset()
        c.first_step()
        for _ in range(CHECK_STEPS - 1):
            c.sync()
            c.refresh()
            c.step()
        c.sync()
        final[c.name] = c.params()
        c.reset()
    ref = "optax" if "optax" in final else "gradtx" if "gradtx" in final else None
    out = {"case": label, "reference": ref, "steps": CHECK_STEPS, "passed": True, "agree": {}}
    if ref is None:
        return out
    for name, leaves in final.items():
        if name == ref:
            continue
        tol = TOL_JAX if name in ("gradtx", "optax", "gradtx-grouped") else TOL_OTHER
        for i, (a, b) in enumerate(zip(leaves, final[ref])):
            try:
                np.testing.assert_allclose(a, b, **tol)
            except AssertionError as e:
                raise AgreementError(
                    f"{label}: {name} and {ref} disagree after {CHECK_STEPS} steps "
                    f"(leaf {i} of {len(leaves)}, {tol}):\n{e}"
                ) from None
        out["agree"][name] = f"rtol {tol['rtol']:g}, atol {tol['atol']:g}"
    return out


def time_round_robin(contenders: list, repeats: int, min_sample_s: float, gap_s: float) -> dict:
    """Per-step times (s) per contender: ``repeats`` interleaved samples of ``inner`` steps.

    ``gap_s`` of sleep before each sample lets the previous contender's worker threads
    (OpenMP, XLA, which spin for a while after their work) go idle, so that they do not
    steal cores from the contender being timed.
    """
    inner = {}
    for c in contenders:  # warm up, then size the samples
        c.refresh()
        c.step()
        c.sync()
        t0 = time.perf_counter()
        c.step()
        c.sync()
        dt = time.perf_counter() - t0
        inner[c.name] = max(1, min(1000, math.ceil(min_sample_s / max(dt, 1e-7))))
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    for rep in range(repeats):
        k = rep % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            n = inner[c.name]
            c.refresh()
            time.sleep(gap_s)
            t0 = time.perf_counter()
            for _ in range(n):
                c.step()
            c.sync()
            samples[c.name].append((time.perf_counter() - t0) / n)
    return {"samples": samples, "inner": inner}


def run_case(spec, shape, args, ctx: Context, reference_gbps: float, checks: list) -> dict:
    """Build, check and time every contender on one (optimizer, shape)."""
    label = f"{spec.name}/{shape.name}"
    shape_tree = shape.build(args.quick)
    n_params, n_leaves = count(shape_tree)
    print(f"[{label}] {n_params:,} params in {n_leaves} leaves", flush=True)
    params_np, grads_np = make_arrays(shape_tree)
    contenders = []
    for name in args.contenders:
        c = build(name, spec, params_np, grads_np, ctx)
        if c is not None:
            contenders.append(c)
    checks.append(check_agreement(contenders, label))
    for c in contenders:
        for w in getattr(c, "donation_warnings", []):
            ctx.notes.append(f"{label} {c.name}: JAX warned on the first step: {w}")
    timing = time_round_robin(contenders, args.repeats, args.min_sample_ms / 1e3, args.gap_ms / 1e3)
    row = {"optimizer": spec.name, "shape": shape.name, "params": n_params, "leaves": n_leaves}
    row["bytes_per_param"] = spec.bytes_per_param
    row["contenders"] = {}
    for c in contenders:
        t = np.asarray(timing["samples"][c.name])
        med = float(np.median(t))
        gbps = spec.bytes_per_param * n_params / med / 1e9
        row["contenders"][c.name] = {
            "median_ms": med * 1e3,
            "p10_ms": float(np.percentile(t, 10)) * 1e3,
            "p90_ms": float(np.percentile(t, 90)) * 1e3,
            "inner": timing["inner"][c.name],
            "samples_ms": (t * 1e3).round(5).tolist(),
            "gbps": gbps,
            "frac_copy": gbps / reference_gbps,
            "compile_s": c.compile_s,
            "lower_s": c.lower_s,
            "xla_s": c.xla_s,
            "memory": c.memory,
        }
    cs = row["contenders"]
    for c in cs.values():
        c["frac_ideal"] = cs["ideal"]["median_ms"] / c["median_ms"] if "ideal" in cs else None
    if "gradtx" in cs and "optax" in cs:
        row["gradtx_over_optax"] = cs["gradtx"]["median_ms"] / cs["optax"]["median_ms"]
    if "gradtx-grouped" in cs and "optax" in cs:
        row["grouped_over_optax"] = cs["gradtx-grouped"]["median_ms"] / cs["optax"]["median_ms"]
    summary = ", ".join(f"{n} {_report.fmt_ms(c['median_ms'])} ms" for n, c in cs.items())
    print(f"[{label}] {summary}", flush=True)
    del contenders
    gc.collect()
    return row


def measure_bandwidth(args, ctx: Context, platform: str) -> dict:
    nbytes = (16 if args.quick else 400) * 2**20
    bw = {"copy_mb": nbytes / 2**20}
    bw["numpy_copy_gbps"] = _machine.numpy_copy_bandwidth(nbytes)
    bw["device_copy_gbps"] = _machine.device_copy_bandwidth(nbytes)
    if ctx.kernel is not None:
        bw["openmp_copy_gbps"] = _ideal.copy_bandwidth(ctx.kernel, nbytes, ctx.nthreads)
    if platform == "cpu":
        cpu_keys = ("numpy_copy_gbps", "device_copy_gbps", "openmp_copy_gbps")
        bw["reference_gbps"] = max(bw[k] for k in cpu_keys if k in bw)
    else:
        bw["reference_gbps"] = bw["device_copy_gbps"]
    return bw


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the results dict (also written as JSON / Markdown)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parse_args(argv)
    t_start = time.perf_counter()
    warnings_: list[str] = []
    if (w := _machine.load_warning()) is not None:
        warnings_.append(w)
        print(w, flush=True)
    loadavg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    calib_start = _machine.calibration_ms()
    meta = _machine.describe()
    notes: list[str] = []
    ctx = make_context(args, meta["jax_platform"], notes)
    import jax

    if jax.config.jax_compilation_cache_dir:
        notes.append("the JAX persistent compilation cache is on: compile times may be cached")
    bw = measure_bandwidth(args, ctx, meta["jax_platform"])
    print(f"copy bandwidth (GB/s, read+write): {bw}", flush=True)
    checks: list[str] = []
    rows = [
        run_case(SPECS[opt], shape, args, ctx, bw["reference_gbps"], checks)
        for opt in args.optimizers
        for shape in args.shapes
    ]
    calib_end = _machine.calibration_ms()
    if (w := _machine.drift_warning(calib_start, calib_end)) is not None:
        warnings_.append(w)
        print(w, flush=True)
    meta.update(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        command=shlex.join(["python", "benchmarks/step_time.py", *argv]),
        quick=args.quick,
        repeats=args.repeats,
        gap_ms=args.gap_ms,
        nthreads=args.threads,
        loadavg=loadavg,
        calibration_ms=[calib_start, calib_end],
        bandwidth=bw,
        elapsed_s=time.perf_counter() - t_start,
    )
    results = {"meta": meta, "warnings": warnings_, "checks": checks, "notes": notes}
    results["rows"] = rows
    md = _report.markdown(results)
    print(md)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(md)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
