#ifndef CFLOATKERNELS_H
#define CFLOATKERNELS_H

/// erf(x) as x·P(x²)/Q(x²) on x clamped to [−4, 4] (beyond, erf is ±1 in single precision), the result
/// clamped to [−1, 1]: no branch and no library call, so loops over it vectorise. P and Q were fitted
/// by iteratively reweighted least squares (tools/runtime/fit_erf.py); the largest error against
/// double-precision erf over [−6, 6] is 4.4e-7 (the C library's erff: ~1e-7).
float cfloatkernels_erf(float x);

/// In-place exact GELU of `count` floats, ½x·(1 + erf(x/√2)) with `cfloatkernels_erf`, built for
/// AVX-512 or AVX2 where the CPU has them (found at run time). No multiply–add is fused, so every
/// build gives the bits of the scalar definition.
void cfloatkernels_gelu(float *values, long count);

/// In-place LayerNorm of each row of `values` (rows × width): (x − mean)/√(var + ε)·γ + β. The mean and
/// the variance are sums of 16 interleaved partial sums (lane j sums the elements j, j + 16, …, then the
/// lanes are added in order), so the vector builds and the scalar one give the same bits.
void cfloatkernels_layer_norm(float *values, long rows, long width, const float *gamma, const float *beta,
                              float epsilon);

/// RMSNorm of each row of `values` (rows × width) into `out`: x/√(mean(x²) + ε)·(offset + w), the sum of
/// squares made as in `cfloatkernels_layer_norm`. Llama's offset is 0, Gemma's 1.
void cfloatkernels_rms_norm(const float *values, long rows, long width, const float *weight, float offset,
                            float epsilon, float *out);

#endif
