// See transform_jets.hpp.
#include "derivatives/transform_jets.hpp"

#include <map>
#include <string>
#include <vector>

namespace pinn::derivatives {

namespace {

using expr::Channel;
using torch::Tensor;

// Every sub-multiset of the sorted index list wrt[from..] appended to `prefix` (sorted too).
void collect_sub_multisets(const std::vector<int>& wrt, size_t from, std::vector<int>& prefix,
                           std::set<std::vector<int>>& out) {
  if (from == wrt.size()) {
    out.insert(prefix);
    return;
  }
  size_t end = from;  // the run of equal indices starting at `from`
  while (end < wrt.size() && wrt[end] == wrt[from])
    ++end;
  for (size_t take = 0; take <= end - from; ++take) {
    prefix.insert(prefix.end(), take, wrt[from]);
    collect_sub_multisets(wrt, end, prefix, out);
    prefix.resize(prefix.size() - take);
  }
}

// Ñ(δ) = Σ_β N_β δ^β / β! over the raw partial-derivative channels of `output` (β! = Π m_i! for
// the multiplicities m_i of β's indices).
Tensor taylor_polynomial(const ChannelMap& raw, int output, const Tensor& delta) {
  Tensor sum;
  for (const auto& [channel, value] : raw) {
    if (channel.output != output || !channel.laplacian.empty()) continue;
    Tensor term = value;
    double factorial = 1;
    for (size_t k = 0; k < channel.wrt.size(); ++k) {
      term = term * delta.select(1, channel.wrt[k]);
      int repeats = 1;  // occurrences of this index so far, this one included
      for (size_t j = k; j-- > 0 && channel.wrt[j] == channel.wrt[k];)
        ++repeats;
      factorial *= repeats;
    }
    if (factorial != 1) term = term / factorial;
    sum = sum.defined() ? sum + term : term;
  }
  return sum;
}

// The partial derivatives of one transformed output with respect to δ, each index list taken
// from its parent's gradient (one backward pass gives all children), each computed once.
class DisplacementDerivatives {
 public:
  DisplacementDerivatives(Tensor value, Tensor delta) : delta_(std::move(delta)) {
    values_[{}] = std::move(value);
  }

  const Tensor& of(const std::vector<int>& wrt) {
    const auto found = values_.find(wrt);
    if (found != values_.end()) return found->second;
    const std::vector<int> parent(wrt.begin(), wrt.end() - 1);
    const Tensor child = gradient(parent).select(1, wrt.back());
    return values_[wrt] = child;
  }

 private:
  const Tensor& gradient(const std::vector<int>& wrt) {
    const auto found = gradients_.find(wrt);
    if (found != gradients_.end()) return found->second;
    const Tensor f = of(wrt);
    Tensor g;
    if (f.requires_grad()) {
      g = torch::autograd::grad({f}, {delta_}, {torch::ones_like(f)}, /*retain_graph=*/true,
                                /*create_graph=*/true, /*allow_unused=*/true)[0];
    }
    // A derivative that no longer depends on δ (T polynomial in x and N) has zero children.
    return gradients_[wrt] = g.defined() ? g : torch::zeros_like(delta_);
  }

  Tensor delta_;
  std::map<std::vector<int>, Tensor> values_, gradients_;
};

}  // namespace

std::set<Channel> raw_channels_for(const model::TransformedNetwork& network,
                                   const std::set<Channel>& wanted) {
  std::set<Channel> raw;
  for (const auto& channel : wanted) {
    if (!network.transform(static_cast<size_t>(channel.output))) {
      raw.insert(channel);
      continue;
    }
    std::set<std::vector<int>> subsets;
    std::vector<int> prefix;
    collect_sub_multisets(channel.wrt, 0, prefix, subsets);
    for (const auto& wrt : subsets)
      raw.insert(Channel{channel.output, wrt});
  }
  return raw;
}

ChannelMap transform_channels(const model::TransformedNetwork& network, const Tensor& points,
                              const ChannelMap& raw, const std::set<Channel>& wanted,
                              bool create_graph) {
  // Every output's value comes back, as from the other engines.
  const auto outputs = static_cast<int>(network.outputs());
  bool derivatives = false;
  for (const auto& channel : wanted)
    derivatives |= channel.order() > 0;
  const torch::AutoGradMode grad_mode(true);  // δ's derivatives need a graph even for evaluation
  const Tensor delta =
      derivatives ? torch::zeros_like(points).requires_grad_(true) : torch::zeros_like(points);
  ChannelMap result;
  for (int o = 0; o < outputs; ++o) {
    const expr::NodePtr& transform = network.transform(static_cast<size_t>(o));
    if (!transform) {
      result[Channel{o, {}}] = raw.at(Channel{o, {}});
      for (const auto& channel : wanted) {
        if (channel.output == o && channel.order() > 0) result[channel] = raw.at(channel);
      }
      continue;
    }
    const std::map<std::string, Tensor> fields = {
        {"N", derivatives ? taylor_polynomial(raw, o, delta) : raw.at(Channel{o, {}})}};
    DisplacementDerivatives d(
        expr::evaluate(*transform, {points + delta, nullptr, &fields, nullptr}), delta);
    result[Channel{o, {}}] = d.of({});
    for (const auto& channel : wanted) {
      if (channel.output == o && channel.order() > 0) result[channel] = d.of(channel.wrt);
    }
  }
  if (!create_graph) {
    for (auto& entry : result)
      entry.second = entry.second.detach();
  }
  return result;
}

}  // namespace pinn::derivatives
