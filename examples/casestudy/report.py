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


def plot_curves(runs: dict, path: Path, title: str, ceiling: float = 1e4) -> bool:
    """Two panels, train loss against passes over the data and against wall time (log y).

    One line per run: dashed for full-batch methods, dotted after the tenth (the colors
    repeat). Losses above ``ceiling`` are clipped to it; a run that did not end ``ok`` has
    its last finite point marked with an x.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    colors = plt.get_cmap("tab10").colors
    floor, top = ceiling, 0.0
    for i, (name, r) in enumerate(runs.items()):
        c = r.get("curves") or {}
        columns = (c.get("passes", []), c.get("time_s", []), c.get("train_loss", []))
        points = [(p, t, v) for p, t, v in zip(*columns) if v is not None]
        if not points:
            continue
        passes, times, loss = zip(*points)
        loss = [min(v, ceiling) for v in loss]
        floor, top = min(floor, *loss), max(top, *loss)
        label = name if r["status"] == "ok" else f"{name} ({r['status']})"
        for ax, x in zip(axes, (passes, times)):
            style = "--" if r.get("full_batch") else "-" if i < 10 else ":"
            width = 2.4 if r.get("full_batch") or i >= 10 else 1.5
            (line,) = ax.plot(x, loss, style, color=colors[i % 10], label=label, lw=width)
            if r["status"] != "ok":
                ax.plot(x[-1], loss[-1], "x", color=line.get_color(), ms=9, mew=2)
    axes[0].set(
        xscale="log",
        xlabel="passes over the training set (gradient evaluations / n)",
        ylabel="training loss (cross-entropy)",
        yscale="log",
    )
    axes[1].set(xscale="log", xlabel="wall time (s, compilation and warm-up excluded)")
    axes[0].set_ylim(max(floor * 0.7, 1e-6), max(top, 3.0) * 1.3)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[1].legend(fontsize=8, ncol=2, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
