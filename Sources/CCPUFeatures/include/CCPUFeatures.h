#ifndef CCPUFEATURES_H
#define CCPUFEATURES_H

/// Vector units of this CPU, from CPUID (works where /proc/cpuinfo is hidden, e.g. ProcSubset=pid).
/// Bit 0: AVX2, bit 1: FMA, bit 2: AVX-512F; 0 on other architectures.
int ccpufeatures_vector_units(void);

#endif
