// A linear map's product in bfloat16 with single-precision sums: y = bf16(x) · bf16(W)ᵀ + b.
//
// The weights are rounded and packed once (`cfloatkernels_bf16_pack`), the activations rounded per call
// into a buffer of the calling thread, freed when the thread exits. Each output is summed the way
// AVX512_BF16's VDPBF16PS sums: per pair of inputs (2j, 2j + 1), first the odd product then the even one
// is added, each product exact in single precision and each sum rounded to nearest, with subnormal sums
// flushed to zero. The AVX512_BF16 build and the portable one (two fused multiply–adds per pair, FTZ
// set) therefore give the same bits.
#include "CFloatKernels.h"
#include "vector_level.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Outputs per packed panel: one 512-bit vector of single-precision sums.
#define PANEL 16
/// Rows of x a tile reads at once (each with two panels: 16 accumulators).
#define TILE_ROWS 8

long cfloatkernels_bf16_packed_count(long outputs, long inputs) {
    long pairs = (inputs + 1) / 2, panels = (outputs + PANEL - 1) / PANEL;
    return panels * pairs * 2 * PANEL;
}

/// Without branches, so that loops over it vectorise.
static inline __attribute__((always_inline)) uint16_t round_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint32_t zero = (bits >> 16) & 0x8000u;                           // ±0, subnormal → ±0
    uint32_t quiet = (bits >> 16) | 0x0040u;                          // NaN stays a (quiet) NaN
    uint32_t nearest = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;  // nearest, ties to even
    uint32_t result = (bits & 0x7f800000u) == 0 ? zero : ((bits & 0x7fffffffu) > 0x7f800000u ? quiet : nearest);
    return (uint16_t)result;
}

uint16_t cfloatkernels_bf16_round(float value) { return round_bf16(value); }

static inline float widened(uint16_t value) {
    uint32_t bits = (uint32_t)value << 16;
    float result;
    memcpy(&result, &bits, sizeof result);
    return result;
}

void cfloatkernels_bf16_pack(const float *weight, long outputs, long inputs, uint16_t *packed) {
    long pairs = (inputs + 1) / 2, panels = (outputs + PANEL - 1) / PANEL;
    for (long p = 0; p < panels; p++) {
        for (long j = 0; j < pairs; j++) {
            uint16_t *target = packed + (p * pairs + j) * 2 * PANEL;
            for (long c = 0; c < PANEL; c++) {
                long row = p * PANEL + c;
                for (long e = 0; e < 2; e++) {
                    long column = 2 * j + e;
                    target[2 * c + e] = row < outputs && column < inputs
                        ? cfloatkernels_bf16_round(weight[row * inputs + column]) : 0;
                }
            }
        }
    }
}

/// x (rows × inputs) rounded into rows of 2·pairs bfloat16 (an odd width padded with a zero).
static inline __attribute__((always_inline)) void round_rows(const float *x, long rows, long inputs, long pairs,
                                                              uint16_t *values) {
    for (long r = 0; r < rows; r++) {
        uint16_t *row = values + r * pairs * 2;
        for (long i = 0; i < inputs; i++) row[i] = round_bf16(x[r * inputs + i]);
        if (inputs & 1) row[inputs] = 0;
    }
}

#if defined(__x86_64__)
/// The same loop built 16 floats wide (the same bits: integer operations only).
__attribute__((target("avx512f,avx512bw")))
static void round_rows_avx512(const float *x, long rows, long inputs, long pairs, uint16_t *values) {
    round_rows(x, rows, inputs, pairs, values);
}
#endif

/// A thread's buffer for its rounded inputs, kept from one call to the next and freed when the thread
/// exits (a thread-specific value with a destructor: the planner's helper threads come and go).
struct rounding_buffer {
    uint16_t *values;
    size_t capacity;
};

static pthread_key_t buffer_key;
static pthread_once_t buffer_key_once = PTHREAD_ONCE_INIT;
static long freed_buffers;

static void free_buffer(void *pointer) {
    struct rounding_buffer *buffer = pointer;
    free(buffer->values);
    free(buffer);
    __atomic_fetch_add(&freed_buffers, 1, __ATOMIC_RELAXED);
}

static void make_buffer_key(void) { pthread_key_create(&buffer_key, free_buffer); }

long cfloatkernels_bf16_freed_buffers(void) { return __atomic_load_n(&freed_buffers, __ATOMIC_RELAXED); }

long cfloatkernels_bf16_thread_buffer_capacity(void) {
    pthread_once(&buffer_key_once, make_buffer_key);
    struct rounding_buffer *buffer = pthread_getspecific(buffer_key);
    return buffer ? (long)buffer->capacity : 0;
}

/// x (rows × inputs) rounded into rows of 2·pairs bfloat16 (an odd width padded with a zero), in the
/// calling thread's buffer; NULL when it cannot be allocated.
static uint16_t *rounded_rows(const float *x, long rows, long inputs, long pairs) {
    pthread_once(&buffer_key_once, make_buffer_key);
    struct rounding_buffer *buffer = pthread_getspecific(buffer_key);
    if (!buffer) {
        buffer = calloc(1, sizeof *buffer);
        if (!buffer) return NULL;
        if (pthread_setspecific(buffer_key, buffer) != 0) {
            free(buffer);
            return NULL;
        }
    }
    size_t needed = (size_t)rows * (size_t)pairs * 2;
    if (needed > buffer->capacity) {
        uint16_t *grown = realloc(buffer->values, needed * sizeof *grown);
        if (!grown) return NULL;
        buffer->values = grown;
        buffer->capacity = needed;
    }
#if defined(__x86_64__)
    if (cfloatkernels_vector_level() >= VECTOR_AVX512) {
        round_rows_avx512(x, rows, inputs, pairs, buffer->values);
        return buffer->values;
    }
#endif
    round_rows(x, rows, inputs, pairs, buffer->values);
    return buffer->values;
}

/// One output of the portable build: bias + Σ pairs, odd product first, as VDPBF16PS sums.
static float portable_sum(const uint16_t *row, const uint16_t *panel, long pairs, long lane, float start) {
    float sum = start;
    for (long j = 0; j < pairs; j++) {
        const uint16_t *w = panel + j * 2 * PANEL + 2 * lane;
        sum = fmaf(widened(row[2 * j + 1]), widened(w[1]), sum);
        sum = fmaf(widened(row[2 * j]), widened(w[0]), sum);
    }
    return sum;
}

static void portable_linear(const uint16_t *xb, long rows, long pairs, const uint16_t *packed, long outputs,
                            const float *bias, float *y, long ldy) {
#if defined(__x86_64__)
    unsigned int control = _mm_getcsr();
    _mm_setcsr(control | 0x8040);  // flush subnormal results to zero (FTZ), and read them as zero (DAZ)
#endif
    for (long r = 0; r < rows; r++) {
        const uint16_t *row = xb + r * pairs * 2;
        for (long n = 0; n < outputs; n++) {
            const uint16_t *panel = packed + (n / PANEL) * pairs * 2 * PANEL;
            y[r * ldy + n] = portable_sum(row, panel, pairs, n % PANEL, bias ? bias[n] : 0.0f);
        }
    }
#if defined(__x86_64__)
    _mm_setcsr(control);
#endif
}

#if defined(__x86_64__)
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/// Two panels (32 outputs from `column`) of up to TILE_ROWS rows: the accumulators start at the bias
/// and take one VDPBF16PS per row, panel and pair of inputs.
BF16_TARGET
static void tile(const uint32_t *x, long rows, long pairs, const uint16_t *first, const uint16_t *second,
                 __m512 bias0, __m512 bias1, __mmask16 mask0, __mmask16 mask1, float *y, long ldy) {
    const uint32_t *row[TILE_ROWS];
    for (int i = 0; i < TILE_ROWS; i++) row[i] = x + (i < rows ? i : 0) * pairs;  // short tiles repeat row 0
    __m512 a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0, a4 = bias0, a5 = bias0, a6 = bias0, a7 = bias0;
    __m512 b0 = bias1, b1 = bias1, b2 = bias1, b3 = bias1, b4 = bias1, b5 = bias1, b6 = bias1, b7 = bias1;
    for (long j = 0; j < pairs; j++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(first + j * 2 * PANEL);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(second + j * 2 * PANEL);
#define ROW(i, A, B) { __m512bh v = (__m512bh)_mm512_set1_epi32((int)row[i][j]); \
                       A = _mm512_dpbf16_ps(A, v, w0); B = _mm512_dpbf16_ps(B, v, w1); }
        ROW(0, a0, b0) ROW(1, a1, b1) ROW(2, a2, b2) ROW(3, a3, b3)
        ROW(4, a4, b4) ROW(5, a5, b5) ROW(6, a6, b6) ROW(7, a7, b7)
#undef ROW
    }
    __m512 sums[TILE_ROWS][2] = {{a0, b0}, {a1, b1}, {a2, b2}, {a3, b3}, {a4, b4}, {a5, b5}, {a6, b6}, {a7, b7}};
    for (long i = 0; i < rows; i++) {
        _mm512_mask_storeu_ps(y + i * ldy, mask0, sums[i][0]);
        if (mask1) _mm512_mask_storeu_ps(y + i * ldy + PANEL, mask1, sums[i][1]);
    }
}

BF16_TARGET
static void avx512bf16_linear(const uint16_t *xb, long rows, long pairs, const uint16_t *packed, long outputs,
                              const float *bias, float *y, long ldy) {
    long panels = (outputs + PANEL - 1) / PANEL;
    for (long p = 0; p < panels; p += 2) {
        long column = p * PANEL;
        long first = outputs - column < PANEL ? outputs - column : PANEL;
        long second = outputs - column - first < PANEL ? outputs - column - first : PANEL;
        __mmask16 mask0 = (__mmask16)((1u << first) - 1), mask1 = (__mmask16)(second > 0 ? (1u << second) - 1 : 0);
        __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
        if (bias) {
            bias0 = _mm512_maskz_loadu_ps(mask0, bias + column);
            if (mask1) bias1 = _mm512_maskz_loadu_ps(mask1, bias + column + PANEL);
        }
        const uint16_t *panel0 = packed + p * pairs * 2 * PANEL;
        const uint16_t *panel1 = mask1 ? panel0 + pairs * 2 * PANEL : panel0;
        for (long r = 0; r < rows; r += TILE_ROWS) {
            long count = rows - r < TILE_ROWS ? rows - r : TILE_ROWS;
            tile((const uint32_t *)(xb + r * pairs * 2), count, pairs, panel0, panel1, bias0, bias1, mask0, mask1,
                 y + r * ldy + column, ldy);
        }
    }
}

#endif

int cfloatkernels_bf16_has_instructions(void) { return cfloatkernels_vector_level() >= VECTOR_AVX512_BF16; }

int cfloatkernels_bf16_linear(const float *x, long rows, long inputs, const uint16_t *packed, long outputs,
                              const float *bias, float *y, long ldy, int portable) {
    if (rows <= 0 || outputs <= 0) return 1;
    long pairs = (inputs + 1) / 2;
    uint16_t *xb = rounded_rows(x, rows, inputs, pairs);
    if (!xb) return 0;
#if defined(__x86_64__)
    if (!portable && cfloatkernels_bf16_has_instructions()) {
        avx512bf16_linear(xb, rows, pairs, packed, outputs, bias, y, ldy);
        return 1;
    }
#endif
    portable_linear(xb, rows, pairs, packed, outputs, bias, y, ldy);
    return 1;
}
