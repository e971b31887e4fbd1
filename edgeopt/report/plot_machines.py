"""pareto.png for a run profiled on several machines: one coloured series per machine.

The host-only plot is `edgeopt.report.plot.write_pareto_plot`; this one draws the same two panels
(accuracy against energy per inference and against p50 latency) with each machine's rows and its
own Pareto front, so a reader sees where a board moves the trade-off. It reads the way the host
plot does: the same plain-number axes, labels placed where they cover no other label (each
machine's Pareto-front rows, in its colour), Keras rows left out and named in the legend, and the
energy axis naming its sources and scopes.
"""

from __future__ import annotations

from pathlib import Path

from edgeopt.common.row import Row
from edgeopt.report.plot import energy_axis_label, pareto_front, place_labels, save_figure, set_cost_axis

COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
MARKERS = ("o", "^", "D", "v", "P", "X", "<", ">")  # per machine


def write_machines_plot(machines: list[tuple[str, list[Row]]], path: Path,
                        budget_floor: float | None = None) -> Path | None:
    """Plot every machine's deployable rows, named in the legend; None when no row has figures to plot.

    Args:
        machines: (name, rows) per machine, the host first.
        path: Where the PNG goes (written atomically).
        budget_floor: Lowest accuracy (fraction) within the budget, drawn as a dashed line.
    """
    fig = machines_figure(machines, budget_floor)
    return None if fig is None else save_figure(fig, path)


def machines_figure(machines: list[tuple[str, list[Row]]], budget_floor: float | None = None):
    """The matplotlib Figure `write_machines_plot` saves, or None when nothing has figures."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def plotted(rows: list[Row], key: str) -> list[Row]:
        return [r for r in rows if r.format != "keras" and getattr(r, key) is not None and r.accuracy is not None]

    keras = sorted({r.name for _, rows in machines for r in rows if r.format == "keras"})
    panels = []
    for key in ("energy_mj", "latency_ms_p50"):
        every = [r for _, rows in machines for r in plotted(rows, key)]
        if every:
            label = energy_axis_label(every) if key == "energy_mj" else \
                "p50 latency (ms)\nLiteRT interpreter, batch 1, each machine as named in the legend"
            panels.append((key, every, label))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5.6), squeeze=False)
    labels = []
    for ax, (key, every, label) in zip(axes[0], panels):
        for number, (name, rows) in enumerate(machines):
            shown = plotted(rows, key)
            if not shown:
                continue
            colour, marker = COLOURS[number % len(COLOURS)], MARKERS[number % len(MARKERS)]
            points = [(getattr(r, key), 100 * r.accuracy) for r in shown]
            front = pareto_front(points)
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=30, marker=marker, color=colour,
                       alpha=0.45, zorder=3)
            line = sorted(points[i] for i in front)
            ax.plot([p[0] for p in line], [p[1] for p in line], color=colour, lw=1, marker=marker, markersize=7,
                    zorder=4)
            labels.append((ax, colour, [shown[i].name for i in front], [points[i] for i in front]))
        if budget_floor is not None:
            ax.axhline(100 * budget_floor, color="tab:gray", ls="--", lw=1)
        set_cost_axis(ax, [getattr(r, key) for r in every])
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.autoscale_view()
    handles = [Line2D([], [], color=COLOURS[n % len(COLOURS)], marker=MARKERS[n % len(MARKERS)], lw=1,
                      label=f"{name} (Pareto front labelled)") for n, (name, _) in enumerate(machines)]
    if budget_floor is not None:
        handles.append(Line2D([], [], color="tab:gray", ls="--", lw=1, label="accuracy budget"))
    if keras:
        handles.append(Line2D([], [], lw=0, label=f"left out: {', '.join(keras)} (Keras rows: timed in TensorFlow "
                                                 "at batch 1, not what a device runs)"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 4),
               fontsize=8, frameon=False)
    fig.suptitle("accuracy against cost of the deployable (.tflite) rows, per machine")
    fig.tight_layout()
    placed: dict[int, list] = {}  # label boxes per panel, shared by the machines drawn on it
    for ax, colour, names, points in labels:  # once the layout is final
        place_labels(fig, ax, names, points, color=colour, placed=placed.setdefault(id(ax), []))
    return fig
