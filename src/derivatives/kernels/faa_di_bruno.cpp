// Fused Faà di Bruno loops: every loop body below is a plain loop over one block of elements that
// the compiler vectorizes; a block of every channel, and of σ's derivatives, stays in the L1 cache
// while the terms use it. On x86-64 the loops are compiled for AVX2 and FMA (available() checks
// the CPU at run time; without them the engine uses tensor ops).
#include "derivatives/kernels/faa_di_bruno.hpp"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <type_traits>

#include "derivatives/kernels/avx2_region_begin.hpp"

#include "derivatives/kernels/faa_di_bruno_blocks.hpp"

namespace pinn::derivatives::kernels {

namespace {

using namespace blocks;  // NOLINT: the loops this file drives

// Runs `body(begin, length)` over [0, elements) in blocks, the blocks spread over the threads.
template <typename Body>
void for_each_block(int64_t elements, const Body& body) {
  const int64_t count = (elements + kBlock - 1) / kBlock;
  at::parallel_for(0, count, 8, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kBlock;
      body(begin, std::min(kBlock, elements - begin));
    }
  });
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
    const BlockPlan plan(program);
    for_each_loaded_block<scalar_t>(
        d, zs.stride, [&](const BlockDerivatives<scalar_t>& block, int64_t begin, int64_t n) {
          forward_block(program, plan, block, zs, hs, begin, n);
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
    const BlockPlan plan(program);
    for_each_loaded_block<scalar_t>(
        d, zs.stride, [&](const BlockDerivatives<scalar_t>& block, int64_t begin, int64_t n) {
          adjoint_block(program, plan, block, zs, gs, dzs, begin, n);
        });
  });
}

}  // namespace pinn::derivatives::kernels

#include "derivatives/kernels/avx2_region_end.hpp"

// Outside the AVX2 region: these run on any CPU, and available() is what checks for it.
namespace pinn::derivatives::kernels {

int64_t Derivatives::orders() const {
  return table.defined() ? table.size(0) : static_cast<int64_t>(polynomials.size());
}

bool available() {
#ifdef PINN_KERNELS_AVX2
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

}  // namespace pinn::derivatives::kernels
