// The tiled pass compiled once per build: an instruction set and its product blocks
// (tiled_pass_avx2.cpp, tiled_pass_avx512.cpp, tiled_pass_avx512_narrow.cpp, all from
// tiled_pass_impl.hpp); tiled_pass.cpp times the ones this CPU runs and keeps the fastest.
// Internal.
#pragma once

#include <ATen/ATen.h>

#include "derivatives/kernels/tiled_pass.hpp"

namespace pinn::derivatives::tiles {

// How a call's points are cut into tiles and shared among threads: a variant's other half.
struct Schedule {
  int64_t tile_bytes = 256 * 1024;  // a tile's buffers, every layer's channels and scratch
  bool one_thread = false;          // every tile on the calling thread
};

// Each entry point's last argument is the schedule.
struct PassFunctions {
  const char* name;     // "avx512", "avx512-ymm-tail", "avx2" or "generic" (plain loops)
  bool (*supported)();  // whether this CPU runs it
  at::Tensor (*forward)(const Network&, const at::Tensor&, const Schedule&);
  Gradients (*backward)(const Network&, const at::Tensor&, const at::Tensor&, bool,
                        const Schedule&);
  FusedResult (*fused)(const Network&, const at::Tensor&, const TileLoss&, bool, bool,
                       const Schedule&);
};

// The pass for AVX2 and FMA (plain loops off x86-64), for AVX-512, and for AVX-512 with a row's
// last half vector in 256-bit registers (small_gemm.hpp, Tail::narrow); null where not compiled in.
const PassFunctions* avx2_pass();
const PassFunctions* avx512_pass();
const PassFunctions* avx512_narrow_pass();

// Whether this CPU runs the AVX-512 builds (F, VL, DQ, BW).
bool avx512_supported();

}  // namespace pinn::derivatives::tiles
