// The fused loss: the terms as a TileLoss for the tiled pass, and the autograd Function that
// hands its weight gradient to the rest of the loss.
#include "derivatives/fused_loss.hpp"

#include <algorithm>
#include <utility>

#include "derivatives/taylor_engine.hpp"

namespace pinn::derivatives {

namespace {

using torch::Tensor;

// The terms on one point set, evaluated tile by tile: each term's program reads its channels
// where the tile's last layer holds them.
class ProgramLoss : public tiles::TileLoss {
 public:
  ProgramLoss(const TiledSetup& setup, const Tensor& points,
              const std::map<std::string, Tensor>& fields, const std::vector<FusedTerm>& terms)
      : points_(points.contiguous()), count_(points.size(0)) {
    for (const auto& term : terms) {
      Bound bound{
          term.program, term.weight / static_cast<double>(std::max<int64_t>(count_, 1)), {}, {}};
      for (const auto& channel : term.program->channels()) {
        const auto& [c, output] = setup.slots.at(channel);
        bound.channel_offsets.push_back({c, output});
      }
      for (const auto& name : term.program->fields())
        bound.fields.push_back(fields.at(name).contiguous());
      terms_.push_back(std::move(bound));
    }
  }

  int64_t terms() const override { return static_cast<int64_t>(terms_.size()); }
  void tile(int64_t t0, int64_t n, const float* channels, int64_t ld, float* seed,
            double* sums) const override {
    run(t0, n, channels, ld, seed, sums);
  }
  void tile(int64_t t0, int64_t n, const double* channels, int64_t ld, double* seed,
            double* sums) const override {
    run(t0, n, channels, ld, seed, sums);
  }

 private:
  struct Bound {
    const expr::PointwiseProgram* program;
    double scale;                                              // weight / N
    std::vector<std::pair<int64_t, int64_t>> channel_offsets;  // stacked index, output
    std::vector<Tensor> fields;
  };

  template <typename T>
  void run(int64_t t0, int64_t n, const T* channels, int64_t ld, T* seed, double* sums) const {
    const int64_t dims = points_.size(1);
    expr::TileLeaves<T> leaves;
    leaves.n = n;
    leaves.points = points_.data_ptr<T>() + t0 * dims;
    leaves.dims = dims;
    leaves.channel_stride = ld;
    std::vector<T*> adjoints;
    for (size_t k = 0; k < terms_.size(); ++k) {
      const Bound& term = terms_[k];
      leaves.channels.clear();
      adjoints.clear();
      for (const auto& [c, output] : term.channel_offsets) {
        leaves.channels.push_back(channels + c * n * ld + output);
        if (seed) adjoints.push_back(seed + c * n * ld + output);
      }
      leaves.fields.clear();
      for (const auto& field : term.fields)
        leaves.fields.push_back(field.data_ptr<T>() + t0);
      sums[k] += term.scale * term.program->squares(leaves, term.scale, seed ? &adjoints : nullptr);
    }
  }

  Tensor points_;
  int64_t count_;
  std::vector<Bound> terms_;
};

// inputs: the pass's input, then every layer's weight and bias. Outputs: the total (scalar) and
// each term's value (not differentiable). The gradient is computed in the forward pass and
// scaled in the backward pass.
class FusedSquares : public torch::autograd::Function<FusedSquares> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const ProgramLoss* loss,
                                                const tiles::Network* network, bool input_gradient,
                                                at::TensorList inputs) {
    const Tensor& input = inputs[0];
    tiles::FusedResult result =
        tiles::fused(*network, input.contiguous(), *loss, /*gradient=*/true, input_gradient);
    std::vector<Tensor> saved = {result.gradients.input};
    for (size_t l = 0; l < result.gradients.weights.size(); ++l) {
      saved.push_back(result.gradients.weights[l]);
      saved.push_back(result.gradients.biases[l]);
    }
    ctx->saved_data["input_gradient"] = input_gradient;
    ctx->save_for_backward(saved);
    auto [total, terms] = values_of(result.terms, input.options());
    ctx->mark_non_differentiable({terms});
    return {total, terms};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& scale = grads[0];
    // The loss is usually differentiated as it is (a scale of 1): then the gradients go as saved.
    const bool unscaled = scale.numel() == 1 && scale.item<double>() == 1.0;
    const auto scaled = [&](const Tensor& gradient) {
      return unscaled || !gradient.defined() ? gradient : gradient * scale;
    };
    torch::autograd::variable_list result(3);  // the loss, the network, the flag
    result.push_back(ctx->saved_data["input_gradient"].toBool() ? scaled(saved[0]) : Tensor());
    for (size_t i = 1; i < saved.size(); ++i)
      result.push_back(scaled(saved[i]));
    return result;
  }

  // The total and the terms as tensors of the input's dtype (summed in double).
  static std::pair<Tensor, Tensor> values_of(const std::vector<double>& sums,
                                             const torch::TensorOptions& options) {
    const auto cpu = torch::TensorOptions().dtype(torch::kFloat64);
    Tensor terms = torch::empty({static_cast<int64_t>(sums.size())}, cpu);
    std::copy(sums.begin(), sums.end(), terms.data_ptr<double>());
    double total = 0;
    for (double value : sums)
      total += value;
    return {torch::scalar_tensor(total, options), terms.to(options)};
  }
};

std::set<expr::Channel> channels_of(const std::vector<FusedTerm>& terms) {
  std::set<expr::Channel> channels = {expr::Channel(0, {})};
  for (const auto& term : terms)
    channels.insert(term.program->channels().begin(), term.program->channels().end());
  return channels;
}

}  // namespace

std::optional<FusedValues> fused_squares(const model::Network& network, const torch::Tensor& points,
                                         const std::map<std::string, torch::Tensor>& fields,
                                         const std::vector<FusedTerm>& terms, bool for_training) {
  const auto setup = tiled_setup(network, points, channels_of(terms));
  if (!setup) return std::nullopt;
  const ProgramLoss loss(*setup, points, fields, terms);
  Tensor total, term_values;
  if (for_training) {
    torch::autograd::variable_list inputs = {setup->input};
    inputs.insert(inputs.end(), setup->parameters.begin(), setup->parameters.end());
    const auto outputs = FusedSquares::apply(&loss, &setup->network, setup->input.requires_grad(),
                                             at::TensorList(inputs));
    total = outputs[0];
    term_values = outputs[1];
  } else {
    const torch::NoGradGuard no_grad;
    const auto result = tiles::fused(setup->network, setup->input.contiguous(), loss,
                                     /*gradient=*/false, /*input_gradient=*/false);
    std::tie(total, term_values) = FusedSquares::values_of(result.terms, points.options());
  }
  FusedValues values{total, {}};
  for (int64_t k = 0; k < term_values.size(0); ++k)
    values.terms.push_back(term_values[k].detach());
  return values;
}

bool fused_loss_applies(const std::string& engine_name, const model::Network& network,
                        const torch::Tensor& points) {
  return engine_name == "taylor" &&
         tiled_setup(network, points, {expr::Channel(0, {})}).has_value();
}

}  // namespace pinn::derivatives
