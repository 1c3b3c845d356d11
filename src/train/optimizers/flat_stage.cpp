// The flattened view of the trainables and the stage's objective on it.
#include "train/optimizers/flat_stage.hpp"

#include <algorithm>

namespace pinn::train {

namespace {

constexpr const char* kStrongWolfe = "strong_wolfe";

}  // namespace

std::string read_line_search(config::Reader& reader, const std::string& fallback) {
  return reader.choice("line_search", {kStrongWolfe, "none"}, fallback);
}

bool uses_line_search(const std::string& line_search) {
  return line_search == kStrongWolfe;
}

FlatStage::FlatStage(const std::string& name, LossTransform objective, bool cuda_graph,
                     std::vector<torch::Tensor> parameters)
    : objective_(objective),
      graphed_(use_cuda_graph(cuda_graph, parameters, name)),
      device_(parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device()),
      parameters_(std::move(parameters)) {}

void FlatStage::forget_capture(bool new_shapes) {
  if (new_shapes) runner_.reset();
}

std::vector<double> FlatStage::flatten() const {
  std::vector<double> flat;
  for (const auto& tensor : parameters_) {
    const torch::Tensor values = tensor.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    flat.insert(flat.end(), values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
  }
  return flat;
}

void FlatStage::unflatten(const std::vector<double>& x) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& parameter : parameters_) {
    const int64_t n = parameter.numel();
    const torch::Tensor values = torch::from_blob(const_cast<double*>(x.data()) + offset,
                                                  parameter.sizes(), torch::kFloat64);
    parameter.copy_(values);
    offset += n;
  }
}

double FlatStage::loss_and_gradient(const std::vector<double>& x, std::vector<double>& gradient,
                                    const LossAndGradient& closure) {
  unflatten(x);
  torch::Tensor loss;
  if (graphed_) {
    runner_.run([&] { graphed_loss_ = closure(); }, device_);
    loss = graphed_loss_;
  } else {
    loss = closure();
  }
  const auto [value, factor] = transformed(objective_, loss.item<double>());
  int64_t offset = 0;
  for (const auto& parameter : parameters_) {
    const int64_t n = parameter.numel();
    const torch::Tensor& grad = parameter.grad();
    if (grad.defined()) {
      const torch::Tensor values = grad.detach().to(torch::kCPU, torch::kFloat64).contiguous();
      const double* data = values.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i)
        gradient[static_cast<size_t>(offset + i)] = factor * data[i];
    } else {
      std::fill(gradient.begin() + offset, gradient.begin() + offset + n, 0.0);
    }
    offset += n;
  }
  return value;
}

}  // namespace pinn::train
