"""What 50 % magnitude pruning buys in gzip size, and where deflate's limit is.

Usage:
    python benchmarks/prune_gzip.py                                    # synthetic weights only
    python benchmarks/prune_gzip.py UNPRUNED.tflite PRUNED.tflite      # plus two real int8 models

Pruned zeros are stored in a `.tflite`; only compression turns them into bytes saved. This prints,
for int8 weights quantised per channel the way the TFLite converter does (symmetric, 127 at each
channel's largest magnitude) and pruned to 50 % by magnitude:

- the gzip -9 size ratio pruned/unpruned (what `edgeopt profile` reports as gzip KiB),
- the same with deflate's Huffman-only strategy (no LZ77 matching, still a valid gzip stream),
- the order-0 entropy bound (the best any byte-wise coder can do).

For two real models it also splits the file into weight tensors and the rest (per-channel scales,
zero points, biases, the flatbuffer itself), which pruning cannot shrink. Figures, not a test.
"""

from __future__ import annotations

import argparse
import zlib

import numpy as np

from edgeopt.profile.tflite_graph import gzip_size# the measure the table reports

def huffman_only(data: bytes) -> int:
    """Deflate without LZ77 matches: random-looking int8 bytes gain nothing from matches."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31, 9, zlib.Z_HUFFMAN_ONLY)  # 31: gzip container
    return len(compressor.compress(data) + compressor.flush())


def entropy_bytes(data: bytes) -> float:
    """Order-0 entropy of the bytes, in bytes: no byte-wise coder does better."""
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum() * len(data) / 8)


def quantize_per_channel(weights: np.ndarray) -> np.ndarray:
    scale = np.abs(weights).max(axis=1, keepdims=True) / 127
    return np.round(weights / np.where(scale == 0, 1, scale)).astype(np.int8)


def prune_by_magnitude(weights: np.ndarray, sparsity: float) -> np.ndarray:
    threshold = np.quantile(np.abs(weights), sparsity)
    return np.where(np.abs(weights) > threshold, weights, 0.0)


def ratios(unpruned: bytes, pruned: bytes) -> str:
    return (f"gzip -9 {gzip_size(pruned) / gzip_size(unpruned):.3f}   huffman-only "
            f"{huffman_only(pruned) / huffman_only(unpruned):.3f}   entropy bound "
            f"{entropy_bytes(pruned) / entropy_bytes(unpruned):.3f}")


def synthetic(sparsity: float) -> None:
    print(f"Synthetic int8 weights, per-channel quantised, {sparsity:.0%} pruned by magnitude (ratio pruned/unpruned):")
    rng = np.random.default_rng(0)
    for distribution in ("normal", "laplace"):
        for shape in ((64, 576), (256, 2304)):  # conv3 of gap_cnn; a layer 16× larger
            weights = getattr(rng, distribution)(size=shape)
            dense = quantize_per_channel(weights).tobytes()
            sparse = quantize_per_channel(prune_by_magnitude(weights, sparsity)).tobytes()
            print(f"  {distribution:8s} {str(shape):12s} {ratios(dense, sparse)}")


def weight_tensors(path: str) -> dict[str, bytes]:
    """The constant int8 tensors of rank ≥ 2 (conv and dense kernels) of a .tflite, by name."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    tensors = {}
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.int8 or len(detail["shape"]) < 2:
            continue
        try:
            tensors[detail["name"]] = interpreter.get_tensor(detail["index"]).tobytes()
        except ValueError:  # activations have no data before invoke()
            continue
    return tensors


def real(unpruned_path: str, pruned_path: str) -> None:
    unpruned, pruned = open(unpruned_path, "rb").read(), open(pruned_path, "rb").read()
    print(f"\n{pruned_path} against {unpruned_path}:")
    print(f"  whole file: raw {len(pruned)} / {len(unpruned)} B; gzip -9 {gzip_size(pruned)} / {gzip_size(unpruned)} B; "
          + ratios(unpruned, pruned))
    dense, sparse = weight_tensors(unpruned_path), weight_tensors(pruned_path)
    common = [name for name in sparse if name in dense]
    for name in common:
        zeros = np.mean(np.frombuffer(sparse[name], dtype=np.int8) == 0)
        print(f"  {name[:40]:40s} {len(sparse[name]):6d} B, zeros {zeros:.3f}: {ratios(dense[name], sparse[name])}")
    dense_weights = sum(gzip_size(dense[n]) for n in common)
    sparse_weights = sum(gzip_size(sparse[n]) for n in common)
    print(f"  weight tensors, each gzipped: {sparse_weights} / {dense_weights} B = {sparse_weights / dense_weights:.3f}; "
          f"the rest of the file (gzip -9 of the whole minus the weights') ≈ {gzip_size(unpruned) - dense_weights} B, "
          "which pruning cannot shrink")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL.tflite", help="an unpruned and a pruned int8 model")
    parser.add_argument("--sparsity", type=float, default=0.5)
    args = parser.parse_args()
    if len(args.models) not in (0, 2):
        parser.error("give no model, or two: the unpruned int8 .tflite, then the pruned one")
    synthetic(args.sparsity)
    if args.models:
        real(*args.models)


if __name__ == "__main__":
    main()
