// Small dense matrix products for the Taylor engine's tiles: the operands are a tile's stacked
// channels (a few hundred rows) and one layer's weights (tens of columns), all in the L1/L2 cache,
// where a BLAS call costs more in set-up and packing than the product itself. One register-blocked
// kernel (4 rows x 2 AVX2 vectors of accumulators) serves both shapes the tiles need:
//   gemm_nn:     C (M x N)  = A (M x K) B (K x N)      (a layer forward, the gradient to its input)
//   gemm_tn_add: C (P x N) += Aᵀ (P x M) B (M x N)     (a weight gradient, summed over the rows)
// Internal: include it only inside the AVX2/FMA target region of a kernel file; without
// PINN_KERNELS_AVX2 the same products run as plain loops.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef PINN_KERNELS_AVX2
#include <immintrin.h>
#endif

namespace pinn::derivatives::kernels::gemm {

#ifdef PINN_KERNELS_AVX2

// One AVX2 register of T, with masked loads and stores for the last columns of a row.
template <typename T>
struct Simd;

template <>
struct Simd<float> {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V broadcast(float x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static Mask mask(int lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
};

template <>
struct Simd<double> {
  using V = __m256d;
  using Mask = __m256i;
  static constexpr int kLanes = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V broadcast(double x) { return _mm256_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static Mask mask(int lanes) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lanes), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load(const double* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, Mask m, V v) { _mm256_maskstore_pd(p, m, v); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
};

// R rows x V vectors of C: C[r, j] (+)= Σ_k a(r, k) B[k, j] for j < columns (the last vector
// masked), where a(r, k) = a[r * a_row + k * a_step]. Both products are this kernel with different
// strides. R x V accumulators, V loads of B and one broadcast per k: at most 16 registers.
template <typename T, int R, int V, bool Full>
void block(int64_t depth, const T* a, int64_t a_row, int64_t a_step, const T* b, int64_t ldb,
           int columns, T* c, int64_t ldc, bool accumulate) {
  using S = Simd<T>;
  typename S::Mask mask[V];
  for (int v = 0; v < V; ++v)
    mask[v] = S::mask(columns - v * S::kLanes);
  typename S::V acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v)
      acc[r][v] = S::zero();
  }
  for (int64_t k = 0; k < depth; ++k) {
    const T* bk = b + k * ldb;
    typename S::V bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = Full ? S::load(bk + v * S::kLanes) : S::load(bk + v * S::kLanes, mask[v]);
    const T* ak = a + k * a_step;
    for (int r = 0; r < R; ++r) {
      const typename S::V x = S::broadcast(ak[r * a_row]);
      for (int v = 0; v < V; ++v)
        acc[r][v] = S::fma(x, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r) {
    T* cr = c + r * ldc;
    for (int v = 0; v < V; ++v) {
      T* cv = cr + v * S::kLanes;
      if (Full) {
        if (accumulate) acc[r][v] = S::add(acc[r][v], S::load(cv));
        S::store(cv, acc[r][v]);
      } else {
        if (accumulate) acc[r][v] = S::add(acc[r][v], S::load(cv, mask[v]));
        S::store(cv, mask[v], acc[r][v]);
      }
    }
  }
}

// One panel of V vectors of columns (the last one masked unless Full), over every row: 4 rows at
// a time, then one by one.
template <typename T, int V, bool Full>
void rows_of(int64_t rows, int columns, int64_t depth, const T* a, int64_t a_row, int64_t a_step,
             const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4)
    block<T, 4, V, Full>(depth, a + i * a_row, a_row, a_step, b, ldb, columns, c + i * ldc, ldc,
                         accumulate);
  for (; i < rows; ++i)
    block<T, 1, V, Full>(depth, a + i * a_row, a_row, a_step, b, ldb, columns, c + i * ldc, ldc,
                         accumulate);
}

template <typename T, int V>
void panel(int64_t rows, int columns, int64_t depth, const T* a, int64_t a_row, int64_t a_step,
           const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  if (columns == V * Simd<T>::kLanes) {
    rows_of<T, V, true>(rows, columns, depth, a, a_row, a_step, b, ldb, c, ldc, accumulate);
  } else {
    rows_of<T, V, false>(rows, columns, depth, a, a_row, a_step, b, ldb, c, ldc, accumulate);
  }
}

// C (rows x N) (+)= a(rows x depth) B (depth x N), in panels of two or three vectors of columns
// (a lone vector leaves too few accumulators to hide the FMA latency), and in chunks of the depth
// so that a panel of B stays in the L1 cache while every row block uses it (a weight gradient
// sums over a whole tile: a depth of thousands of rows).
template <typename T>
void product(int64_t rows, int64_t columns, int64_t depth, const T* a, int64_t a_row,
             int64_t a_step, const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int64_t kLanes = Simd<T>::kLanes, kDepthChunk = 128;
  int64_t k0 = 0;
  do {
    const int64_t chunk = std::min(kDepthChunk, depth - k0);
    const bool add = accumulate || k0 > 0;
    for (int64_t j = 0; j < columns;) {
      const int64_t left = columns - j, vectors = (left + kLanes - 1) / kLanes;
      const int64_t take = vectors == 4 || vectors == 2 ? 2 : vectors == 1 ? 1 : 3;
      const int width = static_cast<int>(std::min(left, take * kLanes));
      const auto run = take == 3 ? panel<T, 3> : take == 2 ? panel<T, 2> : panel<T, 1>;
      run(rows, width, chunk, a + k0 * a_step, a_row, a_step, b + k0 * ldb + j, ldb, c + j, ldc,
          add);
      j += width;
    }
    k0 += chunk;
  } while (k0 < depth);
}

#else

template <typename T>
void product(int64_t rows, int64_t columns, int64_t depth, const T* a, int64_t a_row,
             int64_t a_step, const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < rows; ++i) {
    T* ci = c + i * ldc;
    if (!accumulate) {
      for (int64_t j = 0; j < columns; ++j)
        ci[j] = T(0);
    }
    for (int64_t k = 0; k < depth; ++k) {
      const T x = a[i * a_row + k * a_step];
      const T* bk = b + k * ldb;
      for (int64_t j = 0; j < columns; ++j)
        ci[j] += x * bk[j];
    }
  }
}

#endif

// C (M x N) = A (M x K, row stride lda) B (K x N, row stride ldb); C's row stride ldc.
template <typename T>
void gemm_nn(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
             T* c, int64_t ldc) {
  product(m, n, k, a, lda, 1, b, ldb, c, ldc, false);
}

// C (P x N) += Aᵀ B for A (M x P, row stride lda) and B (M x N, row stride ldb).
template <typename T>
void gemm_tn_add(int64_t m, int64_t p, int64_t n, const T* a, int64_t lda, const T* b, int64_t ldb,
                 T* c, int64_t ldc) {
  product(p, n, m, a, 1, lda, b, ldb, c, ldc, true);
}

}  // namespace pinn::derivatives::kernels::gemm
