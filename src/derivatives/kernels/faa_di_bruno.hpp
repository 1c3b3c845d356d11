// The Taylor engine's fused elementwise loops on stacked channels. A layer's channels live in one
// contiguous C x N x W tensor; the activation's Faà di Bruno rule and its adjoint touch every
// channel of an element together, so they run as one pass over cache-sized blocks (in parallel,
// on LibTorch's thread pool) instead of one LibTorch call, and one temporary, per product term.
// CPU tensors only; the engine calls the tensor-op versions for other devices.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace pinn::derivatives::kernels {

// One term of channel `channel` of σ(z): coefficient * σ^(order)(z_0) * Π z_factor. The order-1
// term σ'(z_0) z_c of every channel is implicit.
struct FaaDiBrunoTerm {
  int64_t channel = 0;
  int64_t order = 0;
  double coefficient = 1;
  std::vector<int64_t> factors;  // sorted channel indices, repeated for powers
};

struct FaaDiBrunoProgram {
  int64_t channels = 1;
  std::vector<FaaDiBrunoTerm> terms;
};

// σ^(m)(z_0) for m = 0..orders-1, N x W each: a table (orders x N x W), or, when σ' is a
// polynomial of σ (tanh, sigmoid), σ(z_0) and the polynomials P_m with σ^(m) = P_m(σ), which the
// loops evaluate block by block instead of reading a table from memory.
struct Derivatives {
  at::Tensor table;
  at::Tensor value;
  std::vector<std::vector<double>> polynomials;  // coefficients, lowest degree first
  int64_t orders() const;
};

// Whether this CPU runs the loops (they are compiled for AVX2 and FMA where the compiler can).
bool available();

// h = σ(z) channel by channel. z, h: C x N x W; d above the program's highest order.
void faa_di_bruno(const FaaDiBrunoProgram& program, const Derivatives& d, const at::Tensor& z,
                  at::Tensor& h);

// dz = the adjoint of faa_di_bruno at z for the output gradient g (C x N x W); d needs one order
// more than the forward rule (σ^(m+1) for the value channel's gradient).
void faa_di_bruno_adjoint(const FaaDiBrunoProgram& program, const Derivatives& d,
                          const at::Tensor& z, const at::Tensor& g, at::Tensor& dz);

}  // namespace pinn::derivatives::kernels
