"""The sweep's record: one TradeoffPoint per configuration, the choice among them, and the
sweep as CSV text and as a PNG (accuracy against modelled energy and against width)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from edgeopt.techniques.elimination.energy import EnergyEstimate


@dataclass
class TradeoffPoint:
    """One configuration of the sweep (the unmodified model has method 'original')."""

    layer: str
    method: str
    neurons_kept: int
    width: int
    params: int
    layer_params: int
    macs: int
    accuracy: float
    accuracy_drop: float  # original accuracy − this accuracy, a fraction
    within_threshold: bool
    energy: EnergyEstimate
    # Fidelity to the unmodified model on the same images. Near full width the accuracies of two
    # eliminations differ by a few test images either way, while these separate them clearly.
    agreement: float  # fraction of images whose top-1 class is the unmodified model's
    output_error: float  # ‖outputs − original outputs‖_F / ‖original outputs‖_F
    latency_ms_p50: float | None = None  # None: not measured
    latency_runtime: str | None = None  # "keras" or "litert_int8"; None: not measured
    chosen: bool = False

    def csv_row(self) -> dict:
        return {
            "layer": self.layer, "method": self.method, "neurons_kept": self.neurons_kept, "width": self.width,
            "params": self.params, "layer_params": self.layer_params, "macs": self.macs,
            "accuracy": self.accuracy, "accuracy_drop": self.accuracy_drop,
            "within_threshold": self.within_threshold, "agreement": self.agreement,
            "output_error": self.output_error, "energy_uj": self.energy.total_uj,
            "energy_mac_uj": self.energy.mac_uj, "energy_sram_weights_uj": self.energy.sram_weights_uj,
            "energy_sram_activations_uj": self.energy.sram_activations_uj, "energy_dram_uj": self.energy.dram_uj,
            "energy_source": self.energy.source, "energy_precision": self.energy.precision,
            "latency_ms_p50": self.latency_ms_p50, "latency_runtime": self.latency_runtime, "chosen": self.chosen,
        }


CSV_COLUMNS = ("layer", "method", "neurons_kept", "width", "params", "layer_params", "macs", "accuracy",
               "accuracy_drop", "within_threshold", "agreement", "output_error", "energy_uj", "energy_mac_uj",
               "energy_sram_weights_uj", "energy_sram_activations_uj", "energy_dram_uj", "energy_source", "energy_precision",
               "latency_ms_p50", "latency_runtime", "chosen")


def choose_point(points: list[TradeoffPoint], method: str = "svd_qr") -> TradeoffPoint | None:
    """The lowest-energy configuration of `method` within the threshold (ties: the more accurate)."""
    candidates = [pt for pt in points if pt.method == method and pt.within_threshold]
    if not candidates:
        return None
    return min(candidates, key=lambda pt: (pt.energy.total_uj, -pt.accuracy))


def tradeoff_csv(points: list[TradeoffPoint]) -> str:
    """The sweep as CSV text; a figure not measured is an empty cell, never 0."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for pt in points:
        writer.writerow({k: ("" if v is None else v) for k, v in pt.csv_row().items()})
    return buffer.getvalue()


def tradeoff_plot(points: list[TradeoffPoint], max_accuracy_drop: float, title: str = "",
                  accuracy_label: str = "test accuracy") -> bytes:
    """PNG: accuracy against modelled energy (left) and against neurons kept (right), one line per
    layer and method, the threshold dashed, the chosen configuration starred. `accuracy_label`
    names the split the points were scored on (the stage's sweep: its selection split)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server
    import matplotlib.pyplot as plt

    fig, (ax_energy, ax_width) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    layers = list(dict.fromkeys(pt.layer for pt in points))
    for index, layer in enumerate(layers):
        colour = colours[index % len(colours)]
        original = next(pt for pt in points if pt.layer == layer and pt.method == "original")
        for method, style in (("svd_qr", "-"), ("weight_norm", "--")):
            series = [original] + [pt for pt in points if pt.layer == layer and pt.method == method]
            if len(series) == 1:
                continue
            label = f"{layer}: {'SVD + pivoted QR, Eq. 6' if method == 'svd_qr' else 'weight-norm baseline'}"
            ax_energy.plot([pt.energy.total_uj for pt in series], [100 * pt.accuracy for pt in series],
                           style, marker=".", markersize=3, color=colour, label=label)
            ax_width.plot([pt.neurons_kept for pt in series], [100 * pt.accuracy for pt in series],
                          style, marker=".", markersize=3, color=colour, label=label)
    base = next(pt for pt in points if pt.method == "original")
    for ax in (ax_energy, ax_width):
        ax.axhline(100 * (base.accuracy - max_accuracy_drop), color="grey", linestyle=":",
                   label=f"threshold: −{100 * max_accuracy_drop:g} points")
        ax.set_ylabel(f"{accuracy_label} (%)")
        ax.grid(alpha=0.3)
    for pt in points:
        if pt.chosen:
            ax_energy.plot(pt.energy.total_uj, 100 * pt.accuracy, "*", markersize=14, color="black",
                           label=f"chosen: {pt.layer}, {pt.neurons_kept} kept")
            ax_width.plot(pt.neurons_kept, 100 * pt.accuracy, "*", markersize=14, color="black")
    ax_energy.set_xlabel(f"energy per image (µJ, 45 nm model, {base.energy.precision})")
    ax_width.set_xlabel("neurons (Dense) or channels (Conv2D) kept in the eliminated layer")
    ax_energy.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
