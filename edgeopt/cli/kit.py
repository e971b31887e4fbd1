"""What `search --kit-only` and `profile KIT` say: what the kit holds, what was measured, what next."""

from __future__ import annotations

import json
from pathlib import Path


def kit_next_steps(kit: Path, precisions: tuple[str, ...]) -> str:
    """The kit's precisions (float16 says why it has no file of its own) and the three steps to a search by table."""
    models = json.loads((kit / "kit.json").read_text())["models"]
    stands_in = [p for p in precisions if p not in models]
    held = ", ".join(models) + (f" (float16 runs float32's kernels, its weights widened at load, so float32's time "
                                f"stands for it)" if "float16" in stands_in and "float32" in models else "")
    return (f"The kit holds the model in {held}. Next: copy {kit} to the target; there, run `edgeopt profile "
            f"{kit.name}` (no TensorFlow needed); copy {kit.name}/latency_table.json back and run this search "
            f"again with --latency-table {kit}/latency_table.json instead of --kit-only.")


def kit_summary(table: dict, path: Path, seconds: float) -> list[str]:
    """`profile KIT`'s summary: where it ran, each precision's whole-model p50, how many single-op files."""
    machine = table.get("machine") or {}
    models = ", ".join(f"{precision} {1e3 * model['p50_ms']:.1f} µs" for precision, model in table["models"].items())
    return [f"timed {len(table['models']) + len(table['entries'])} files on {machine.get('hostname', '?')} "
            f"({machine.get('cpu_model') or '?'}, {table['threads']} thread(s)) in {seconds:.0f} s: the whole model "
            f"p50 {models}; {len(table['entries'])} single ops at the widths the search may choose.",
            f"wrote {path}; copy it back to the host and pass it to `edgeopt search --latency-table`."]
