// Fused Faà di Bruno loops: every loop body below is a plain loop over one block of elements that
// the compiler vectorizes; a block of every channel, and of σ's derivatives, stays in the L1 cache
// while the terms use it. On x86-64 the loops are compiled for AVX2 and FMA (available() checks
// the CPU at run time; without them the engine uses tensor ops).
#include "derivatives/taylor_kernels.hpp"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <type_traits>

namespace pinn::derivatives::kernels {

int64_t Derivatives::orders() const {
  return table.defined() ? table.size(0) : static_cast<int64_t>(polynomials.size());
}

#if defined(__GNUC__) && defined(__x86_64__)
#define PINN_KERNELS_AVX2 1
bool available() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#else
bool available() {
  return true;
}
#endif

namespace {

constexpr int64_t kBlock = 256;  // elements per block: a few dozen channel blocks fit in L1
constexpr size_t kMaxOrders = 12;

// Runs `body(begin, length)` over [0, elements) in blocks, the blocks spread over the threads.
template <typename Body>
void for_each_block(int64_t elements, const Body& body) {
  const int64_t blocks = (elements + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, 8, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kBlock;
      body(begin, std::min(kBlock, elements - begin));
    }
  });
}

// Slices of a stacked K x N x W tensor: at(k, begin) points at element `begin` of slice k.
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

// σ^(m) on one block: pointers into the table, or the polynomials evaluated into `buffer`.
template <typename T>
struct BlockDerivatives {
  std::array<const T*, kMaxOrders> d{};
  std::array<std::array<T, kBlock>, kMaxOrders> buffer;

  void load(const Derivatives& source, const Slices<const T>& table, const T* value_base,
            int64_t begin, int64_t n) {
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
      T* out = buffer[m].data();
      const auto top = static_cast<T>(p.empty() ? 0.0 : p.back());
      for (int64_t j = 0; j < n; ++j)
        out[j] = top;
      for (size_t k = p.size() - 1; k-- > 0;) {  // Horner's rule
        const auto coefficient = static_cast<T>(p[k]);
        for (int64_t j = 0; j < n; ++j)
          out[j] = out[j] * value[j] + coefficient;
      }
      d[m] = out;
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

template <typename T>
void forward_block(const FaaDiBrunoProgram& program, const BlockDerivatives<T>& derivatives,
                   const Slices<const T>& z, const Slices<T>& h, int64_t begin, int64_t n) {
  const auto& d = derivatives.d;
  std::copy(d[0], d[0] + n, h.at(0, begin));
  for (int64_t c = 1; c < program.channels; ++c) {
    T* hc = h.at(c, begin);
    const T* zc = z.at(c, begin);
    for (int64_t j = 0; j < n; ++j)
      hc[j] = d[1][j] * zc[j];
  }
  std::array<T, kBlock> product;
  for (const auto& term : program.terms) {
    term_product(product.data(), d[static_cast<size_t>(term.order)],
                 static_cast<T>(term.coefficient), term.factors, -1, z, begin, n);
    add_to(h.at(term.channel, begin), product.data(), n);
  }
}

template <typename T>
void adjoint_block(const FaaDiBrunoProgram& program, const BlockDerivatives<T>& derivatives,
                   const Slices<const T>& z, const Slices<const T>& g, const Slices<T>& dz,
                   int64_t begin, int64_t n) {
  const auto& d = derivatives.d;
  // The implicit order-1 terms: dz_c = g_c σ', and their share of dz_0, σ'' Σ_c g_c z_c.
  for (int64_t c = 0; c < program.channels; ++c) {
    T* dzc = dz.at(c, begin);
    const T* gc = g.at(c, begin);
    for (int64_t j = 0; j < n; ++j)
      dzc[j] = gc[j] * d[1][j];
  }
  T* dz0 = dz.at(0, begin);
  if (program.channels > 1) {
    std::array<T, kBlock> sum{};
    for (int64_t c = 1; c < program.channels; ++c) {
      const T* gc = g.at(c, begin);
      const T* zc = z.at(c, begin);
      for (int64_t j = 0; j < n; ++j)
        sum[static_cast<size_t>(j)] += gc[j] * zc[j];
    }
    for (int64_t j = 0; j < n; ++j)
      dz0[j] += d[2][j] * sum[static_cast<size_t>(j)];
  }
  std::array<T, kBlock> weighted, product;
  for (const auto& term : program.terms) {
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
  }
}

void check_layout(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.dim() >= 2, "taylor kernels: ", name,
              " must be a contiguous CPU tensor");
}

// Runs `block(derivatives, begin, n)` over the elements of one channel, the derivatives loaded.
template <typename T, typename Block>
void for_each_loaded_block(const Derivatives& source, int64_t elements, const Block& block) {
  TORCH_CHECK(source.orders() >= 2 && static_cast<size_t>(source.orders()) <= kMaxOrders,
              "taylor kernels: unsupported number of derivative orders");
  const at::Tensor& storage = source.table.defined() ? source.table : source.value;
  check_layout(storage, "the derivatives");
  const auto table =
      source.table.defined() ? slices_of<const T>(source.table) : Slices<const T>{nullptr, 0};
  const T* value = source.table.defined() ? nullptr : source.value.data_ptr<T>();
  for_each_block(elements, [&](int64_t begin, int64_t n) {
    BlockDerivatives<T> derivatives;
    derivatives.load(source, table, value, begin, n);
    block(derivatives, begin, n);
  });
}

}  // namespace

void faa_di_bruno(const FaaDiBrunoProgram& program, const Derivatives& d, const at::Tensor& z,
                  at::Tensor& h) {
  check_layout(z, "z");
  check_layout(h, "h");
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "faa_di_bruno", [&] {
    const auto zs = slices_of<const scalar_t>(z);
    const auto hs = slices_of<scalar_t>(h);
    for_each_loaded_block<scalar_t>(
        d, zs.stride, [&](const BlockDerivatives<scalar_t>& block, int64_t begin, int64_t n) {
          forward_block(program, block, zs, hs, begin, n);
        });
  });
}

void faa_di_bruno_adjoint(const FaaDiBrunoProgram& program, const Derivatives& d,
                          const at::Tensor& z, const at::Tensor& g, at::Tensor& dz) {
  check_layout(z, "z");
  check_layout(g, "g");
  check_layout(dz, "dz");
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "faa_di_bruno_adjoint", [&] {
    const auto zs = slices_of<const scalar_t>(z), gs = slices_of<const scalar_t>(g);
    const auto dzs = slices_of<scalar_t>(dz);
    for_each_loaded_block<scalar_t>(
        d, zs.stride, [&](const BlockDerivatives<scalar_t>& block, int64_t begin, int64_t n) {
          adjoint_block(program, block, zs, gs, dzs, begin, n);
        });
  });
}

#ifdef PINN_KERNELS_AVX2
#pragma GCC pop_options
#endif

}  // namespace pinn::derivatives::kernels
