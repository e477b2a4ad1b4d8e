#include "CCPUFeatures.h"

int ccpufeatures_vector_units(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx2") ? 1 : 0)
        | (__builtin_cpu_supports("fma") ? 2 : 0)
        | (__builtin_cpu_supports("avx512f") ? 4 : 0)
        | (__builtin_cpu_supports("avx512vl") ? 8 : 0)
        | (__builtin_cpu_supports("avx512bw") ? 16 : 0)
        | (__builtin_cpu_supports("avx512dq") ? 32 : 0)
        | (__builtin_cpu_supports("avx512cd") ? 64 : 0);
#else
    return 0;
#endif
}
