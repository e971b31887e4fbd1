"""pareto.png: accuracy against energy per inference and against latency, Pareto front marked."""

from __future__ import annotations

from pathlib import Path

from edgeopt.atomic import atomic_write_bytes
from edgeopt.row import Row


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


def write_pareto_plot(rows: list[Row], path: Path, budget_floor: float | None = None) -> Path | None:
    """Plot accuracy vs energy and vs p50 latency; None when no row has the figures to plot."""
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    panels = [("energy_mj", "energy per inference (mJ)"), ("latency_ms_p50", "p50 latency (ms)")]
    panels = [(key, label) for key, label in panels
              if any(getattr(r, key) is not None and r.accuracy is not None for r in rows)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        plotted = [r for r in rows if getattr(r, key) is not None and r.accuracy is not None]
        points = [(getattr(r, key), 100 * r.accuracy) for r in plotted]
        front = set(pareto_front(points))
        for i, (row, (x, y)) in enumerate(zip(plotted, points)):
            ax.scatter(x, y, s=60 if i in front else 30, marker="o" if row.format == "tflite" else "s",
                       color="tab:red" if i in front else "tab:gray", zorder=3)
            ax.annotate(row.name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        line = sorted(points[i] for i in front)
        ax.plot([p[0] for p in line], [p[1] for p in line], color="tab:red", lw=1, zorder=2, label="Pareto front")
        if budget_floor is not None:
            ax.axhline(100 * budget_floor, color="tab:blue", ls="--", lw=1, label="accuracy budget")
        if key == "energy_mj":
            from edgeopt.report import energy_groups

            groups = sorted(energy_groups(plotted))  # "source: scope" of the plotted figures
            label += (f" — {groups[0]}" + ("" if all(r.energy_measured for r in plotted) else ", not measured")
                      if len(groups) == 1 else f" — mixed, not comparable: {'; '.join(groups)}")
        ax.set_xlabel(label)
        ax.set_xscale("log")
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("accuracy against cost (squares: Keras, circles: TFLite; red: Pareto front)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
