// The activation registry, made from the list in model/activations/list.hpp.
#include "model/activation.hpp"

#include "util/registry.hpp"

namespace pinn::model {

namespace {

const Registry<Activation>& registry() {
  static const Registry<Activation> activations = [] {
    Registry<Activation> table("activation");
#define PINN_ACTIVATION_ENTRY(name) table.add(#name, name##_activation());
    PINN_ACTIVATIONS(PINN_ACTIVATION_ENTRY)
#undef PINN_ACTIVATION_ENTRY
    return table;
  }();
  return activations;
}

}  // namespace

std::vector<Polynomial> Activation::value_polynomials(int max_order) const {
  TORCH_CHECK(has_value_polynomials(), "activation '", name, "' has no value polynomials");
  return derivative_polynomials(value_derivative, max_order);
}

const Activation& activation(const std::string& name, const std::string& where) {
  return registry().get(name, where);
}

const Activation& activation(ActivationKind kind) {
  for (const auto& entry : registry().entries()) {
    if (entry.second.kind == kind) return entry.second;
  }
  throw std::logic_error("an activation kind without a record");
}

std::vector<std::string> activation_names() {
  return registry().names();
}

std::vector<torch::Tensor> sine_derivatives(const torch::Tensor& z, int max_order, bool cosine) {
  const torch::Tensor s = torch::sin(z), c = torch::cos(z);
  const torch::Tensor cycle[] = {s, c, -s, -c};
  std::vector<torch::Tensor> d;
  for (int k = 0; k <= max_order; ++k)
    d.push_back(cycle[(k + (cosine ? 1 : 0)) % 4]);
  return d;
}

}  // namespace pinn::model
