// The Taylor engine's block-level loops, shared by the fused whole-tensor passes
// (kernels/faa_di_bruno) and the tiled whole-network passes (tiled_pass.hpp): Faà di Bruno and its
// adjoint on one block of at most kBlock elements of every channel. Internal: include it only
// inside the target region of a kernel file, so that the loops are compiled for its instruction set
// (see small_gemm.hpp: the file defines PINN_KERNEL_ISA, the namespace of its instantiations).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <vector>

#include "derivatives/kernels/faa_di_bruno.hpp"
#include "derivatives/kernels/small_gemm.hpp"

namespace pinn::derivatives::kernels {
inline namespace PINN_KERNEL_ISA {
namespace blocks {

constexpr int64_t kBlock = 256;  // elements per block: a few dozen channel blocks fit in L1
constexpr size_t kMaxOrders = 12;

// Slices of a stacked K x N x W layout: at(k, begin) points at element `begin` of slice k.
template <typename T>
struct Slices {
  T* base;
  int64_t stride;
  T* at(int64_t k, int64_t begin) const { return base + k * stride + begin; }
};

template <typename T>
Slices<T> slices_of(const at::Tensor& t) {
  return {static_cast<T*>(t.data_ptr<std::remove_const_t<T>>()), t.numel() / t.size(0)};
}

constexpr size_t kMaxCoefficients = kMaxOrders + 2;
constexpr uint32_t kAllOrders = ~0u;

// σ^(m) on one block: pointers into the table, or the polynomials P_m (σ^(m) = P_m(σ)) evaluated
// into `buffer`. With polynomials, only the orders asked for are written out (`in_memory`, bit
// m for σ^(m)); the first-order passes evaluate theirs in registers (register_at), which saves
// the buffers' stores and loads: d[m] is null for an order left out.
template <typename T>
struct BlockDerivatives {
  std::array<const T*, kMaxOrders> d{};
  std::array<std::array<T, kBlock>, kMaxOrders> buffer;
  std::array<std::array<T, kMaxCoefficients>, kMaxOrders> coefficients{};  // P_m's, in T
  std::array<size_t, kMaxOrders> counts{};

  void load(const Derivatives& source, const Slices<const T>& table, const T* value_base,
            int64_t begin, int64_t n, uint32_t in_memory = kAllOrders) {
    const auto orders = static_cast<size_t>(source.orders());
    if (source.table.defined()) {
      for (size_t m = 0; m < orders; ++m)
        d[m] = table.at(static_cast<int64_t>(m), begin);
      return;
    }
    const T* value = value_base + begin;
    d[0] = value;
    for (size_t m = 1; m < orders; ++m) {
      const auto& p = source.polynomials[m];
      counts[m] = std::min(p.size(), kMaxCoefficients);
      for (size_t k = 0; k < counts[m]; ++k)
        coefficients[m][k] = static_cast<T>(p[k]);
      d[m] = nullptr;
      if (in_memory & (1u << m)) {
        d[m] = buffer[m].data();
        evaluate(m, value, buffer[m].data(), n);
      }
    }
  }

  // σ^(m) at point j, from memory or by Horner's rule (the same operations as evaluate's, so the
  // same number either way).
  T scalar_at(size_t m, int64_t j) const {
    if (d[m]) return d[m][j];
    const auto& c = coefficients[m];
    const size_t count = counts[m];
    if (count == 0) return T(0);
    T acc = c[count - 1];
    for (size_t k = count - 1; k-- > 0;)
      acc = acc * d[0][j] + c[k];
    return acc;
  }

#ifdef PINN_KERNELS_AVX2
  // σ^(m) for the register of points from j.
  typename gemm::Simd<T>::V register_at(size_t m, int64_t j) const {
    using S = gemm::Simd<T>;
    if (d[m]) return S::load(d[m] + j);
    const auto& c = coefficients[m];
    const size_t count = counts[m];
    if (count == 0) return S::zero();
    const auto x = S::load(d[0] + j);
    auto acc = S::broadcast(c[count - 1]);
    for (size_t k = count - 1; k-- > 0;)
      acc = S::fma(acc, x, S::broadcast(c[k]));
    return acc;
  }
#endif

  // out[j] = P_m(value[j]) by Horner's rule, several registers of points at a time (one pass
  // over memory rather than one per coefficient; independent chains keep both FMA units busy).
  void evaluate(size_t m, const T* value, T* out, int64_t n) const {
    const auto& c = coefficients[m];
    const size_t count = counts[m];
    if (count == 0) {
      std::fill(out, out + n, T(0));
      return;
    }
    int64_t j = 0;
#ifdef PINN_KERNELS_AVX2
    using S = gemm::Simd<T>;
    constexpr int kVectors = 6;  // 6 chains and 6 loaded values: 13 of the 16 registers
    for (; j + kVectors * S::kLanes <= n; j += kVectors * S::kLanes) {
      typename S::V x[kVectors], acc[kVectors];
      for (int v = 0; v < kVectors; ++v) {
        x[v] = S::load(value + j + v * S::kLanes);
        acc[v] = S::broadcast(c[count - 1]);
      }
      for (size_t k = count - 1; k-- > 0;) {
        const auto coefficient = S::broadcast(c[k]);
        for (int v = 0; v < kVectors; ++v)
          acc[v] = S::fma(acc[v], x[v], coefficient);
      }
      for (int v = 0; v < kVectors; ++v)
        S::store(out + j + v * S::kLanes, acc[v]);
    }
    for (; j + S::kLanes <= n; j += S::kLanes) {
      const auto x = S::load(value + j);
      auto acc = S::broadcast(c[count - 1]);
      for (size_t k = count - 1; k-- > 0;)
        acc = S::fma(acc, x, S::broadcast(c[k]));
      S::store(out + j, acc);
    }
#endif
    for (; j < n; ++j) {
      T acc = c[count - 1];
      for (size_t k = count - 1; k-- > 0;)
        acc = acc * value[j] + c[k];
      out[j] = acc;
    }
  }
};

// out[j] = scale * a[j] * Π_k z_{factors[k]}[j], skipping one occurrence of `skip` (-1: none).
template <typename T>
void term_product(T* out, const T* a, T scale, const std::vector<int64_t>& factors, int64_t skip,
                  const Slices<const T>& z, int64_t begin, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    out[j] = scale * a[j];
  bool skipped = false;
  for (int64_t f : factors) {
    if (f == skip && !skipped) {
      skipped = true;
      continue;
    }
    const T* zf = z.at(f, begin);
    for (int64_t j = 0; j < n; ++j)
      out[j] *= zf[j];
  }
}

template <typename T>
void add_to(T* target, const T* values, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    target[j] += values[j];
}

// ---- one term of order K (2 to kMaxFused) in a single pass over the block ----
//
// The general loops above take one pass per factor; a term's products are short, so one pass that
// keeps them in registers does the same work with a fraction of the loads and stores. Results go
// to local chunks first and are added to the channels after: the compiler then needs no proof that
// a target channel does not alias the factors it reads.
constexpr int kMaxFused = 4;
constexpr int64_t kChunk = 64;

// h_c += coefficient · σ^(K) · Π_k z_{f_k}.
template <typename T, int K>
void forward_term(T* h, const T* d, T coefficient, const std::array<const T*, K>& z, int64_t n) {
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t m = std::min(kChunk, n - j0);
    T value[kChunk];
    for (int64_t l = 0; l < m; ++l) {
      T p = coefficient * d[j0 + l];
      for (int k = 0; k < K; ++k)
        p *= z[static_cast<size_t>(k)][j0 + l];
      value[l] = p;
    }
    for (int64_t l = 0; l < m; ++l)
      h[j0 + l] += value[l];
  }
}

// The adjoint of one term t = coefficient · σ^(K)(z_0) · Π_k z_{f_k} with g = ∂L/∂h_c:
// dz_0 += g · coefficient · σ^(K+1) · Π_k z_{f_k}, and for each distinct factor f of
// multiplicity m, dz_f += m · g · coefficient · σ^(K) · Π of the other factors. `targets[k]` is
// dz_{f_k} for the first occurrence of each factor, else null.
template <typename T, int K>
void adjoint_term(T* dz0, const T* g, const T* d_order, const T* d_next, T coefficient,
                  const std::array<const T*, K>& z, const std::array<T*, K>& targets,
                  const std::array<T, K>& multiplicity, int64_t n) {
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t m = std::min(kChunk, n - j0);
    T zero_part[kChunk];
    T factor_part[K][kChunk];
    for (int64_t l = 0; l < m; ++l) {
      const int64_t j = j0 + l;
      const T w = coefficient * g[j];
      T all = T(1);
      for (int k = 0; k < K; ++k)
        all *= z[static_cast<size_t>(k)][j];
      zero_part[l] = w * d_next[j] * all;
      const T wd = w * d_order[j];
      for (int i = 0; i < K; ++i) {
        T others = wd * multiplicity[static_cast<size_t>(i)];
        for (int k = 0; k < K; ++k) {
          if (k != i) others *= z[static_cast<size_t>(k)][j];
        }
        factor_part[i][l] = others;
      }
    }
    for (int64_t l = 0; l < m; ++l)
      dz0[j0 + l] += zero_part[l];
    for (int i = 0; i < K; ++i) {
      T* target = targets[static_cast<size_t>(i)];
      if (target == nullptr) continue;
      for (int64_t l = 0; l < m; ++l)
        target[j0 + l] += factor_part[i][l];
    }
  }
}

template <typename T, int K>
void forward_term_at(const FaaDiBrunoTerm& term, const BlockDerivatives<T>& derivatives,
                     const Slices<const T>& z, const Slices<T>& h, int64_t begin, int64_t n) {
  std::array<const T*, K> factors;
  for (int k = 0; k < K; ++k)
    factors[static_cast<size_t>(k)] = z.at(term.factors[static_cast<size_t>(k)], begin);
  forward_term<T, K>(h.at(term.channel, begin), derivatives.d[static_cast<size_t>(term.order)],
                     static_cast<T>(term.coefficient), factors, n);
}

template <typename T, int K>
void adjoint_term_at(const FaaDiBrunoTerm& term, const BlockDerivatives<T>& derivatives,
                     const Slices<const T>& z, const Slices<const T>& g, const Slices<T>& dz,
                     int64_t begin, int64_t n) {
  std::array<const T*, K> factors;
  std::array<T*, K> targets;
  std::array<T, K> multiplicity;
  for (int k = 0; k < K; ++k) {
    const auto index = static_cast<size_t>(k);
    const int64_t f = term.factors[index];
    factors[index] = z.at(f, begin);
    const bool first = k == 0 || term.factors[index - 1] != f;
    targets[index] = first ? dz.at(f, begin) : nullptr;
    multiplicity[index] = static_cast<T>(std::count(term.factors.begin(), term.factors.end(), f));
  }
  const auto order = static_cast<size_t>(term.order);
  adjoint_term<T, K>(dz.at(0, begin), g.at(term.channel, begin), derivatives.d[order],
                     derivatives.d[order + 1], static_cast<T>(term.coefficient), factors, targets,
                     multiplicity, n);
}

// Runs `fused<K>()` for a term of K factors, 2 <= K <= kMaxFused; returns false otherwise.
template <typename Fused>
bool with_fused_order(size_t factors, const Fused& fused) {
  switch (factors) {
    case 2:
      fused(std::integral_constant<int, 2>());
      return true;
    case 3:
      fused(std::integral_constant<int, 3>());
      return true;
    case 4:
      fused(std::integral_constant<int, 4>());
      return true;
    default:
      return false;
  }
}

// ---- runs of squares: a summed Laplacian's σ'' · Σ_i z_i² ----
//
// A summed Laplacian channel's rule holds one term σ''·z_i² per input; taken one by one, each is
// a pass over the block that reads and writes the channel. A run of such terms (consecutive, the
// same channel, order and coefficient, each the square of one channel) takes one pass instead:
// for each register of points, the squares summed in a register, then added to the channel once.
constexpr size_t kMaxRun = 16;

// Whether a term is the square of one channel: σ^(m)·z_f².
inline bool is_square(const FaaDiBrunoTerm& term) {
  return term.factors.size() == 2 && term.factors[0] == term.factors[1];
}

// How many terms from `first` on form a run of squares, at most kMaxRun (0 when fewer than two
// do).
inline size_t square_run(const std::vector<FaaDiBrunoTerm>& terms, size_t first) {
  const FaaDiBrunoTerm& head = terms[first];
  if (!is_square(head)) return 0;
  size_t end = first + 1;
  while (end < terms.size() && end - first < kMaxRun && is_square(terms[end]) &&
         terms[end].channel == head.channel && terms[end].order == head.order &&
         terms[end].coefficient == head.coefficient) {
    ++end;
  }
  return end - first > 1 ? end - first : 0;
}

// The run's squared channels (z_f) and, for the adjoint, their gradients (dz_f) on one block.
template <typename T>
struct SquareRun {
  size_t count;
  std::array<const T*, kMaxRun> z;
  std::array<T*, kMaxRun> dz;

  SquareRun(const FaaDiBrunoTerm* run, size_t n, const Slices<const T>& z_slices,
            const Slices<T>* dz_slices, int64_t begin)
      : count(n), z{}, dz{} {
    for (size_t r = 0; r < count; ++r) {
      z[r] = z_slices.at(run[r].factors[0], begin);
      if (dz_slices) dz[r] = dz_slices->at(run[r].factors[0], begin);
    }
  }
  // Σ_run z_f² at point j, and for the register of points from j.
  T sum_at(int64_t j) const {
    T sum = 0;
    for (size_t r = 0; r < count; ++r)
      sum += z[r][j] * z[r][j];
    return sum;
  }
#ifdef PINN_KERNELS_AVX2
  typename gemm::Simd<T>::V sum_register(int64_t j) const {
    using S = gemm::Simd<T>;
    auto sum = S::zero();
    for (size_t r = 0; r < count; ++r) {
      const auto zf = S::load(z[r] + j);
      sum = S::fma(zf, zf, sum);
    }
    return sum;
  }
#endif
};

// A run of squares' adjoint weights at a point, with w = coefficient · g_c: w itself (dz_0 gets
// w · σ^(order+1) · Σ_run z_f²) and 2 · w · σ^(order) (each dz_f gets it times z_f). Shared by
// adjoint_squares and by the run folded into adjoint_first_order.
template <typename T>
struct SquareWeights {
  T w, weight;
};

template <typename T>
SquareWeights<T> square_weights(T coefficient, T g, T d_order) {
  const T w = coefficient * g;
  return {w, 2 * w * d_order};
}

#ifdef PINN_KERNELS_AVX2
// The same for a register of points.
template <typename T>
struct SquareWeightsRegister {
  typename gemm::Simd<T>::V w, weight;
};

template <typename T>
SquareWeightsRegister<T> square_weights_register(typename gemm::Simd<T>::V coefficient,
                                                 typename gemm::Simd<T>::V g,
                                                 typename gemm::Simd<T>::V d_order) {
  using S = gemm::Simd<T>;
  const auto w = S::fma(coefficient, g, S::zero());
  return {w, S::fma(S::broadcast(T(2)), S::fma(w, d_order, S::zero()), S::zero())};
}
#endif

// h_c += coefficient · σ^(order) · Σ_run z_f².
template <typename T>
void forward_squares(const FaaDiBrunoTerm* run, size_t count,
                     const BlockDerivatives<T>& derivatives, const Slices<const T>& z,
                     const Slices<T>& h, int64_t begin, int64_t n) {
  const SquareRun<T> squares(run, count, z, nullptr, begin);
  const T* d = derivatives.d[static_cast<size_t>(run->order)];
  const auto coefficient = static_cast<T>(run->coefficient);
  T* hc = h.at(run->channel, begin);
  int64_t j = 0;
#ifdef PINN_KERNELS_AVX2
  using S = gemm::Simd<T>;
  const auto c = S::broadcast(coefficient);
  for (; j + S::kLanes <= n; j += S::kLanes) {
    const auto sum = squares.sum_register(j);
    const auto scaled = S::fma(c, S::load(d + j), S::zero());
    S::store(hc + j, S::fma(scaled, sum, S::load(hc + j)));
  }
#endif
  for (; j < n; ++j)
    hc[j] += coefficient * d[j] * squares.sum_at(j);
}

// The adjoint, with g = ∂L/∂h_c: dz_0 += g · coefficient · σ^(order+1) · Σ_run z_f², and
// dz_f += 2 · g · coefficient · σ^(order) · z_f for each f of the run.
template <typename T>
void adjoint_squares(const FaaDiBrunoTerm* run, size_t count,
                     const BlockDerivatives<T>& derivatives, const Slices<const T>& z,
                     const Slices<const T>& g, const Slices<T>& dz, int64_t begin, int64_t n) {
  const SquareRun<T> squares(run, count, z, &dz, begin);
  const auto order = static_cast<size_t>(run->order);
  const T* d_order = derivatives.d[order];
  const T* d_next = derivatives.d[order + 1];
  const auto coefficient = static_cast<T>(run->coefficient);
  const T* gc = g.at(run->channel, begin);
  T* dz0 = dz.at(0, begin);
  int64_t j = 0;
#ifdef PINN_KERNELS_AVX2
  using S = gemm::Simd<T>;
  const auto c = S::broadcast(coefficient);
  for (; j + S::kLanes <= n; j += S::kLanes) {
    const auto sum = squares.sum_register(j);
    const auto [w, weight] = square_weights_register<T>(c, S::load(gc + j), S::load(d_order + j));
    const auto zero_part = S::fma(w, S::load(d_next + j), S::zero());
    S::store(dz0 + j, S::fma(zero_part, sum, S::load(dz0 + j)));
    for (size_t r = 0; r < count; ++r) {
      T* target = squares.dz[r] + j;
      S::store(target, S::fma(weight, S::load(squares.z[r] + j), S::load(target)));
    }
  }
#endif
  for (; j < n; ++j) {
    const auto [w, weight] = square_weights(coefficient, gc[j], d_order[j]);
    dz0[j] += w * d_next[j] * squares.sum_at(j);
    for (size_t r = 0; r < count; ++r)
      squares.dz[r][j] += weight * squares.z[r][j];
  }
}

// ---- the implicit order-1 terms, with a run of squares folded in ----
//
// Every channel's rule starts with σ'·z_c, one pass over the block's channels. A second
// derivative's square σ''·z_x², or a summed Laplacian's run of them (σ''·Σ_i z_i²), reads the
// same first-order channels: folded into that pass, each channel of the block is loaded once
// instead of twice, and the term's own pass (forward_squares, adjoint_squares, or the fused
// term loops) disappears.
constexpr int64_t kMaxFoldChannels = 64;

struct SquareFold {
  const FaaDiBrunoTerm* run = nullptr;  // the folded run's first term; null: none folded
  size_t first = 0, count = 0;          // its place among the program's terms
  std::array<bool, kMaxFoldChannels> factor{};

  // The program's first square term, with the run of squares it starts (a second derivative's
  // σ''·z_x² alone, or a Laplacian's σ''·Σ z_i²), if its factors are distinct and its channels
  // few enough.
  explicit SquareFold(const FaaDiBrunoProgram& program) {
    if (program.channels > kMaxFoldChannels) return;
    const auto& terms = program.terms;
    for (size_t t = 0; t < terms.size(); ++t) {
      if (!is_square(terms[t])) continue;
      const size_t length = std::max<size_t>(1, square_run(terms, t));
      for (size_t r = 0; r < length; ++r) {
        bool& seen = factor[static_cast<size_t>(terms[t + r].factors[0])];
        if (seen) {
          factor = {};
          return;
        }
        seen = true;
      }
      run = &terms[t];
      first = t;
      count = length;
      return;
    }
  }
  bool folds(size_t term) const { return run && term == first; }
  int64_t target() const { return run ? run->channel : -1; }
  // The folded run's derivative order and coefficient (1 and 0 when none is folded, so that the
  // passes can read σ^(order) unconditionally and add nothing).
  size_t order() const { return run ? static_cast<size_t>(run->order) : size_t(1); }
  template <typename T>
  T coefficient() const {
    return run ? static_cast<T>(run->coefficient) : T(0);
  }
  bool is_factor(int64_t c) const { return run && factor[static_cast<size_t>(c)]; }
};

// Walks a program's terms past the folded run: on_run(first, count) for each other run of squares
// (handled in one pass), on_term(term) for every other term. The forward and adjoint blocks and
// the plan below all walk the terms this way.
template <typename OnRun, typename OnTerm>
void for_each_term(const FaaDiBrunoProgram& program, const SquareFold& fold, const OnRun& on_run,
                   const OnTerm& on_term) {
  const auto& terms = program.terms;
  for (size_t t = 0; t < terms.size(); ++t) {
    if (fold.folds(t)) {
      t += fold.count - 1;
    } else if (const size_t run = square_run(terms, t)) {
      on_run(&terms[t], run);
      t += run - 1;
    } else {
      on_term(terms[t]);
    }
  }
}

// What the block loops need of one program, found once per pass (not per block: the scans over
// the terms are not free): the folded run of squares, and the orders of σ that the term loops
// read from memory (bit m for σ^(m)); the first-order passes evaluate the others in registers.
struct BlockPlan {
  SquareFold fold;
  uint32_t forward_orders = 0, adjoint_orders = 0;

  explicit BlockPlan(const FaaDiBrunoProgram& program) : fold(program) {
    const auto use = [&](const FaaDiBrunoTerm& term) {
      const auto order = static_cast<uint32_t>(term.order);
      forward_orders |= 1u << order;
      adjoint_orders |= (1u << order) | (1u << (order + 1));
    };
    for_each_term(
        program, fold, [&](const FaaDiBrunoTerm* run, size_t) { use(*run); }, use);
  }
};

// h_0 = σ, h_c = σ' z_c for c ≥ 1, and the folded run: h_t += coefficient · σ^(order) · Σ z_f².
template <typename T>
void forward_first_order(int64_t channels, const SquareFold& fold,
                         const BlockDerivatives<T>& derivatives, const Slices<const T>& z,
                         const Slices<T>& h, int64_t begin, int64_t n) {
  const T* value = derivatives.d[0];
  std::copy(value, value + n, h.at(0, begin));
  const int64_t target = fold.target();
  const size_t order = fold.order();
  const T coefficient = fold.coefficient<T>();
  int64_t j = 0;
#ifdef PINN_KERNELS_AVX2
  using S = gemm::Simd<T>;
  const auto c_run = S::broadcast(coefficient);
  for (; j + S::kLanes <= n; j += S::kLanes) {
    const auto d1 = derivatives.register_at(1, j);
    auto squares = S::zero();
    for (int64_t c = 1; c < channels; ++c) {
      if (c == target) continue;
      const auto zc = S::load(z.at(c, begin) + j);
      S::store(h.at(c, begin) + j, S::fma(d1, zc, S::zero()));
      if (fold.is_factor(c)) squares = S::fma(zc, zc, squares);
    }
    if (target < 0) continue;
    const auto own = S::fma(d1, S::load(z.at(target, begin) + j), S::zero());
    const auto scale = S::fma(c_run, derivatives.register_at(order, j), S::zero());
    S::store(h.at(target, begin) + j, S::fma(scale, squares, own));
  }
#endif
  for (; j < n; ++j) {
    const T d1 = derivatives.scalar_at(1, j);
    T squares = 0;
    for (int64_t c = 1; c < channels; ++c) {
      if (c == target) continue;
      const T zc = z.at(c, begin)[j];
      h.at(c, begin)[j] = d1 * zc;
      if (fold.is_factor(c)) squares += zc * zc;
    }
    if (target >= 0) {
      h.at(target, begin)[j] =
          d1 * z.at(target, begin)[j] + coefficient * derivatives.scalar_at(order, j) * squares;
    }
  }
}

template <typename T>
void forward_block(const FaaDiBrunoProgram& program, const BlockPlan& plan,
                   const BlockDerivatives<T>& derivatives, const Slices<const T>& z,
                   const Slices<T>& h, int64_t begin, int64_t n) {
  const auto& d = derivatives.d;
  forward_first_order(program.channels, plan.fold, derivatives, z, h, begin, n);
  std::array<T, kBlock> product;
  const auto squares = [&](const FaaDiBrunoTerm* run, size_t count) {
    forward_squares(run, count, derivatives, z, h, begin, n);
  };
  for_each_term(program, plan.fold, squares, [&](const FaaDiBrunoTerm& term) {
    const bool fused = with_fused_order(term.factors.size(), [&](auto k) {
      forward_term_at<T, decltype(k)::value>(term, derivatives, z, h, begin, n);
    });
    if (fused) return;
    term_product(product.data(), d[static_cast<size_t>(term.order)],
                 static_cast<T>(term.coefficient), term.factors, -1, z, begin, n);
    add_to(h.at(term.channel, begin), product.data(), n);
  });
}

// The adjoint of forward_first_order, with g = ∂L/∂h: dz_c = g_c σ' for every channel c ≥ 1 and
// their share of dz_0, σ'' Σ_{c≥1} g_c z_c; for the folded run, with w = coefficient · g_t,
// dz_f += 2 w σ^(order) z_f and dz_0 += w σ^(order+1) Σ z_f². One pass over the channels per
// register of points.
template <typename T>
void adjoint_first_order(int64_t channels, const SquareFold& fold,
                         const BlockDerivatives<T>& derivatives, const Slices<const T>& z,
                         const Slices<const T>& g, const Slices<T>& dz, int64_t begin, int64_t n) {
  T* dz0 = dz.at(0, begin);
  const T* g0 = g.at(0, begin);
  const size_t order = fold.order();
  const T* g_target = fold.run ? g.at(fold.target(), begin) : nullptr;
  const T coefficient = fold.coefficient<T>();
  int64_t j = 0;
#ifdef PINN_KERNELS_AVX2
  using S = gemm::Simd<T>;
  const auto c_run = S::broadcast(coefficient);
  for (; j + S::kLanes <= n; j += S::kLanes) {
    const auto d1 = derivatives.register_at(1, j);
    const auto [w, weight] = fold.run
                                 ? square_weights_register<T>(c_run, S::load(g_target + j),
                                                              derivatives.register_at(order, j))
                                 : SquareWeightsRegister<T>{S::zero(), S::zero()};
    auto sum = S::zero(), squares = S::zero();
    for (int64_t c = 1; c < channels; ++c) {
      const auto gc = S::load(g.at(c, begin) + j);
      const auto zc = S::load(z.at(c, begin) + j);
      sum = S::fma(gc, zc, sum);
      auto dzc = S::fma(gc, d1, S::zero());
      if (fold.is_factor(c)) {
        dzc = S::fma(weight, zc, dzc);
        squares = S::fma(zc, zc, squares);
      }
      S::store(dz.at(c, begin) + j, dzc);
    }
    auto dz0_j = S::fma(S::load(g0 + j), d1, S::zero());
    if (channels > 1) dz0_j = S::fma(derivatives.register_at(2, j), sum, dz0_j);
    if (fold.run) {
      const auto next = derivatives.register_at(order + 1, j);
      dz0_j = S::fma(S::fma(w, next, S::zero()), squares, dz0_j);
    }
    S::store(dz0 + j, dz0_j);
  }
#endif
  for (; j < n; ++j) {
    const T d1 = derivatives.scalar_at(1, j);
    const auto [w, weight] =
        fold.run ? square_weights(coefficient, g_target[j], derivatives.scalar_at(order, j))
                 : SquareWeights<T>{T(0), T(0)};
    T sum = 0, squares = 0;
    for (int64_t c = 1; c < channels; ++c) {
      const T gc = g.at(c, begin)[j];
      const T zc = z.at(c, begin)[j];
      sum += gc * zc;
      T dzc = gc * d1;
      if (fold.is_factor(c)) {
        dzc += weight * zc;
        squares += zc * zc;
      }
      dz.at(c, begin)[j] = dzc;
    }
    T dz0_j = g0[j] * d1 + (channels > 1 ? derivatives.scalar_at(2, j) * sum : T(0));
    if (fold.run) dz0_j += w * derivatives.scalar_at(order + 1, j) * squares;
    dz0[j] = dz0_j;
  }
}

template <typename T>
void adjoint_block(const FaaDiBrunoProgram& program, const BlockPlan& plan,
                   const BlockDerivatives<T>& derivatives, const Slices<const T>& z,
                   const Slices<const T>& g, const Slices<T>& dz, int64_t begin, int64_t n) {
  const auto& d = derivatives.d;
  T* dz0 = dz.at(0, begin);
  adjoint_first_order(program.channels, plan.fold, derivatives, z, g, dz, begin, n);
  std::array<T, kBlock> weighted, product;
  const auto squares = [&](const FaaDiBrunoTerm* run, size_t count) {
    adjoint_squares(run, count, derivatives, z, g, dz, begin, n);
  };
  for_each_term(program, plan.fold, squares, [&](const FaaDiBrunoTerm& term) {
    const bool fused = with_fused_order(term.factors.size(), [&](auto k) {
      adjoint_term_at<T, decltype(k)::value>(term, derivatives, z, g, dz, begin, n);
    });
    if (fused) return;
    const T* gc = g.at(term.channel, begin);
    const auto coefficient = static_cast<T>(term.coefficient);
    const auto order = static_cast<size_t>(term.order);
    // The term's dependence on z_0 through σ^(order).
    term_product(product.data(), d[order + 1], coefficient, term.factors, -1, z, begin, n);
    for (int64_t j = 0; j < n; ++j)
      dz0[j] += gc[j] * product[static_cast<size_t>(j)];
    // Its dependence on each distinct factor: multiplicity times the product of the others.
    for (int64_t j = 0; j < n; ++j)
      weighted[static_cast<size_t>(j)] = gc[j] * d[order][j];
    for (size_t i = 0; i < term.factors.size(); ++i) {
      const int64_t f = term.factors[i];
      if (i > 0 && f == term.factors[i - 1]) continue;
      const auto multiplicity =
          static_cast<T>(std::count(term.factors.begin(), term.factors.end(), f));
      term_product(product.data(), weighted.data(), multiplicity * coefficient, term.factors, f, z,
                   begin, n);
      add_to(dz.at(f, begin), product.data(), n);
    }
  });
}

}  // namespace blocks
}  // namespace PINN_KERNEL_ISA
}  // namespace pinn::derivatives::kernels
