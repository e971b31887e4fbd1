"""pareto.png is readable: plain ticks that never overlap, Keras rows left out and said so, sources named."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pytest

from edgeopt.common.row import Row
from edgeopt.report.plot import energy_axis_label, latency_axis_label, pareto_figure, write_pareto_plot


def tflite(name: str, accuracy: float, latency_ms: float, energy_mj: float | None = None, **extra) -> Row:
    return Row(name, f"{name}/model.tflite", "tflite", "int8", accuracy=accuracy, latency_ms_p50=latency_ms,
               energy_mj=energy_mj, energy_source="estimate" if energy_mj is not None else None,
               energy_scope="estimate" if energy_mj is not None else None,
               extra={"threads": 1, **extra})


def crowded() -> list[Row]:
    """Ten deployable rows within a few per cent of each other, and a Keras row 40× slower."""
    rows = [Row("base", "base/model.keras", "keras", "float32", accuracy=0.91, latency_ms_p50=0.6)]
    for i in range(10):
        latency = 0.014 + 0.0004 * i
        rows.append(tflite(f"variant_{i}_int8", 0.905 + 0.0005 * (i % 3), latency, 0.8 * latency))
    return rows


def overlapping(boxes) -> list[tuple[int, int]]:
    return [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2) if a.overlaps(b)]


@pytest.fixture
def figure():
    made = []

    def make(*args, **kwargs):
        fig = pareto_figure(*args, **kwargs)
        made.append(fig)
        fig.canvas.draw()
        return fig

    yield make
    for fig in made:
        plt.close(fig)


@pytest.mark.parametrize("latencies", [(0.0138, 0.0292), (0.0101, 0.011, 0.0125), (0.01, 0.3, 12.0, 150.0)],
                         ids=["2x", "narrow", "four-decades"])
def test_cost_ticks_are_plain_numbers_that_never_overlap(figure, latencies):
    rows = [tflite(f"m{i}", 0.9 + 0.001 * i, x, x) for i, x in enumerate(latencies)]
    fig = figure(rows)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
                 if t.get_text() and t.get_visible() and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
        assert len(ticks) >= 2
        assert overlapping([t.get_window_extent(renderer) for t in ticks]) == []
        for tick in ticks:
            float(tick.get_text())  # "0.015", not "$1.5\\times10^{-2}$"
        assert ax.get_xscale() == ("log" if max(latencies) / min(latencies) >= 20 else "linear")


def test_keras_rows_are_left_out_and_the_legend_says_why(figure):
    fig = figure(crowded(), 0.9)
    for ax in fig.axes:
        plotted = {text.get_text() for text in ax.texts}
        assert "base" not in plotted and len(plotted) == 10
        assert ax.get_xlim()[1] < 0.1  # the 0.6 ms Keras row does not stretch the axis
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert "accuracy budget" in texts and "Pareto front" in texts
    assert any(t.startswith("left out: base (Keras rows: timed in TensorFlow at batch 1") for t in texts)


def test_point_labels_of_a_crowded_run_do_not_overlap_and_a_moved_label_is_tied_to_its_point(figure):
    from matplotlib.text import Text

    from edgeopt.report.plot import LABEL_OFFSETS

    fig = figure(crowded())
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        assert overlapping([Text.get_window_extent(text, renderer) for text in ax.texts]) == []
    # four rows on almost one spot and one far away: three labels must move, each tied to its point
    clump = [tflite(f"row_{i}_int8", 0.90 + 0.0001 * i, 0.020 + 0.00001 * i, 0.016) for i in range(4)]
    fig = figure([*clump, tflite("far_int8", 0.80, 0.060, 0.05)])
    for ax in fig.axes:
        moved = [text for text in ax.texts if tuple(text.xyann) != LABEL_OFFSETS[0]]
        assert len(moved) >= 3 and all(text.arrow_patch is not None for text in moved)
        assert all(text.arrow_patch is None for text in ax.texts if text not in moved)


def test_axes_name_their_sources():
    estimate = tflite("a", 0.9, 0.01, 0.1)
    rapl = Row("b", "b", "tflite", accuracy=0.9, energy_mj=0.2, energy_source="rapl", energy_measured=True,
               energy_scope="cpu-package")
    assert energy_axis_label([estimate]) == "energy per inference (mJ)\nsource: estimate (not measured)"
    assert energy_axis_label([rapl]) == "energy per inference (mJ)\nsource: rapl: cpu-package"
    assert energy_axis_label([estimate, rapl]).endswith("estimate (not measured); rapl: cpu-package — mixed sources, not comparable")
    assert latency_axis_label([estimate], {"cpu_model": "AMD EPYC 7B13"}) == \
        "p50 latency (ms)\nLiteRT interpreter, batch 1, 1 thread(s), on AMD EPYC 7B13"


def test_only_keras_rows_give_no_plot(tmp_path):
    assert write_pareto_plot([Row("k", "k", "keras", accuracy=0.9, latency_ms_p50=1.0)], tmp_path / "p.png") is None
    assert not (tmp_path / "p.png").exists()


def test_the_machines_plot_reads_like_the_host_plot():
    from edgeopt.report.plot_machines import machines_figure

    host = crowded()
    board = [tflite(r.name, r.accuracy, 3 * r.latency_ms_p50, 3 * r.energy_mj) if r.format == "tflite" else r
             for r in host]
    fig = machines_figure([("host", host), ("pi5", board)], 0.9)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    try:
        for ax in fig.axes:
            names = [text.get_text() for text in ax.texts]
            assert names and "base" not in names  # Keras rows are not drawn
            assert overlapping([text.get_window_extent(renderer) for text in ax.texts]) == []
            assert ax.get_xlim()[1] < 0.2  # the 0.6 ms Keras row does not stretch the axis
        assert fig.axes[0].get_xlabel() == "energy per inference (mJ)\nsource: estimate (not measured)"
        texts = [t.get_text() for t in fig.legends[0].get_texts()]
        assert texts[:2] == ["host (Pareto front labelled)", "pi5 (Pareto front labelled)"]
        assert any(t.startswith("left out: base (Keras rows") for t in texts)
    finally:
        plt.close(fig)
