// The engine factory and the reverse-mode completion of channels shared by the engines.
#include "derivatives/engine.hpp"

#include <functional>

#include "derivatives/autograd_engine.hpp"
#include "derivatives/forward_engine.hpp"
#include "derivatives/taylor_engine.hpp"
#include "model/transform.hpp"

namespace pinn::derivatives {

namespace {

// Delegates to the engine auto_engine_for() names for the first network it sees.
class AutoEngine : public Engine {
 public:
  std::string name() const override { return "auto"; }
  std::string effective_name(const model::Network& network) const override {
    return auto_engine_for(network);
  }

 protected:
  bool sums_laplacians(const model::Network&, const std::set<expr::Channel>&) const override {
    return true;  // the chosen engine's compute() decides
  }
  ChannelMap compute_channels(model::Network& network, const torch::Tensor& points,
                              const std::set<expr::Channel>& channels, bool create_graph) override {
    if (!chosen_) chosen_ = make_engine(auto_engine_for(network));
    return chosen_->compute(network, points, channels, create_graph);
  }

 private:
  std::unique_ptr<Engine> chosen_;
};

const std::map<std::string, std::function<std::unique_ptr<Engine>()>>& factories() {
  static const std::map<std::string, std::function<std::unique_ptr<Engine>()>> table = {
      {"auto", [] { return std::make_unique<AutoEngine>(); }},
      {"autograd", [] { return std::make_unique<AutogradEngine>(); }},
      {"forward", [] { return std::make_unique<ForwardEngine>(); }},
      {"taylor", [] { return std::make_unique<TaylorEngine>(); }},
  };
  return table;
}

expr::Channel parent_of(const expr::Channel& channel) {
  expr::Channel parent = channel;
  parent.wrt.pop_back();
  return parent;
}

// All first partials of `parent`, N x d. A parent that no longer depends on the points (say the
// derivative of a linear function) has zero derivatives rather than an autograd error.
torch::Tensor gradient_of(const torch::Tensor& parent, const torch::Tensor& points,
                          bool create_graph) {
  if (!parent.requires_grad()) return torch::zeros_like(points);
  auto gradients = torch::autograd::grad({parent}, {points}, {torch::ones_like(parent)},
                                         /*retain_graph=*/true, create_graph,
                                         /*allow_unused=*/true);
  return gradients[0].defined() ? gradients[0] : torch::zeros_like(points);
}

}  // namespace

ChannelMap Engine::compute(model::Network& network, const torch::Tensor& points,
                           const std::set<expr::Channel>& channels, bool create_graph) {
  if (sums_laplacians(network, channels)) {
    return compute_channels(network, points, channels, create_graph);
  }
  std::set<expr::Channel> terms;
  for (const auto& channel : channels) {
    for (const auto& term : expr::laplacian_terms(channel))
      terms.insert(term);
  }
  ChannelMap result = compute_channels(network, points, terms, create_graph);
  for (const auto& channel : channels) {
    if (channel.laplacian.empty()) continue;
    torch::Tensor sum;
    for (const auto& term : expr::laplacian_terms(channel))
      sum = sum.defined() ? sum + result.at(term) : result.at(term);
    result[channel] = sum;
  }
  return result;
}

std::vector<std::string> engine_names() {
  std::vector<std::string> names;
  for (const auto& entry : factories())
    names.push_back(entry.first);
  return names;
}

std::unique_ptr<Engine> make_engine(const std::string& name) {
  return factories().at(name)();
}

// Measured on the Burgers step (scripts/bench/burgers_step.py): taylor is the fastest on MLPs
// (with or without an output transform), where its hand-written pass runs; of the others, reverse
// mode beats forward mode by about 2x. ResNet and the modified MLP run in Taylor mode as plain
// tensor ops, measured level with autograd (one thread, 2026-11-26): autograd stays theirs.
std::string auto_engine_for(const model::Network& network) {
  const auto* transformed = dynamic_cast<const model::TransformedNetwork*>(&network);
  const model::Network& raw = transformed ? transformed->raw() : network;
  return dynamic_cast<const model::Mlp*>(&raw) && taylor_unsupported_reason(network).empty()
             ? "taylor"
             : "autograd";
}

void differentiate_in_reverse(ChannelMap& known, const std::set<expr::Channel>& wanted,
                              const torch::Tensor& points, bool create_graph) {
  std::map<expr::Channel, torch::Tensor> gradients;  // parent -> N x d, each computed once
  int max_order = 0;
  for (const auto& channel : wanted)
    max_order = std::max(max_order, channel.order());

  // Walk up from each wanted channel to a known ancestor, then back down, lowest order first.
  std::function<const torch::Tensor&(const expr::Channel&)> resolve =
      [&](const expr::Channel& channel) -> const torch::Tensor& {
    auto found = known.find(channel);
    if (found != known.end()) return found->second;
    TORCH_CHECK(channel.order() > 0, "the value channel must be computed by the engine");
    const expr::Channel parent = parent_of(channel);
    const torch::Tensor& parent_values = resolve(parent);
    auto gradient = gradients.find(parent);
    if (gradient == gradients.end()) {
      // Intermediate channels must keep their graph when a higher order is differentiated later.
      const bool keep_graph = create_graph || channel.order() < max_order;
      gradient = gradients.emplace(parent, gradient_of(parent_values, points, keep_graph)).first;
    }
    return known.emplace(channel, gradient->second.select(1, channel.wrt.back())).first->second;
  };
  for (const auto& channel : wanted)
    resolve(channel);
}

}  // namespace pinn::derivatives
