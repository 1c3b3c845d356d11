// The engine registry and the reverse-mode completion of channels shared by the engines.
#include "derivatives/engine.hpp"

#include <functional>

#include "derivatives/autograd_engine.hpp"
#include "derivatives/forward_engine.hpp"
#include "derivatives/taylor/taylor_engine.hpp"
#include "util/registry.hpp"

namespace pinn::derivatives {

namespace {

using EngineFactory = std::unique_ptr<Engine> (*)(model::Network&);

template <typename EngineClass>
std::unique_ptr<Engine> make(model::Network& network) {
  return std::make_unique<EngineClass>(network);
}

// Measured on the Burgers step (scripts/bench/burgers_step.py): taylor is the fastest on MLPs
// (with or without an output transform, alone or side by side in a parallel network), where its
// stacked or tiled pass runs, on any device. Its tensor path (ResNet, the modified MLP, a
// multi-scale MLP) measured level with autograd on one thread (2026-11-26) and ahead of it on two
// (`pinn-train bench`, float64, fastest of 5 chunks, 2026-12-06: 9.4 against 10.2 ms, 11.3 against
// 13.7, 11.4 against 14.9; docs/performance.md): taylor takes those on a CPU. On a GPU the tensor
// path is unmeasured: autograd keeps them there. Of the others, reverse mode beats forward mode by
// about 2x.
std::unique_ptr<Engine> make_fastest(model::Network& network) {
  auto taylor = std::make_unique<taylor::TaylorEngine>(network, /*warn=*/false);
  const auto path = taylor->path();
  const auto parameters = network.parameters();
  const bool on_cpu = parameters.empty() || parameters.front().device().is_cpu();
  if (path == taylor::TaylorEngine::Path::mlp) return taylor;
  if (path == taylor::TaylorEngine::Path::tensor_ops && on_cpu) return taylor;
  return std::make_unique<AutogradEngine>(network);
}

const Registry<EngineFactory>& registry() {
  static const Registry<EngineFactory> engines("derivative engine",
                                               {
                                                   {"auto", make_fastest},
                                                   {"autograd", make<AutogradEngine>},
                                                   {"forward", make<ForwardEngine>},
                                                   {"taylor", make<taylor::TaylorEngine>},
                                               });
  return engines;
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

ChannelMap Engine::compute(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                           bool create_graph) {
  if (sums_laplacians()) return compute_channels(points, channels, create_graph);
  std::set<expr::Channel> terms;
  for (const auto& channel : channels) {
    for (const auto& term : expr::laplacian_terms(channel))
      terms.insert(term);
  }
  ChannelMap result = compute_channels(points, terms, create_graph);
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
  return registry().names();
}

std::unique_ptr<Engine> make_engine(const std::string& name, model::Network& network,
                                    const std::string& where) {
  return registry().make(name, where, network);
}

ChannelMap value_channels(const torch::Tensor& values) {
  ChannelMap channels;
  for (int64_t o = 0; o < values.size(1); ++o) {
    channels[expr::Channel{static_cast<int>(o), {}}] = values.select(1, o);
  }
  return channels;
}

bool needs_derivatives(const std::set<expr::Channel>& channels) {
  for (const auto& channel : channels) {
    if (channel.order() > 0) return true;
  }
  return false;
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
