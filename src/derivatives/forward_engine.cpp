// Forward-mode first derivatives (dual tensors), reverse mode above them.
#include "derivatives/forward_engine.hpp"

namespace pinn::derivatives {

namespace {

// Enters a forward-AD level and leaves it on every path out, exceptions included.
class DualLevel {
 public:
  DualLevel() : level_(torch::autograd::forward_ad::enter_dual_level()) {}
  ~DualLevel() { torch::autograd::forward_ad::exit_dual_level(level_); }
  DualLevel(const DualLevel&) = delete;
  DualLevel& operator=(const DualLevel&) = delete;
  int64_t index() const { return static_cast<int64_t>(level_); }

 private:
  uint64_t level_;
};

// The input directions whose tangents seed the requested channels: a channel's first index.
std::set<int> seed_directions(const std::set<expr::Channel>& channels) {
  std::set<int> directions;
  for (const auto& channel : channels) {
    if (channel.order() > 0) directions.insert(channel.wrt.front());
  }
  return directions;
}

}  // namespace

ChannelMap ForwardEngine::compute_channels(const torch::Tensor& points,
                                           const std::set<expr::Channel>& channels,
                                           bool create_graph) {
  model::Network& net = network();
  const std::set<int> directions = seed_directions(channels);
  if (directions.empty()) return value_channels(net.forward(points));

  bool higher_orders = false;
  for (const auto& channel : channels)
    higher_orders |= channel.order() > 1;
  // Reverse mode above the first order differentiates the tangents with respect to the points.
  const torch::Tensor inputs = higher_orders ? points.detach().requires_grad_(true) : points;

  ChannelMap known;
  {
    DualLevel level;
    for (int direction : directions) {
      auto tangent = torch::zeros_like(inputs);
      tangent.select(1, direction).fill_(1.0);
      const auto dual = at::_make_dual(inputs, tangent, level.index());
      const auto [primal, output_tangent] = at::_unpack_dual(net.forward(dual), level.index());
      if (known.empty()) known = value_channels(primal);  // the value comes with the first pass
      for (int64_t o = 0; o < output_tangent.size(1); ++o) {
        known[expr::Channel{static_cast<int>(o), {direction}}] = output_tangent.select(1, o);
      }
    }
  }
  differentiate_in_reverse(known, channels, inputs, create_graph);
  return known;
}

}  // namespace pinn::derivatives
