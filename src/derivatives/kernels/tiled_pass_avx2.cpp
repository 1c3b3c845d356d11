// The tiled pass for AVX2 and FMA: 256-bit registers, every x86-64 CPU of the last decade (plain
// loops elsewhere). See tiled_pass_impl.hpp.
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
#endif
#include "derivatives/kernels/avx2_region_begin.hpp"

#include "derivatives/kernels/tiled_pass_impl.hpp"

#include "derivatives/kernels/avx2_region_end.hpp"

namespace pinn::derivatives::tiles {

// The same CPU check as the whole-tensor loops', which are built for AVX2 and FMA too.
const PassFunctions* avx2_pass() {
#ifdef PINN_KERNELS_AVX2
  static const PassFunctions pass{"avx2", kernels::available, avx2::forward_pass,
                                  avx2::backward_pass, avx2::fused_pass};
#else
  static const PassFunctions pass{"generic", kernels::available, generic::forward_pass,
                                  generic::backward_pass, generic::fused_pass};
#endif
  return &pass;
}

}  // namespace pinn::derivatives::tiles
