// The expression language's functions (sin, exp, ...), on numbers (constant folding) and on
// tensors (evaluation), from one table.
#pragma once

#include <torch/torch.h>

#include <string>

namespace pinn::expr {

bool is_function(const std::string& name);
double apply_function(const std::string& name, double x);
torch::Tensor apply_function(const std::string& name, const torch::Tensor& x);

}  // namespace pinn::expr
