#ifndef CCPUFEATURES_H
#define CCPUFEATURES_H

/// Vector units of this CPU that the operating system has enabled, from CPUID and XGETBV (works where
/// /proc/cpuinfo is hidden, e.g. ProcSubset=pid).
/// Bit 0: AVX2, bit 1: FMA, bit 2: AVX-512F, bit 3: AVX-512VL, bit 4: AVX-512BW, bit 5: AVX-512DQ,
/// bit 6: AVX-512CD; 0 on other architectures.
int ccpufeatures_vector_units(void);

#endif
