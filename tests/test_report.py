"""The report: budget verdicts, best-row sentences, the Pareto front and the plot file."""

from __future__ import annotations

from edgeopt.common.row import Row
from edgeopt.report.plot import pareto_front, write_pareto_plot
from edgeopt.report.table import best_within_budget, render_markdown, render_table, within_budget


def rows() -> list[Row]:
    return [
        Row("base", "b.tflite", "tflite", "float32", size_bytes=4000, accuracy=0.900, latency_ms_p50=2.0,
            energy_mj=0.8, energy_source="model"),
        Row("int8", "i.tflite", "tflite", "int8", size_bytes=1000, accuracy=0.895, latency_ms_p50=1.0,
            energy_mj=0.2, energy_source="model"),
        Row("tiny", "t.tflite", "tflite", "int8", size_bytes=500, accuracy=0.850, latency_ms_p50=0.5,
            energy_mj=0.1, energy_source="model"),
        Row("nodata", "n.tflite", "tflite", "int8", size_bytes=400),
    ]


def test_rows_over_budget_are_marked_and_unknown_stays_unknown():
    assert within_budget(rows(), "base", 1.0) == {"base": True, "int8": True, "tiny": False, "nodata": None}
    table = render_table(rows(), "base", budget_points=1.0)
    assert "OVER" in table and "within 1 pts" in table


def test_best_within_budget_names_ratios_against_the_base_and_the_energy_source():
    lines = best_within_budget(rows(), "base", 1.0)
    assert lines[0].startswith("Lowest energy per inference within 1 points: `int8` — 4.00× less energy than `base`")
    assert lines[0].endswith("-0.50 points, energy modelled (model), not measured.")
    assert "`int8` — 2.00× faster" in lines[1] and "`int8` — 4.00× smaller" in lines[2] and "-0.50 points" in lines[2]


def test_no_budget_means_no_verdicts():
    assert best_within_budget(rows(), "base", None) == []
    assert "within" not in render_table(rows(), "base")


def test_pareto_front_keeps_only_undominated_points():
    assert pareto_front([(2.0, 0.90), (1.0, 0.895), (0.5, 0.85), (3.0, 0.80)]) == [0, 1, 2]


def test_plot_is_a_png_and_markdown_links_it(tmp_path):
    path = write_pareto_plot(rows(), tmp_path / "pareto.png", budget_floor=0.89)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = {"rows": [r.to_dict() for r in rows()], "recipe": {"name": "x", "baseline": "base", "accuracy_budget": 1.0},
           "plot": "pareto.png"}
    markdown = render_markdown(doc)
    assert "![accuracy against energy and latency](pareto.png)" in markdown and "Lowest energy" in markdown


def test_nothing_to_plot_writes_no_file(tmp_path):
    assert write_pareto_plot([Row("a", "a", "tflite")], tmp_path / "p.png") is None
    assert not (tmp_path / "p.png").exists()


def _energy_rows(sources):
    made = []
    for i, (source, scope, measured) in enumerate(sources):
        made.append(Row(f"r{i}", f"r{i}.tflite", "tflite", "int8", size_bytes=1000 - i, accuracy=0.9,
                        latency_ms_p50=1.0 + i, energy_mj=0.5 - 0.1 * i, energy_source=source,
                        energy_scope=scope, energy_measured=measured))
    return made


def test_energy_is_ranked_only_among_rows_of_one_source_and_scope():
    same = _energy_rows([("estimate", "estimate", False)] * 3)
    line = best_within_budget(same, "r0", 1.0)[0]
    assert line.startswith("Lowest energy per inference within 1 points: `r2`")
    assert line.endswith("energy estimated, not measured.")
    measured = _energy_rows([("hwmon", "board-input", True)] * 2)
    assert best_within_budget(measured, "r0", 1.0)[0].endswith("energy measured (hwmon: board-input).")


def test_a_table_mixing_sources_says_it_cannot_rank_energy_and_why():
    mixed = _energy_rows([("estimate", "estimate", False), ("hwmon", "board-input", True),
                          ("model45", "model", False)])
    energy, latency, size = best_within_budget(mixed, "r0", 1.0)
    assert "cannot rank" in energy and "estimate: `r0`" in energy and "hwmon: board-input: `r1`" in energy
    assert "model45: model: `r2`" in energy and "same `--energy`" in energy
    assert latency.startswith("Lowest latency") and size.startswith("Lowest file size")
    table = render_table(mixed, "r0")
    assert "hwmon: board-input" in table and "model45: model" in table


def test_the_plot_names_the_energy_source_and_scope_on_its_axis(tmp_path, monkeypatch):
    import matplotlib.axes

    labels = []
    original = matplotlib.axes.Axes.set_xlabel
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xlabel",
                        lambda self, text, *a, **k: (labels.append(text), original(self, text, *a, **k))[1])
    write_pareto_plot(_energy_rows([("hwmon", "board-input", True)] * 2), tmp_path / "a.png")
    write_pareto_plot(_energy_rows([("estimate", "estimate", False), ("rapl", "cpu-package", True)]),
                      tmp_path / "b.png")
    energy = [label for label in labels if label.startswith("energy")]
    assert energy[0] == "energy per inference (mJ)\nsource: hwmon: board-input"
    assert energy[1] == ("energy per inference (mJ)\nsource: estimate (not measured); rapl: cpu-package"
                         " — mixed sources, not comparable")


def test_a_best_row_that_is_the_baseline_is_not_compared_with_itself():
    from edgeopt.common.row import Row
    from edgeopt.report.table import best_within_budget

    rows = [Row("base", "base.tflite", "tflite", accuracy=0.9, latency_ms_p50=1.0, size_bytes=100),
            Row("slow", "slow.tflite", "tflite", accuracy=0.9, latency_ms_p50=2.0, size_bytes=50)]
    lines = best_within_budget(rows, "base", 1.0)
    assert lines[0] == "Lowest latency within 1 points: `base`, the baseline itself: no other row within the budget beats it."
    assert "1.00×" not in " ".join(lines) and "2.00× smaller than `base`" in lines[1]


def test_a_device_file_made_on_the_runs_own_host_is_labelled_as_profiled_again():
    from edgeopt.report.machines import device_label, machine_names, on_the_runs_host

    results = {"machine": {"hostname": "box", "cpu_model": "AMD EPYC"}}
    same = {"device": "box", "machine": {"hostname": "box"}, "settings": {"threads": 1}}
    board = {"device": "pi5", "machine": {"hostname": "pi5"}, "settings": {"threads": 1}}
    assert on_the_runs_host(results, same) and not on_the_runs_host(results, board)
    assert machine_names(results, [same, board]) == ["box (host)", "box (profiled again)", "pi5"]
    assert device_label(same, results).endswith("(where the run was made, profiled again)")
    assert "profiled again" not in device_label(board, results)


def test_report_md_gives_a_long_energy_note_once_not_per_machine():
    from edgeopt.common.row import Row
    from edgeopt.report.machines import device_sections

    note = "energy is an estimate, not a measurement: " + "x" * 400
    row = Row("f32", "f32/model.tflite", "tflite", accuracy=0.9, latency_ms_p50=1.0, size_bytes=10,
              extra={"energy_note": note}).to_dict()
    results = {"machine": {"hostname": "box"}, "recipe": {"baseline": "f32"}, "rows": [row]}
    devices = [{"device": name, "machine": {"hostname": name}, "settings": {}, "rows": [row]} for name in ("a", "b")]
    text = "\n".join(device_sections(results, devices))
    assert note not in text and text.count("- **Energy:** as the note above says.") == 2
