// Activation functions by name. Each is written with differentiable LibTorch ops so that every
// derivative engine (reverse, forward-mode, nested) can take derivatives of any order through it.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace pinn::model {

using ActivationFunction = torch::Tensor (*)(const torch::Tensor&);

struct Activation {
  std::string name;
  ActivationFunction apply;
  // Highest derivative order that is not identically zero almost everywhere; relu's second
  // derivative vanishes, so asking for u_xx through relu trains nothing.
  int smooth_orders;
};

// The activation called `name`; `identity` is included. Throws std::out_of_range when unknown.
const Activation& activation(const std::string& name);
std::vector<std::string> activation_names();

}  // namespace pinn::model
