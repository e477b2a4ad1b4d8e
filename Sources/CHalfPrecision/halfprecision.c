#include "CHalfPrecision.h"

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// F64 → F16 bits, rounded to nearest even straight from the double (no rounding through F32, which
/// could round twice): AdapterCore's `HalfPrecision.f16Bits`, step for step. Beyond F16's range and NaN
/// give ∞ (0x7C00 with the sign).
static inline uint16_t f64_to_f16_bits(double value) {
    uint64_t bits;
    memcpy(&bits, &value, 8);
    const uint16_t sign = (uint16_t)(bits >> 48) & 0x8000;
    const uint64_t magnitude = bits & 0x7FFFFFFFFFFFFFFFULL;
    const uint64_t odd = (magnitude >> 42) & 1;
    const uint64_t normal = (magnitude - (1008ULL << 52) + 0x1FFFFFFFFFFULL + odd) >> 42;
    const uint64_t magicBits = 0x41B0000000000000ULL;   // 2^28: the sum's last bit is F16's subnormal step
    double absolute, magic;
    memcpy(&absolute, &magnitude, 8);
    memcpy(&magic, &magicBits, 8);
    const double sum = absolute + magic;
    uint64_t sumBits;
    memcpy(&sumBits, &sum, 8);
    const uint64_t subnormal = sumBits - magicBits;
    const uint64_t rounded = magnitude < 0x3F10000000000000ULL ? subnormal : normal;
    const uint64_t result = magnitude >= 0x40F0000000000000ULL ? 0x7C00 : rounded;
    return sign | (uint16_t)result;
}

/// The loop both builds share: each value encoded little-endian, and whether any came out NaN or ∞.
static inline int f64_to_f16_loop(const double *source, long count, uint8_t *destination) {
    uint16_t special = 0;
    for (long i = 0; i < count; i++) {
        const uint16_t h = f64_to_f16_bits(source[i]);
        special |= (uint16_t)(((h & 0x7C00) + 0x0400) & 0x8000);
        memcpy(destination + 2 * i, &h, 2);   // x86-64 and every target here are little-endian
    }
    return special != 0;
}

#if defined(__x86_64__)
/// The same loop compiled for AVX2: four doubles a step in 256-bit integer lanes.
__attribute__((target("avx2")))
static int f64_to_f16_avx2(const double *source, long count, uint8_t *destination) {
    return f64_to_f16_loop(source, count, destination);
}

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

#if defined(__x86_64__)
/// Whether the CPU has AVX2 (and F16C with it), found once; every thread that looks first finds the
/// same answer.
static int has_avx2_f16c(void) {
    static int usable = -1;
    int found = __atomic_load_n(&usable, __ATOMIC_RELAXED);
    if (found < 0) {
        __builtin_cpu_init();
        found = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
        __atomic_store_n(&usable, found, __ATOMIC_RELAXED);
    }
    return found;
}
#endif

/// The scan both builds share: any lane of any 64-bit word whose exponent field is all ones, found
/// branch-free (adding the field's lowest bit carries into the lane's sign bit only then).
static inline int exponent_all_ones_loop(const uint8_t *source, long words, uint64_t mask, uint64_t lowest,
                                         uint64_t signs) {
    uint64_t special = 0;
    for (long i = 0; i < words; i++) {
        uint64_t word;
        memcpy(&word, source + 8 * i, 8);   // little-endian targets only
        special |= ((word & mask) + lowest) & signs;
    }
    return special != 0;
}

#if defined(__x86_64__)
/// The same loop compiled for AVX2: four words a step in 256-bit lanes.
__attribute__((target("avx2")))
static int exponent_all_ones_avx2(const uint8_t *source, long words, uint64_t mask, uint64_t lowest, uint64_t signs) {
    return exponent_all_ones_loop(source, words, mask, lowest, signs);
}
#endif

int chalfprecision_any_exponent_all_ones(const void *source, long words, uint64_t mask, uint64_t lowest,
                                         uint64_t signs) {
#if defined(__x86_64__)
    if (has_avx2_f16c()) return exponent_all_ones_avx2((const uint8_t *)source, words, mask, lowest, signs);
#endif
    return exponent_all_ones_loop((const uint8_t *)source, words, mask, lowest, signs);
}

int chalfprecision_f16_to_f64(const void *source, long count, double *destination) {
#if defined(__x86_64__)
    if (has_avx2_f16c()) return f16_to_f64_f16c((const uint8_t *)source, count, destination);
#endif
    (void)source; (void)count; (void)destination;
    return -1;
}

int chalfprecision_f64_to_f16(const double *source, long count, void *destination) {
#if defined(__x86_64__)
    if (has_avx2_f16c()) return f64_to_f16_avx2(source, count, (uint8_t *)destination);
#endif
    return f64_to_f16_loop(source, count, (uint8_t *)destination);
}
