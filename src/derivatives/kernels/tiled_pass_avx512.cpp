// The tiled pass for AVX-512 (F, VL, DQ, BW): 512-bit registers, twice the lanes of AVX2 per
// multiply-add, 32 registers (8-row product blocks) and native masks for the ragged last vector
// of a row. Server CPUs since Skylake-SP have it. See tiled_pass_impl.hpp.
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
#define PINN_KERNEL_ISA avx512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512")

#include "derivatives/kernels/tiled_pass_impl.hpp"

#pragma GCC pop_options
#endif

namespace pinn::derivatives::tiles {

#ifdef PINN_KERNELS_AVX512

bool avx512_supported() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
}

const PassFunctions* avx512_pass() {
  static const PassFunctions pass{"avx512", avx512_supported, avx512::forward_pass,
                                  avx512::backward_pass, avx512::fused_pass};
  return &pass;
}

#else

bool avx512_supported() {
  return false;
}

const PassFunctions* avx512_pass() {
  return nullptr;
}

#endif

}  // namespace pinn::derivatives::tiles
