// The fused loss: Σ_k weight_k · mean(r_k²) of the pointwise loss terms on one point set,
// evaluated inside the Taylor engine's tiled pass (taylor_tiles' TileLoss) with the residuals as
// compiled pointwise programs. The loss and its weight gradient come from one pass over the
// points: no channel tensors, no recomputed forward pass, no autograd graph for the expressions.
// As an autograd Function, the result adds to the other terms' loss and backpropagates as usual.
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "expr/pointwise.hpp"
#include "model/network.hpp"

namespace pinn::derivatives {

struct FusedTerm {
  const expr::PointwiseProgram* program;
  double weight;  // the term's weight; the mean divides by the set's size
};

struct FusedValues {
  torch::Tensor total;               // scalar; differentiable for the weights when asked
  std::vector<torch::Tensor> terms;  // each term's weight · mean(r²), detached
};

// The terms of one point set, with its per-point fields (normals, data).
struct FusedSet {
  torch::Tensor points;
  const std::map<std::string, torch::Tensor>* fields;
  std::vector<FusedTerm> terms;
};

// The loss of every term of `sets` (term values in the order of the sets and their terms), or
// nullopt where the tiled pass does not run `network` there (see tiled_setup): the caller then
// takes the tensor path. The sets go through the pass together, as one run of points, when their
// channels differ little enough (see groups_of), else one pass per set.
std::optional<FusedValues> fused_squares(const model::Network& network,
                                         const std::vector<FusedSet>& sets, bool for_training);

// The loss as fused_squares computes it for training, with its weight gradient written to the
// network parameters' .grad (replacing what they held) instead of left to an autograd node: a loss
// of fused terms alone then needs no backward() and skips the autograd engine's per-step cost.
// nullopt where fused_squares would return it, or where the pass's input needs a gradient of its
// own (a trainable Fourier embedding).
std::optional<FusedValues> fused_squares_into_grad(const model::Network& network,
                                                   const std::vector<FusedSet>& sets);

// Whether fused_squares can run `network` for `engine_name` (the engine that differentiates it)
// on tensors like `points`.
bool fused_loss_applies(const std::string& engine_name, const model::Network& network,
                        const torch::Tensor& points);

}  // namespace pinn::derivatives
