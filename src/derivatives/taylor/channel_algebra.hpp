// Channel algebra: a hidden state's value and input derivatives (a plan's channels) as a list of
// tensors, and the rules by which each of a network's operations (model/structure.hpp) acts on
// them: a Linear layer on every channel (the bias on the value only), an activation by Faà di
// Bruno, sums channel by channel, products by the Leibniz rule. Every rule is ordinary
// differentiable tensor ops, so the weight gradient of what they compute is autograd's
// first-order backward pass (no nested graph). This runs any structure; the stacked MLP
// (stacked_mlp.hpp) is the faster path for plain chains.
#pragma once

#include <torch/torch.h>

#include <set>
#include <vector>

#include "derivatives/engine.hpp"
#include "derivatives/taylor/plan.hpp"
#include "model/structure.hpp"

namespace pinn::derivatives::taylor {

// Entry c is channel c of the plan, N x width, or 1 x width when the same for every point (the
// derivatives of the inputs and of what a Linear layer makes of them), or undefined when
// identically zero. The value (entry 0) is always N x width.
using Channels = std::vector<torch::Tensor>;

// The input channels: x itself, the unit vectors e_i, zero above the first order.
Channels input_channels(const Plan& plan, const torch::Tensor& points);

// The input features' channels: their derivatives with respect to the inputs, which `x` (the
// input channels) holds at x[0]. The features hold no weights, so these are constants for the
// weight gradient: autograd takes them through the features' few elementwise operations.
Channels embed(const Plan& plan, const model::FeatureMap& features, const Channels& x);
// [cos(2π x Bᵀ), sin(2π x Bᵀ)] on every channel (of the embedded columns): the projection is
// linear, then cos and sin.
Channels embed(const Plan& plan, const model::FourierFeatures& fourier, const Channels& x);
// The periodic embedding on every channel: the kept inputs as they are, then cos and sin of
// 2πx/P for each periodic one.
Channels embed(const Plan& plan, const model::PeriodicEmbedding& periodic, const Channels& x);

// Channels as one C x N x width tensor (zeros for the vanishing ones, rows repeated).
torch::Tensor stack_channels(const Channels& h, int64_t n);

// The requested channels from the network's output channels, C tensors of N x outputs.
ChannelMap channel_map(const Plan& plan, const std::vector<torch::Tensor>& outputs,
                       const std::set<expr::Channel>& channels);

// `channels` of the network described by `structure` at `points`, through the channel algebra.
ChannelMap propagate_structure(const model::Structure& structure, const torch::Tensor& points,
                               const std::set<expr::Channel>& channels, bool create_graph);

}  // namespace pinn::derivatives::taylor
