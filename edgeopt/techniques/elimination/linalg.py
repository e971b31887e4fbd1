"""The linear algebra of neuron elimination (seed 003), NumPy/SciPy only, no TensorFlow.

Notation follows the seed: X is a layer's activations, one row per neuron and one column per
calibration sample (n × K). Algorithm 2 picks p representative rows of X by an SVD followed by a
QR factorisation with column pivoting (Chan 1987); Eq. 6 rebuilds the dropped rows from the kept
ones by least squares, X ≈ T·X_p, and T is folded into the next layer's weights.

Keras stores a Dense kernel as (inputs, units), so the next layer computes z = W_nextᵀ x + b.
With x ≈ T x_p that is z ≈ (Tᵀ W_next)ᵀ x_p + b: the new kernel is Tᵀ W_next, of shape
(p, units), and the bias is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass(frozen=True)
class Spectrum:
    """The SVD of X computed once per layer; every p of a sweep reuses it.

    Attributes:
        left: U, (n, r) left singular vectors, columns in order of decreasing singular value.
        singular_values: Σ, (r,).
        rank: numerical rank of X (singular values above the usual matrix_rank tolerance).
    """

    left: np.ndarray
    singular_values: np.ndarray
    rank: int

    @property
    def compressed(self) -> np.ndarray:
        """U·Σ = X·V, (n, r): the same row Gram matrix as X, so the same least-squares T, with
        r ≤ min(n, K) columns instead of K samples."""
        return self.left * self.singular_values


def spectrum(activations: np.ndarray, eps: float | None = None) -> Spectrum:
    """SVD of the (n neurons × K samples) activation matrix, in float64.

    Args:
        activations: X.
        eps: the machine epsilon of the arithmetic that produced X (float32 activations are exact
            combinations of each other only to ~1e-7); by default the epsilon of X's own dtype.

    Example:
        >>> x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 0.0]])
        >>> spectrum(x).rank
        2
    """
    x = np.asarray(activations)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps) if x.dtype in (np.float16, np.float32, np.float64) else float(
            np.finfo(np.float64).eps)
    x = x.astype(np.float64)
    if x.ndim != 2 or min(x.shape) == 0:
        raise ValueError(f"activations must be a non-empty (neurons, samples) matrix. Received shape {x.shape}")
    u, s, _ = scipy.linalg.svd(x, full_matrices=False)
    # numpy.linalg.matrix_rank's tolerance, at the precision X was computed in: below it, round-off.
    tolerance = s[0] * max(x.shape) * eps
    return Spectrum(u, s, int(np.sum(s > tolerance)))


def gram_spectrum(gram: np.ndarray, eps: float = float(np.finfo(np.float32).eps)) -> Spectrum:
    """The Spectrum of X from its row Gram matrix G = X·Xᵀ (n × n) alone.

    A conv layer's X has one column per image *position* (N·H·W of them, millions for a few
    thousand calibration images), too many to hold; G is summed batch by batch instead, and
    G = U·Σ²·Uᵀ gives the same U and Σ as the SVD of X (so the same kept rows and the same
    least-squares T, `Spectrum.compressed` having X's Gram matrix).

    The rank tolerance is σ₁·n·eps: rounding in the float32 maps perturbs each row by about eps
    relative, and squaring into G loses nothing above √(eps of float64)·σ₁. (matrix_rank's
    max(n, K) would grow with the number of positions and call a real channel noise.)

    Args:
        gram: G, symmetric positive semi-definite (n, n).
        eps: the machine epsilon of the arithmetic that produced X.

    Example:
        >>> x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 0.0]])
        >>> spec = gram_spectrum(x @ x.T)
        >>> spec.rank, bool(np.allclose(spec.singular_values, spectrum(x).singular_values))
        (2, True)
    """
    g = np.asarray(gram, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] == 0:
        raise ValueError(f"gram must be a non-empty square (n, n) matrix. Received shape {g.shape}")
    values, vectors = scipy.linalg.eigh((g + g.T) / 2)
    order = np.argsort(values)[::-1]
    singular = np.sqrt(np.clip(values[order], 0.0, None))
    tolerance = singular[0] * g.shape[0] * max(eps, float(np.sqrt(np.finfo(np.float64).eps)))
    return Spectrum(vectors[:, order], singular, int(np.sum(singular > tolerance)))


def representative_rows(activations: np.ndarray, p: int, spec: Spectrum | None = None) -> np.ndarray:
    """Algorithm 2: the indices of the p most representative neurons (rows of X), sorted.

    U_p holds the first p left singular vectors; QR with column pivoting on U_pᵀ moves the
    columns (neurons) that span U_p best to the front, and the first p of the permutation are kept.

    Args:
        activations: X, (n neurons, K samples).
        p: how many neurons to keep, 1 ≤ p ≤ n.
        spec: `spectrum(activations)` when the caller already has it (a sweep computes it once).

    Example:
        >>> x = np.array([[1.0, 0.0, 1.0], [2.0, 0.0, 2.0], [0.0, 3.0, 1.0]])
        >>> representative_rows(x, 2).tolist()   # row 1 is twice row 0: one of them suffices
        [1, 2]
    """
    n = activations.shape[0]
    if not 1 <= p <= n:
        raise ValueError(f"p must be in [1, {n}] (the number of neurons). Received: p={p}")
    spec = spec or spectrum(activations)
    u_p = spec.left[:, :p]
    if u_p.shape[1] < p:  # fewer samples than p: the SVD has only K directions to offer
        raise ValueError(f"p={p} exceeds the number of calibration samples ({u_p.shape[1]}); use more samples")
    _, permutation = scipy.linalg.qr(u_p.T, mode="r", pivoting=True)  # Q is not needed
    return np.sort(permutation[:p])


def reconstruction(activations: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Eq. 6: the least-squares T (n × p) with X ≈ T·X[keep].

    Kept neurons pass through unchanged (their rows of T are unit vectors); each removed neuron is
    the least-squares combination of the kept ones. `activations` may be X or any matrix with the
    same rows' Gram matrix, such as `Spectrum.compressed` (much faster for many samples).

    Example:
        >>> x = np.array([[1.0, 0.0, 1.0], [2.0, 0.0, 2.0], [0.0, 3.0, 1.0]])
        >>> np.round(reconstruction(x, np.array([1, 2])), 6).tolist()
        [[0.5, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    x = np.asarray(activations, dtype=np.float64)
    keep = np.asarray(keep)
    removed = np.setdiff1d(np.arange(x.shape[0]), keep)
    t = np.zeros((x.shape[0], len(keep)))
    t[keep, np.arange(len(keep))] = 1.0
    if removed.size:
        coef, *_ = scipy.linalg.lstsq(x[keep].T, x[removed].T)  # min-norm when X[keep] is rank-deficient
        t[removed] = coef.T
    return t


def fold_into_next(next_kernel: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The next Dense layer's new (p, units) kernel once it sees only the kept neurons: Tᵀ W_next.

    Example:
        >>> w = np.array([[1.0], [1.0], [1.0]])         # next layer sums the three neurons
        >>> t = np.array([[0.5, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> fold_into_next(w, t).tolist()
        [[1.5], [1.0]]
    """
    return t.T @ np.asarray(next_kernel, dtype=np.float64)


def largest_outgoing_norms(next_kernel: np.ndarray, p: int) -> np.ndarray:
    """The baseline: indices (sorted) of the p neurons whose outgoing weights have the largest L2 norm.

    Example:
        >>> largest_outgoing_norms(np.array([[3.0, 0.0], [0.1, 0.1], [0.0, 2.0]]), 2).tolist()
        [0, 2]
    """
    norms = np.linalg.norm(np.asarray(next_kernel, dtype=np.float64), axis=1)
    # stable sort on -norm: ties keep the lower index, so the choice is deterministic
    return np.sort(np.argsort(-norms, kind="stable")[:p])


def blas_single_thread():
    """Run BLAS/LAPACK on one thread: these matrices are small (hundreds of rows), and with
    TensorFlow's thread pools alive, multi-threaded OpenBLAS was measured 10–30× slower on the
    project's 2-core VM (a 300×1000 SVD: 2.1 s on two threads, 0.17 s on one)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
