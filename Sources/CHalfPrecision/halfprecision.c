#include "CHalfPrecision.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/// 16 values a step: two F16C conversions of 8 halves to 8 floats, each widened to 2 × 4 doubles
/// (unaligned loads and stores); NaN and ∞ spotted on the halves' exponent fields.
__attribute__((target("avx2,f16c")))
static int f16_to_f64_f16c(const uint8_t *source, long count, double *destination) {
    const __m256i exponent = _mm256_set1_epi16(0x7C00);
    __m256i special = _mm256_setzero_si256();
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256i halves = _mm256_loadu_si256((const __m256i *)(source + 2 * i));
        special = _mm256_or_si256(special, _mm256_cmpeq_epi16(_mm256_and_si256(halves, exponent), exponent));
        __m256 low = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
        __m256 high = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
        _mm256_storeu_pd(destination + i, _mm256_cvtps_pd(_mm256_castps256_ps128(low)));
        _mm256_storeu_pd(destination + i + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(low, 1)));
        _mm256_storeu_pd(destination + i + 8, _mm256_cvtps_pd(_mm256_castps256_ps128(high)));
        _mm256_storeu_pd(destination + i + 12, _mm256_cvtps_pd(_mm256_extractf128_ps(high, 1)));
    }
    int found = !_mm256_testz_si256(special, special);
    for (; i < count; i++) {
        uint16_t bits;
        memcpy(&bits, source + 2 * i, 2);
        found |= (bits & 0x7C00) == 0x7C00;
        destination[i] = (double)_cvtsh_ss(bits);
    }
    return found;
}
#endif

int chalfprecision_f16_to_f64(const void *source, long count, double *destination) {
#if defined(__x86_64__)
    static int usable = -1;   // found once; every thread that looks first finds the same answer
    int found = __atomic_load_n(&usable, __ATOMIC_RELAXED);
    if (found < 0) {
        __builtin_cpu_init();
        found = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
        __atomic_store_n(&usable, found, __ATOMIC_RELAXED);
    }
    if (found) return f16_to_f64_f16c((const uint8_t *)source, count, destination);
#endif
    (void)source; (void)count; (void)destination;
    return -1;
}
