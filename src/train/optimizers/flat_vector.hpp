// Arithmetic on flat float64 vectors (the trainables as one vector), shared by the quasi-Newton
// optimizers. Products are summed in a fixed number of independent lanes, in a fixed order, so
// that a result is the same on every CPU whichever vector unit runs it (AVX-512, AVX2 or the
// baseline, picked at load time), and a resumed run repeats an uninterrupted one bit for bit.
#pragma once

#include <cstddef>
#include <vector>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define PINN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PINN_VECTOR_CLONES
#endif

namespace pinn::train {

double dot(const double* a, const double* b, size_t n);
double dot(const std::vector<double>& a, const std::vector<double>& b);

// q += a x; returns z . q afterwards (0 with z null: then only the update). One pass, so that a
// chain of dependent products (L-BFGS's two-loop recursion) reads each vector once.
double update_then_dot(double a, const double* x, double* q, const double* z, size_t n);

// y += alpha x
void axpy(double alpha, const std::vector<double>& x, std::vector<double>& y);

// The largest |entry|; infinity when an entry is not finite (a NaN must not read as small).
double max_abs(const std::vector<double>& v);

}  // namespace pinn::train
