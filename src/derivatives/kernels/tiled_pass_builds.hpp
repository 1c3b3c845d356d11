// The tiled pass compiled once per instruction set (tiled_pass_avx2.cpp, tiled_pass_avx512.cpp,
// both from tiled_pass_impl.hpp); tiled_pass.cpp picks the widest one the CPU runs. Internal.
#pragma once

#include <ATen/ATen.h>

#include "derivatives/kernels/tiled_pass.hpp"

namespace pinn::derivatives::tiles {

struct PassFunctions {
  const char* name;     // "avx512", "avx2" or "generic" (plain loops, off x86-64)
  bool (*supported)();  // whether this CPU runs it
  at::Tensor (*forward)(const Network&, const at::Tensor&);
  Gradients (*backward)(const Network&, const at::Tensor&, const at::Tensor&, bool);
  FusedResult (*fused)(const Network&, const at::Tensor&, const TileLoss&, bool, bool);
};

// The pass for AVX2 and FMA (plain loops off x86-64), and for AVX-512 (null where not compiled in).
const PassFunctions* avx2_pass();
const PassFunctions* avx512_pass();

}  // namespace pinn::derivatives::tiles
