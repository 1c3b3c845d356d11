// Taylor mode through MLPs: channels stacked per layer, Faà di Bruno at each activation.
#include "derivatives/taylor_engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "derivatives/autograd_engine.hpp"
#include "model/network.hpp"
#include "model/transform.hpp"

namespace pinn::derivatives {

namespace {

using torch::Tensor;
using Multiset = std::vector<int>;  // sorted input indices
using Poly = std::vector<double>;   // coefficients, lowest degree first

// ---- polynomials with double coefficients (the derivatives of tanh, sigmoid, the Gaussian) ----

Poly poly_derivative(const Poly& p) {
  Poly d;
  for (size_t k = 1; k < p.size(); ++k)
    d.push_back(static_cast<double>(k) * p[k]);
  return d;
}

Poly poly_multiply(const Poly& a, const Poly& b) {
  if (a.empty() || b.empty()) return {};
  Poly c(a.size() + b.size() - 1, 0.0);
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = 0; j < b.size(); ++j)
      c[i + j] += a[i] * b[j];
  }
  return c;
}

// p(t) by Horner's rule; undefined (zero) for the zero polynomial.
Tensor poly_evaluate(const Poly& p, const Tensor& t) {
  size_t degree = p.size();
  while (degree > 0 && p[degree - 1] == 0.0)
    --degree;
  if (degree == 0) return Tensor();
  if (degree == 1) return torch::full_like(t, p[0]);
  Tensor result = t * p[degree - 1];
  if (p[degree - 2] != 0.0) result.add_(p[degree - 2]);
  for (size_t k = degree - 2; k-- > 0;) {
    result = result * t;
    if (p[k] != 0.0) result.add_(p[k]);
  }
  return result;
}

// P_k with f^(k) = P_k(f) for f' = q(f): P_0(f) = f, P_{k+1} = P_k' q.
std::vector<Poly> derivative_polynomials(const Poly& q, int max_order) {
  std::vector<Poly> polys = {{0.0, 1.0}};
  for (int k = 1; k <= max_order; ++k)
    polys.push_back(poly_multiply(poly_derivative(polys.back()), q));
  return polys;
}

// sigmoid^(k)(z), k = 0..max_order, from s = sigmoid(z).
std::vector<Tensor> sigmoid_derivatives(const Tensor& s, int max_order) {
  const auto polys = derivative_polynomials({0.0, 1.0, -1.0}, max_order);  // s' = s(1 - s)
  std::vector<Tensor> d = {s};
  for (int k = 1; k <= max_order; ++k)
    d.push_back(poly_evaluate(polys[static_cast<size_t>(k)], s));
  return d;
}

Tensor scaled(const Tensor& t, double factor) {
  return factor == 1.0 ? t : t * factor;
}

// sin^(k) and cos^(k) cycle with period four.
std::vector<Tensor> trig_derivatives(const Tensor& z, int max_order, bool cosine) {
  const Tensor s = torch::sin(z), c = torch::cos(z);
  const Tensor cycle[] = {s, c, -s, -c};
  std::vector<Tensor> d;
  for (int k = 0; k <= max_order; ++k)
    d.push_back(cycle[(k + (cosine ? 1 : 0)) % 4]);
  return d;
}

// σ^(k)(z) for k = 0..max_order, each written with differentiable ops; undefined = zero.
std::vector<Tensor> activation_derivatives(const std::string& name, const Tensor& z,
                                           int max_order) {
  std::vector<Tensor> d;
  if (name == "tanh") {
    // σ' = 1 - t² =: s, σ'' = -2ts, σ^(3) = s(6t² - 2), σ^(4) = ts(16 - 24t²), then P_k(t).
    const Tensor t = torch::tanh(z);
    d.push_back(t);
    if (max_order >= 1) {
      const Tensor t2 = t * t;
      const Tensor s = 1.0 - t2;
      d.push_back(s);
      Tensor ts;
      if (max_order >= 2) {
        ts = t * s;
        d.push_back(ts * -2.0);
      }
      if (max_order >= 3) d.push_back(s * (t2 * 6.0 - 2.0));
      if (max_order >= 4) d.push_back(ts * (16.0 - t2 * 24.0));
      if (max_order >= 5) {
        const auto polys = derivative_polynomials({1.0, 0.0, -1.0}, max_order);
        for (int k = 5; k <= max_order; ++k)
          d.push_back(poly_evaluate(polys[static_cast<size_t>(k)], t));
      }
    }
  } else if (name == "sigmoid") {
    d = sigmoid_derivatives(torch::sigmoid(z), max_order);
  } else if (name == "sin") {
    d = trig_derivatives(z, max_order, false);
  } else if (name == "cos") {
    d = trig_derivatives(z, max_order, true);
  } else if (name == "softplus") {
    // torch::softplus is linear above its threshold (20), and so are its derivatives there.
    const auto s = sigmoid_derivatives(torch::sigmoid(z), max_order - 1);
    const Tensor linear = z > 20.0;
    d.push_back(torch::softplus(z));
    for (int k = 1; k <= max_order; ++k) {
      const Tensor& sk = s[static_cast<size_t>(k - 1)];
      d.push_back(torch::where(linear, torch::full_like(z, k == 1 ? 1.0 : 0.0), sk));
    }
  } else if (name == "silu") {
    // (z s)^(k) = z s^(k) + k s^(k-1)
    const auto s = sigmoid_derivatives(torch::sigmoid(z), max_order);
    d.push_back(z * s[0]);
    for (int k = 1; k <= max_order; ++k) {
      const auto ku = static_cast<size_t>(k);
      d.push_back(z * s[ku] + scaled(s[ku - 1], k));
    }
  } else if (name == "gelu") {
    // gelu = z Φ(z): gelu^(k) = z Φ^(k) + k Φ^(k-1); Φ^(j) = φ^(j-1) = (-1)^(j-1) He_(j-1) φ.
    const Tensor phi_big = 1.0 + torch::erf(z * M_SQRT1_2);  // 2Φ, as the activation writes it
    const Tensor phi = torch::exp(-0.5 * z * z) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
    std::vector<Tensor> cdf = {0.5 * phi_big};  // Φ^(j)
    Poly he_previous, he = {1.0};               // He_(j-2), He_(j-1)
    for (int j = 1; j <= max_order; ++j) {
      const Tensor density = j == 1 ? phi : poly_evaluate(he, z) * phi;
      cdf.push_back(scaled(density, (j - 1) % 2 == 0 ? 1.0 : -1.0));
      Poly next = poly_multiply(he, {0.0, 1.0});  // He_j = z He_(j-1) - (j-1) He_(j-2)
      for (size_t i = 0; i < he_previous.size(); ++i)
        next[i] -= static_cast<double>(j - 1) * he_previous[i];
      he_previous = he;
      he = next;
    }
    d.push_back(0.5 * z * phi_big);
    for (int k = 1; k <= max_order; ++k) {
      const auto ku = static_cast<size_t>(k);
      d.push_back(z * cdf[ku] + scaled(cdf[ku - 1], k));
    }
  } else if (name == "relu") {
    d.push_back(torch::relu(z));
    if (max_order >= 1) d.push_back((z > 0.0).to(z.scalar_type()));
    while (static_cast<int>(d.size()) <= max_order)
      d.emplace_back();
  } else {
    TORCH_CHECK(false, "taylor: no Taylor rules for activation '", name, "'");
  }
  return d;
}

bool has_rules(const std::string& name) {
  static const std::set<std::string> names = {"identity", "tanh", "sigmoid", "sin",
                                              "softplus", "silu", "gelu",    "relu"};
  return names.count(name) > 0;
}

// ---- the channel plan: the multisets to propagate and their Faà di Bruno terms ----

// One term of ∂_α σ(z) with |π| = order >= 2: coefficient * σ^(order)(z) * Π z_factor.
struct Term {
  double coefficient = 1.0;
  std::vector<size_t> factors;  // channel indices
};

// The derivative of a term's product of factors with respect to its factor `f`: the multiplicity
// of f, and the product of the other factors (undefined when there are none). `factor(k)` gives
// channel k's tensor. Shared by both backward passes.
template <typename Factor>
std::pair<double, Tensor> product_without(const Term& term, size_t f, const Factor& factor) {
  double multiplicity = 0;
  Tensor others;
  bool skipped = false;
  for (size_t k : term.factors) {
    if (k == f) {
      multiplicity += 1;
      if (!skipped) {
        skipped = true;
        continue;
      }
    }
    const Tensor value = factor(k);
    others = others.defined() ? others * value : value;
  }
  return {multiplicity, others};
}

struct Plan {
  std::vector<Multiset> multisets;  // index 0 is the value; sub-multisets before supersets
  std::map<Multiset, size_t> index;
  // terms[c][m]: the terms of order m >= 2 of channel c (the order-1 term is z_c itself).
  std::vector<std::map<int, std::vector<Term>>> terms;
  int max_order = 0;
};

void add_closure(const Multiset& alpha, std::set<Multiset>& closure) {
  if (!closure.insert(alpha).second) return;
  for (size_t i = 0; i < alpha.size(); ++i) {
    if (i > 0 && alpha[i] == alpha[i - 1]) continue;
    Multiset smaller = alpha;
    smaller.erase(smaller.begin() + static_cast<std::ptrdiff_t>(i));
    add_closure(smaller, closure);
  }
}

// Calls `visit` with every set partition of {0..k-1} as block labels (a restricted growth string).
template <typename Visit>
void for_each_partition(size_t k, Visit visit) {
  std::vector<int> labels(k, 0);
  std::function<void(size_t, int)> recurse = [&](size_t position, int blocks) {
    if (position == k) {
      visit(labels, blocks);
      return;
    }
    for (int b = 0; b <= blocks; ++b) {
      labels[position] = b;
      recurse(position + 1, std::max(blocks, b + 1));
    }
  };
  recurse(0, 0);
}

Plan make_plan(const std::set<expr::Channel>& channels) {
  std::set<Multiset> closure = {{}};
  for (const auto& channel : channels)
    add_closure(channel.wrt, closure);
  std::vector<Multiset> ordered(closure.begin(), closure.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const Multiset& a, const Multiset& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  Plan plan;
  plan.multisets = ordered;
  for (size_t c = 0; c < ordered.size(); ++c) {
    plan.index[ordered[c]] = c;
    plan.max_order = std::max(plan.max_order, static_cast<int>(ordered[c].size()));
  }
  plan.terms.resize(ordered.size());
  for (size_t c = 1; c < ordered.size(); ++c) {
    const Multiset& alpha = ordered[c];
    std::map<std::pair<int, std::vector<size_t>>, double> counts;
    for_each_partition(alpha.size(), [&](const std::vector<int>& labels, int blocks) {
      if (blocks < 2) return;
      std::vector<Multiset> parts(static_cast<size_t>(blocks));
      for (size_t p = 0; p < labels.size(); ++p)
        parts[static_cast<size_t>(labels[p])].push_back(alpha[p]);  // stays sorted
      std::vector<size_t> factors;
      for (const auto& part : parts)
        factors.push_back(plan.index.at(part));
      std::sort(factors.begin(), factors.end());
      counts[{blocks, factors}] += 1.0;
    });
    for (const auto& [key, count] : counts)
      plan.terms[c][key.first].push_back(Term{count, key.second});
  }
  return plan;
}

// ---- propagation ----

// Channels of one layer: entry c is channel c, N x width, or 1 x width when the same for every
// point (the derivatives of the inputs and of what a Linear layer makes of them), or undefined
// when identically zero. The value (entry 0) is always N x width.
using Channels = std::vector<Tensor>;

Tensor add_defined(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

Tensor multiply_defined(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return Tensor();
  return a * b;
}

// One Linear layer: the full channels stacked into one matmul, the per-point-constant ones into
// another, the bias on the value only.
Channels linear_with(const Tensor& weight, const Tensor& bias, const Channels& h) {
  const int64_t n = h[0].size(0);
  std::vector<size_t> full, rows;
  for (size_t c = 0; c < h.size(); ++c) {
    if (!h[c].defined()) continue;
    (c == 0 || h[c].size(0) == n ? full : rows).push_back(c);
  }
  Channels z(h.size());
  const auto apply = [&](const std::vector<size_t>& group, int64_t height) {
    if (group.empty()) return;
    std::vector<Tensor> inputs;
    for (size_t c : group)
      inputs.push_back(h[c]);
    const Tensor stacked = inputs.size() == 1 ? inputs[0] : torch::cat(inputs, 0);
    const auto outputs = torch::mm(stacked, weight.t()).split(height, 0);
    for (size_t i = 0; i < group.size(); ++i)
      z[group[i]] = outputs[i];
  };
  apply(full, n);
  apply(rows, 1);
  if (bias.defined()) z[0] = z[0] + bias;
  return z;
}

Channels linear(const torch::nn::Linear& layer, const Channels& h) {
  return linear_with(layer->weight, layer->bias, h);
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
        inner = add_defined(inner, scaled(product, term.coefficient));
      }
      sum = add_defined(sum, multiply_defined(derivative, inner));
    }
    h[c] = sum;
  }
  return h;
}

Channels activate(const Plan& plan, const std::string& name, const Channels& z) {
  if (name == "identity") return z;
  return activate_with(plan, activation_derivatives(name, z[0], plan.max_order), z);
}

// The input channels: x itself, the unit vectors e_i, zero above the first order.
Channels input_channels(const Plan& plan, const Tensor& points) {
  const int64_t d = points.size(1);
  Channels x(plan.multisets.size());
  x[0] = points;
  const Tensor eye = torch::eye(d, points.options());
  for (size_t c = 1; c < plan.multisets.size(); ++c) {
    if (plan.multisets[c].size() == 1) x[c] = eye.narrow(0, plan.multisets[c][0], 1);
  }
  return x;
}

// [cos(2π x Bᵀ), sin(2π x Bᵀ)] on every channel: the projection is linear, then cos and sin.
Channels embed(const Plan& plan, const model::FourierFeatures& fourier, const Channels& x) {
  const Tensor matrix = (2.0 * M_PI) * fourier.matrix().t();
  Channels projection(x.size());
  for (size_t c = 0; c < x.size(); ++c) {
    if (x[c].defined()) projection[c] = torch::mm(x[c], matrix);
  }
  const Channels cosine = activate(plan, "cos", projection);
  const Channels sine = activate(plan, "sin", projection);
  Channels embedded(x.size());
  for (size_t c = 0; c < x.size(); ++c) {
    if (!cosine[c].defined() && !sine[c].defined()) continue;
    const Tensor a = cosine[c].defined() ? cosine[c] : torch::zeros_like(sine[c]);
    const Tensor b = sine[c].defined() ? sine[c] : torch::zeros_like(cosine[c]);
    embedded[c] = torch::cat({a, b}, 1);
  }
  return embedded;
}

ChannelMap propagate(const model::Mlp& network, const Tensor& points,
                     const std::set<expr::Channel>& channels) {
  const Plan plan = make_plan(channels);
  const auto& options = network.common_options();
  Channels h = input_channels(plan, points);
  if (network.fourier()) h = embed(plan, *network.fourier(), h);
  const auto& layers = network.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    h = linear(layers[i], h);
    h = activate(plan, i + 1 < layers.size() ? options.activation : options.output_activation, h);
  }
  const int64_t n = points.size(0);
  ChannelMap result = value_channels(h[0]);
  for (const auto& channel : channels) {
    if (channel.order() == 0) continue;
    const Tensor& values = h[plan.index.at(channel.wrt)];
    result[channel] = values.defined()
                          ? values.expand({n, values.size(1)}).select(1, channel.output)
                          : torch::zeros({n}, points.options());
  }
  return result;
}

// ---- the hand-written backward pass (MLPs without an embedding) ----
//
// TaylorMlp::forward propagates the channels without a graph and saves, for every layer l, its
// input channels A (the previous layer's output), its pre-activation channels Z and σ^(m)(Z_0)
// for m = 1..K+1. The backward pass runs the layers in reverse: through the activation by the
// adjoint of Faà di Bruno,
//   dZ_0 = G_0 σ' + Σ_c G_c Σ_m σ^(m+1) S_{c,m},  dZ_f = Σ_c G_c Σ_m σ^(m) ∂S_{c,m}/∂Z_f,
// with H_c = Σ_m σ^(m)(Z_0) S_{c,m}(Z) (S_{c,1} = Z_c), and through each Linear layer by two
// matmuls on the stacked channels (dW = dZᵀ A, dA = dZ W; db from the value channel only).

std::vector<int64_t> flatten(const std::vector<Multiset>& multisets) {
  std::vector<int64_t> flat;
  for (const auto& multiset : multisets) {
    flat.push_back(static_cast<int64_t>(multiset.size()));
    flat.insert(flat.end(), multiset.begin(), multiset.end());
  }
  return flat;
}

std::set<expr::Channel> unflatten(const std::vector<int64_t>& flat) {
  std::set<expr::Channel> channels;
  for (size_t i = 0; i < flat.size();) {
    const auto size = static_cast<size_t>(flat[i++]);
    expr::Channel channel;
    for (size_t k = 0; k < size; ++k)
      channel.wrt.push_back(static_cast<int>(flat[i++]));
    channels.insert(channel);
  }
  return channels;
}

void accumulate(Tensor& sum, const Tensor& term) {
  if (!term.defined()) return;
  sum = sum.defined() ? sum + term : term;
}

// The adjoint of activate(): dZ from G = dL/dH, with d[m] = σ^(m)(Z_0), m = 0..K+1.
Channels activation_backward(const Plan& plan, const std::vector<Tensor>& d, const Channels& z,
                             const Channels& g) {
  const size_t count = z.size();
  Channels dz(count);
  std::vector<Tensor> value_terms(d.size());  // multiplied by d[m] into dZ_0
  accumulate(value_terms[1], g[0]);
  for (size_t c = 1; c < count; ++c) {
    if (!g[c].defined()) continue;
    if (z[c].defined()) {
      accumulate(dz[c], multiply_defined(g[c], d[1]));
      accumulate(value_terms[2], g[c] * z[c]);
    }
    for (const auto& [order, terms] : plan.terms[c]) {
      const auto m = static_cast<size_t>(order);
      const Tensor weighted = multiply_defined(g[c], d[m]);  // G_c σ^(m)
      for (const Term& term : terms) {
        bool zero = false;
        for (size_t f : term.factors)
          zero |= !z[f].defined();
        if (zero) continue;
        Tensor product;
        for (size_t f : term.factors)
          product = product.defined() ? product * z[f] : z[f];
        if (d[m + 1].defined())
          accumulate(value_terms[m + 1], scaled(g[c] * product, term.coefficient));
        if (!weighted.defined()) continue;
        // ∂/∂Z_f of the product: its multiplicity times the product of the other factors.
        for (size_t i = 0; i < term.factors.size(); ++i) {
          if (i > 0 && term.factors[i] == term.factors[i - 1]) continue;
          const size_t f = term.factors[i];
          const auto [multiplicity, others] =
              product_without(term, f, [&](size_t k) { return z[k]; });
          const double factor = multiplicity * term.coefficient;
          accumulate(dz[f], others.defined() ? weighted * scaled(others, factor)
                                             : scaled(weighted, factor));
        }
      }
    }
  }
  for (size_t m = 1; m < d.size(); ++m) {
    if (value_terms[m].defined()) accumulate(dz[0], multiply_defined(value_terms[m], d[m]));
  }
  return dz;
}

// The adjoint of linear(): adds dW, db and returns dA (for the channels whose dZ is defined).
Channels linear_backward(const Tensor& weight, const Channels& a, const Channels& dz,
                         bool input_gradients, Tensor& dweight, Tensor& dbias) {
  const int64_t n = a[0].size(0);
  std::vector<Tensor> full_dz, full_a, row_dz, row_a;
  std::vector<size_t> full;
  for (size_t c = 0; c < a.size(); ++c) {
    if (!a[c].defined() || !dz[c].defined()) continue;
    if (c == 0 || a[c].size(0) == n) {
      full.push_back(c);
      full_dz.push_back(dz[c]);
      full_a.push_back(a[c]);
    } else {
      row_dz.push_back(dz[c].sum(0, true));
      row_a.push_back(a[c]);
    }
  }
  const auto stack = [](const std::vector<Tensor>& parts) {
    return parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
  };
  Tensor dw;
  if (!full.empty()) dw = torch::mm(stack(full_dz).t(), stack(full_a));
  if (!row_a.empty()) accumulate(dw, torch::mm(stack(row_dz).t(), stack(row_a)));
  dweight = dw.defined() ? dw : torch::zeros_like(weight);
  dbias = dz[0].defined() ? dz[0].sum(0) : torch::zeros({weight.size(0)}, weight.options());
  Channels da(a.size());
  if (!input_gradients) return da;
  for (size_t c = 0; c < a.size(); ++c) {
    if (a[c].defined() && dz[c].defined() && !(c == 0 || a[c].size(0) == n)) {
      da[c] = torch::mm(dz[c], weight);  // a per-point-constant channel: summed at its weight
    }
  }
  if (!full.empty()) {
    const auto parts = torch::mm(stack(full_dz), weight).split(n, 0);
    for (size_t i = 0; i < full.size(); ++i)
      da[full[i]] = parts[i];
  }
  return da;
}

// Layers after the first see every channel as an N x width tensor, so they keep the channels
// stacked, C x N x width, and work on them in place (TaylorMlp::forward runs without a graph).

// Faà di Bruno on stacked channels.
Tensor activate_stacked(const Plan& plan, const std::vector<Tensor>& d, const Tensor& z) {
  const int64_t count = z.size(0);
  Tensor h = torch::empty_like(z);
  h.select(0, 0).copy_(d[0]);
  if (count == 1) return h;
  Tensor rest = h.narrow(0, 1, count - 1);
  if (d[1].defined()) {
    torch::mul_out(rest, z.narrow(0, 1, count - 1), d[1].unsqueeze(0));
  } else {
    rest.zero_();
  }
  for (int64_t c = 1; c < count; ++c) {
    Tensor target = h.select(0, c);
    for (const auto& [order, terms] : plan.terms[static_cast<size_t>(c)]) {
      const Tensor& derivative = d[static_cast<size_t>(order)];
      if (!derivative.defined()) continue;
      Tensor inner;
      for (const Term& term : terms) {
        Tensor product;
        for (size_t f : term.factors) {
          const Tensor factor = z.select(0, static_cast<int64_t>(f));
          product = product.defined() ? product * factor : factor;
        }
        if (inner.defined()) {
          inner.add_(product, term.coefficient);
        } else {
          inner = product * term.coefficient;
        }
      }
      target.addcmul_(derivative, inner);
    }
  }
  return h;
}

// The adjoint of activate_stacked: dZ from G, both C x N x width.
Tensor activation_backward_stacked(const Plan& plan, const std::vector<Tensor>& d, const Tensor& z,
                                   const Tensor& g) {
  const int64_t count = z.size(0);
  Tensor dz = d[1].defined() ? torch::empty_like(z) : torch::zeros_like(z);
  Tensor dz0 = dz.select(0, 0);
  if (d[1].defined()) {
    torch::mul_out(dz, g, d[1].unsqueeze(0));  // every channel's first-order term (and G_0 σ')
    if (count > 1 && d[2].defined()) {
      dz0.addcmul_(d[2], (g.narrow(0, 1, count - 1) * z.narrow(0, 1, count - 1)).sum(0));
    }
  }
  for (int64_t c = 1; c < count; ++c) {
    const Tensor gc = g.select(0, c);
    for (const auto& [order, terms] : plan.terms[static_cast<size_t>(c)]) {
      const auto m = static_cast<size_t>(order);
      const Tensor weighted = d[m].defined() ? gc * d[m] : Tensor();
      for (const Term& term : terms) {
        if (m + 1 < d.size() && d[m + 1].defined()) {
          Tensor product = gc;
          for (size_t f : term.factors)
            product = product * z.select(0, static_cast<int64_t>(f));
          dz0.addcmul_(product, d[m + 1], term.coefficient);
        }
        if (!weighted.defined()) continue;
        for (size_t i = 0; i < term.factors.size(); ++i) {
          if (i > 0 && term.factors[i] == term.factors[i - 1]) continue;
          const size_t f = term.factors[i];
          const auto [multiplicity, others] = product_without(
              term, f, [&](size_t k) { return z.select(0, static_cast<int64_t>(k)); });
          dz.select(0, static_cast<int64_t>(f))
              .addcmul_(weighted, others, multiplicity * term.coefficient);
        }
      }
    }
  }
  return dz;
}

// Channels as one C x N x width tensor (zeros for the vanishing ones, rows repeated).
Tensor stack_channels(const Channels& h, int64_t n) {
  std::vector<Tensor> parts;
  for (const auto& channel : h) {
    parts.push_back(channel.defined() ? channel.expand({n, h[0].size(1)})
                                      : torch::zeros_like(h[0]));
  }
  return torch::stack(parts, 0);
}

class TaylorMlp : public torch::autograd::Function<TaylorMlp> {
 public:
  // inputs: points, then weight and bias of every layer; outputs: one N x outputs tensor per
  // channel of the plan, in its order. Saved: the first layer's channels as lists (A, Z, σ^(m)),
  // the others' stacked (A, Z, σ^(m)), then the weights.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const std::vector<int64_t>& multisets,
                                                const std::string& activation,
                                                const std::string& output_activation,
                                                at::TensorList inputs) {
    const Plan plan = make_plan(unflatten(multisets));
    const size_t layers = (inputs.size() - 1) / 2;
    const int order = plan.max_order;
    const int64_t n = inputs[0].size(0);
    std::vector<Tensor> saved;
    const auto derivatives = [&](const std::string& name, const Tensor& z0) {
      if (name == "identity") return std::vector<Tensor>(static_cast<size_t>(order) + 2);
      return activation_derivatives(name, z0, order + 1);
    };
    // The first layer: the inputs' derivatives are constant rows, most channels vanish.
    const Channels x = input_channels(plan, inputs[0]);
    const Channels z = linear_with(inputs[1], inputs[2], x);
    const std::string& first = layers > 1 ? activation : output_activation;
    const auto d = derivatives(first, z[0]);
    saved.insert(saved.end(), x.begin(), x.end());
    saved.insert(saved.end(), z.begin(), z.end());
    saved.insert(saved.end(), d.begin(), d.end());
    Tensor h = stack_channels(first == "identity" ? z : activate_with(plan, d, z), n);
    for (size_t l = 1; l < layers; ++l) {
      const std::string& name = l + 1 < layers ? activation : output_activation;
      const Tensor& weight = inputs[1 + 2 * l];
      const int64_t count = h.size(0);
      Tensor zl =
          torch::mm(h.view({count * n, h.size(2)}), weight.t()).view({count, n, weight.size(0)});
      zl.select(0, 0).add_(inputs[2 + 2 * l]);
      const auto dl = derivatives(name, zl.select(0, 0));
      saved.push_back(h);
      saved.push_back(zl);
      saved.insert(saved.end(), dl.begin(), dl.end());
      h = name == "identity" ? zl : activate_stacked(plan, dl, zl);
    }
    for (size_t l = 0; l < layers; ++l)
      saved.push_back(inputs[1 + 2 * l]);
    ctx->save_for_backward(saved);
    ctx->saved_data["multisets"] = multisets;
    ctx->saved_data["activation"] = activation;
    ctx->saved_data["output_activation"] = output_activation;
    ctx->saved_data["layers"] = static_cast<int64_t>(layers);
    ctx->set_materialize_grads(false);
    torch::autograd::variable_list outputs;
    for (int64_t c = 0; c < h.size(0); ++c)
      outputs.push_back(h.select(0, c).clone());
    return outputs;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Plan plan = make_plan(unflatten(ctx->saved_data["multisets"].toIntVector()));
    const std::string activation = ctx->saved_data["activation"].toStringRef();
    const std::string output_activation = ctx->saved_data["output_activation"].toStringRef();
    const auto layers = static_cast<size_t>(ctx->saved_data["layers"].toInt());
    const auto saved = ctx->get_saved_variables();
    const size_t count = plan.multisets.size();
    const size_t derivative_count = static_cast<size_t>(plan.max_order) + 2;
    const size_t first_block = 2 * count + derivative_count;
    const size_t block = 2 + derivative_count;
    const auto at = [&](size_t index) {
      return saved.begin() + static_cast<std::ptrdiff_t>(index);
    };
    torch::autograd::variable_list result(1 + 2 * layers);
    Channels g(grads.begin(), grads.end());
    for (auto& grad : g) {
      if (!grad.defined()) {
        grad = torch::zeros({saved[0].size(0), saved.back().size(0)}, saved[0].options());
      }
    }
    if (layers > 1) {
      Tensor gs = torch::stack(g, 0);
      for (size_t l = layers - 1; l >= 1; --l) {
        const std::string& name = l + 1 < layers ? activation : output_activation;
        const size_t base = first_block + (l - 1) * block;
        const Tensor& a = saved[base];
        const Tensor& z = saved[base + 1];
        const std::vector<Tensor> d(at(base + 2), at(base + block));
        const Tensor& weight = saved[saved.size() - layers + l];
        const Tensor dz = name == "identity" ? gs : activation_backward_stacked(plan, d, z, gs);
        const int64_t rows = dz.size(0) * dz.size(1);
        const Tensor dz_flat = dz.reshape({rows, dz.size(2)});
        result[1 + 2 * l] = torch::mm(dz_flat.t(), a.reshape({rows, a.size(2)}));
        result[2 + 2 * l] = dz.select(0, 0).sum(0);
        gs = torch::mm(dz_flat, weight).view({dz.size(0), dz.size(1), weight.size(1)});
      }
      g = gs.unbind(0);
    }
    const std::string& first = layers > 1 ? activation : output_activation;
    const Channels x(at(0), at(count));
    const Channels z(at(count), at(2 * count));
    const std::vector<Tensor> d(at(2 * count), at(first_block));
    const Channels dz = first == "identity" ? g : activation_backward(plan, d, z, g);
    g = linear_backward(saved[saved.size() - layers], x, dz, ctx->needs_input_grad(0), result[1],
                        result[2]);
    if (ctx->needs_input_grad(0) && g[0].defined()) result[0] = g[0];
    // No gradients for the plan and the activation names that precede the tensors.
    result.insert(result.begin(), 3, Tensor());
    return result;
  }
};

ChannelMap propagate_with_backward(const model::Mlp& network, const Tensor& points,
                                   const std::set<expr::Channel>& channels) {
  const Plan plan = make_plan(channels);
  torch::autograd::variable_list inputs = {points};
  for (const auto& layer : network.layers()) {
    inputs.push_back(layer->weight);
    inputs.push_back(layer->bias);
  }
  const auto& options = network.common_options();
  const auto outputs = TaylorMlp::apply(flatten(plan.multisets), options.activation,
                                        options.output_activation, at::TensorList(inputs));
  ChannelMap result = value_channels(outputs[0]);
  for (const auto& channel : channels) {
    if (channel.order() > 0) {
      result[channel] = outputs[plan.index.at(channel.wrt)].select(1, channel.output);
    }
  }
  return result;
}

}  // namespace

std::string taylor_unsupported_reason(const model::Network& network) {
  if (dynamic_cast<const model::TransformedNetwork*>(&network)) {
    return "output transforms are not propagated in Taylor mode yet";
  }
  if (dynamic_cast<const model::ResNet*>(&network)) return "resnet is not supported";
  if (dynamic_cast<const model::ModifiedMlp*>(&network)) return "modified_mlp is not supported";
  const auto* mlp = dynamic_cast<const model::Mlp*>(&network);
  if (!mlp) return "only mlp networks are supported";
  for (const auto& name :
       {mlp->common_options().activation, mlp->common_options().output_activation}) {
    if (!has_rules(name)) return "no Taylor rules for activation '" + name + "'";
  }
  return "";
}

ChannelMap TaylorEngine::compute(model::Network& network, const torch::Tensor& points,
                                 const std::set<expr::Channel>& channels, bool create_graph) {
  bool derivatives = false;
  for (const auto& channel : channels)
    derivatives |= channel.order() > 0;
  if (!derivatives) return value_channels(network.forward(points));

  const std::string reason = taylor_unsupported_reason(network);
  if (!reason.empty()) {
    if (!warned_) {
      spdlog::warn("taylor derivatives: {}; using the forward engine instead", reason);
      warned_ = true;
    }
    return fallback_.compute(network, points, channels, create_graph);
  }
  const auto& mlp = dynamic_cast<const model::Mlp&>(network);
  if (create_graph && !mlp.fourier()) return propagate_with_backward(mlp, points, channels);
  std::optional<torch::NoGradGuard> no_grad;
  if (!create_graph) no_grad.emplace();
  return propagate(mlp, points, channels);
}

}  // namespace pinn::derivatives
