"""pareto.png for a run profiled on several machines: one coloured series per machine.

The host-only plot is `edgeopt.plot.write_pareto_plot`; this one draws the same two panels
(accuracy against energy per inference and against p50 latency) with each machine's rows and its
own Pareto front, so a reader sees where a board moves the trade-off.
"""

from __future__ import annotations

from pathlib import Path

from edgeopt.atomic import atomic_write_bytes
from edgeopt.plot import pareto_front
from edgeopt.row import Row

PANELS = (("energy_mj", "energy per inference (mJ)"), ("latency_ms_p50", "p50 latency (ms)"))
COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
MARKERS = ("o", "^", "D", "v", "P", "X", "<", ">")  # per machine; Keras rows are squares


def write_machines_plot(machines: list[tuple[str, list[Row]]], path: Path,
                        budget_floor: float | None = None) -> Path | None:
    """Plot every machine's rows, named in the legend; None when no row has figures to plot.

    Args:
        machines: (name, rows) per machine, the host first.
        path: Where the PNG goes (written atomically).
        budget_floor: Lowest accuracy (fraction) within the budget, drawn as a dashed line.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    def plotted(rows: list[Row], key: str) -> list[Row]:
        return [r for r in rows if getattr(r, key) is not None and r.accuracy is not None]

    panels = [(key, label) for key, label in PANELS if any(plotted(rows, key) for _, rows in machines)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        sources = set()
        for number, (name, rows) in enumerate(machines):
            colour = COLOURS[number % len(COLOURS)]
            shown = plotted(rows, key)
            if not shown:
                continue
            points = [(getattr(r, key), 100 * r.accuracy) for r in shown]
            for row, (x, y) in zip(shown, points):
                ax.scatter(x, y, s=40, marker=MARKERS[number % len(MARKERS)] if row.format == "tflite" else "s",
                           color=colour, zorder=3)
                # Each machine's names on their own line above the point: the same row on two
                # machines often shares an accuracy, and the labels would print over each other.
                ax.annotate(row.name, (x, y), textcoords="offset points", xytext=(5, 4 + 9 * number),
                            fontsize=7, color=colour)
            front = sorted(points[i] for i in pareto_front(points))
            ax.plot([p[0] for p in front], [p[1] for p in front], color=colour, lw=1, zorder=2,
                    marker=MARKERS[number % len(MARKERS)], markersize=0, label=f"{name} (Pareto front)")
            if key == "energy_mj":
                sources |= {f"{r.energy_source}{'' if r.energy_measured else ' estimate'}"
                            for r in shown if r.energy_source}
        if budget_floor is not None:
            ax.axhline(100 * budget_floor, color="tab:gray", ls="--", lw=1, label="accuracy budget")
        ax.set_xlabel(label + (f" — {', '.join(sorted(sources))}" if sources else ""))
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels overprint
        ax.margins(y=0.15)  # room for the stacked names above the top points
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("accuracy against cost per machine (one colour and marker each; squares: Keras)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
