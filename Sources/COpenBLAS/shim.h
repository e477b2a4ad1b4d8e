#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
/// lapack_int is a macro in lapacke_config.h, invisible to Swift: give it a name.
typedef lapack_int COpenBLAS_lapack_int;
#endif
