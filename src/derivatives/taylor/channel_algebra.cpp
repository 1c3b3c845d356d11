// The channel algebra's rules, and the interpreter that runs a network's structure with them.
#include "derivatives/taylor/channel_algebra.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>

#include "model/features.hpp"
#include "model/network.hpp"
#include "model/periodic.hpp"

namespace pinn::derivatives::taylor {

namespace {

using torch::Tensor;

Tensor add_defined(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

Tensor multiply_defined(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return Tensor();
  return a * b;
}

// Σ_terms coefficient · Π z_factor over one order's terms; undefined when every product vanishes.
Tensor sum_of_products(const std::vector<Term>& terms, const Channels& z) {
  Tensor inner;
  for (const Term& term : terms) {
    Tensor product;
    bool zero = false;
    for (size_t f : term.factors) {
      if (!z[f].defined()) {
        zero = true;
        break;
      }
      product = product.defined() ? product * z[f] : z[f];
    }
    if (zero) continue;
    inner = add_defined(inner, model::scaled(product, term.coefficient));
  }
  return inner;
}

// σ applied to every channel by Faà di Bruno, with d[m] = σ^(m)(Z_0).
Channels activate_with(const Plan& plan, const std::vector<Tensor>& d, const Channels& z) {
  Channels h(z.size());
  h[0] = d[0];
  for (size_t c = 1; c < z.size(); ++c) {
    Tensor sum = multiply_defined(d[1], z[c]);
    for (const auto& [order, terms] : plan.terms[c]) {
      const Tensor& derivative = d[static_cast<size_t>(order)];
      if (!derivative.defined()) continue;
      sum = add_defined(sum, multiply_defined(derivative, sum_of_products(terms, z)));
    }
    h[c] = sum;
  }
  return h;
}

Channels activate(const Plan& plan, const model::Activation& activation, const Channels& z) {
  if (activation.is_identity()) return z;
  return activate_with(plan, activation.derivatives(z[0], plan.max_order), z);
}

// A Linear layer on every channel, the bias on the value only.
Channels linear_channels(const Channels& x, const model::Dense& layer) {
  Channels z(x.size());
  const Tensor weight_t = layer.weight().t();
  z[0] = torch::addmm(layer.bias(), x[0], weight_t);
  for (size_t c = 1; c < x.size(); ++c) {
    if (x[c].defined()) z[c] = torch::mm(x[c], weight_t);
  }
  return z;
}

// a + sign * b on every channel.
Channels add_channels(const Channels& a, const Channels& b, double sign) {
  Channels sum(a.size());
  for (size_t c = 0; c < a.size(); ++c) {
    sum[c] = add_defined(a[c], b[c].defined() ? model::scaled(b[c], sign) : Tensor());
  }
  return sum;
}

// f g on every channel: ∂_α(fg) sums f_β g_γ over the 2^|α| ways to hand α's indices to f or g;
// a summed Laplacian is f Δg + g Δf + 2 Σ_i f_i g_i.
Channels multiply_channels(const Plan& plan, const Channels& f, const Channels& g) {
  Channels h(f.size());
  for (size_t c = 0; c < plan.multisets.size(); ++c) {
    const Multiset& alpha = plan.multisets[c];
    Tensor sum;
    for (uint32_t mask = 0; mask < (1u << alpha.size()); ++mask) {
      Multiset beta, gamma;  // sorted, as alpha is
      for (size_t p = 0; p < alpha.size(); ++p)
        ((mask >> p) & 1u ? beta : gamma).push_back(alpha[p]);
      sum = add_defined(sum, multiply_defined(f[plan.index.at(beta)], g[plan.index.at(gamma)]));
    }
    h[c] = sum;
  }
  for (size_t k = 0; k < plan.laplacians.size(); ++k) {
    const size_t c = plan.multisets.size() + k;
    Tensor sum = add_defined(multiply_defined(f[0], g[c]), multiply_defined(g[0], f[c]));
    for (int i : plan.laplacians[k]) {
      const size_t first = plan.index.at({i});
      const Tensor product = multiply_defined(f[first], g[first]);
      sum = add_defined(sum, product.defined() ? model::scaled(product, 2.0) : Tensor());
    }
    h[c] = sum;
  }
  return h;
}

// cos and sin of every channel of `angle`, by Faà di Bruno.
Channels cosine_of(const Plan& plan, const Channels& angle) {
  return activate_with(plan, model::sine_derivatives(angle[0], plan.max_order, /*cosine=*/true),
                       angle);
}

Channels sine_of(const Plan& plan, const Channels& angle) {
  return activate_with(plan, model::sine_derivatives(angle[0], plan.max_order, /*cosine=*/false),
                       angle);
}

// The columns of `parts` side by side, channel by channel: undefined where every part vanishes;
// otherwise vanishing parts become zeros and rows shared by every point are repeated to `n` when
// another part has a row per point.
Channels concatenate(const std::vector<Channels>& parts) {
  Channels joined(parts.front().size());
  for (size_t c = 0; c < joined.size(); ++c) {
    int64_t rows = 0;
    for (const auto& part : parts) {
      if (part[c].defined()) rows = std::max(rows, part[c].size(0));
    }
    if (rows == 0) continue;
    std::vector<Tensor> columns;
    for (const auto& part : parts) {
      const Tensor& value = part[0];
      if (value.size(1) == 0) continue;
      columns.push_back(part[c].defined() ? part[c].expand({rows, value.size(1)})
                                          : torch::zeros({rows, value.size(1)}, value.options()));
    }
    joined[c] = columns.size() == 1 ? columns[0] : torch::cat(columns, 1);
  }
  return joined;
}

// The columns `indices` of every channel.
Channels select_columns(const Channels& x, const std::vector<int64_t>& indices) {
  const Tensor index = torch::tensor(indices, torch::kLong).to(x[0].device());
  Channels selected(x.size());
  for (size_t c = 0; c < x.size(); ++c) {
    if (x[c].defined()) selected[c] = x[c].index_select(1, index);
  }
  return selected;
}

// One operation of a structure on the channels of its operands.
Channels apply(const Plan& plan, const model::Operation& op, const std::vector<Channels>& slots) {
  using Kind = model::Operation::Kind;
  const Channels& a = slots[static_cast<size_t>(op.a)];
  switch (op.kind) {
    case Kind::features:
      return embed(plan, *op.features, a);
    case Kind::periodic:
      return embed(plan, *op.periodic, a);
    case Kind::fourier:
      return embed(plan, *op.fourier, a);
    case Kind::linear:
      return linear_channels(a, *op.layer);
    case Kind::activation:
      return activate(plan, *op.activation, a);
    case Kind::add:
      return add_channels(a, slots[static_cast<size_t>(op.b)], 1.0);
    case Kind::subtract:
      return add_channels(a, slots[static_cast<size_t>(op.b)], -1.0);
    case Kind::multiply:
      return multiply_channels(plan, a, slots[static_cast<size_t>(op.b)]);
    case Kind::concatenate: {
      std::vector<Channels> parts;
      for (int part : op.parts)
        parts.push_back(slots[static_cast<size_t>(part)]);
      return concatenate(parts);
    }
  }
  TORCH_CHECK(false, "taylor: an operation of unknown kind");
}

}  // namespace

Channels input_channels(const Plan& plan, const Tensor& points) {
  const int64_t d = points.size(1);
  Channels x(plan.channels());
  x[0] = points;
  const Tensor eye = torch::eye(d, points.options());
  for (size_t c = 1; c < plan.multisets.size(); ++c) {
    if (plan.multisets[c].size() == 1) x[c] = eye.narrow(0, plan.multisets[c][0], 1);
  }
  return x;
}

namespace {

// The features' channels depend on the points alone, which stay the same from step to step until
// a set is redrawn: the channels of the last few (features, plan, points) are kept rather than
// differentiated again at every step. Points are matched by value (a group of sets arrives as a
// fresh concatenation every step); comparing them costs a pass over N x d numbers.
class FeatureJetCache {
 public:
  template <typename Make>
  Channels get(const model::FeatureMap& features, const Plan& plan, const Tensor& points,
               Make make) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : entries_) {
      if (entry.features == &features && entry.plan == &plan &&
          entry.points.sizes() == points.sizes() && entry.points.dtype() == points.dtype() &&
          entry.points.device() == points.device() && torch::equal(entry.points, points)) {
        return entry.channels;
      }
    }
    if (entries_.size() >= kEntries) entries_.erase(entries_.begin());
    entries_.push_back({&features, &plan, points.detach().clone(), make()});
    return entries_.back().channels;
  }

 private:
  static constexpr size_t kEntries = 4;  // the point groups times plans of a run, commonly 1 to 3
  struct Entry {
    const model::FeatureMap* features;
    const Plan* plan;
    Tensor points;  // a copy: the caller's tensor may be written in place
    Channels channels;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

Channels feature_channels(const Plan& plan, const model::FeatureMap& features, const Tensor& input);

}  // namespace

Channels embed(const Plan& plan, const model::FeatureMap& features, const Channels& x) {
  static FeatureJetCache cache;
  // Points that are themselves differentiated (a graph through them) are never cached.
  if (x[0].requires_grad()) return feature_channels(plan, features, x[0]);
  return cache.get(features, plan, x[0], [&] { return feature_channels(plan, features, x[0]); });
}

namespace {

Channels feature_channels(const Plan& plan, const model::FeatureMap& features,
                          const Tensor& input) {
  // Enabled even where the caller computes without a graph: these derivatives are the values.
  const torch::AutoGradMode with_gradients(true);
  const Tensor points = input.detach().requires_grad_(true);
  const Tensor values = features.forward(points);
  const auto width = static_cast<int>(features.output_width());
  ChannelMap known = value_channels(values);
  std::set<expr::Channel> wanted;
  for (int f = 0; f < width; ++f) {
    for (size_t c = 1; c < plan.multisets.size(); ++c)
      wanted.insert({f, plan.multisets[c]});
    for (const auto& inputs : plan.laplacians) {
      for (int i : inputs)
        wanted.insert({f, {i, i}});
    }
  }
  differentiate_in_reverse(known, wanted, points, /*create_graph=*/false);
  const auto columns = [&](const std::vector<expr::Channel>& terms) {
    std::vector<Tensor> stacked;
    for (int f = 0; f < width; ++f) {
      Tensor sum;
      for (auto term : terms) {
        term.output = f;
        const Tensor& value = known.at(term);
        sum = sum.defined() ? sum + value : value;
      }
      stacked.push_back(sum.detach());
    }
    return torch::stack(stacked, 1);
  };
  Channels result(plan.channels());
  result[0] = values.detach();
  for (size_t c = 1; c < plan.multisets.size(); ++c)
    result[c] = columns({{0, plan.multisets[c]}});
  for (size_t k = 0; k < plan.laplacians.size(); ++k) {
    std::vector<expr::Channel> terms;
    for (int i : plan.laplacians[k])
      terms.push_back({0, {i, i}});
    result[plan.multisets.size() + k] = columns(terms);
  }
  return result;
}

}  // namespace

Channels embed(const Plan& plan, const model::FourierFeatures& fourier, const Channels& x) {
  const Tensor matrix = (2.0 * M_PI) * fourier.matrix().t();
  const Channels embedded = fourier.columns().empty() ? x : select_columns(x, fourier.columns());
  Channels projection(x.size());
  for (size_t c = 0; c < x.size(); ++c) {
    if (embedded[c].defined()) projection[c] = torch::mm(embedded[c], matrix);
  }
  return concatenate({cosine_of(plan, projection), sine_of(plan, projection)});
}

Channels embed(const Plan& plan, const model::PeriodicEmbedding& periodic, const Channels& x) {
  const auto columns = [&](const std::vector<int64_t>& indices) {
    return select_columns(x, indices);
  };
  Channels angles = columns(periodic.periodic());
  const Tensor frequencies = periodic.frequencies(x[0].options());
  for (auto& angle : angles) {
    if (angle.defined()) angle = angle * frequencies;
  }
  return concatenate({columns(periodic.kept()), cosine_of(plan, angles), sine_of(plan, angles)});
}

Tensor stack_channels(const Channels& h, int64_t n) {
  std::vector<Tensor> parts;
  for (const auto& channel : h) {
    parts.push_back(channel.defined() ? channel.expand({n, h[0].size(1)})
                                      : torch::zeros_like(h[0]));
  }
  return torch::stack(parts, 0);
}

ChannelMap channel_map(const Plan& plan, const std::vector<Tensor>& outputs,
                       const std::set<expr::Channel>& channels) {
  ChannelMap result = value_channels(outputs[0]);
  for (const auto& channel : channels) {
    if (channel.order() == 0) continue;
    result[channel] = outputs[plan.position(channel)].select(1, channel.output);
  }
  return result;
}

ChannelMap propagate_structure(const model::Structure& structure, const Tensor& points,
                               const std::set<expr::Channel>& channels, bool create_graph) {
  const Plan& plan = compiled_plan(plan_key(channels)).plan;
  std::optional<torch::NoGradGuard> no_grad;
  if (!create_graph) no_grad.emplace();
  std::vector<Channels> slots(static_cast<size_t>(structure.slots));
  slots[model::Structure::kInput] = input_channels(plan, points);
  for (const auto& op : structure.operations)
    slots[static_cast<size_t>(op.result)] = apply(plan, op, slots);
  const Channels& out = slots[static_cast<size_t>(structure.output())];
  // Broadcast rows and vanishing channels become N x outputs, as channel_map expects.
  const std::vector<int64_t> shape = {points.size(0), out[0].size(1)};
  std::vector<Tensor> outputs;
  for (const auto& channel : out)
    outputs.push_back(channel.defined() ? channel.expand(shape)
                                        : torch::zeros(shape, out[0].options()));
  return channel_map(plan, outputs, channels);
}

}  // namespace pinn::derivatives::taylor
