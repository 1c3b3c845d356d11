// silu(z) = z sigmoid(z) (swish).
#include "model/activation.hpp"
#include "model/activations/any_order.hpp"
#include "model/activations/sigmoid.hpp"

namespace pinn::model {

namespace {

// (z s)^(k) = z s^(k) + k s^(k-1)
std::vector<torch::Tensor> silu_derivatives(const torch::Tensor& z, int max_order) {
  const auto s = sigmoid_derivatives_of_value(torch::sigmoid(z), max_order);
  std::vector<torch::Tensor> d = {z * s[0]};
  for (int k = 1; k <= max_order; ++k) {
    const auto ku = static_cast<size_t>(k);
    d.push_back(z * s[ku] + scaled(s[ku - 1], k));
  }
  return d;
}

}  // namespace

Activation silu_activation() {
  const auto apply = [](const torch::Tensor& z) { return z * torch::sigmoid(z); };
  return {ActivationKind::silu, "silu", apply, kAnyOrder, silu_derivatives, {}};
}

}  // namespace pinn::model
