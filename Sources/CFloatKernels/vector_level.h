#ifndef CFLOATKERNELS_VECTOR_LEVEL_H
#define CFLOATKERNELS_VECTOR_LEVEL_H

// The widest vector instructions of this CPU that CFloatKernels' builds choose by, found once at run
// time (every thread that looks first finds the same answer). Not part of the module's interface.
enum {
    VECTOR_NONE = 0,
    VECTOR_AVX2 = 1,
    VECTOR_AVX512 = 2,       // AVX-512F
    VECTOR_AVX512_BF16 = 3,  // AVX-512F with BW, VL and BF16
};

int cfloatkernels_vector_level(void);

#endif
