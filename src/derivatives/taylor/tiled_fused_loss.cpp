// The fused loss on the tiled pass: the terms as a TileLoss, and the autograd Function that hands
// its weight gradient to the rest of the loss.
#include "derivatives/taylor/tiled_fused_loss.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include "problem/mean_square.hpp"

namespace pinn::derivatives::taylor {

namespace {

using torch::Tensor;

// The terms of one or more point sets, stacked as one run of points, evaluated tile by tile:
// each term's program reads its channels where the tile's last layer holds them, on the part of
// the tile that is its set's (a term in chunks: one bound per chunk). The pass's sums are each
// bound's Σ r²; values() makes the terms' losses of them.
class ProgramLoss : public tiles::TileLoss {
 public:
  ProgramLoss(const TiledSetup& setup, const Tensor& points, const std::vector<FusedSet>& sets)
      : points_(points.contiguous()) {
    int64_t begin = 0;
    for (const auto& set : sets) {
      const int64_t count = set.points.size(0);
      for (const auto& term : set.terms) {
        Bound bound{term.program, 1.0, 0, 0, begin, terms_, -1, {}, {}};
        for (const auto& channel : term.program->channels()) {
          const auto& [c, output] = setup.slots.at(channel);
          bound.channel_offsets.push_back({c, output});
        }
        for (const auto& name : term.program->fields())
          bound.fields.push_back(set.fields->at(name).contiguous());
        add_bounds(term, bound, count);
        ++terms_;
      }
      begin += count;
    }
  }

  int64_t terms() const override { return static_cast<int64_t>(bounds_.size()); }
  void tile(int64_t t0, int64_t n, const float* channels, int64_t ld, float* seed,
            double* sums) const override {
    run(t0, n, channels, ld, seed, sums);
  }
  void tile(int64_t t0, int64_t n, const double* channels, int64_t ld, double* seed,
            double* sums) const override {
    run(t0, n, channels, ld, seed, sums);
  }

  // Each term's loss, and each chunk's mean of r², from the bounds' sums of r².
  void values(const std::vector<double>& sums, std::vector<double>& terms,
              std::vector<std::vector<double>>& chunk_means) const {
    terms.assign(static_cast<size_t>(terms_), 0.0);
    chunk_means.assign(static_cast<size_t>(terms_), {});
    for (size_t b = 0; b < bounds_.size(); ++b) {
      const Bound& bound = bounds_[b];
      const auto term = static_cast<size_t>(bound.term);
      terms[term] += bound.scale * sums[b];
      if (bound.chunk >= 0) {
        chunk_means[term].push_back(
            sums[b] / static_cast<double>(std::max<int64_t>(bound.end - bound.begin, 1)));
      }
    }
  }

 private:
  struct Bound {
    const expr::PointwiseProgram* program;
    double scale;        // of Σ r² in the loss: weight / (the count of points)
    int64_t begin, end;  // the bound's points among the stacked ones
    int64_t set_begin;   // its set's first point among them (where the set's fields start)
    int64_t term;        // the term it is (part of)
    int64_t chunk;       // its chunk, or -1 for a whole term
    std::vector<std::pair<int64_t, int64_t>> channel_offsets;  // stacked index, output
    std::vector<Tensor> fields;                                // the set's
  };

  // The term's bounds from `bound` (its set's first point at bound.set_begin): the whole set, or
  // each chunk with its own scale.
  void add_bounds(const FusedTerm& term, Bound bound, int64_t count) {
    if (term.chunk_ends.empty()) {
      bound.scale = problem::mean_square_scale(term.weight, count);
      bound.begin = bound.set_begin;
      bound.end = bound.set_begin + count;
      bounds_.push_back(bound);
      return;
    }
    int64_t chunk_begin = 0;
    for (size_t k = 0; k < term.chunk_ends.size(); ++k) {
      const int64_t chunk_end = term.chunk_ends[k];
      bound.scale =
          problem::mean_square_scale(term.weight * term.chunk_weights[k], chunk_end - chunk_begin);
      bound.begin = bound.set_begin + chunk_begin;
      bound.end = bound.set_begin + chunk_end;
      bound.chunk = static_cast<int64_t>(k);
      bounds_.push_back(bound);
      chunk_begin = chunk_end;
    }
  }

  template <typename T>
  void run(int64_t t0, int64_t n, const T* channels, int64_t ld, T* seed, double* sums) const {
    const int64_t dims = points_.size(1);
    expr::TileLeaves<T> leaves;
    leaves.dims = dims;
    leaves.channel_stride = ld;
    std::vector<T*> adjoints;
    for (size_t k = 0; k < bounds_.size(); ++k) {
      const Bound& bound = bounds_[k];
      // The points of the tile [t0, t0 + n) that are the bound's.
      const int64_t first = std::max(t0, bound.begin), last = std::min(t0 + n, bound.end);
      if (first >= last) continue;
      const int64_t row = first - t0;
      leaves.n = last - first;
      leaves.points = points_.data_ptr<T>() + first * dims;
      leaves.channels.clear();
      adjoints.clear();
      for (const auto& [c, output] : bound.channel_offsets) {
        leaves.channels.push_back(channels + (c * n + row) * ld + output);
        if (seed) adjoints.push_back(seed + (c * n + row) * ld + output);
      }
      leaves.fields.clear();
      for (const auto& field : bound.fields)
        leaves.fields.push_back(field.data_ptr<T>() + (first - bound.set_begin));
      sums[k] += bound.program->squares(leaves, bound.scale, seed ? &adjoints : nullptr);
    }
  }

  Tensor points_;
  std::vector<Bound> bounds_;
  int64_t terms_ = 0;
};

// inputs: the pass's input, then every layer's weight and bias. Output: the total (a scalar);
// the bounds' sums of r² go to `sums`. The gradient is computed in the forward pass and scaled
// in the backward pass.
class FusedSquares : public torch::autograd::Function<FusedSquares> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const ProgramLoss* loss,
                                                const tiles::Network* network, bool input_gradient,
                                                std::vector<double>* sums, at::TensorList inputs) {
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
    *sums = result.terms;
    std::vector<double> terms;
    std::vector<std::vector<double>> chunk_means;
    loss->values(result.terms, terms, chunk_means);
    return {total_of(terms, input.options())};
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
    torch::autograd::variable_list result(4);  // the loss, the network, the flag, the sums
    result.push_back(ctx->saved_data["input_gradient"].toBool() ? scaled(saved[0]) : Tensor());
    for (size_t i = 1; i < saved.size(); ++i)
      result.push_back(scaled(saved[i]));
    return result;
  }

  // The total as a tensor of the input's dtype (summed in double).
  static Tensor total_of(const std::vector<double>& sums, const torch::TensorOptions& options) {
    double total = 0;
    for (double value : sums)
      total += value;
    return torch::scalar_tensor(total, options);
  }
};

std::set<expr::Channel> channels_of(const std::vector<FusedTerm>& terms) {
  std::set<expr::Channel> channels = {expr::Channel(0, {})};
  for (const auto& term : terms)
    channels.insert(term.program->channels().begin(), term.program->channels().end());
  return channels;
}

// The sets in groups that run as one pass each: all of them together when the channels their
// points would carry in vain (a boundary set's points carrying the interior's derivatives) cost
// at most a quarter more than a pass per set; else one pass per set. One pass saves the setup,
// the thread start and the autograd node of the others, and spreads small sets over the threads.
std::vector<std::vector<FusedSet>> groups_of(const std::vector<FusedSet>& sets) {
  std::set<expr::Channel> all;
  int64_t points = 0, separate = 0;
  for (const auto& set : sets) {
    const auto channels = channels_of(set.terms);
    all.insert(channels.begin(), channels.end());
    points += set.points.size(0);
    separate += set.points.size(0) * static_cast<int64_t>(channels.size());
  }
  const int64_t together = points * static_cast<int64_t>(all.size());
  if (4 * together <= 5 * separate) return {sets};
  std::vector<std::vector<FusedSet>> groups;
  for (const auto& set : sets)
    groups.push_back({set});
  return groups;
}

// One group's pass, set up: the tiled network, the stacked points and the terms bound to them.
struct PreparedGroup {
  TiledSetup setup;
  std::unique_ptr<ProgramLoss> loss;
};

PreparedGroup prepare_group(const MlpLayers& layers, const std::vector<FusedSet>& sets) {
  std::vector<FusedTerm> terms;
  std::vector<Tensor> point_list;
  for (const auto& set : sets) {
    terms.insert(terms.end(), set.terms.begin(), set.terms.end());
    point_list.push_back(set.points);
  }
  const Tensor points = point_list.size() == 1 ? point_list[0] : torch::cat(point_list, 0);
  TiledSetup setup = tiled_setup(layers, points, channels_of(terms));
  auto loss = std::make_unique<ProgramLoss>(setup, points, sets);
  return PreparedGroup{std::move(setup), std::move(loss)};
}

// Every group of `sets` set up.
std::vector<PreparedGroup> prepare(const MlpLayers& layers, const std::vector<FusedSet>& sets) {
  std::vector<PreparedGroup> prepared;
  for (const auto& group : groups_of(sets))
    prepared.push_back(prepare_group(layers, group));
  return prepared;
}

// How a group's pass hands over its weight gradient.
enum class Gradient {
  none,      // the loss alone
  autograd,  // through the FusedSquares node, for backward()
  replace,   // into the parameters' .grad, replacing what they held
  add,       // added to the parameters' .grad
};

// One group's loss through its pass; its term values in order.
FusedValues run_group(const PreparedGroup& group, Gradient gradient) {
  const TiledSetup& setup = group.setup;
  const torch::TensorOptions options = setup.input.options();
  FusedValues values;
  std::vector<double> sums;
  if (gradient == Gradient::autograd) {
    torch::autograd::variable_list inputs = {setup.input};
    inputs.insert(inputs.end(), setup.parameters.begin(), setup.parameters.end());
    values.total =
        FusedSquares::apply(group.loss.get(), &setup.network, setup.input.requires_grad(), &sums,
                            at::TensorList(inputs))[0];
  } else {
    const torch::NoGradGuard no_grad;
    tiles::FusedResult result =
        tiles::fused(setup.network, setup.input.contiguous(), *group.loss,
                     /*gradient=*/gradient != Gradient::none, /*input_gradient=*/false);
    sums = std::move(result.terms);
    // Each layer takes its W's and b's gradient (a factorized one chains it to s and V).
    for (size_t l = 0; l < result.gradients.weights.size(); ++l) {
      setup.layers[l]->take_gradient(result.gradients.weights[l], result.gradients.biases[l],
                                     gradient == Gradient::replace);
    }
  }
  std::vector<double> terms;
  group.loss->values(sums, terms, values.chunk_means);
  if (!values.total.defined()) values.total = FusedSquares::total_of(terms, options);
  for (double term : terms)
    values.terms.push_back(torch::scalar_tensor(term, options));
  return values;
}

// The groups' losses added up, their term values in order.
FusedValues run_groups(const std::vector<PreparedGroup>& groups, Gradient gradient) {
  FusedValues values;
  for (const auto& group : groups) {
    // The first group's gradient replaces the parameters' gradient; the others' add to it.
    FusedValues part = run_group(group, gradient);
    if (gradient == Gradient::replace) gradient = Gradient::add;
    values.total = values.total.defined() ? values.total + part.total : part.total;
    values.terms.insert(values.terms.end(), part.terms.begin(), part.terms.end());
    values.chunk_means.insert(values.chunk_means.end(), part.chunk_means.begin(),
                              part.chunk_means.end());
  }
  return values;
}

// The fused loss of an MLP that runs on the tiled pass.
class TiledFusedLoss : public FusedLoss {
 public:
  explicit TiledFusedLoss(const MlpLayers& layers) : layers_(layers) {}

  FusedValues squares(const std::vector<FusedSet>& sets, bool for_training) const override {
    return run_groups(prepare(layers_, sets), for_training ? Gradient::autograd : Gradient::none);
  }

  std::optional<FusedValues> squares_into_grad(const std::vector<FusedSet>& sets) const override {
    const auto groups = prepare(layers_, sets);
    for (const auto& group : groups) {
      if (group.setup.input.requires_grad()) return std::nullopt;
    }
    return run_groups(groups, Gradient::replace);
  }

 private:
  const MlpLayers& layers_;
};

}  // namespace

std::unique_ptr<FusedLoss> make_tiled_fused_loss(const MlpLayers& layers) {
  return std::make_unique<TiledFusedLoss>(layers);
}

}  // namespace pinn::derivatives::taylor
