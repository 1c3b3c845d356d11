// The expression language's functions (sin, exp, ...): one record each, registered in one table,
// that says what the function is on numbers (constant folding), on tensors (evaluation) and in the
// pointwise program (the fused loss).
#pragma once

#include <torch/torch.h>

#include <string>

#include "util/registry.hpp"

namespace pinn::expr {

// The functions as the pointwise program's instructions name them (pointwise.cpp has their rules).
enum class PointwiseFunction { sin, cos, tan, exp, log, sqrt, abs, tanh, sinh, cosh };

struct Function {
  double (*on_number)(double);
  torch::Tensor (*on_tensor)(const torch::Tensor&);
  PointwiseFunction pointwise;
};

const Registry<Function>& functions();

bool is_function(const std::string& name);
double apply_function(const std::string& name, double x);
torch::Tensor apply_function(const std::string& name, const torch::Tensor& x);

}  // namespace pinn::expr
