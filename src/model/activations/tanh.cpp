// tanh, whose derivative 1 - tanh² is a polynomial of its value.
#include "model/activation.hpp"
#include "model/activations/any_order.hpp"

namespace pinn::model {

namespace {

// σ' = 1 - t² =: s, σ'' = -2ts, σ^(3) = s(6t² - 2), σ^(4) = ts(16 - 24t²), then P_k(t).
std::vector<torch::Tensor> tanh_derivatives(const torch::Tensor& z, int max_order) {
  const torch::Tensor t = torch::tanh(z);
  std::vector<torch::Tensor> d = {t};
  if (max_order < 1) return d;
  const torch::Tensor t2 = t * t;
  const torch::Tensor s = 1.0 - t2;
  d.push_back(s);
  torch::Tensor ts;
  if (max_order >= 2) {
    ts = t * s;
    d.push_back(ts * -2.0);
  }
  if (max_order >= 3) d.push_back(s * (t2 * 6.0 - 2.0));
  if (max_order >= 4) d.push_back(ts * (16.0 - t2 * 24.0));
  if (max_order >= 5) {
    const auto polys = derivative_polynomials({1.0, 0.0, -1.0}, max_order);
    for (int k = 5; k <= max_order; ++k)
      d.push_back(evaluate(polys[static_cast<size_t>(k)], t));
  }
  return d;
}

}  // namespace

Activation tanh_activation() {
  const auto apply = [](const torch::Tensor& z) { return torch::tanh(z); };
  return {ActivationKind::tanh, "tanh", apply, kAnyOrder, tanh_derivatives, {1.0, 0.0, -1.0}};
}

}  // namespace pinn::model
