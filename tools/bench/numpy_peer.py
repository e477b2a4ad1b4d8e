#!/usr/bin/env python3
"""numpy peer of `adapterd-bench signature` and `adapterd-bench merge` (docs/PERFORMANCE.md).

The careful numpy way to do what adapterd does, on synthetic Llama-3.2-3B-shaped LoRA factors (28 layers,
q/o 3072→3072, k/v 3072→1024, rank 16, float64 like adapterd, F16-rounded factors):

- signature: per module, R of QR(B) and R of QR(Aᵀ) (mode='r'), singular values of s·R_B·R_Aᵀ;
- merge: 8 adapters → rank 16, per module: B̂ = [w s B₁ …], Â = [A₁; …], reduced QR of B̂ and Âᵀ,
  SVD of the core R_B R_Aᵀ, B' = Q_B U_k Σ_k, A' = V_kᵀ Q_Aᵀ;
- merge-gram: the same truncation from the Gram matrices (Cholesky of B̂ᵀB̂ and ÂÂᵀ), as adapterd's
  fast path does, for comparison.

Run with one BLAS thread (set before numpy is imported) and report which OpenBLAS kernel numpy runs.
Where the machine sets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (docs/PERFORMANCE.md), unset both for this
command only:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 tools/bench/numpy_peer.py
Needs numpy; threadpoolctl (optional) names the kernel.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

LAYERS, HIDDEN, KV = 28, 3072, 1024
PROJECTIONS = [("q", HIDDEN), ("k", KV), ("v", KV), ("o", HIDDEN)]


def adapter(rng, rank):
    """Factors like adapterd-bench's SyntheticAdapter: A uniform ±1/√in, B uniform ±0.02, scale 2."""
    bound = 1 / np.sqrt(HIDDEN)
    modules = []
    for _ in range(LAYERS):
        for _, out in PROJECTIONS:
            a = rng.uniform(-bound, bound, (rank, HIDDEN)).astype(np.float16).astype(np.float64)
            b = rng.uniform(-0.02, 0.02, (out, rank)).astype(np.float16).astype(np.float64)
            modules.append((b, a, 2.0))
    return modules


def signature(modules):
    out = []
    for b, a, s in modules:
        rb = np.linalg.qr(b, mode="r")
        ra = np.linalg.qr(a.T, mode="r")
        out.append(np.linalg.svd(s * rb @ ra.T, compute_uv=False))
    return out


def merge_qr(adapters, weights, rank):
    merged = []
    for parts in zip(*adapters):
        b_hat = np.hstack([w * s * b for (b, _, s), w in zip(parts, weights)])
        a_hat = np.vstack([a for (_, a, _) in parts])
        qb, rb = np.linalg.qr(b_hat)
        qa, ra = np.linalg.qr(a_hat.T)
        u, sigma, vt = np.linalg.svd(rb @ ra.T)
        merged.append((qb @ (u[:, :rank] * sigma[:rank]), vt[:rank] @ qa.T))
    return merged


def merge_gram(adapters, weights, rank):
    merged = []
    for parts in zip(*adapters):
        b_hat = np.hstack([b for (b, _, _) in parts])
        a_hat = np.vstack([a for (_, a, _) in parts])
        d = np.concatenate([np.full(b.shape[1], w * s) for (b, _, s), w in zip(parts, weights)])
        rb = np.linalg.cholesky(b_hat.T @ b_hat).T
        ra = np.linalg.cholesky(a_hat @ a_hat.T).T
        u, sigma, vt = np.linalg.svd((rb * d) @ ra.T)
        xb = np.linalg.solve(rb, u[:, :rank] * sigma[:rank])
        xa = np.linalg.solve(ra, vt[:rank].T)
        merged.append((b_hat @ xb, xa.T @ a_hat))
    return merged


def timed(fn, repetitions):
    times, value = [], None
    for _ in range(repetitions):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def kernel_report():
    try:
        from threadpoolctl import threadpool_info
        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        return "; ".join(f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')} "
                         f"threads {i.get('num_threads')}" for i in infos) or "no BLAS reported"
    except ImportError:
        return "threadpoolctl not installed"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", type=int, default=8)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    print(f"numpy {np.__version__}; BLAS: {kernel_report()}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')} OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    rng = np.random.default_rng(1)
    adapters = [adapter(rng, args.rank) for _ in range(args.adapters)]
    weights = [1 / args.adapters] * args.adapters
    n = len(adapters[0])

    seconds, _ = timed(lambda: signature(adapters[0]), args.repetitions)
    print(f"signature, QR of factors + core SVD ({n} modules, median of {args.repetitions}): {seconds * 1e3:.1f} ms")
    qr_seconds, qr = timed(lambda: merge_qr(adapters, weights, args.rank), args.repetitions)
    print(f"merge {args.adapters} → rank {args.rank}, QR of stacked factors + core SVD ({n} modules): {qr_seconds:.3f} s")
    gram_seconds, gram = timed(lambda: merge_gram(adapters, weights, args.rank), args.repetitions)
    print(f"merge {args.adapters} → rank {args.rank}, Gram + Cholesky + core SVD ({n} modules): {gram_seconds:.3f} s")
    worst = 0.0
    for (bq, aq), (bg, ag) in zip(qr[:8], gram[:8]):
        reference = bq @ aq
        worst = max(worst, np.linalg.norm(bg @ ag - reference) / np.linalg.norm(reference))
    print(f"relative Frobenius difference Gram vs QR merge (first 8 modules): {worst:.2e}")


if __name__ == "__main__":
    main()
