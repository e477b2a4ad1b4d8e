#ifndef CFLOATKERNELS_H
#define CFLOATKERNELS_H

#include <stdint.h>

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

/// bfloat16 `x` nearest (ties to even), a subnormal as ±0, a NaN as a quiet NaN.
uint16_t cfloatkernels_bf16_round(float x);

/// How many bfloat16 a linear map's weight (outputs × inputs) takes packed: panels of 16 outputs, each
/// holding per pair of inputs the 16 outputs' two weights side by side (odd widths padded with zeros).
long cfloatkernels_bf16_packed_count(long outputs, long inputs);

/// Rounds `weight` (outputs × inputs, row-major, PyTorch's Linear layout) to bfloat16 and packs it for
/// `cfloatkernels_bf16_linear` into `packed` (`cfloatkernels_bf16_packed_count` elements).
void cfloatkernels_bf16_pack(const float *weight, long outputs, long inputs, uint16_t *packed);

/// Whether the CPU has AVX512_BF16 (then `cfloatkernels_bf16_linear` runs on it).
int cfloatkernels_bf16_has_instructions(void);

/// y (rows × outputs, row stride `ldy`) = bf16(x) · Wᵀ + bias (bias may be NULL), W packed by
/// `cfloatkernels_bf16_pack`. Each output sums its pairs of products as AVX512_BF16's VDPBF16PS does
/// (per pair the odd product, then the even one; products exact, sums rounded to nearest, subnormal
/// sums flushed to zero), so the AVX512_BF16 build and the portable one (`portable` ≠ 0, or a CPU
/// without the instructions) give the same bits. Returns 0 when its buffer for the rounded x cannot be
/// allocated (nothing written), else 1.
int cfloatkernels_bf16_linear(const float *x, long rows, long inputs, const uint16_t *packed, long outputs,
                              const float *bias, float *y, long ldy, int portable);

/// How many threads' buffers of rounded inputs have been freed (each is, when its thread exits).
long cfloatkernels_bf16_freed_buffers(void);

/// The calling thread's buffer of rounded inputs, in bfloat16 (0: none yet); it grows to the largest
/// call and is kept for the next.
long cfloatkernels_bf16_thread_buffer_capacity(void);

#endif
