// The function table: every function of the language, once.
#include "expr/functions.hpp"

#include <cmath>

namespace pinn::expr {

const Registry<Function>& functions() {
  static const Registry<Function> table{
      "function",
      {
          {"sin",
           {[](double x) { return std::sin(x); },
            [](const torch::Tensor& t) { return torch::sin(t); }, PointwiseFunction::sin}},
          {"cos",
           {[](double x) { return std::cos(x); },
            [](const torch::Tensor& t) { return torch::cos(t); }, PointwiseFunction::cos}},
          {"tan",
           {[](double x) { return std::tan(x); },
            [](const torch::Tensor& t) { return torch::tan(t); }, PointwiseFunction::tan}},
          {"exp",
           {[](double x) { return std::exp(x); },
            [](const torch::Tensor& t) { return torch::exp(t); }, PointwiseFunction::exp}},
          {"log",
           {[](double x) { return std::log(x); },
            [](const torch::Tensor& t) { return torch::log(t); }, PointwiseFunction::log}},
          {"sqrt",
           {[](double x) { return std::sqrt(x); },
            [](const torch::Tensor& t) { return torch::sqrt(t); }, PointwiseFunction::sqrt}},
          {"abs",
           {[](double x) { return std::abs(x); },
            [](const torch::Tensor& t) { return torch::abs(t); }, PointwiseFunction::abs}},
          {"tanh",
           {[](double x) { return std::tanh(x); },
            [](const torch::Tensor& t) { return torch::tanh(t); }, PointwiseFunction::tanh}},
          {"sinh",
           {[](double x) { return std::sinh(x); },
            [](const torch::Tensor& t) { return torch::sinh(t); }, PointwiseFunction::sinh}},
          {"cosh",
           {[](double x) { return std::cosh(x); },
            [](const torch::Tensor& t) { return torch::cosh(t); }, PointwiseFunction::cosh}},
      }};
  return table;
}

bool is_function(const std::string& name) {
  return functions().contains(name);
}

double apply_function(const std::string& name, double x) {
  return functions().get(name).on_number(x);
}

torch::Tensor apply_function(const std::string& name, const torch::Tensor& x) {
  return functions().get(name).on_tensor(x);
}

}  // namespace pinn::expr
