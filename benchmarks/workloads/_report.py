"""The benchmark's outputs: results.json, results.md, a console table and PNG figures.

The figures stay readable with any number of optimizers: each optimizer keeps one colour
and line style in every figure (ten colours, then the same colours dashed, dotted...), the
legend sits outside the axes, and the heat map of time ratios needs no legend at all.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path

from . import _optimizers, _scoring

_STYLES = ("-", "--", ":", "-.")


def workload_info(wl) -> dict:
    return {
        "description": wl.description,
        "metric": wl.metric,
        "target": wl.target,
        "budget": wl.budget,
        "eval_every": wl.eval_every,
        "batch_size": wl.batch_size or "full",
        "convex": wl.convex,
        **{k: v for k, v in wl.notes.items()},
    }


def machine() -> dict:
    """``benchmarks/_machine.py``'s description, and the load when the run ended."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import _machine

    info = _machine.describe()
    try:
        import os

        info["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def assemble(args, workloads, specs, summary, wall_s) -> dict:
    tables = _scoring.score_tables(
        {"workloads": workloads, "optimizers": specs, "summary": summary}
    )
    argv = " ".join(sys.argv[1:]) if Path(sys.argv[0]).name in ("run.py", "__main__.py") else ""
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config.pop("tuned_points", None)
    return {
        "command": "python -m benchmarks.workloads " + argv,
        "config": config,
        "machine": machine(),
        "python": platform.python_version(),
        "wall_s": wall_s,
        "workloads": workloads,
        "optimizers": {o: {"space": _optimizers.describe_space(s), "schedule": s.schedule,
                           "full_batch_only": s.full_batch_only} for o, s in specs.items()},
        "summary": summary,
        "profiles": tables,
    }  # fmt: skip


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _cell(s: dict | None, kind: str) -> str:
    if s is None:
        return "n/a"
    v = s[kind]
    if not math.isfinite(v):
        return "—"
    text = f"{v:.0f}" if kind == "steps" else f"{v:.3g}"
    return text if s["reached"] == s["seeds"] else f"{text} ({s['reached']}/{s['seeds']})"


def _grid(results: dict, kind: str) -> list[list[str]]:
    names = list(results["workloads"])
    rows = [["optimizer", *names, "score"]]
    for o in results["optimizers"]:
        row = [_cell(results["summary"].get(o, {}).get(w), kind) for w in names]
        rows.append([o, *row, f"{results['profiles'][kind]['score'][o]:.3f}"])
    return rows


def _markdown_table(rows) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def markdown(results: dict) -> str:
    wl = results["workloads"]
    lines = [
        "| workload | model and data | metric | target | step budget | batch |",
        "|---|---|---|---|---|---|",
    ]
    for name, w in wl.items():
        desc = w["description"].replace("|", "\\|")  # a pipe would end the cell
        lines.append(f"| {name} | {desc} | {w['metric']} | {w['target']:g} | "
                     f"{w['budget']} | {w['batch_size']} |")  # fmt: skip
    lines += ["", "**Steps to target** (median over seeds of the best trial's hyperparameters; "
              "— did not reach; (k/n) seeds that reached; n/a not run; score: AlgoPerf's "
              "area under the performance profile, 1 = fastest everywhere):", "",
              _markdown_table(_grid(results, "steps")), "",
              "**Time to target** (s, compiled steps only; same conventions):", "",
              _markdown_table(_grid(results, "time_s")), "",
              *_estimated(results),
              "**Chosen hyperparameters** (the best of the tuning trials, or the one that came "
              "closest; trials that reached the target / trials):", ""]  # fmt: skip
    names = list(wl)
    rows = [["optimizer", *names]]
    for o in results["optimizers"]:
        row = []
        for w in names:
            s = results["summary"].get(o, {}).get(w)
            if s is None:
                row.append("n/a")
                continue
            hp = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in s["hyperparams"].items())  # fmt: skip
            closest = "" if s["trials_reached"] else "closest: "
            row.append(f"{closest}{hp} ({s['trials_reached']}/{s['trials']})")
        rows.append([o, *row])
    lines.append(_markdown_table(rows))
    lines += ["", "Search spaces:", ""]
    lines += [f"* `{o}`: {s['space']}" for o, s in results["optimizers"].items()]
    return "\n".join(lines) + "\n"


def _estimated(results: dict) -> list[str]:
    """The table of steps x interleaved time per step, when the run measured it."""
    if "time_est_s" not in results["profiles"]:
        return []
    names = list(results["workloads"])
    rows = [["optimizer", *names]]
    for o in results["optimizers"]:
        cells = []
        for w in names:
            s = results["summary"].get(o, {}).get(w)
            ms = None if s is None else s.get("ms_per_step_interleaved")
            cells.append("n/a" if ms is None else f"{ms:.3g}")
        rows.append([o, *cells])
    merged = [m for m in results.get("merged_from", []) if m.get("step_time_ref")]
    added = {o: None for m in merged for o in m["added"] if o != m["step_time_ref"]}
    note = "" if not added else (
        f"; {', '.join(added)}: timed in their own run beside {merged[0]['step_time_ref']}, "
        f"their ratio to it × {merged[0]['step_time_ref']}'s time here")  # fmt: skip
    return ["**Time per step** (ms, every optimizer's compiled steps run in turn, 11 rounds "
            "of samples of at least 0.2 s, median; the best trial's hyperparameters"
            f"{note}):", "",
            _markdown_table(rows), "",
            "**Time to target, estimated** (s, steps to target × the time per step above: "
            "what a change of load during the run affects alike for all optimizers):", "",
            _markdown_table(_grid(results, "time_est_s")), ""]  # fmt: skip


def console_table(results: dict) -> str:
    names = list(results["workloads"])
    width = max(12, *(len(o) for o in results["optimizers"])) + 1
    head = f"{'optimizer':<{width}}" + "".join(f"{n:>18}" for n in names) + f"{'score':>7}"
    lines = ["steps / seconds to target (— not reached, n/a not run)", head]
    score = results["profiles"]["time_s"]["score"]
    for o in results["optimizers"]:
        cells = []
        for w in names:
            s = results["summary"].get(o, {}).get(w)
            if s is None:
                cells.append("n/a")
            elif not math.isfinite(s["steps"]):
                cells.append("—")
            else:
                cells.append(f"{s['steps']:.0f} / {s['time_s']:.3g}s")
        lines.append(f"{o:<{width}}" + "".join(f"{c:>18}" for c in cells) + f"{score[o]:>7.3f}")
    return "\n".join(lines)


def load(path: Path) -> dict:
    """A results.json read back, with ``null`` times and step counts infinite again."""
    results = json.loads(Path(path).read_text())
    for row in results["summary"].values():
        for s in row.values():
            for k in ("steps", "time_s", "time_est_s", "ms_per_step"):
                if k in s and s[k] is None:
                    s[k] = math.inf
    for prof in results["profiles"].values():
        prof["score"] = {o: v or 0.0 for o, v in prof["score"].items()}
    return results


def write(results: dict, out: Path, figures: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_clean(results), indent=1))
    (out / "results.md").write_text(markdown(results))
    if figures:
        plot_all(results, out)


def style(i: int) -> dict:
    """Colour and line style of the ``i``-th optimizer (distinct for 34 optimizers).

    The first ten get tab10's colours, solid; the next get Dark2's eight colours (hues apart
    from tab10's), dashed, then dotted, then dash-dotted, so that no two share a colour and a
    line style and an eleventh optimizer is not a dashed copy of the first.
    """
    import matplotlib.pyplot as plt

    if i < 10:
        return {"color": plt.get_cmap("tab10").colors[i], "linestyle": "-"}
    j = i - 10
    return {"color": plt.get_cmap("Dark2").colors[j % 8], "linestyle": _STYLES[1 + (j // 8) % 3]}


def plot_all(results: dict, out: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: F401
    except ImportError:
        return []
    return [plot_profiles(results, out / "profiles.png"),
            plot_ratios(results, out / "time_ratios.png"),
            plot_curves(results, out / "curves.png")]  # fmt: skip


def plot_profiles(results: dict, path: Path) -> Path:
    """Both profiles side by side; each line is lifted by a hair so that none hides another."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    time_kind = "time_est_s" if "time_est_s" in results["profiles"] else "time_s"
    scores = {k: results["profiles"][k]["score"] for k in ("steps", time_kind)}
    rank = lambda o: (-scores["steps"][o], -scores[time_kind][o])
    order = sorted(results["optimizers"], key=rank)
    time_label = "time (steps × time per step)" if time_kind == "time_est_s" else "wall time"
    for ax, kind, label in zip(axes, ("steps", time_kind), ("steps", time_label)):
        prof = results["profiles"][kind]
        for o in order:
            i = list(results["optimizers"]).index(o)
            both = f"{scores['steps'][o]:.2f}, {scores[time_kind][o]:.2f}"
            lift = 0.008 * (order.index(o) - (len(order) - 1) / 2)  # equal profiles stay visible
            ax.step(prof["taus"], np.asarray(prof["rho"][o]) + lift, where="post", lw=2, **style(i),
                    label=f"{o} ({both})")  # fmt: skip
        ax.set(xlabel="τ (within τ × the fastest)", xlim=(1, _scoring.MAX_TAU),
               ylim=(-0.02, 1.02), title=f"{label} to target")  # fmt: skip
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of workloads")
    handles, labels = axes[1].get_legend_handles_labels()
    axes[1].legend(handles, labels, title="optimizer (score: steps, time)", loc="upper left",
                   bbox_to_anchor=(1.02, 1.0), fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_ratios(results: dict, path: Path) -> Path:
    """A heat map: time to target over the best optimizer's, per optimizer and workload."""
    import matplotlib.pyplot as plt
    import numpy as np

    names, opts = list(results["workloads"]), list(results["optimizers"])
    kind = "time_est_s" if "time_est_s" in results["profiles"] else "time_s"
    grid = np.full((len(opts), len(names)), np.nan)
    text = [["" for _ in names] for _ in opts]
    for j, w in enumerate(names):
        times = [results["summary"].get(o, {}).get(w, {}).get(kind, math.inf) for o in opts]
        best = min(times)
        for i, (o, t) in enumerate(zip(opts, times)):
            if w not in results["summary"].get(o, {}):
                text[i][j] = "n/a"
            elif math.isfinite(t):
                grid[i, j] = t / best
                text[i][j] = f"{t / best:.1f}×\n{t:.2g}s"
            else:
                text[i][j] = "—"
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 + 1.45 * len(names)), 1.2 + 0.5 * len(opts)))
    shown = np.log2(np.clip(grid, 1, 16))
    image = ax.imshow(shown, cmap="viridis_r", vmin=0, vmax=4, aspect="auto")
    for i in range(len(opts)):
        for j in range(len(names)):
            dark = not np.isnan(shown[i, j]) and shown[i, j] > 2.0  # viridis_r: high is dark
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_yticks(range(len(opts)), opts)
    bar = fig.colorbar(image, ax=ax, ticks=[0, 1, 2, 3, 4])
    bar.ax.set_yticklabels(["1×", "2×", "4×", "8×", "≥16×"])
    bar.set_label("time to target / the fastest")
    what = "steps × time per step" if kind == "time_est_s" else "wall time"
    ax.set_title(f"time to target ({what}) relative to the fastest optimizer\n"
                 "(— not reached, n/a not run)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_curves(results: dict, path: Path) -> Path:
    """One panel per workload: the validation metric of each optimizer's best trial."""
    import matplotlib.pyplot as plt

    names, opts = list(results["workloads"]), list(results["optimizers"])
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows), squeeze=False)
    for ax, w in zip(axes.flat, names):
        info = results["workloads"][w]
        for i, o in enumerate(opts):
            s = results["summary"].get(o, {}).get(w)
            if not s or not s.get("curve"):
                continue
            pts = [(c[0], c[2]) for c in s["curve"] if c[2] is not None and math.isfinite(c[2])]
            if pts:
                ax.plot(*zip(*pts), lw=1.6, label=o, **style(i))
        ax.axhline(info["target"], color="black", lw=1, ls=(0, (4, 3)), label="target")
        values = [c[2] for o in opts for c in results["summary"].get(o, {}).get(w, {}).get(
            "curve", []) if c[2] is not None and math.isfinite(c[2]) and c[2] > 0]  # fmt: skip
        wide = values and max(values) > 10 * max(min(values), info["target"])
        ax.set(title=w, xlabel="step", ylabel=info["metric"], yscale="log" if wide else "linear")
        ax.grid(alpha=0.3, which="both")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    order = sorted(range(len(labels)), key=lambda k: opts.index(labels[k]) if labels[k] in opts
                   else len(opts))  # the optimizers' order, the target line last  # fmt: skip
    handles, labels = [handles[k] for k in order], [labels[k] for k in order]
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle("validation metric of each optimizer's best trial (seed 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
