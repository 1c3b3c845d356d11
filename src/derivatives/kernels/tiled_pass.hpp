// The Taylor engine's tiled pass on the CPU: the whole MLP, forward and backward, one tile of
// points at a time. A tile's stacked channels for every layer (a few hundred KiB) stay in the
// cache from the first layer to the last and back, so the pass makes no LibTorch call and no
// full-size temporary per layer; the products are small register-blocked kernels (small_gemm),
// the activations the fused Faà di Bruno blocks (kernels/faa_di_bruno_blocks). The backward pass
// recomputes a tile's forward pass instead of reading it back from memory: nothing of size N x
// width is kept between the two passes, so memory grows with the outputs only. Tiles run in
// parallel; each thread sums its own weight gradients.
//
// It serves MLPs whose activations have derivatives polynomial in their value (tanh, sigmoid) or
// are the identity; the engine uses the whole-tensor passes for the others.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "derivatives/kernels/faa_di_bruno.hpp"
#include "derivatives/kernels/kernel_tuner.hpp"
#include "model/activation_kind.hpp"

namespace pinn::derivatives::tiles {

// Whether the tiled pass propagates this kind of activation: it evaluates σ itself, vectorized,
// and every σ^(k) from σ (Activation::value_polynomials).
bool supports_activation(model::ActivationKind kind);

// The kernel variants this CPU runs: one build of the pass (an instruction set and its product
// blocks: "avx512", "avx512-ymm-tail", "avx2"; "generic", plain loops, off x86-64) with one tile
// size, named "avx512/256k"; the default first. Each shape of call runs the variant measured
// fastest for it (kernel_tuner.hpp) unless one is forced.
std::vector<std::string> variants();
// Every call from now on runs `name`: a variant, or a build's name alone (with the default tile
// size); std::invalid_argument if this CPU runs no such variant. PINN_TRAIN_KERNELS does the
// same for a whole run.
void force_variant(const std::string& name);
// Back to measuring (the choices made so far are forgotten).
void measure_variants();
std::optional<std::string> forced_variant();
// What ran each shape of call so far, and why.
std::vector<kernels::KernelChoice> kernel_choices();
// For a run's summary: the variant that did the most work so far (points times calls).
std::string kernels_in_use();

// One Linear layer followed by its activation, with σ^(m) as polynomials of σ for the forward
// pass (orders up to the plan's highest) and for the backward pass (one more).
struct Layer {
  at::Tensor weight, bias;  // out x in, out
  model::ActivationKind activation;
  kernels::Derivatives forward, backward;  // polynomials only; unused for the identity
};

struct Network {
  const kernels::FaaDiBrunoProgram* program = nullptr;
  // Per channel, the input i when the channel is ∂/∂x_i (order 1), else -1; channel 0 is the value.
  std::vector<int64_t> first_order_input;
  std::vector<Layer> layers;
  // The input is the points (N x d) unless embedded: then stacked channels (C x N x features).
  bool embedded = false;
};

// The last layer's channels, C x N x outputs.
at::Tensor forward(const Network& network, const at::Tensor& input);

struct Gradients {
  std::vector<at::Tensor> weights, biases;
  at::Tensor input;  // defined when asked for
};

// The parameter gradients (and the input's, with `input_gradient`) for the output gradient
// `grad` (C x N x outputs).
Gradients backward(const Network& network, const at::Tensor& input, const at::Tensor& grad,
                   bool input_gradient);

// A loss computed inside the pass (fused): for each tile, right after its forward pass, `tile`
// reads the last layer's channels and adds the loss's gradient with respect to them into `seed`;
// the tile's backward pass then starts from that seed while its forward pass is still in the
// cache. Channel c of point t (of the tile), output o, is at [(c·n + t)·ld + o] of `channels` and
// of `seed` (zeroed by the pass; null when no gradient is wanted). `sums` gets each term's share of
// the loss. Called from several threads at once.
class TileLoss {
 public:
  virtual ~TileLoss() = default;
  virtual int64_t terms() const = 0;
  virtual void tile(int64_t t0, int64_t n, const float* channels, int64_t ld, float* seed,
                    double* sums) const = 0;
  virtual void tile(int64_t t0, int64_t n, const double* channels, int64_t ld, double* seed,
                    double* sums) const = 0;
};

struct FusedResult {
  std::vector<double> terms;  // each term's loss
  Gradients gradients;        // empty unless asked for
};

// The loss over every tile of `input`, and with `gradient` the parameter gradients (and the
// input's, with `input_gradient`) from the same pass: no recomputed forward pass, no channel
// tensors.
FusedResult fused(const Network& network, const at::Tensor& input, const TileLoss& loss,
                  bool gradient, bool input_gradient);

}  // namespace pinn::derivatives::tiles
