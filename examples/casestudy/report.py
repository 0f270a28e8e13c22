"""The case study's outputs: a results table, loss-curve plots and a JSON of every number."""

from __future__ import annotations

import json
import math
from pathlib import Path


def print_table(runs: dict) -> str:
    """Print (and return) one line per run: loss, accuracy, steps, passes and times."""
    width = max([len("method"), *map(len, runs)]) + 2
    lines = [
        f"{'method':<{width}}{'status':<12}{'train loss':>11}{'test acc %':>11}{'steps':>7}"
        f"{'passes':>8}{'compile s':>10}{'train s':>9}{'ms/step':>9}"
    ]
    for name, r in runs.items():
        loss, acc = r.get("final_train_loss"), r.get("test_accuracy")
        cells = f"{loss:>11.4g}" if loss is not None else f"{'-':>11}"
        cells += f"{acc:>11.2f}" if acc is not None else f"{'-':>11}"
        lines.append(
            f"{name:<{width}}{r['status']:<12}{cells}{r['steps']:>7}{r['passes']:>8.1f}"
            f"{r['compile_s']:>10.2f}{r['train_s']:>9.2f}{r['ms_per_step']:>9.3f}"
        )
    text = "\n".join(lines)
    print("\n" + text)
    return text


def write_json(results: dict, path: Path) -> None:
    """Write the results; non-finite numbers become null (strict JSON)."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    path.write_text(json.dumps(clean(results), indent=1, default=str))


FEW = 10  # up to this many runs share one pair of axes; more are split by family
_STYLES = ("-", "--", ":", "-.")


def _style(i: int, full_batch: bool) -> dict:
    """Distinct colour and line style for the ``i``-th run (ten colours, then dashes...)."""
    import matplotlib.pyplot as plt

    color = plt.get_cmap("tab10").colors[i % 10]
    return {"color": color, "ls": _STYLES[(i // 10 + full_batch) % 4], "lw": 1.8}


def _points(r: dict, ceiling: float):
    c = r.get("curves") or {}
    columns = (c.get("passes", []), c.get("time_s", []), c.get("train_loss", []))
    points = [(p, t, min(v, ceiling)) for p, t, v in zip(*columns) if v is not None]
    return list(zip(*points)) if points else None


def _draw(ax, x, loss, r: dict, label: str, style: dict) -> None:
    (line,) = ax.plot(x, loss, label=label, **style)
    if r["status"] != "ok":
        ax.plot(x[-1], loss[-1], "x", color=line.get_color(), ms=8, mew=2)


def _label(name: str, r: dict) -> str:
    return name if r["status"] == "ok" else f"{name} ({r['status']})"


def _setup(ax, xlabel: str) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set(xscale="log", yscale="log", xlabel=xlabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.xaxis.set_minor_formatter(NullFormatter())


def family_of(name: str) -> str:
    """The family of a run: its optimizer's module (``gradtx.OPTIMIZERS``), "full batch"
    for the full-batch methods, or "other"."""
    import gradtx

    info = gradtx.OPTIMIZERS.get(name)
    if info is not None:
        return info.family.replace("_", " ")
    return "full batch" if name.endswith("_fullbatch") else "other"


def plot_curves(runs: dict, path: Path, title: str, ceiling: float = 1e4) -> bool:
    """Training loss against passes over the data and against wall time (log-log).

    Up to :data:`FEW` runs: two panels, one distinct colour and line style per run and the
    legend outside the axes. More runs (the comparison of every optimizer): small multiples,
    one panel per optimizer family (``gradtx.OPTIMIZERS[name].family``), after two summary
    panels with the best run of each family (lowest final loss) against passes and time.
    Losses above ``ceiling`` are clipped to it; a run that did not end ``ok`` has its last
    point marked with an x.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    drawn = {n: (r, pts) for n, r in runs.items() if (pts := _points(r, ceiling)) is not None}
    if len(drawn) <= FEW:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
        for i, (name, (r, (passes, times, loss))) in enumerate(drawn.items()):
            style = _style(i, bool(r.get("full_batch")))
            for ax, x in zip(axes, (passes, times)):
                _draw(ax, x, loss, r, _label(name, r), style)
        _setup(axes[0], "passes over the training set (gradient evaluations / n)")
        _setup(axes[1], "wall time (s, compilation and warm-up excluded)")
        axes[0].set_ylabel("training loss (cross-entropy)")
        axes[1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.suptitle(title)
        fig.tight_layout()
    else:
        fig = _plot_families(plt, drawn, title)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def _plot_families(plt, drawn: dict, title: str):
    families: dict[str, list[str]] = {}
    for name in drawn:
        families.setdefault(family_of(name), []).append(name)
    final = lambda n: drawn[n][1][2][-1] if drawn[n][0]["status"] == "ok" else float("inf")
    best = {f: min(names, key=final) for f, names in families.items()}
    cols = 4
    rows = 1 + -(-len(families) // cols)
    fig = plt.figure(figsize=(4.4 * cols, 3.0 * rows + 2.5), layout="constrained")
    grid = fig.add_gridspec(rows, cols, height_ratios=[2.2] + [1] * (rows - 1))
    summary = [fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2])]
    legend_ax = fig.add_subplot(grid[0, 3])
    legend_ax.axis("off")
    for i, (fam, name) in enumerate(sorted(best.items(), key=lambda kv: final(kv[1]))):
        r, (passes, times, loss) = drawn[name]
        style = {**_style(i, False), "lw": 2.4 if i < 5 else 1.2}  # the five best stand out
        for ax, x in zip(summary, (passes, times)):
            _draw(ax, x, loss, r, f"{fam}: {_label(name, r)}", style)
    _setup(summary[0], "passes over the training set")
    _setup(summary[1], "wall time (s)")
    summary[0].set(
        ylabel="training loss", title="best of each family (lowest final loss; the five best thick)"
    )
    summary[1].set_title("the same against wall time")
    legend_ax.legend(*summary[0].get_legend_handles_labels(), fontsize=8, loc="center left")
    top = max(max(pts[2]) for _, pts in drawn.values())
    bottom = max(min(min(pts[2]) for _, pts in drawn.values()), 1e-3 * top)
    ylim = (bottom / 1.5, top * 1.5)  # a run far below the rest (full batch) leaves the axes
    for ax in summary:
        ax.set_ylim(ylim)
    for k, fam in enumerate(sorted(families, key=lambda f: final(best[f]))):
        ax = fig.add_subplot(grid[1 + k // cols, k % cols])
        for i, name in enumerate(families[fam]):
            r, (passes, _, loss) = drawn[name]
            _draw(ax, passes, loss, r, _label(name, r), _style(i, bool(r.get("full_batch"))))
        _setup(ax, "passes")
        ax.set_ylim(ylim)
        ax.set_title(f"{fam} ({len(families[fam])})", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{title}: {len(drawn)} runs in {len(families)} families")
    return fig
