// Flat vector arithmetic: the sums run in kLanes independent lanes, vectorized.
#include "train/optimizers/flat_vector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pinn::train {

namespace {

constexpr size_t kLanes = 32;

// The sum of kLanes lanes and a tail, in that order.
double total(const double (&lanes)[kLanes], double tail) {
  double sum = 0;
  for (const double lane : lanes)
    sum += lane;
  return sum + tail;
}

}  // namespace

PINN_VECTOR_CLONES double dot(const double* a, const double* b, size_t n) {
  double lanes[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (size_t j = 0; j < kLanes; ++j)
      lanes[j] += a[i + j] * b[i + j];
  }
  double tail = 0;
  for (; i < n; ++i)
    tail += a[i] * b[i];
  return total(lanes, tail);
}

// q += a x; returns z . q afterwards (0 with z null: then only the update).
PINN_VECTOR_CLONES double update_then_dot(double a, const double* x, double* q, const double* z,
                                          size_t n) {
  double lanes[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (size_t j = 0; j < kLanes; ++j) {
      q[i + j] += a * x[i + j];
      lanes[j] += z ? z[i + j] * q[i + j] : 0.0;
    }
  }
  double tail = 0;
  for (; i < n; ++i) {
    q[i] += a * x[i];
    tail += z ? z[i] * q[i] : 0.0;
  }
  return total(lanes, tail);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  return dot(a.data(), b.data(), a.size());
}

// y += alpha x
void axpy(double alpha, const std::vector<double>& x, std::vector<double>& y) {
  update_then_dot(alpha, x.data(), y.data(), nullptr, x.size());
}

// The largest |entry|; infinity when an entry is not finite (a NaN must not read as small).
double max_abs(const std::vector<double>& v) {
  double largest = 0;
  for (const double e : v) {
    if (!std::isfinite(e)) return std::numeric_limits<double>::infinity();
    largest = std::max(largest, std::abs(e));
  }
  return largest;
}

}  // namespace pinn::train
