// sigmoid(z) = 1 / (1 + e^-z), whose derivative s(1 - s) is a polynomial of its value s.
#include "model/activations/sigmoid.hpp"

#include "model/activation.hpp"
#include "model/activations/any_order.hpp"

namespace pinn::model {

std::vector<torch::Tensor> sigmoid_derivatives_of_value(const torch::Tensor& s, int max_order) {
  const auto polys = derivative_polynomials({0.0, 1.0, -1.0}, max_order);
  std::vector<torch::Tensor> d = {s};
  for (int k = 1; k <= max_order; ++k)
    d.push_back(evaluate(polys[static_cast<size_t>(k)], s));
  return d;
}

Activation sigmoid_activation() {
  const auto apply = [](const torch::Tensor& z) { return torch::sigmoid(z); };
  const auto derivatives = [](const torch::Tensor& z, int max_order) {
    return sigmoid_derivatives_of_value(torch::sigmoid(z), max_order);
  };
  return {ActivationKind::sigmoid, "sigmoid", apply, kAnyOrder, derivatives, {0.0, 1.0, -1.0}};
}

}  // namespace pinn::model
