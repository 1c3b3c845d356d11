// Small dense matrix products for the Taylor engine's tiles: the operands are a tile's stacked
// channels (a few hundred rows) and one layer's weights (tens of columns), all in the L1/L2 cache,
// where a BLAS call costs more in set-up and packing than the product itself. One register-blocked
// kernel (rows_per_block<V> rows x up to kMaxVectors vectors of accumulators) serves both shapes
// the tiles need:
//   gemm_nn:     C (M x N)  = A (M x K) B (K x N)      (a layer forward, the gradient to its input)
//   gemm_tn_add: C (P x N) += Aᵀ (P x M) B (M x N)     (a weight gradient, summed over the rows)
//
// Internal: include it only inside the target region of a kernel file, which chooses the
// instruction set: PINN_KERNELS_AVX2 (AVX2 and FMA, 16 registers of 256 bits), with
// PINN_KERNELS_AVX512 as well for AVX-512 (32 registers of 512 bits, native masks); neither: plain
// loops. PINN_KERNEL_ISA names the namespace the file's instantiations live in, so that the same
// templates compiled for two instruction sets in two files never meet at link time (one
// definition rule), and code for one never runs on a CPU that only has the other.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#ifdef PINN_KERNELS_AVX2
#include <immintrin.h>
#endif

#ifndef PINN_KERNEL_ISA
#error "define PINN_KERNEL_ISA (the namespace of this file's instruction set) before this header"
#endif

namespace pinn::derivatives::kernels {
inline namespace PINN_KERNEL_ISA {
namespace gemm {

#ifdef PINN_KERNELS_AVX2

// Unrolls the register loops of a block completely, early: the accumulator arrays then become
// registers from the start (left to the late unroller, GCC kept them in a stack array, zeroed and
// copied on every call).
#define PINN_UNROLL _Pragma("GCC unroll 16")

// One register of T, with masked loads and stores for the last columns of a row.
template <typename T>
struct Simd;

#ifdef PINN_KERNELS_AVX512

// Rows per block for V vectors of columns, within the 32 registers: 8 x 3 accumulators, 3 loads
// and a broadcast; or, for a panel of 4 vectors (a 64-wide float layer in one pass, each entry of
// A broadcast once), 6 x 4, 4 loads and a broadcast: the d = 10 Laplacian step of
// scripts/bench/laplacian.py 3.6 % faster than with two 8 x 2 panels (README, performance (b)).
constexpr int kMaxVectors = 4;
template <int V>
constexpr int rows_per_block() {
  return V == 4 ? 6 : 8;
}

template <>
struct Simd<float> {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V broadcast(float x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static Mask mask(int lanes) {
    return lanes >= kLanes ? Mask(0xFFFF) : lanes <= 0 ? Mask(0) : Mask((1u << lanes) - 1);
  }
  static V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  // The lower half of the lanes, the upper one zero; written without the intrinsics that take an
  // undefined register (GCC 12 warns about those inside its own headers).
  static V load_half(const float* p) {
    return V{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], 0, 0, 0, 0, 0, 0, 0, 0};
  }
  static void store_half(float* p, V v) { _mm512_mask_storeu_ps(p, Mask(0x00FF), v); }
  // The lanes' sum. Not _mm512_reduce_add_ps, nor the unmasked extracts: GCC 12's versions read
  // an undefined register (and warn); the zero-masked extract does not.
  static float sum(V v) {
    const auto half = [&](int i) {
      return _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), i));
    };
    const __m256 x = _mm256_add_ps(half(0), half(1));
    __m128 y = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    y = _mm_hadd_ps(y, y);
    return _mm_cvtss_f32(_mm_hadd_ps(y, y));
  }
};

template <>
struct Simd<double> {
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V broadcast(double x) { return _mm512_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V div(V a, V b) { return _mm512_div_pd(a, b); }
  static Mask mask(int lanes) {
    return lanes >= kLanes ? Mask(0xFF) : lanes <= 0 ? Mask(0) : Mask((1u << lanes) - 1);
  }
  static V load(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, Mask m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V load_half(const double* p) { return V{p[0], p[1], p[2], p[3], 0, 0, 0, 0}; }
  static void store_half(double* p, V v) { _mm512_mask_storeu_pd(p, Mask(0x0F), v); }
  static double sum(V v) {
    const __m256d x = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xF, v, 0),
                                    _mm512_maskz_extractf64x4_pd(0xF, v, 1));
    const __m128d y = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_hadd_pd(y, y));
  }
};

#else

// Rows per block within the 16 registers: 4 x 3 accumulators, 3 loads, 1 broadcast.
constexpr int kMaxVectors = 3;
template <int>
constexpr int rows_per_block() {
  return 4;
}

template <>
struct Simd<float> {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V broadcast(float x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static Mask mask(int lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V load_half(const float* p) {
    return _mm256_insertf128_ps(_mm256_setzero_ps(), _mm_loadu_ps(p), 0);
  }
  static void store_half(float* p, V v) { _mm_storeu_ps(p, _mm256_castps256_ps128(v)); }
  static float sum(V v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_hadd_ps(x, x);
    return _mm_cvtss_f32(_mm_hadd_ps(x, x));
  }
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
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static Mask mask(int lanes) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lanes), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load(const double* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, Mask m, V v) { _mm256_maskstore_pd(p, m, v); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V load_half(const double* p) {
    return _mm256_insertf128_pd(_mm256_setzero_pd(), _mm_loadu_pd(p), 0);
  }
  static void store_half(double* p, V v) { _mm_storeu_pd(p, _mm256_castpd256_pd128(v)); }
  static double sum(V v) {
    const __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_hadd_pd(x, x));
  }
};

#endif

// How a panel's last vector of columns is read and written: whole (the columns fill it), as its
// lower half (rows padded to 32 bytes leave exactly half a 512-bit register), or under a mask.
// The half case exists for speed: with a masked load inside the product's loop, GCC keeps the
// accumulators in memory and stores them on every iteration.
//
// `narrow` is the half case with that last vector a 256-bit register of its own (AVX-512 builds
// with PINN_KERNELS_NARROW_TAIL): a CPU that splits each 512-bit operation into two 256-bit halves
// (AMD Zen 4) then does no work on the idle half, where a 20-wide float32 row would otherwise take
// two full 512-bit multiply-adds per entry of A for 20 of their 32 lanes. Which build is faster is
// the CPU's business: the run measures them (tiled_pass.cpp).
enum class Tail { full, half, masked, narrow };

#ifdef PINN_KERNELS_AVX512
// The 256-bit register of T, for the narrow last vector of an AVX-512 panel.
template <typename T>
struct HalfSimd;

template <>
struct HalfSimd<float> {
  using V = __m256;
  static V zero() { return _mm256_setzero_ps(); }
  static V broadcast(float x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  // The lower half of a 512-bit register: no instruction (a broadcast made once serves both).
  // Not _mm512_castps512_ps256, whose GCC 12 version reads an undefined register (and warns).
  static V lower(__m512 v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7); }
};

template <>
struct HalfSimd<double> {
  using V = __m256d;
  static V zero() { return _mm256_setzero_pd(); }
  static V broadcast(double x) { return _mm256_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V lower(__m512d v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3); }
};

// R rows x (V - 1 full vectors and a narrow last one) of C: block() below with the last column
// vector in 256-bit registers (Tail::narrow).
template <typename T, int R, int V>
void narrow_block(int64_t depth, const T* a, int64_t a_row, int64_t a_step, const T* b, int64_t ldb,
                  T* c, int64_t ldc, bool accumulate) {
  using S = Simd<T>;
  using H = HalfSimd<T>;
  constexpr int F = V - 1;  // the full vectors before the narrow one
  typename S::V acc[R][F > 0 ? F : 1];
  typename H::V last[R];
  PINN_UNROLL
  for (int r = 0; r < R; ++r) {
    PINN_UNROLL
    for (int v = 0; v < F; ++v)
      acc[r][v] = accumulate ? S::load(c + r * ldc + v * S::kLanes) : S::zero();
    last[r] = accumulate ? H::load(c + r * ldc + F * S::kLanes) : H::zero();
  }
  for (int64_t k = 0; k < depth; ++k) {
    const T* bk = b + k * ldb;
    typename S::V bv[F > 0 ? F : 1];
    PINN_UNROLL
    for (int v = 0; v < F; ++v)
      bv[v] = S::load(bk + v * S::kLanes);
    const typename H::V b_last = H::load(bk + F * S::kLanes);
    const T* ak = a + k * a_step;
    PINN_UNROLL
    for (int r = 0; r < R; ++r) {
      const typename S::V wide = S::broadcast(ak[r * a_row]);
      PINN_UNROLL
      for (int v = 0; v < F; ++v)
        acc[r][v] = S::fma(wide, bv[v], acc[r][v]);
      last[r] = H::fma(H::lower(wide), b_last, last[r]);
    }
  }
  PINN_UNROLL
  for (int r = 0; r < R; ++r) {
    PINN_UNROLL
    for (int v = 0; v < F; ++v)
      S::store(c + r * ldc + v * S::kLanes, acc[r][v]);
    H::store(c + r * ldc + F * S::kLanes, last[r]);
  }
}
#endif

// R rows x V vectors of C: C[r, j] (+)= Σ_k a(r, k) B[k, j] for j < columns, where
// a(r, k) = a[r * a_row + k * a_step]. Both products are this kernel with different strides.
// R x V accumulators, V loads of B and one broadcast per k: within the register file.
template <typename T, int R, int V, Tail Last>
void block(int64_t depth, const T* a, int64_t a_row, int64_t a_step, const T* b, int64_t ldb,
           int columns, T* c, int64_t ldc, bool accumulate) {
  using S = Simd<T>;
  typename S::Mask mask[V];
  PINN_UNROLL
  for (int v = 0; v < V; ++v)
    mask[v] = S::mask(columns - v * S::kLanes);
  const auto load = [&](const T* p, int v) {
    if (Last == Tail::full || v + 1 < V)
      return Last == Tail::masked ? S::load(p, mask[v]) : S::load(p);
    return Last == Tail::half ? S::load_half(p) : S::load(p, mask[v]);
  };
  const auto store = [&](T* p, int v, typename S::V x) {
    if (Last == Tail::full || v + 1 < V) {
      if (Last == Tail::masked) {
        S::store(p, mask[v], x);
      } else {
        S::store(p, x);
      }
    } else if (Last == Tail::half) {
      S::store_half(p, x);
    } else {
      S::store(p, mask[v], x);
    }
  };
  // Accumulating, the sums start from C itself: the registers then hold the block from the start,
  // and GCC keeps them there (zeroing them and adding C at the end made it spill them all to the
  // stack first, on every call).
  typename S::V acc[R][V];
  PINN_UNROLL
  for (int r = 0; r < R; ++r) {
    PINN_UNROLL
    for (int v = 0; v < V; ++v)
      acc[r][v] = accumulate ? load(c + r * ldc + v * S::kLanes, v) : S::zero();
  }
  for (int64_t k = 0; k < depth; ++k) {
    const T* bk = b + k * ldb;
    typename S::V bv[V];
    PINN_UNROLL
    for (int v = 0; v < V; ++v)
      bv[v] = load(bk + v * S::kLanes, v);
    const T* ak = a + k * a_step;
    PINN_UNROLL
    for (int r = 0; r < R; ++r) {
      const typename S::V x = S::broadcast(ak[r * a_row]);
      PINN_UNROLL
      for (int v = 0; v < V; ++v)
        acc[r][v] = S::fma(x, bv[v], acc[r][v]);
    }
  }
  PINN_UNROLL
  for (int r = 0; r < R; ++r) {
    PINN_UNROLL
    for (int v = 0; v < V; ++v)
      store(c + r * ldc + v * S::kLanes, v, acc[r][v]);
  }
}

// One panel of V vectors of columns, over every row: rows_per_block<V> rows at a time, then the
// rest in blocks of halving height (a weight gradient has as few rows as the layer is wide, e.g.
// 20, and a one-row block is bound by the latency of its few accumulators).
template <typename T, int V, Tail Last>
void rows_of(int64_t rows, int columns, int64_t depth, const T* a, int64_t a_row, int64_t a_step,
             const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  const auto run = [&](auto height) {
    constexpr int R = decltype(height)::value;
    for (; i + R <= rows; i += R) {
#ifdef PINN_KERNELS_AVX512
      if constexpr (Last == Tail::narrow) {
        narrow_block<T, R, V>(depth, a + i * a_row, a_row, a_step, b, ldb, c + i * ldc, ldc,
                              accumulate);
      } else
#endif
      {
        block<T, R, V, Last>(depth, a + i * a_row, a_row, a_step, b, ldb, columns, c + i * ldc, ldc,
                             accumulate);
      }
    }
  };
  constexpr int kRows = rows_per_block<V>();
  run(std::integral_constant<int, kRows>());
  if constexpr (kRows > 4) run(std::integral_constant<int, 4>());
  run(std::integral_constant<int, 2>());
  run(std::integral_constant<int, 1>());
}

template <typename T, int V>
void panel(int64_t rows, int columns, int64_t depth, const T* a, int64_t a_row, int64_t a_step,
           const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int kLanes = Simd<T>::kLanes;
  if (columns == V * kLanes) {
    rows_of<T, V, Tail::full>(rows, columns, depth, a, a_row, a_step, b, ldb, c, ldc, accumulate);
  } else if (columns == V * kLanes - kLanes / 2) {
#ifdef PINN_KERNELS_NARROW_TAIL
    rows_of<T, V, Tail::narrow>(rows, columns, depth, a, a_row, a_step, b, ldb, c, ldc, accumulate);
#else
    rows_of<T, V, Tail::half>(rows, columns, depth, a, a_row, a_step, b, ldb, c, ldc, accumulate);
#endif
  } else {
    rows_of<T, V, Tail::masked>(rows, columns, depth, a, a_row, a_step, b, ldb, c, ldc, accumulate);
  }
}

// The vectors of columns the next panel takes when `vectors` are left: 4 where the registers
// allow it, else 2 or 3, never leaving a lone vector behind (too few accumulators to hide the FMA
// latency).
inline int64_t panel_vectors(int64_t vectors) {
  if (kMaxVectors >= 4 && (vectors == 4 || vectors >= 7)) return 4;
  if (vectors == 4 || vectors == 2) return 2;
  return vectors == 1 ? 1 : 3;
}

// C (rows x N) (+)= a(rows x depth) B (depth x N), in panels of two to four vectors of columns
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
      const int64_t take = panel_vectors(vectors);
      const int width = static_cast<int>(std::min(left, take * kLanes));
      const auto run = take == 4   ? panel<T, std::min(4, kMaxVectors)>
                       : take == 3 ? panel<T, 3>
                       : take == 2 ? panel<T, 2>
                                   : panel<T, 1>;
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

// C (M x N) = A (M x K) Wᵀ for a narrow W (N x K, row stride ldw: a layer with a few outputs),
// then C's columns N to `padded` zeroed. The product above would broadcast every entry of A and
// use one lane in kLanes of each FMA on a layer with one output; one dot product per entry,
// vectorized along A's contiguous rows, takes a fraction of the instructions.
template <typename T>
void gemm_nt_narrow(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* w,
                    int64_t ldw, T* c, int64_t ldc, int64_t padded) {
  for (int64_t i = 0; i < m; ++i) {
    const T* ai = a + i * lda;
    T* ci = c + i * ldc;
    for (int64_t o = 0; o < n; ++o) {
      const T* wo = w + o * ldw;
      T dot = 0;
      int64_t j = 0;
#ifdef PINN_KERNELS_AVX2
      using S = Simd<T>;
      auto acc = S::zero();
      for (; j + S::kLanes <= k; j += S::kLanes)
        acc = S::fma(S::load(ai + j), S::load(wo + j), acc);
      if (j < k) {
        const auto mask = S::mask(static_cast<int>(k - j));
        acc = S::fma(S::load(ai + j, mask), S::load(wo + j, mask), acc);
        j = k;
      }
      dot = S::sum(acc);
#endif
      for (; j < k; ++j)
        dot += ai[j] * wo[j];
      ci[o] = dot;
    }
    std::fill(ci + n, ci + padded, T(0));
  }
}

}  // namespace gemm
}  // namespace PINN_KERNEL_ISA
}  // namespace pinn::derivatives::kernels
