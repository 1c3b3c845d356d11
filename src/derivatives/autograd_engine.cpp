// Reverse-over-reverse: values from one forward pass, every derivative by backward passes.
#include "derivatives/autograd_engine.hpp"

namespace pinn::derivatives {

namespace {

bool needs_derivatives(const std::set<expr::Channel>& channels) {
  for (const auto& channel : channels) {
    if (channel.order() > 0) return true;
  }
  return false;
}

}  // namespace

ChannelMap value_channels(const torch::Tensor& values) {
  ChannelMap channels;
  for (int64_t o = 0; o < values.size(1); ++o) {
    channels[expr::Channel{static_cast<int>(o), {}}] = values.select(1, o);
  }
  return channels;
}

ChannelMap AutogradEngine::compute_channels(model::Network& network, const torch::Tensor& points,
                                            const std::set<expr::Channel>& channels,
                                            bool create_graph) {
  const bool derivatives = needs_derivatives(channels);
  const torch::Tensor inputs = derivatives ? points.detach().requires_grad_(true) : points;
  ChannelMap known = value_channels(network.forward(inputs));
  if (derivatives) differentiate_in_reverse(known, channels, inputs, create_graph);
  return known;
}

}  // namespace pinn::derivatives
