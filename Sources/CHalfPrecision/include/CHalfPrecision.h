#ifndef CHALFPRECISION_H
#define CHALFPRECISION_H

#include <stdint.h>

/// Converts `count` little-endian F16 values at `source` to doubles at `destination` with the CPU's F16C
/// conversion (AVX2 + F16C, found at run time): exact, as F16 ⊂ F32 ⊂ F64, subnormals included.
/// Returns 1 when any value is NaN or infinite (exponent all ones), 0 when none is, and -1 without
/// touching `destination` on a CPU without AVX2 and F16C (the caller then converts them itself).
int chalfprecision_f16_to_f64(const void *source, long count, double *destination);

/// Encodes `count` doubles at `source` as little-endian F16 at `destination`, each rounded to nearest
/// even straight from the double (never through F32, which could round twice); beyond F16's range and
/// NaN become ∞. Vectorised for AVX2 where the CPU has it; the same results on any CPU.
/// Returns 1 when any encoded value is NaN or infinite, 0 when none is.
int chalfprecision_f64_to_f16(const double *source, long count, void *destination);

/// Whether any lane of `words` little-endian 64-bit words at `source` has its exponent field all ones:
/// `mask` holds every lane's exponent field, `lowest` its lowest bit, `signs` the bit above it (the
/// lane's sign bit). Vectorised for AVX2 where the CPU has it; the same answer on any CPU.
int chalfprecision_any_exponent_all_ones(const void *source, long words, uint64_t mask, uint64_t lowest,
                                         uint64_t signs);

#endif
