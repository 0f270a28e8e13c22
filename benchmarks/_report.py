"""Turn the benchmark's results dict into Markdown (written to a file and printed).

The document has a header (date, machine, versions, copy bandwidth, warnings), one summary
table per optimizer, a per-contender detail table per optimizer (GB/s, fraction of the
ideal kernel and of the copy bandwidth), the checks that ran, and the command.
See ``benchmarks/README.md`` for what each column means.
"""

from __future__ import annotations

from _contenders import ALL_CONTENDERS
from _specs import SPECS


def fmt_ms(x: float | None) -> str:
    """About three significant digits, never in scientific notation (ms, GB/s)."""
    if x is None:
        return "–"
    digits = 0 if x >= 100 else 1 if x >= 10 else 2 if x >= 1 else 3 if x >= 0.1 else 4
    return f"{x:.{digits}f}"


def fmt_pct(frac: float | None) -> str:
    """A fraction as a percentage with two significant digits below 10%."""
    if frac is None:
        return "–"
    pct = 100 * frac
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.2g}%"


def _pair(a, b, fmt: str) -> str:
    return " / ".join("–" if x is None else format(x, fmt) for x in (a, b))


def _ms_with_range(c: dict | None) -> str:
    if c is None:
        return "–"
    return f"{fmt_ms(c['median_ms'])} [{fmt_ms(c['p10_ms'])}–{fmt_ms(c['p90_ms'])}]"


def _get(c: dict | None, key: str):
    return None if c is None else c.get(key)


def _mem(c: dict | None):
    mem = _get(c, "memory")
    return None if mem is None else mem["overhead"]


def summary_table(rows: list[dict]) -> list[str]:
    """One row per shape: the columns the issue asks for."""
    head = (
        "| shape | params | leaves | gradtx ms [p10–p90] | optax ms | gradtx-grouped ms "
        "| torch-foreach ms | torch-fused ms | ideal ms | gradtx/optax | grouped/optax "
        "| gradtx % of ideal | compile s gradtx / optax | mem overhead gradtx / optax |"
    )
    lines = [head, "|" + "---|" * 14]
    for row in rows:
        cs = row["contenders"]
        g, o = cs.get("gradtx"), cs.get("optax")
        ratio = row.get("gradtx_over_optax")
        grouped = row.get("grouped_over_optax")
        frac = _get(g, "frac_ideal")
        cells = [
            row["shape"],
            f"{row['params']:,}",
            str(row["leaves"]),
            _ms_with_range(g),
            _ms_with_range(o),
            *(fmt_ms(_get(cs.get(n), "median_ms")) for n in ALL_CONTENDERS[2:]),
            "–" if ratio is None else f"{ratio:.2f}",
            "–" if grouped is None else f"{grouped:.2f}",
            fmt_pct(frac),
            _pair(_get(g, "compile_s"), _get(o, "compile_s"), ".2f"),
            _pair(_mem(g), _mem(o), ".2f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def detail_table(rows: list[dict]) -> list[str]:
    """One row per (shape, contender): time, spread, bandwidth, fractions."""
    lines = [
        "| shape | contender | median ms | p10–p90 ms | GB/s | % of ideal | % of copy bw "
        "| compile s (trace+lower / XLA) | temp / out / alias MB |",
        "|" + "---|" * 9,
    ]
    for row in rows:
        for name, c in row["contenders"].items():
            mem = c.get("memory")
            mem_s = "–"
            if mem is not None:
                parts = (mem["temp_bytes"], mem["output_bytes"], mem["alias_bytes"])
                mem_s = " / ".join(f"{b / 1e6:.1f}" for b in parts)
            comp = "–"
            if c.get("compile_s") is not None:
                comp = f"{c['compile_s']:.2f} ({c['lower_s']:.2f} / {c['xla_s']:.2f})"
            frac = c.get("frac_ideal")
            cells = [
                row["shape"],
                name,
                fmt_ms(c["median_ms"]),
                f"{fmt_ms(c['p10_ms'])}–{fmt_ms(c['p90_ms'])}",
                fmt_ms(c["gbps"]),
                fmt_pct(frac),
                fmt_pct(c["frac_copy"]),
                comp,
                mem_s,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


READING = [
    "`gradtx-grouped` is the same gradtx step under "
    "`gradtx.wrappers.flatten(tx, max_leaf_size=65536)`: the leaves of at most 64k elements "
    "share one vector per dtype (opt-in, since the state is then no longer laid out like "
    "Optax's). On XLA:CPU both gradtx and Optax compile Adam to three loops per leaf, about "
    "40 bytes per parameter against the ideal kernel's 28, and the Optax protocol "
    "(`update` returns the updates, `apply_updates` adds them) allows at best 36; "
    '`benchmarks/README.md` ("What limits a step on XLA:CPU") has the argument and an '
    "XLA FFI kernel experiment.",
    "",
]


def header(results: dict) -> list[str]:
    meta, bw = results["meta"], results["meta"]["bandwidth"]
    lines = ["# Optimizer step time: gradtx vs Optax vs PyTorch vs an ideal kernel", ""]
    if results["warnings"] or meta["quick"]:
        why = "quick mode, tiny shapes" if meta["quick"] else "machine busy"
        lines += [f"> **Preliminary ({why})**: do not quote these numbers.", ""]
    for w in results["warnings"]:
        lines += [f"> **{w}**", ""]
    copy_bits = [f"NumPy copyto (1 thread) {bw['numpy_copy_gbps']:.1f} GB/s"]
    if bw.get("openmp_copy_gbps"):
        copy_bits.append(f"OpenMP copy ({meta['nthreads']} threads) {bw['openmp_copy_gbps']:.1f}")
    copy_bits.append(f"JAX `x + 1` on {meta['jax_device']} {bw['device_copy_gbps']:.1f}")
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {meta['cpu']}, {meta['cores']} cores; {meta['platform']}",
        f"- Versions: Python {meta['python']}, jax {meta['jax']}, optax {meta['optax']}, "
        f"torch {meta['torch']}, numpy {meta['numpy']}; JAX device {meta['jax_device']}",
        f"- Copy bandwidth (read + write, best of 5, {bw['copy_mb']:.0f} MB): "
        f"{'; '.join(copy_bits)} → reference {bw['reference_gbps']:.1f} GB/s",
        f"- Threads: {meta['nthreads']} (torch, OpenMP); repeats {meta['repeats']} "
        f"(interleaved round-robin, {meta['gap_ms']:g} ms idle before each sample); "
        f"calibration memcpy {meta['calibration_ms'][0]:.2f} ms "
        f"at start, {meta['calibration_ms'][1]:.2f} ms at end; load average at start "
        f"{meta['loadavg']:.2f}; the whole run took {meta['elapsed_s'] / 60:.1f} min",
        "",
        *READING,
    ]
    return lines


def check_line(check: dict) -> str:
    """``case: after 3 steps, a, b (tol); c (tol) agree with ref``."""
    if check["reference"] is None:
        return f"{check['case']}: no JAX contender, nothing compared"
    groups: dict[str, list[str]] = {}
    for name, tol in check["agree"].items():
        groups.setdefault(tol, []).append(name)
    agree = "; ".join(f"{', '.join(names)} ({tol})" for tol, names in groups.items())
    return f"{check['case']}: after {check['steps']} steps, {agree} agree with {check['reference']}"


def markdown(results: dict) -> str:
    """The whole document."""
    lines = header(results)
    by_opt: dict[str, list[dict]] = {}
    for row in results["rows"]:
        by_opt.setdefault(row["optimizer"], []).append(row)
    for opt, rows in by_opt.items():
        spec = SPECS[opt]
        lines += [f"## {opt}: {spec.title}", ""]
        lines += [f"Minimum traffic {spec.bytes_per_param} bytes per parameter.", ""]
        lines += [*summary_table(rows), ""]
        lines += ["<details><summary>Per contender</summary>", ""]
        lines += [*detail_table(rows), "", "</details>", ""]
    lines += ["## Checks and notes", ""]
    lines += [f"- {check_line(c)}" for c in results["checks"]]
    lines += [f"- {n}" for n in results["notes"]]
    lines += ["", "Produced by:", "", "```", results["meta"]["command"], "```", ""]
    return "\n".join(lines)
