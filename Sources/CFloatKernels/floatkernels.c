#include "CFloatKernels.h"
#include "vector_level.h"

// Each operation rounds on its own, as in the Swift definition: no multiply–add is fused, so the
// vector builds give the scalar build's bits.
#pragma clang fp contract(off)

static inline __attribute__((always_inline)) float rational_erf(float x) {
    const float c = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    const float u = c * c;
    float p = 2.038136243e-08f;
    p = p * u - 1.934634216e-06f;
    p = p * u + 1.320746585e-04f;
    p = p * u + 3.267742802e-03f;
    p = p * u + 4.916356183e-02f;
    p = p * u + 1.895906053e-01f;
    p = p * u + 1.128379146f;
    float q = 8.533577208e-04f;
    q = q * u + 1.345724346e-02f;
    q = q * u + 1.106921308e-01f;
    q = q * u + 5.013529100e-01f;
    q = q * u + 1.0f;
    const float e = c * p / q;
    return e < -1.0f ? -1.0f : (e > 1.0f ? 1.0f : e);
}

float cfloatkernels_erf(float x) { return rational_erf(x); }

/// The loop every build shares; the compiler vectorises it for the target it is built for.
static inline __attribute__((always_inline)) void gelu_loop(float *values, long count) {
    const float inverseSqrt2 = 0.70710678118654752f;
    for (long i = 0; i < count; i++) {
        const float v = values[i];
        values[i] = 0.5f * v * (1.0f + rational_erf(v * inverseSqrt2));
    }
}

/// Σ values (or Σ (values − shift)² with `squares`) as 16 interleaved partial sums added in lane order:
/// the same association on every build, which each vectorises as wide as it can.
static inline __attribute__((always_inline)) float lane_sum(const float *values, long count, float shift, int squares) {
    float lanes[16] = {0};
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        for (int j = 0; j < 16; j++) {
            const float d = values[i + j] - shift;
            lanes[j] += squares ? d * d : d;
        }
    }
    for (int j = 0; i + j < count; j++) {
        const float d = values[i + j] - shift;
        lanes[j] += squares ? d * d : d;
    }
    float sum = 0.0f;
    for (int j = 0; j < 16; j++) sum += lanes[j];
    return sum;
}

static inline __attribute__((always_inline)) void layer_norm_loop(float *values, long rows, long width, const float *gamma, const float *beta,
                                   float epsilon) {
    for (long r = 0; r < rows; r++) {
        float *row = values + r * width;
        const float mean = lane_sum(row, width, 0.0f, 0) / (float)width;
        const float variance = lane_sum(row, width, mean, 1) / (float)width;
        const float inverse = 1.0f / __builtin_sqrtf(variance + epsilon);
        for (long i = 0; i < width; i++) row[i] = (row[i] - mean) * inverse * gamma[i] + beta[i];
    }
}

static inline __attribute__((always_inline)) void rms_norm_loop(const float *values, long rows, long width, const float *weight, float offset,
                                 float epsilon, float *out) {
    for (long r = 0; r < rows; r++) {
        const float *row = values + r * width;
        float *target = out + r * width;
        const float inverse = 1.0f / __builtin_sqrtf(lane_sum(row, width, 0.0f, 1) / (float)width + epsilon);
        for (long i = 0; i < width; i++) target[i] = row[i] * inverse * (offset + weight[i]);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void layer_norm_avx512(float *values, long rows, long width, const float *gamma, const float *beta,
                              float epsilon) {
    layer_norm_loop(values, rows, width, gamma, beta, epsilon);
}

__attribute__((target("avx2")))
static void layer_norm_avx2(float *values, long rows, long width, const float *gamma, const float *beta,
                            float epsilon) {
    layer_norm_loop(values, rows, width, gamma, beta, epsilon);
}

__attribute__((target("avx512f")))
static void rms_norm_avx512(const float *values, long rows, long width, const float *weight, float offset,
                            float epsilon, float *out) {
    rms_norm_loop(values, rows, width, weight, offset, epsilon, out);
}

__attribute__((target("avx2")))
static void rms_norm_avx2(const float *values, long rows, long width, const float *weight, float offset,
                          float epsilon, float *out) {
    rms_norm_loop(values, rows, width, weight, offset, epsilon, out);
}

__attribute__((target("avx512f")))
static void gelu_avx512(float *values, long count) { gelu_loop(values, count); }

__attribute__((target("avx2")))
static void gelu_avx2(float *values, long count) { gelu_loop(values, count); }

#endif

int cfloatkernels_vector_level(void) {
#if defined(__x86_64__)
    static int level = -1;
    int found = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (found < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) {
            found = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw")
                && __builtin_cpu_supports("avx512vl") ? VECTOR_AVX512_BF16 : VECTOR_AVX512;
        } else {
            found = __builtin_cpu_supports("avx2") ? VECTOR_AVX2 : VECTOR_NONE;
        }
        __atomic_store_n(&level, found, __ATOMIC_RELAXED);
    }
    return found;
#else
    return VECTOR_NONE;
#endif
}

void cfloatkernels_gelu(float *values, long count) {
#if defined(__x86_64__)
    int level = cfloatkernels_vector_level();
    if (level >= VECTOR_AVX512) { gelu_avx512(values, count); return; }
    if (level >= VECTOR_AVX2) { gelu_avx2(values, count); return; }
#endif
    gelu_loop(values, count);
}

void cfloatkernels_layer_norm(float *values, long rows, long width, const float *gamma, const float *beta,
                              float epsilon) {
#if defined(__x86_64__)
    int level = cfloatkernels_vector_level();
    if (level >= VECTOR_AVX512) { layer_norm_avx512(values, rows, width, gamma, beta, epsilon); return; }
    if (level >= VECTOR_AVX2) { layer_norm_avx2(values, rows, width, gamma, beta, epsilon); return; }
#endif
    layer_norm_loop(values, rows, width, gamma, beta, epsilon);
}

void cfloatkernels_rms_norm(const float *values, long rows, long width, const float *weight, float offset,
                            float epsilon, float *out) {
#if defined(__x86_64__)
    int level = cfloatkernels_vector_level();
    if (level >= VECTOR_AVX512) { rms_norm_avx512(values, rows, width, weight, offset, epsilon, out); return; }
    if (level >= VECTOR_AVX2) { rms_norm_avx2(values, rows, width, weight, offset, epsilon, out); return; }
#endif
    rms_norm_loop(values, rows, width, weight, offset, epsilon, out);
}
