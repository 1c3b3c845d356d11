// softplus(z) = log(1 + e^z), whose derivative is the sigmoid.
#include "model/activation.hpp"
#include "model/activations/any_order.hpp"
#include "model/activations/sigmoid.hpp"

namespace pinn::model {

namespace {

// torch::softplus is linear above its threshold (20), and so are its derivatives there.
std::vector<torch::Tensor> softplus_derivatives(const torch::Tensor& z, int max_order) {
  const auto s = sigmoid_derivatives_of_value(torch::sigmoid(z), max_order - 1);
  const torch::Tensor linear = z > 20.0;
  std::vector<torch::Tensor> d = {torch::softplus(z)};
  for (int k = 1; k <= max_order; ++k) {
    const torch::Tensor& sk = s[static_cast<size_t>(k - 1)];
    d.push_back(torch::where(linear, torch::full_like(z, k == 1 ? 1.0 : 0.0), sk));
  }
  return d;
}

}  // namespace

Activation softplus_activation() {
  const auto apply = [](const torch::Tensor& z) { return torch::softplus(z); };
  return {ActivationKind::softplus, "softplus", apply, kAnyOrder, softplus_derivatives, {}};
}

}  // namespace pinn::model
