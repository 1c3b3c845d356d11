// The logistic sigmoid's derivatives, which softplus and silu are built from too.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace pinn::model {

// sigmoid^(k)(z), k = 0..max_order, from s = sigmoid(z): s' = s(1 - s), so each is a polynomial
// of s.
std::vector<torch::Tensor> sigmoid_derivatives_of_value(const torch::Tensor& s, int max_order);

}  // namespace pinn::model
