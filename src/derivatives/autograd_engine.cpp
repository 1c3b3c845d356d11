// Reverse-over-reverse: values from one forward pass, every derivative by backward passes.
#include "derivatives/autograd_engine.hpp"

namespace pinn::derivatives {

ChannelMap AutogradEngine::compute_channels(const torch::Tensor& points,
                                            const std::set<expr::Channel>& channels,
                                            bool create_graph) {
  const bool derivatives = needs_derivatives(channels);
  const torch::Tensor inputs = derivatives ? points.detach().requires_grad_(true) : points;
  ChannelMap known = value_channels(network().forward(inputs));
  if (derivatives) differentiate_in_reverse(known, channels, inputs, create_graph);
  return known;
}

}  // namespace pinn::derivatives
