// Taylor mode through MLPs: channels stacked per layer, Faà di Bruno at each activation.
#include "derivatives/taylor_engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "derivatives/autograd_engine.hpp"
#include "derivatives/taylor_kernels.hpp"
#include "derivatives/taylor_tiles.hpp"
#include "derivatives/transform_jets.hpp"
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
  // Summed Laplacians Σ_{i in S} ∂_ii, channels after the multisets': σ's rule for one is
  // σ'' Σ_i z_i² + σ' z_S, so it needs the first-order channels of S only.
  std::vector<std::vector<int>> laplacians;
  std::map<std::vector<int>, size_t> laplacian_index;
  size_t channels() const { return multisets.size() + laplacians.size(); }
  // The input i of channel c when it is ∂/∂x_i, else -1.
  int first_order_input(size_t c) const {
    return c < multisets.size() && multisets[c].size() == 1 ? multisets[c][0] : -1;
  }
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

// The multisets to propagate: every requested one and all it contains, lower orders first.
std::vector<Multiset> closure_of(const std::set<expr::Channel>& channels) {
  std::set<Multiset> closure = {{}};
  for (const auto& channel : channels) {
    add_closure(channel.wrt, closure);
    for (int i : channel.laplacian)
      add_closure({i}, closure);
  }
  std::vector<Multiset> ordered(closure.begin(), closure.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const Multiset& a, const Multiset& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return ordered;
}

// The summed Laplacians among `channels`, each input set once.
std::vector<std::vector<int>> laplacians_of(const std::set<expr::Channel>& channels) {
  std::set<std::vector<int>> sets;
  for (const auto& channel : channels) {
    if (!channel.laplacian.empty()) sets.insert(channel.laplacian);
  }
  return {sets.begin(), sets.end()};
}

Plan make_plan(const std::set<expr::Channel>& channels) {
  const std::vector<Multiset> ordered = closure_of(channels);
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
  plan.laplacians = laplacians_of(channels);
  plan.terms.resize(plan.channels());
  for (size_t k = 0; k < plan.laplacians.size(); ++k) {
    const size_t c = ordered.size() + k;
    plan.laplacian_index[plan.laplacians[k]] = c;
    plan.max_order = std::max(plan.max_order, 2);
    for (int i : plan.laplacians[k]) {
      const size_t first = plan.index.at({i});
      plan.terms[c][2].push_back(Term{1.0, {first, first}});
    }
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
  Channels x(plan.channels());
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

// ---- the fused path: stacked channels and a hand-written backward pass ----
//
// Every layer's channels form one C x N x width tensor. A Linear layer is one matmul on it (the
// bias on the value only); an activation is one fused Faà di Bruno pass (taylor_kernels). The
// first layer sees the points and the unit vectors e_i as input channels; with a Fourier
// embedding, it sees the embedded channels instead, made by ordinary autograd ops (a trainable
// embedding gets its gradient through the gradient of the Function's input). TaylorMlp saves each
// layer's Z and H = σ(Z) and writes the backward pass by hand, layer by layer in reverse:
//   through σ, the adjoint of Faà di Bruno (H_c = Σ_m σ^(m)(Z_0) S_{c,m}(Z), S_{c,1} = Z_c):
//     dZ_0 = G_0 σ' + Σ_c G_c Σ_m σ^(m+1) S_{c,m},  dZ_f = Σ_c G_c Σ_m σ^(m) ∂S_{c,m}/∂Z_f;
//   through a Linear layer, two matmuls on the stacked channels: dW = dZᵀ A, dA = dZ W, and
//   db from the value channel only.
// σ's derivatives are recomputed in the backward pass from the saved H_0 (tanh, sigmoid: they
// are polynomials of σ) or Z_0, rather than saved: memory is the scarcer resource at scale.

// The key of a cached plan: the multisets to propagate (each as its size, then its indices), then
// the summed Laplacians (each as minus its size, then its inputs).
std::vector<int64_t> plan_key(const std::set<expr::Channel>& channels) {
  std::vector<int64_t> flat;
  for (const auto& multiset : closure_of(channels)) {
    flat.push_back(static_cast<int64_t>(multiset.size()));
    flat.insert(flat.end(), multiset.begin(), multiset.end());
  }
  for (const auto& inputs : laplacians_of(channels)) {
    flat.push_back(-static_cast<int64_t>(inputs.size()));
    flat.insert(flat.end(), inputs.begin(), inputs.end());
  }
  return flat;
}

std::set<expr::Channel> unflatten(const std::vector<int64_t>& flat) {
  std::set<expr::Channel> channels;
  for (size_t i = 0; i < flat.size();) {
    const bool laplacian = flat[i] < 0;
    const auto size = static_cast<size_t>(std::abs(flat[i++]));
    expr::Channel channel;
    for (size_t k = 0; k < size; ++k)
      (laplacian ? channel.laplacian : channel.wrt).push_back(static_cast<int>(flat[i++]));
    channels.insert(channel);
  }
  return channels;
}

// A plan with its Faà di Bruno terms as a kernel program; made once per channel list.
struct CompiledPlan {
  Plan plan;
  kernels::FaaDiBrunoProgram program;
};

const CompiledPlan& compiled_plan(const std::vector<int64_t>& flat) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::unique_ptr<CompiledPlan>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto& entry = cache[flat];
  if (!entry) {
    entry = std::make_unique<CompiledPlan>();
    entry->plan = make_plan(unflatten(flat));
    entry->program.channels = static_cast<int64_t>(entry->plan.channels());
    for (size_t c = 1; c < entry->plan.terms.size(); ++c) {
      for (const auto& [order, terms] : entry->plan.terms[c]) {
        for (const Term& term : terms) {
          entry->program.terms.push_back(
              {static_cast<int64_t>(c), order, term.coefficient,
               std::vector<int64_t>(term.factors.begin(), term.factors.end())});
        }
      }
    }
  }
  return *entry;
}

// Tensor-op versions of the fused loops, for devices without them.
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

// σ's derivatives as polynomials of σ itself, when σ' is one (tanh, sigmoid).
std::optional<std::vector<Poly>> value_polynomials(const std::string& name, int64_t max_order) {
  if (name == "tanh") return derivative_polynomials({1.0, 0.0, -1.0}, static_cast<int>(max_order));
  if (name == "sigmoid") {
    return derivative_polynomials({0.0, 1.0, -1.0}, static_cast<int>(max_order));
  }
  return std::nullopt;
}

// Whether the fused loops run on `t`'s device and this CPU.
bool fused(const Tensor& t) {
  static const bool cpu_has_loops = kernels::available();
  return t.device().is_cpu() && cpu_has_loops;
}

// σ^(m)(z0) for m = 0..orders-1 as the fused loops take them. `value`, when defined, is σ(z0).
kernels::Derivatives derivatives_of(const std::string& name, const Tensor& z0, int64_t orders,
                                    const Tensor& value = Tensor()) {
  kernels::Derivatives d;
  const auto polynomials = value_polynomials(name, orders - 1);
  if (polynomials && fused(z0)) {
    d.polynomials = *polynomials;
    d.value = value.defined() ? value : name == "tanh" ? torch::tanh(z0) : torch::sigmoid(z0);
    return d;
  }
  auto list = activation_derivatives(name, z0, static_cast<int>(orders - 1));
  for (auto& derivative : list) {
    if (!derivative.defined()) derivative = torch::zeros_like(z0);
  }
  d.table = torch::stack(list, 0);
  return d;
}

Tensor activate_layer(const CompiledPlan& compiled, const kernels::Derivatives& d,
                      const Tensor& z) {
  if (!fused(z)) return activate_stacked(compiled.plan, d.table.unbind(0), z);
  Tensor h = at::empty_like(z);
  kernels::faa_di_bruno(compiled.program, d, z, h);
  return h;
}

Tensor activate_layer_adjoint(const CompiledPlan& compiled, const kernels::Derivatives& d,
                              const Tensor& z, const Tensor& g) {
  if (!fused(z)) return activation_backward_stacked(compiled.plan, d.table.unbind(0), z, g);
  Tensor dz = at::empty_like(z);
  kernels::faa_di_bruno_adjoint(compiled.program, d, z, g.contiguous(), dz);
  return dz;
}

// The first Linear layer on the points: the value channel x Wᵀ + b, the first-order channels the
// columns of W (∂x/∂x_i = e_i), the higher ones zero.
Tensor first_layer(const Plan& plan, const Tensor& points, const Tensor& weight,
                   const Tensor& bias) {
  const int64_t n = points.size(0), width = weight.size(0);
  Tensor z = at::empty({static_cast<int64_t>(plan.channels()), n, width}, points.options());
  Tensor z0 = z.select(0, 0);
  at::addmm_out(z0, bias, points, weight.t());
  for (size_t c = 1; c < plan.channels(); ++c) {
    Tensor zc = z.select(0, static_cast<int64_t>(c));
    if (plan.first_order_input(c) >= 0) {
      zc.copy_(weight.select(1, plan.first_order_input(c)).unsqueeze(0).expand({n, width}));
    } else {
      zc.zero_();
    }
  }
  return z;
}

// A Linear layer on stacked channels.
Tensor stacked_layer(const Tensor& h, const Tensor& weight, const Tensor& bias) {
  const int64_t count = h.size(0), n = h.size(1);
  Tensor z = torch::mm(h.reshape({count * n, h.size(2)}), weight.t()).view({count, n, -1});
  z.select(0, 0).add_(bias);
  return z;
}

// What the fused pass needs besides the plan: the network's weights and activations.
struct LayerStack {
  std::vector<Tensor> weights, biases;
  std::string activation, output_activation;
  const std::string& activation_of(size_t layer) const {
    return layer + 1 < weights.size() ? activation : output_activation;
  }
};

// Each layer's Z and H, C x N x width; `input` is the points (C0 = 1) or, with `embedded`, the
// embedded channels (C x N x features).
struct StackedPass {
  std::vector<Tensor> z, h;
};

StackedPass run_stacked(const CompiledPlan& compiled, const LayerStack& stack, const Tensor& input,
                        bool embedded) {
  const int64_t orders = std::max(compiled.plan.max_order, 1) + 1;
  StackedPass pass;
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    const Tensor z =
        l == 0 && !embedded
            ? first_layer(compiled.plan, input, stack.weights[0], stack.biases[0])
            : stacked_layer(l == 0 ? input : pass.h.back(), stack.weights[l], stack.biases[l]);
    const std::string& name = stack.activation_of(l);
    pass.z.push_back(z);
    pass.h.push_back(
        name == "identity"
            ? z
            : activate_layer(compiled, derivatives_of(name, z.select(0, 0), orders), z));
  }
  return pass;
}

// The input of the first Linear layer, stacked: the embedded channels with a Fourier embedding,
// else the points themselves.
Tensor stacked_input(const Plan& plan, const model::Mlp& network, const Tensor& points) {
  if (!network.fourier()) return points;
  return stack_channels(embed(plan, *network.fourier(), input_channels(plan, points)),
                        points.size(0));
}

LayerStack layer_stack(const model::Mlp& network) {
  LayerStack stack;
  for (const auto& layer : network.layers()) {
    stack.weights.push_back(layer->weight);
    stack.biases.push_back(layer->bias);
  }
  stack.activation = network.common_options().activation;
  stack.output_activation = network.common_options().output_activation;
  return stack;
}

// Whether the tiled pass runs an MLP with these activations on `input`: a CPU with the fused
// loops, float32 or float64, activations whose derivatives are polynomials of their value.
bool tiled_supports(const Tensor& input, const std::string& activation,
                    const std::string& output_activation) {
  return fused(input) &&
         (input.scalar_type() == torch::kFloat32 || input.scalar_type() == torch::kFloat64) &&
         tiles::supports_activation(activation) && tiles::supports_activation(output_activation);
}

// The tiled pass's view of the network, when it can run it (tiled_supports).
std::optional<tiles::Network> tiled_network(const CompiledPlan& compiled, const LayerStack& stack,
                                            const Tensor& input, bool embedded) {
  if (!tiled_supports(input, stack.activation, stack.output_activation)) return std::nullopt;
  const int64_t orders = std::max(compiled.plan.max_order, 1) + 1;
  tiles::Network network;
  network.program = &compiled.program;
  network.embedded = embedded;
  for (size_t c = 0; c < compiled.plan.channels(); ++c)
    network.first_order_input.push_back(compiled.plan.first_order_input(c));
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    const std::string& name = stack.activation_of(l);
    tiles::Layer layer{stack.weights[l].contiguous(), stack.biases[l].contiguous(), name, {}, {}};
    if (name != "identity") {
      layer.forward.polynomials = *value_polynomials(name, orders - 1);
      layer.backward.polynomials = *value_polynomials(name, orders);
    }
    network.layers.push_back(std::move(layer));
  }
  return network;
}

class TaylorMlp : public torch::autograd::Function<TaylorMlp> {
 public:
  // inputs: the points (or embedded channels), then weight and bias of every layer; outputs: one
  // N x outputs tensor per channel of the plan, in its order. Saved: the input, the weights, each
  // layer's Z, and H of every layer but the last.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const std::vector<int64_t>& multisets,
                                                const std::string& activation,
                                                const std::string& output_activation, bool embedded,
                                                at::TensorList inputs) {
    const CompiledPlan& compiled = compiled_plan(multisets);
    LayerStack stack{{}, {}, activation, output_activation};
    for (size_t i = 1; i + 1 < inputs.size(); i += 2) {
      stack.weights.push_back(inputs[i]);
      stack.biases.push_back(inputs[i + 1]);
    }
    ctx->saved_data["multisets"] = multisets;
    ctx->saved_data["activation"] = activation;
    ctx->saved_data["output_activation"] = output_activation;
    ctx->saved_data["embedded"] = embedded;
    ctx->set_materialize_grads(false);
    if (const auto tiled = tiled_network(compiled, stack, inputs[0], embedded)) {
      // The tiled pass recomputes its layers in the backward pass: only the parameters are kept.
      ctx->saved_data["tiled"] = true;
      ctx->save_for_backward(std::vector<Tensor>(inputs.begin(), inputs.end()));
      return unstack(tiles::forward(*tiled, inputs[0].contiguous()));
    }
    ctx->saved_data["tiled"] = false;
    const StackedPass pass = run_stacked(compiled, stack, inputs[0], embedded);
    std::vector<Tensor> saved = {inputs[0]};
    saved.insert(saved.end(), stack.weights.begin(), stack.weights.end());
    saved.insert(saved.end(), pass.z.begin(), pass.z.end());
    saved.insert(saved.end(), pass.h.begin(), pass.h.end() - 1);
    ctx->save_for_backward(saved);
    return unstack(pass.h.back());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // The plan is cached (a reference into the cache); the key is held in a named vector so that
    // GCC 13's -Wdangling-reference does not take the reference for one into the temporary.
    const std::vector<int64_t> multisets = ctx->saved_data["multisets"].toIntVector();
    const CompiledPlan& compiled = compiled_plan(multisets);
    const auto saved = ctx->get_saved_variables();
    const bool embedded = ctx->saved_data["embedded"].toBool();
    if (ctx->saved_data["tiled"].toBool()) return tiled_backward(ctx, compiled, saved, grads);
    const size_t layers = saved.size() / 3;  // 1 + L weights + L Z's + (L - 1) H's
    LayerStack stack;
    stack.weights.assign(saved.begin() + 1, saved.begin() + 1 + static_cast<ptrdiff_t>(layers));
    stack.activation = ctx->saved_data["activation"].toStringRef();
    stack.output_activation = ctx->saved_data["output_activation"].toStringRef();
    const auto z_of = [&](size_t l) { return saved[1 + layers + l]; };
    const auto h_of = [&](size_t l) { return saved[1 + 2 * layers + l]; };
    const Tensor& input = saved[0];
    const int64_t orders = std::max(compiled.plan.max_order, 1) + 2;

    std::vector<Tensor> g_list(grads.begin(), grads.end());
    for (auto& grad : g_list) {
      if (!grad.defined()) grad = torch::zeros_like(z_of(layers - 1).select(0, 0));
    }
    Tensor g = torch::stack(g_list, 0);
    torch::autograd::variable_list result(1 + 2 * layers);
    for (size_t l = layers; l-- > 0;) {
      const Tensor& z = z_of(l);
      const std::string& name = stack.activation_of(l);
      const Tensor value = l + 1 < layers ? h_of(l).select(0, 0) : Tensor();
      const Tensor dz =
          name == "identity"
              ? g.contiguous()
              : activate_layer_adjoint(compiled,
                                       derivatives_of(name, z.select(0, 0), orders, value), z, g);
      const Tensor& weight = stack.weights[l];
      const int64_t count = dz.size(0), n = dz.size(1);
      const Tensor dz0 = dz.select(0, 0);
      result[2 + 2 * l] = dz0.sum(0);
      if (l == 0 && !embedded) {
        // The first layer: dW = dZ_0ᵀ x + Σ over first-order channels e_i of Σ_n dZ_c.
        Tensor dweight = torch::mm(dz0.t(), input);
        for (size_t c = 1; c < compiled.plan.multisets.size(); ++c) {
          const auto& multiset = compiled.plan.multisets[c];
          if (multiset.size() == 1) {
            dweight.select(1, multiset[0]).add_(dz.select(0, static_cast<int64_t>(c)).sum(0));
          }
        }
        result[1] = dweight;
        if (ctx->needs_input_grad(0)) result[0] = torch::mm(dz0, weight);
        break;
      }
      const Tensor dz_flat = dz.view({count * n, dz.size(2)});
      const Tensor& a = l == 0 ? input : h_of(l - 1);
      result[1 + 2 * l] = torch::mm(dz_flat.t(), a.reshape({count * n, a.size(2)}));
      if (l > 0 || ctx->needs_input_grad(0)) {
        g = torch::mm(dz_flat, weight).view({count, n, weight.size(1)});
      }
      if (l == 0 && ctx->needs_input_grad(0)) result[0] = g;  // to the embedding
    }
    // No gradients for the plan, the activation names and the flag that precede the tensors.
    result.insert(result.begin(), 4, Tensor());
    return result;
  }

 private:
  // One N x outputs tensor per channel of C x N x outputs.
  static torch::autograd::variable_list unstack(const Tensor& channels) {
    torch::autograd::variable_list outputs;
    for (int64_t c = 0; c < channels.size(0); ++c)
      outputs.push_back(channels.select(0, c).clone());
    return outputs;
  }

  // The backward pass of the tiled forward pass; `saved` holds the input and every layer's weight
  // and bias, in the order of the Function's inputs.
  static torch::autograd::variable_list tiled_backward(
      torch::autograd::AutogradContext* ctx, const CompiledPlan& compiled,
      const torch::autograd::variable_list& saved, const torch::autograd::variable_list& grads) {
    LayerStack stack;
    stack.activation = ctx->saved_data["activation"].toStringRef();
    stack.output_activation = ctx->saved_data["output_activation"].toStringRef();
    for (size_t i = 1; i + 1 < saved.size(); i += 2) {
      stack.weights.push_back(saved[i]);
      stack.biases.push_back(saved[i + 1]);
    }
    const Tensor& input = saved[0];
    const bool embedded = ctx->saved_data["embedded"].toBool();
    const auto network = tiled_network(compiled, stack, input, embedded);
    TORCH_CHECK(network, "taylor: the tiled pass no longer applies to its saved network");
    const int64_t n = embedded ? input.size(1) : input.size(0);
    const Tensor zero = torch::zeros({n, stack.weights.back().size(0)}, input.options());
    std::vector<Tensor> g_list;
    for (const auto& grad : grads)
      g_list.push_back(grad.defined() ? grad : zero);
    const tiles::Gradients gradients = tiles::backward(
        *network, input.contiguous(), torch::stack(g_list, 0), ctx->needs_input_grad(0));
    torch::autograd::variable_list result(4);  // the plan, the names and the flag
    result.push_back(gradients.input);
    for (size_t l = 0; l < gradients.weights.size(); ++l) {
      result.push_back(gradients.weights[l]);
      result.push_back(gradients.biases[l]);
    }
    return result;
  }
};

// Where `channel` sits among the plan's stacked channels (0: the value).
size_t stacked_index(const Plan& plan, const expr::Channel& channel) {
  if (channel.order() == 0) return 0;
  return channel.laplacian.empty() ? plan.index.at(channel.wrt)
                                   : plan.laplacian_index.at(channel.laplacian);
}

ChannelMap channel_map(const Plan& plan, const std::vector<Tensor>& outputs,
                       const std::set<expr::Channel>& channels) {
  ChannelMap result = value_channels(outputs[0]);
  for (const auto& channel : channels) {
    if (channel.order() == 0) continue;
    result[channel] = outputs[stacked_index(plan, channel)].select(1, channel.output);
  }
  return result;
}

ChannelMap propagate(const model::Mlp& network, const Tensor& points,
                     const std::set<expr::Channel>& channels, bool create_graph) {
  const auto flat = plan_key(channels);
  const CompiledPlan& compiled = compiled_plan(flat);
  const LayerStack stack = layer_stack(network);
  const bool embedded = network.fourier() != nullptr;
  if (!create_graph) {
    const torch::NoGradGuard no_grad;
    const Tensor input = stacked_input(compiled.plan, network, points);
    const auto tiled = tiled_network(compiled, stack, input, embedded);
    const Tensor output = tiled ? tiles::forward(*tiled, input.contiguous())
                                : run_stacked(compiled, stack, input, embedded).h.back();
    return channel_map(compiled.plan, output.unbind(0), channels);
  }
  // The embedding is ordinary autograd ops: gradients reach a trainable B (and the points)
  // through the gradient TaylorMlp returns for its input.
  const Tensor input = stacked_input(compiled.plan, network, points);
  torch::autograd::variable_list inputs = {input};
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    inputs.push_back(stack.weights[l]);
    inputs.push_back(stack.biases[l]);
  }
  const auto outputs = TaylorMlp::apply(flat, stack.activation, stack.output_activation, embedded,
                                        at::TensorList(inputs));
  return channel_map(compiled.plan, outputs, channels);
}

// ---- ResNet and the modified MLP: channels as tensors, autograd's backward ----
//
// Their layers are the MLP's (Linear, σ) plus sums of hidden states and, in the modified MLP,
// products of two, whose channels follow the Leibniz rule. Everything is ordinary differentiable
// tensor ops on the channels, so the weight gradient is autograd's first-order backward pass
// over them (no nested graph either); the hand-written backward pass is the MLP's alone.

// A Linear layer on every channel, the bias on the value only.
Channels linear_channels(const Channels& x, const torch::nn::Linear& layer) {
  Channels z(x.size());
  const Tensor weight_t = layer->weight.t();
  z[0] = torch::addmm(layer->bias, x[0], weight_t);
  for (size_t c = 1; c < x.size(); ++c) {
    if (x[c].defined()) z[c] = torch::mm(x[c], weight_t);
  }
  return z;
}

// a + sign * b on every channel.
Channels add_channels(const Channels& a, const Channels& b, double sign = 1.0) {
  Channels sum(a.size());
  for (size_t c = 0; c < a.size(); ++c) {
    sum[c] = add_defined(a[c], b[c].defined() ? scaled(b[c], sign) : Tensor());
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
      sum = add_defined(sum, product.defined() ? scaled(product, 2.0) : Tensor());
    }
    h[c] = sum;
  }
  return h;
}

Channels resnet_channels(const Plan& plan, const model::ResNet& network, const Channels& x) {
  const std::string& activation = network.common_options().activation;
  Channels h = linear_channels(x, network.input_layer());
  for (const auto& block : network.blocks()) {
    const Channels inner = activate(plan, activation, linear_channels(h, block.first));
    h = add_channels(h, activate(plan, activation, linear_channels(inner, block.second)));
  }
  return activate(plan, network.common_options().output_activation,
                  linear_channels(h, network.output_layer()));
}

// H_{k+1} = (1 - Z_k) U + Z_k V, taken as U + Z_k (V - U).
Channels modified_mlp_channels(const Plan& plan, const model::ModifiedMlp& network,
                               const Channels& x) {
  const std::string& activation = network.common_options().activation;
  const Channels u = activate(plan, activation, linear_channels(x, network.encoder_u()));
  const Channels v = activate(plan, activation, linear_channels(x, network.encoder_v()));
  const Channels v_minus_u = add_channels(v, u, -1.0);
  const auto& layers = network.layers();
  Channels h = activate(plan, activation, linear_channels(x, layers.front()));
  for (size_t k = 1; k + 1 < layers.size(); ++k) {
    const Channels z = activate(plan, activation, linear_channels(h, layers[k]));
    h = add_channels(u, multiply_channels(plan, z, v_minus_u));
  }
  return activate(plan, network.common_options().output_activation,
                  linear_channels(h, layers.back()));
}

ChannelMap propagate_as_tensors(const model::FeedForwardNetwork& network, const Tensor& points,
                                const std::set<expr::Channel>& channels, bool create_graph) {
  const Plan& plan = compiled_plan(plan_key(channels)).plan;
  std::optional<torch::NoGradGuard> no_grad;
  if (!create_graph) no_grad.emplace();
  Channels x = input_channels(plan, points);
  if (network.fourier()) x = embed(plan, *network.fourier(), x);
  const auto* resnet = dynamic_cast<const model::ResNet*>(&network);
  const Channels out =
      resnet ? resnet_channels(plan, *resnet, x)
             : modified_mlp_channels(plan, dynamic_cast<const model::ModifiedMlp&>(network), x);
  // Broadcast rows and vanishing channels become N x outputs, as channel_map expects.
  const std::vector<int64_t> shape = {points.size(0), out[0].size(1)};
  std::vector<Tensor> outputs;
  for (const auto& channel : out)
    outputs.push_back(channel.defined() ? channel.expand(shape)
                                        : torch::zeros(shape, out[0].options()));
  return channel_map(plan, outputs, channels);
}

// Whether the tiled pass runs `network` at `points` (see tiled_network).
bool tiled_applies(const model::Mlp& network, const Tensor& points) {
  const auto& options = network.common_options();
  return tiled_supports(points, options.activation, options.output_activation);
}

}  // namespace

std::string taylor_unsupported_reason(const model::Network& network) {
  if (const auto* transformed = dynamic_cast<const model::TransformedNetwork*>(&network)) {
    return taylor_unsupported_reason(transformed->raw());  // see transform_jets
  }
  const auto* feed_forward = dynamic_cast<const model::FeedForwardNetwork*>(&network);
  if (!dynamic_cast<const model::Mlp*>(&network) && !dynamic_cast<const model::ResNet*>(&network) &&
      !dynamic_cast<const model::ModifiedMlp*>(&network)) {
    return "only mlp, resnet and modified_mlp networks are supported";
  }
  for (const auto& name : {feed_forward->common_options().activation,
                           feed_forward->common_options().output_activation}) {
    if (!has_rules(name)) return "no Taylor rules for activation '" + name + "'";
  }
  return "";
}

std::optional<TiledSetup> tiled_setup(const model::Network& network, const torch::Tensor& points,
                                      const std::set<expr::Channel>& channels) {
  const auto* mlp = dynamic_cast<const model::Mlp*>(&network);
  if (mlp == nullptr || !taylor_unsupported_reason(network).empty() ||
      !tiled_applies(*mlp, points)) {
    return std::nullopt;
  }
  const std::vector<int64_t> key = plan_key(channels);
  const CompiledPlan& compiled = compiled_plan(key);
  const LayerStack stack = layer_stack(*mlp);
  const bool embedded = mlp->fourier() != nullptr;
  TiledSetup setup;
  setup.input = stacked_input(compiled.plan, *mlp, points);
  auto tiled = tiled_network(compiled, stack, setup.input, embedded);
  if (!tiled) return std::nullopt;
  setup.network = std::move(*tiled);
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    setup.parameters.push_back(stack.weights[l]);
    setup.parameters.push_back(stack.biases[l]);
  }
  for (const auto& channel : channels) {
    const auto c = static_cast<int64_t>(stacked_index(compiled.plan, channel));
    setup.slots[channel] = {c, channel.output};
  }
  return setup;
}

bool TaylorEngine::sums_laplacians(const model::Network& network,
                                   const std::set<expr::Channel>&) const {
  // Propagated as one channel; the fallback engine's compute() sums their terms. Through an
  // output transform they are summed from their terms, which transform_jets differentiates.
  return dynamic_cast<const model::TransformedNetwork*>(&network) == nullptr;
}

ChannelMap TaylorEngine::compute_channels(model::Network& network, const torch::Tensor& points,
                                          const std::set<expr::Channel>& channels,
                                          bool create_graph) {
  const std::string reason = taylor_unsupported_reason(network);
  if (auto* transformed = dynamic_cast<model::TransformedNetwork*>(&network);
      transformed != nullptr && reason.empty()) {
    const ChannelMap raw = compute_channels(transformed->raw(), points,
                                            raw_channels_for(*transformed, channels), create_graph);
    return transform_channels(*transformed, points, raw, channels, create_graph);
  }
  bool derivatives = false;
  for (const auto& channel : channels)
    derivatives |= channel.order() > 0;
  if (!derivatives) {
    // Values alone: the tiled pass still beats LibTorch's layer-by-layer ops and their graph.
    const auto* mlp = dynamic_cast<const model::Mlp*>(&network);
    if (mlp != nullptr && reason.empty() && tiled_applies(*mlp, points)) {
      return propagate(*mlp, points, channels, create_graph);
    }
    return value_channels(network.forward(points));
  }
  if (!reason.empty()) {
    if (!warned_) {
      spdlog::warn("taylor derivatives: {}; using the forward engine instead", reason);
      warned_ = true;
    }
    return fallback_.compute(network, points, channels, create_graph);
  }
  if (const auto* mlp = dynamic_cast<const model::Mlp*>(&network)) {
    return propagate(*mlp, points, channels, create_graph);
  }
  return propagate_as_tensors(dynamic_cast<const model::FeedForwardNetwork&>(network), points,
                              channels, create_graph);
}

}  // namespace pinn::derivatives
