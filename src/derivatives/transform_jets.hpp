// Input derivatives of an output transform u = T(x, N(x)) (model/transform) from the raw
// network's derivative channels, so that an engine which propagates the raw network only (taylor)
// serves transformed networks too. Per point, N is replaced by its Taylor polynomial in a
// displacement δ of the point, Ñ(δ) = Σ_β N_β δ^β / β! over the raw channels β that the wanted
// channels need; T(x + δ, Ñ(δ)) then has the wanted derivatives at δ = 0 exactly (they involve
// N's derivatives up to their own order only), and autograd takes them with respect to δ through
// T's few elementwise operations, not through the network. The results stay differentiable for
// the weights through the raw channels, which the raw network's engine made so.
#pragma once

#include <set>

#include "derivatives/engine.hpp"
#include "model/transform.hpp"

namespace pinn::derivatives {

// The raw network's channels that `wanted` (channels of the transformed outputs, without summed
// Laplacians) need: for a transformed output, its value and every partial derivative whose
// indices are a sub-multiset of a wanted channel's; for an untransformed one, the channel itself.
std::set<expr::Channel> raw_channels_for(const model::TransformedNetwork& network,
                                         const std::set<expr::Channel>& wanted);

// The wanted channels of the transformed outputs at `points`, from `raw` (which holds at least
// raw_channels_for(network, wanted)). Without `create_graph` the results are detached.
ChannelMap transform_channels(const model::TransformedNetwork& network, const torch::Tensor& points,
                              const ChannelMap& raw, const std::set<expr::Channel>& wanted,
                              bool create_graph);

}  // namespace pinn::derivatives
