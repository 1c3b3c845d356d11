// The tiled pass for AVX-512 with narrow row tails: as tiled_pass_avx512.cpp, except that a
// product panel whose rows end in half a 512-bit vector (a 20-wide float32 or float64 layer) keeps
// that half in 256-bit registers (small_gemm.hpp, Tail::narrow). On a CPU that runs each 512-bit
// operation as two 256-bit halves (AMD Zen 4) that skips the idle half's work; on one with full
// 512-bit units it changes little. The run measures both (tiled_pass.cpp).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "derivatives/kernels/tiled_pass_builds.hpp"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define PINN_KERNELS_AVX2 1
#define PINN_KERNELS_AVX512 1
#define PINN_KERNELS_NARROW_TAIL 1
#define PINN_KERNEL_ISA avx512_narrow
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")

#include "derivatives/kernels/tiled_pass_impl.hpp"

#pragma GCC pop_options
#endif

namespace pinn::derivatives::tiles {

#ifdef PINN_KERNELS_NARROW_TAIL

const PassFunctions* avx512_narrow_pass() {
  static const PassFunctions pass{"avx512-ymm-tail", avx512_supported, avx512_narrow::forward_pass,
                                  avx512_narrow::backward_pass, avx512_narrow::fused_pass};
  return &pass;
}

#else

const PassFunctions* avx512_narrow_pass() {
  return nullptr;
}

#endif

}  // namespace pinn::derivatives::tiles
