"""pareto.png: accuracy against energy per inference and against latency, Pareto front marked.

Made to be read, not just drawn: each axis names where its figures come from (the energy meter
and scope, the runtime and threads the latency was timed with), tick labels are plain numbers
that never overlap, point labels are placed where they do not cover each other, and Keras rows —
timed in TensorFlow at batch 1, ten or more times slower than any `.tflite` row and not what a
device runs — are left out of the deployment panels, with the legend saying so.
"""

from __future__ import annotations

import math
from pathlib import Path

from edgeopt.common.atomic import atomic_write_bytes
from edgeopt.common.row import Row

# Offsets (points) tried in turn for a point's label; the first that covers no other label wins.
LABEL_OFFSETS = ((6, 4), (6, -12), (-6, 4), (-6, -12), (6, 14), (-6, 14), (6, -22), (-6, -22),
                 (16, 24), (-16, 24), (16, -32), (-16, -32), (6, 34), (6, -42))
LOG_SCALE_SPAN = 20  # log axis only when the largest value is this many times the smallest


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats: lower-or-equal cost and higher-or-equal accuracy.

    Example:
        >>> pareto_front([(1.0, 0.9), (2.0, 0.95), (3.0, 0.9)])
        [0, 1]
    """
    front = []
    for i, (cost, acc) in enumerate(points):
        dominated = any(c <= cost and a >= acc and (c, a) != (cost, acc) for c, a in points)
        if not dominated:
            front.append(i)
    return front


def energy_axis_label(rows: list[Row]) -> str:
    """'energy per inference (mJ)' and, below it, each source and scope of the plotted rows.

    Example:
        >>> energy_axis_label([Row("a", "a", "tflite", energy_mj=1.0, energy_source="estimate",
        ...                        energy_scope="estimate")])
        'energy per inference (mJ)\\nsource: estimate (not measured)'
    """
    from edgeopt.report.table import energy_label

    kinds: dict[str, bool] = {}  # "hwmon: board-input", "estimate", "model45: model" → all measured?
    for r in rows:
        if r.energy_mj is not None:
            label = energy_label(r)
            kinds[label] = kinds.get(label, True) and r.energy_measured
    named = [label + ("" if measured else " (not measured)") for label, measured in kinds.items()]
    mixed = " — mixed sources, not comparable" if len(named) > 1 else ""
    return "energy per inference (mJ)\nsource: " + "; ".join(named) + mixed


def latency_axis_label(rows: list[Row], machine: dict | None = None) -> str:
    """'p50 latency (ms)' and how it was timed: runtime, threads, batch, CPU."""
    threads = sorted({r.extra.get("threads") for r in rows} - {None})
    how = "LiteRT interpreter, batch 1" + (f", {'/'.join(map(str, threads))} thread(s)" if threads else "")
    cpu = (machine or {}).get("cpu_model")
    return f"p50 latency (ms)\n{how}" + (f", on {cpu}" if cpu else "")


def write_pareto_plot(rows: list[Row], path: Path, budget_floor: float | None = None,
                      machine: dict | None = None) -> Path | None:
    """Plot accuracy vs energy and vs p50 latency of the deployable rows; None when nothing to plot.

    Args:
        rows: The run's rows; Keras rows are left out (and named in the legend).
        path: The PNG to write (atomically).
        budget_floor: Accuracy (fraction) below which a row is over budget: a dashed line.
        machine: `machine_info()` of the run, to name the CPU on the latency axis.

    Example:
        >>> write_pareto_plot(result.rows, Path("runs/quickstart/pareto.png"), 0.954, result.document["machine"])
        PosixPath('runs/quickstart/pareto.png')
    """
    fig = pareto_figure(rows, budget_floor, machine)
    return None if fig is None else save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Write `fig` as a PNG atomically (rendered in memory, then temp file + rename) and close it."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def pareto_figure(rows: list[Row], budget_floor: float | None = None, machine: dict | None = None):
    """The matplotlib Figure `write_pareto_plot` saves (one panel per cost with figures), or None."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    keras = [r.name for r in rows if r.format == "keras"]
    deployable = [r for r in rows if r.format != "keras" and r.accuracy is not None]
    panels = []
    for key, label in (("energy_mj", energy_axis_label), ("latency_ms_p50", latency_axis_label)):
        plotted = [r for r in deployable if getattr(r, key) is not None]
        if plotted:
            panels.append((key, plotted, label(plotted) if key == "energy_mj" else label(plotted, machine)))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5.6), squeeze=False)
    labels = []
    for ax, (key, plotted, label) in zip(axes[0], panels):
        points = [(getattr(r, key), 100 * r.accuracy) for r in plotted]
        front = set(pareto_front(points))
        for i, (x, y) in enumerate(points):
            ax.scatter(x, y, s=60 if i in front else 30, color="tab:red" if i in front else "tab:gray", zorder=3)
        line = sorted(points[i] for i in front)
        ax.plot([p[0] for p in line], [p[1] for p in line], color="tab:red", lw=1, zorder=2)
        if budget_floor is not None:
            ax.axhline(100 * budget_floor, color="tab:blue", ls="--", lw=1)
        set_cost_axis(ax, [p[0] for p in points])
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.autoscale_view()
        labels.append((ax, [r.name for r in plotted], points))
    handles = [Line2D([], [], color="tab:red", marker="o", lw=1, label="Pareto front"),
               Line2D([], [], color="tab:gray", marker="o", lw=0, label="dominated")]
    if budget_floor is not None:
        handles.append(Line2D([], [], color="tab:blue", ls="--", lw=1, label="accuracy budget"))
    if keras:
        handles.append(Line2D([], [], lw=0, label=f"left out: {', '.join(keras)} (Keras rows: timed in TensorFlow "
                                                 "at batch 1, not what a device runs)"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=8,
               frameon=False)
    fig.suptitle("accuracy against cost of the deployable (.tflite) rows")
    fig.tight_layout()
    for ax, names, points in labels:  # once the layout is final, so the overlaps judged are the drawn ones
        place_labels(fig, ax, names, points)
    return fig


def set_cost_axis(ax, values: list[float]) -> None:
    """Log scale only for a wide spread; either way, a few plain-number ticks that cannot collide."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    plain = FuncFormatter(lambda v, _: f"{v:.3g}")
    low, high = min(values), max(values)
    if low > 0 and high / low >= LOG_SCALE_SPAN:
        ax.set_xscale("log")
        decades = max(1.0, math.log10(high / low))
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5) if decades <= 3 else (1,)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=3))
        pad = (high - low) * 0.15 or high * 0.1 or 1.0
        ax.set_xlim(max(0.0, low - pad), high + pad)
    ax.xaxis.set_major_formatter(plain)


def place_labels(fig, ax, names: list[str], points: list[tuple[float, float]], *, color: str = "black",
                 placed: list | None = None) -> None:
    """Label each point at the first offset whose text overlaps no label placed before it.

    `placed` (the boxes of labels already drawn on `ax`) lets several series share one panel.
    """
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    placed = [] if placed is None else placed
    for name, (x, y) in sorted(zip(names, points), key=lambda item: (-item[1][1], item[1][0])):
        best, best_overlap = None, None
        for dx, dy in LABEL_OFFSETS:
            text = ax.annotate(name, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8,
                               ha="left" if dx > 0 else "right", color=color,
                               # a label moved off its first place is tied to its point: in a crowded
                               # corner the nearest point is not always its own
                               arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5", shrinkA=0, shrinkB=3)
                               if (dx, dy) != LABEL_OFFSETS[0] else None)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer)  # the words alone, not the connector
            overlap = sum(_area(box, other) for other in placed)
            if best is None or overlap < best_overlap:
                if best is not None:
                    best.remove()
                best, best_overlap = text, overlap
            else:
                text.remove()
            if overlap == 0:
                break
        placed.append(Text.get_window_extent(best, renderer))


def _area(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0
