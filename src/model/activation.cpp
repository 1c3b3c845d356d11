// The activation table.
#include "model/activation.hpp"

#include <cmath>
#include <map>

namespace pinn::model {

namespace {

torch::Tensor identity(const torch::Tensor& x) {
  return x;
}
torch::Tensor tanh_fn(const torch::Tensor& x) {
  return torch::tanh(x);
}
torch::Tensor sigmoid_fn(const torch::Tensor& x) {
  return torch::sigmoid(x);
}
torch::Tensor sin_fn(const torch::Tensor& x) {
  return torch::sin(x);
}
torch::Tensor relu_fn(const torch::Tensor& x) {
  return torch::relu(x);
}
torch::Tensor softplus_fn(const torch::Tensor& x) {
  return torch::softplus(x);
}
torch::Tensor silu_fn(const torch::Tensor& x) {
  return x * torch::sigmoid(x);
}
// The exact (erf) GELU written out: every engine differentiates erf to any order.
torch::Tensor gelu_fn(const torch::Tensor& x) {
  return 0.5 * x * (1.0 + torch::erf(x * M_SQRT1_2));
}

const std::map<std::string, Activation>& table() {
  constexpr int kAnyOrder = 1 << 20;
  static const std::map<std::string, Activation> activations = {
      {"identity", {"identity", identity, kAnyOrder}},
      {"tanh", {"tanh", tanh_fn, kAnyOrder}},
      {"sigmoid", {"sigmoid", sigmoid_fn, kAnyOrder}},
      {"sin", {"sin", sin_fn, kAnyOrder}},
      {"softplus", {"softplus", softplus_fn, kAnyOrder}},
      {"silu", {"silu", silu_fn, kAnyOrder}},
      {"gelu", {"gelu", gelu_fn, kAnyOrder}},
      {"relu", {"relu", relu_fn, 1}},
  };
  return activations;
}

}  // namespace

const Activation& activation(const std::string& name) {
  return table().at(name);
}

std::vector<std::string> activation_names() {
  std::vector<std::string> names;
  for (const auto& entry : table())
    names.push_back(entry.first);
  return names;
}

}  // namespace pinn::model
