// Evaluating the loss terms on their point sets, and updating the sets.
#include "train/objective.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>

#include <cmath>
#include <csignal>

#include "derivatives/fused_loss.hpp"
#include "problem/mean_square.hpp"
#include "train/causal.hpp"
#include "util/errors.hpp"
#include "util/signals.hpp"

namespace pinn::train {

namespace {

bool due(int every, int64_t step) {
  return every > 0 && step > 0 && step % every == 0;
}

int64_t next_multiple(int every, int64_t step) {
  return (step / every + 1) * every;
}

}  // namespace

Objective::Objective(const problem::Problem& problem, model::Network& network,
                     derivatives::Engine& engine, ObjectiveContext context)
    : problem_(&problem), network_(&network), engine_(&engine), context_(std::move(context)) {
  auto work_for = [&](const std::string& name) -> SetWork& {
    auto set = std::find_if(sets_.begin(), sets_.end(),
                            [&](const SetWork& work) { return work.name == name; });
    if (set != sets_.end()) return *set;
    const auto& source = problem.point_sets.at(name);
    SetWork work;
    work.name = name;
    work.source = &source;
    work.channels = problem.channels_on(name);
    sets_.push_back(std::move(work));
    place(sets_.back(), source.sample);
    return sets_.back();
  };
  for (size_t t = 0; t < problem.losses.size(); ++t) {
    const auto& term = problem.losses[t];
    work_for(term.points).terms.push_back(t);
    if (!term.partner.empty()) work_for(term.partner).partner_terms.push_back(t);
  }
  adaptive_.assign(problem.losses.size(), 1.0);
  initial_scale_.assign(problem.losses.size(), 1.0);
  causal_.resize(problem.losses.size());
  for (const auto& term : problem.losses) {
    if (!term.causal) continue;
    if (group().distributed()) {
      throw InputError("loss term '" + term.name +
                       "' is causal, which a run across processes does not support yet: its "
                       "chunks span the ranks' shares; train it in one process");
    }
    SetWork& set = work_for(term.points);
    const int input = term.causal->input;
    const auto reason = [&]() -> std::string {
      if (set.causal_input >= 0 && set.causal_input != input)
        return "another causal term orders its points by another input";
      for (const auto& other : problem.losses) {
        if (!other.partner.empty() && other.points == term.points)
          return "the periodic term '" + other.name + "' pairs its points in their order";
      }
      return "";
    }();
    if (!reason.empty()) {
      throw InputError("loss term '" + term.name + "' cannot be causal on point set '" +
                       term.points + "': " + reason);
    }
    set.causal_input = input;
    order_points(set);
  }
  plan_fused_terms();
}

// A term goes to the fused loss when the engine runs the network in the tiled pass, its residual
// compiles to a pointwise program (no trainable parameter) and it is not periodic (a difference
// of two sets).
void Objective::plan_fused_terms() {
  const auto& losses = problem_->losses;
  const bool applies = context_.fused_loss && !sets_.empty() && engine_->fused_loss() != nullptr;
  for (const auto& term : losses) {
    programs_.push_back(applies && term.partner.empty()
                            ? expr::PointwiseProgram::compile(*term.residual)
                            : std::nullopt);
  }
  for (auto& set : sets_) {
    for (size_t t : set.terms) {
      if (programs_[t]) {
        set.fused_terms.push_back(t);
      } else {
        expr::collect_channels(*losses[t].residual, set.tensor_channels);
      }
    }
    for (size_t t : set.partner_terms)
      expr::collect_channels(*losses[t].residual, set.tensor_channels);
  }
}

void Objective::place(SetWork& set, const problem::Sample& sample, bool order) {
  const auto assign = [&](torch::Tensor& target, const torch::Tensor& values) {
    if (target.defined() && target.sizes() == values.sizes()) {
      target.copy_(values);  // the same buffer: a captured CUDA graph keeps reading it
    } else {
      // A copy of our own even when no conversion is needed: copies into it must not reach the
      // problem's sample.
      target = values.to(context_.options, /*non_blocking=*/false, /*copy=*/true);
    }
  };
  set.share = group().share(sample.points.size(0));
  const auto mine = [&](const torch::Tensor& values) {
    return values.narrow(0, set.share.start, set.share.count);
  };
  if (group().distributed()) {
    set.whole_points = sample.points.to(context_.options);
    set.whole_fields.clear();
    for (const auto& [name, values] : sample.fields)
      set.whole_fields[name] = values.to(context_.options);
  }
  assign(set.points, mine(sample.points));
  for (auto field = set.fields.begin(); field != set.fields.end();) {
    field = sample.fields.count(field->first) ? std::next(field) : set.fields.erase(field);
  }
  for (const auto& [name, values] : sample.fields)
    assign(set.fields[name], mine(values));
  if (order) order_points(set);
}

problem::Sample Objective::whole(const SetWork& set) const {
  if (!set.whole_points.defined()) return {set.points, set.fields};
  return {set.whole_points, set.whole_fields};
}

distributed::Group& Objective::group() const {
  static distributed::Group one_process;
  return context_.group != nullptr ? *context_.group : one_process;
}

void Objective::order_points(SetWork& set) const {
  if (set.causal_input < 0) return;
  const torch::Tensor order = std::get<1>(
      torch::sort(set.points.select(1, set.causal_input), c10::optional<bool>(true), /*dim=*/0));
  set.points = set.points.index_select(0, order);
  for (auto& [name, values] : set.fields)
    values = values.index_select(0, order);
}

const Objective::SetWork& Objective::set_of(size_t term) const {
  const std::string& name = problem_->losses[term].points;
  return *std::find_if(sets_.begin(), sets_.end(),
                       [&](const SetWork& set) { return set.name == name; });
}

double Objective::weight_of(size_t term) const {
  return problem_->losses[term].weight * initial_scale_[term] * adaptive_[term];
}

bool Objective::set_initial_inverse_weights(const LossValues& values) {
  bool any = false;
  for (size_t t = 0; t < problem_->losses.size(); ++t) {
    if (!problem_->losses[t].weight_initial_inverse) continue;
    any = true;
    // values.terms are weighted: divided by the weight they had, the term's own loss.
    const double weight = weight_of(t);
    const double loss = weight > 0 ? values.terms[t].item<double>() / weight : 0.0;
    if (!(loss > 0) || !std::isfinite(1 / loss)) {
      spdlog::warn(
          "loss term '{}': its loss at step 0 is {}, so \"initial_inverse\" keeps its "
          "weight at 1",
          problem_->losses[t].name, loss);
      continue;
    }
    initial_scale_[t] = 1 / loss;
    spdlog::info("loss term '{}': weight 1 / {:.6e} (its loss at step 0)", problem_->losses[t].name,
                 loss);
  }
  return any;
}

void Objective::set_initial_scales(std::vector<double> scales) {
  if (scales.size() != initial_scale_.size()) {
    throw InputError("the checkpoint has " + std::to_string(scales.size()) +
                     " loss term weights; this config has " +
                     std::to_string(initial_scale_.size()) + " terms: it is for another config");
  }
  initial_scale_ = std::move(scales);
}

std::vector<double> Objective::training_chunk_weights(size_t term) const {
  const auto& causal = *problem_->losses[term].causal;
  const auto& means = causal_[term].chunk_means;
  if (means.empty()) return std::vector<double>(static_cast<size_t>(causal.chunks), 1.0);
  return causal_weights(means, causal.epsilon);
}

bool Objective::causal_state_missing() const {
  for (size_t t = 0; t < problem_->losses.size(); ++t) {
    if (problem_->losses[t].causal && causal_[t].chunk_means.empty()) return true;
  }
  return false;
}

double Objective::causal_value(size_t term, const std::vector<double>& means,
                               const std::vector<double>& weights, CausalState& state) const {
  const auto& causal = *problem_->losses[term].causal;
  state = {means, weights.empty() ? causal_weights(means, causal.epsilon) : weights};
  double sum = 0;
  for (size_t k = 0; k < means.size(); ++k)
    sum += state.weights[k] * means[k];
  return sum / static_cast<double>(causal.chunks);
}

double Objective::causal_min_weight(size_t term) const {
  const auto& weights = causal_[term].weights;
  if (weights.empty()) return std::numeric_limits<double>::quiet_NaN();
  return *std::min_element(weights.begin(), weights.end());
}

std::vector<size_t> Objective::causal_terms() const {
  std::vector<size_t> terms;
  for (size_t t = 0; t < problem_->losses.size(); ++t) {
    if (problem_->losses[t].causal) terms.push_back(t);
  }
  return terms;
}

void Objective::set_adaptive_weights(std::vector<double> weights) {
  TORCH_CHECK(weights.size() == adaptive_.size(), "one adaptive weight per loss term");
  adaptive_ = std::move(weights);
}

std::vector<torch::Tensor> Objective::residuals(bool for_training, bool skip_fused) {
  const auto& losses = problem_->losses;
  std::vector<torch::Tensor> result(losses.size());
  std::vector<torch::Tensor> partner(losses.size());
  for (const auto& set : sets_) {
    const bool all = !skip_fused || set.fused_terms.empty();
    if (!all && set.fused_terms.size() == set.terms.size() && set.partner_terms.empty()) continue;
    const auto channels =
        engine_->compute(set.points, all ? set.channels : set.tensor_channels, for_training);
    const expr::EvalContext context{set.points, &channels, &set.fields, &context_.parameters};
    for (size_t t : set.terms) {
      if (all || !programs_[t]) result[t] = expr::evaluate(*losses[t].residual, context);
    }
    for (size_t t : set.partner_terms)
      partner[t] = expr::evaluate(*losses[t].residual, context);
  }
  // A periodic term asks its residual to be equal on both faces.
  for (size_t t = 0; t < losses.size(); ++t) {
    if (partner[t].defined()) result[t] = result[t] - partner[t];
  }
  return result;
}

std::vector<derivatives::FusedSet> Objective::fused_sets(std::vector<size_t>& order) const {
  const auto& losses = problem_->losses;
  std::vector<derivatives::FusedSet> fused_sets;
  for (const auto& set : sets_) {
    if (set.fused_terms.empty()) continue;
    derivatives::FusedSet fused{set.points, &set.fields, {}};
    for (size_t t : set.fused_terms) {
      derivatives::FusedTerm term{&*programs_[t], weight_of(t) * set.share.fraction};
      if (const auto& causal = losses[t].causal) {
        term.chunk_ends = chunk_ends(set.points.size(0), causal->chunks);
        for (double w : training_chunk_weights(t))
          term.chunk_weights.push_back(w / causal->chunks);
      }
      fused.terms.push_back(std::move(term));
      order.push_back(t);
    }
    fused_sets.push_back(std::move(fused));
  }
  return fused_sets;
}

LossValues Objective::evaluate(bool for_training) {
  // A first evaluation for training needs chunk weights from one before it.
  if (for_training && causal_state_missing()) evaluate(false);
  const auto& losses = problem_->losses;
  LossValues values;
  values.terms.resize(losses.size());
  const auto add = [&](const torch::Tensor& loss) {
    values.total = values.total.defined() ? values.total + loss : loss;
  };
  bool exact_causal = false;        // a fused causal term valued with its own weights: sum again
  std::vector<size_t> fused_order;  // the terms in the order the fused loss returns them
  const auto fused_sets = this->fused_sets(fused_order);
  if (!fused_sets.empty()) {
    const auto fused = engine_->fused_loss()->squares(fused_sets, for_training);
    add(fused.total);
    for (size_t k = 0; k < fused_order.size(); ++k)
      values.terms[fused_order[k]] = fused.terms[k];
    exact_causal = take_chunk_means(fused_order, fused, for_training, values) && !for_training;
  }
  const auto residual = residuals(for_training, /*skip_fused=*/true);
  for (size_t t = 0; t < residual.size(); ++t) {
    if (!residual[t].defined()) continue;
    const auto term = weight_of(t) * set_of(t).share.fraction *
                      (losses[t].causal ? causal_mean(t, residual[t],
                                                      for_training ? training_chunk_weights(t)
                                                                   : std::vector<double>{},
                                                      causal_[t])
                                        : problem::mean_square(residual[t]));
    add(term);
    values.terms[t] = term.detach();
  }
  if (exact_causal) values.total = torch::stack(values.terms).sum();
  if (!for_training) reduce(values);
  return values;
}

void Objective::reduce(LossValues& values) const {
  if (!group().distributed()) return;
  std::vector<torch::Tensor> parts{values.total.detach().reshape({1})};
  for (const auto& term : values.terms)
    parts.push_back(term.reshape({1}));
  torch::Tensor packed = torch::cat(parts).to(torch::kFloat64);
  group().sum(packed);
  packed = packed.to(values.total.dtype());
  values.total = packed[0];
  for (size_t t = 0; t < values.terms.size(); ++t)
    values.terms[t] = packed[static_cast<int64_t>(t) + 1];
}

// One buffer: every gradient, then the loss, its terms and the pending stop signal. A rank that
// was asked to stop makes every rank stop after this step (util::agree_on_stop).
void Objective::reduce_gradient(const std::vector<torch::Tensor>& trainable,
                                LossValues& values) const {
  if (!group().distributed()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (const auto& parameter : trainable) {
    parts.push_back(parameter.grad().defined()
                        ? parameter.grad().reshape({-1})
                        : torch::zeros({parameter.numel()}, parameter.options()));
  }
  const auto options = trainable.empty() ? context_.options : trainable.front().options();
  parts.push_back(values.total.detach().reshape({1}).to(options));
  for (const auto& term : values.terms)
    parts.push_back(term.reshape({1}).to(options));
  const int pending = util::signal_pending();
  parts.push_back(torch::full({1}, pending != 0 ? 1.0 : 0.0, options));
  torch::Tensor packed = torch::cat(parts);
  group().sum(packed);
  int64_t offset = 0;
  for (const auto& parameter : trainable) {
    const auto gradient = packed.narrow(0, offset, parameter.numel()).view(parameter.sizes());
    if (parameter.grad().defined()) {
      parameter.mutable_grad().copy_(gradient);
    } else {
      parameter.mutable_grad() = gradient.clone();
    }
    offset += parameter.numel();
  }
  values.total = packed[offset++].clone();
  for (auto& term : values.terms)
    term = packed[offset++].clone();
  const bool stop = packed[offset].item<double>() > 0;
  util::agree_on_stop(stop ? (pending != 0 ? pending : SIGTERM) : 0);
}

bool Objective::take_chunk_means(const std::vector<size_t>& order,
                                 const derivatives::FusedValues& fused, bool for_training,
                                 LossValues& values) {
  bool any = false;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t t = order[k];
    if (!problem_->losses[t].causal) continue;
    const double value =
        weight_of(t) *
        causal_value(t, fused.chunk_means[k],
                     for_training ? training_chunk_weights(t) : std::vector<double>{}, causal_[t]);
    if (!for_training) values.terms[t] = torch::scalar_tensor(value, values.terms[t].options());
    any = true;
  }
  return any;
}

torch::Tensor Objective::causal_mean(size_t term, const torch::Tensor& residual,
                                     const std::vector<double>& weights, CausalState& state) const {
  const auto& causal = *problem_->losses[term].causal;
  const torch::Tensor means =
      chunk_mean_squares(residual, chunk_ends(residual.size(0), causal.chunks));
  const torch::Tensor host = means.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  causal_value(term, {host.data_ptr<double>(), host.data_ptr<double>() + host.numel()}, weights,
               state);
  const torch::Tensor w = torch::tensor(state.weights, torch::kFloat64).to(means.options());
  return (means * w).sum() / causal.chunks;
}

LossValues Objective::loss_and_gradient(const std::vector<torch::Tensor>& trainable) {
  if (causal_state_missing()) evaluate(false);
  if (direct_gradient_ && fused_term_count() == problem_->losses.size()) {
    std::vector<size_t> order;
    auto fused = engine_->fused_loss()->squares_into_grad(fused_sets(order));
    // Where it does not apply (a trainable embedding), it never will for this network: the
    // tensor path from then on, without setting up the pass twice a step.
    direct_gradient_ = fused.has_value();
    if (fused) {
      // The pass wrote the network's gradient; the problem's parameters appear in no fused term.
      for (const auto& parameter : context_.parameters) {
        if (parameter.grad().defined()) parameter.mutable_grad().zero_();
      }
      LossValues values;
      values.total = fused->total;
      values.terms.resize(problem_->losses.size());
      for (size_t k = 0; k < order.size(); ++k)
        values.terms[order[k]] = fused->terms[k];
      take_chunk_means(order, *fused, /*for_training=*/true, values);
      reduce_gradient(trainable, values);
      return values;
    }
  }
  for (const auto& parameter : trainable) {
    if (parameter.grad().defined()) parameter.mutable_grad().zero_();
  }
  LossValues values = evaluate(/*for_training=*/true);
  values.total.backward();
  // Keep the value, not the graph: a graph kept until the next step holds on to the parameters'
  // gradient accumulators, which remember the CUDA stream they were made on, and a CUDA graph
  // captured on another stream then fails ("would make the legacy stream depend on a capturing
  // blocking stream", seen with LibTorch 2.11 on an H200).
  values.total = values.total.detach();
  reduce_gradient(trainable, values);
  return values;
}

std::vector<TermDiagnostics> Objective::diagnostics() {
  const auto residual = residuals(false);
  std::vector<TermDiagnostics> result;
  for (size_t t = 0; t < residual.size(); ++t) {
    const auto r = residual[t].detach().to(torch::kFloat64);
    TermDiagnostics d;
    d.name = problem_->losses[t].name;
    d.mean_square = problem::mean_square(r).item<double>();
    d.adaptive_weight = adaptive_[t];
    d.weight = problem_->losses[t].weight * initial_scale_[t];
    if (problem_->losses[t].causal) {
      CausalState own;  // the training state stays as it was
      d.loss = weight_of(t) * causal_mean(t, r, {}, own).item<double>();
      d.causal_min_weight = *std::min_element(own.weights.begin(), own.weights.end());
    } else {
      d.loss = weight_of(t) * d.mean_square;
    }
    d.max_abs_residual = r.abs().max().item<double>();
    d.mean_abs_residual = r.abs().mean().item<double>();
    result.push_back(d);
  }
  if (group().distributed()) reduce(result);
  return result;
}

// Means weighted by each rank's share of its set (causal terms are one process's only).
void Objective::reduce(std::vector<TermDiagnostics>& terms) const {
  const auto count = static_cast<int64_t>(terms.size());
  torch::Tensor means = torch::zeros({3 * count}, torch::kFloat64);
  torch::Tensor largest = torch::zeros({count}, torch::kFloat64);
  for (int64_t t = 0; t < count; ++t) {
    const auto& d = terms[static_cast<size_t>(t)];
    const double fraction = set_of(static_cast<size_t>(t)).share.fraction;
    means[3 * t] = d.mean_square * fraction;
    means[3 * t + 1] = d.loss * fraction;
    means[3 * t + 2] = d.mean_abs_residual * fraction;
    largest[t] = d.max_abs_residual;
  }
  group().sum(means);
  group().max(largest);
  for (int64_t t = 0; t < count; ++t) {
    auto& d = terms[static_cast<size_t>(t)];
    d.mean_square = means[3 * t].item<double>();
    d.loss = means[3 * t + 1].item<double>();
    d.mean_abs_residual = means[3 * t + 2].item<double>();
    d.max_abs_residual = largest[t].item<double>();
  }
}

std::vector<torch::Tensor> Objective::unweighted_term_losses() {
  const auto residual = residuals(/*for_training=*/true);
  std::vector<torch::Tensor> losses;
  for (size_t t = 0; t < residual.size(); ++t) {
    const auto& term = problem_->losses[t];
    if (!term.causal) {
      // Across ranks, this rank's part of the term (its share's weight in the mean).
      losses.push_back(set_of(t).share.fraction * problem::mean_square(residual[t]));
      continue;
    }
    CausalState own;  // the training state stays as it was
    losses.push_back(causal_mean(t, residual[t], {}, own));
  }
  return losses;
}

torch::Tensor Objective::sampled_residual(size_t term, int64_t count) {
  const auto& loss = problem_->losses[term];
  const auto residual_on = [&](const SetWork& set, const torch::Tensor& chosen) {
    SetWork sample;
    sample.points = set.points.index_select(0, chosen);
    for (const auto& [name, values] : set.fields)
      sample.fields[name] = values.index_select(0, chosen);
    std::set<expr::Channel> channels;
    expr::collect_channels(*loss.residual, channels);
    const auto values = engine_->compute(sample.points, channels, /*create_graph=*/true);
    const expr::EvalContext context{sample.points, &values, &sample.fields, &context_.parameters};
    return expr::evaluate(*loss.residual, context).reshape({-1});
  };
  const SetWork& set = set_of(term);
  const int64_t n = set.points.size(0);
  const auto index_options = torch::TensorOptions().dtype(torch::kLong);
  const torch::Tensor chosen = (count < n ? torch::randperm(n, index_options).narrow(0, 0, count)
                                          : torch::arange(n, index_options))
                                   .to(set.points.device());
  torch::Tensor residual = residual_on(set, chosen);
  if (!loss.partner.empty()) {
    const auto partner = std::find_if(sets_.begin(), sets_.end(),
                                      [&](const SetWork& s) { return s.name == loss.partner; });
    residual = residual - residual_on(*partner, chosen);
  }
  return residual;
}

size_t Objective::fused_term_count() const {
  size_t count = 0;
  for (const auto& set : sets_)
    count += set.fused_terms.size();
  return count;
}

int64_t Objective::total_points() const {
  int64_t count = 0;
  for (const auto& set : sets_)
    count += whole(set).points.size(0);
  return count;
}

Objective::PointValues Objective::values_at(const torch::Tensor& points,
                                            const std::vector<size_t>& terms) {
  const int outputs = static_cast<int>(problem_->symbols.outputs.size());
  std::set<expr::Channel> channels;
  for (int o = 0; o < outputs; ++o)
    channels.insert(expr::Channel(o, {}));
  for (size_t t : terms)
    expr::collect_channels(*problem_->losses[t].residual, channels);
  const auto values = engine_->compute(points, channels, /*create_graph=*/false);
  PointValues result;
  std::vector<torch::Tensor> columns;
  for (int o = 0; o < outputs; ++o)
    columns.push_back(values.at(expr::Channel(o, {})).detach());
  result.outputs = torch::stack(columns, 1);
  const std::map<std::string, torch::Tensor> no_fields;
  const expr::EvalContext context{points, &values, &no_fields, &context_.parameters};
  for (size_t t : terms)
    result.residuals.push_back(expr::evaluate(*problem_->losses[t].residual, context).detach());
  return result;
}

int64_t Objective::next_point_update(int64_t step) const {
  int64_t next = -1;
  for (const auto& set : sets_) {
    const auto active = [step](int every, int64_t until) {
      return every > 0 && (until == 0 || next_multiple(every, step) < until);
    };
    const auto& refinement = set.source->refine;
    const auto& rad = set.source->rad;
    for (int every : {set.source->resample_every,
                      active(refinement.every, refinement.until) ? refinement.every : 0,
                      active(rad.every, rad.until) ? rad.every : 0}) {
      if (every <= 0) continue;
      const int64_t candidate = next_multiple(every, step);
      next = next < 0 ? candidate : std::min(next, candidate);
    }
  }
  return next;
}

std::string Objective::update_points(int64_t step) {
  std::string changes;
  sizes_changed_ = false;
  for (auto& set : sets_) {
    if (due(set.source->resample_every, step)) {
      place(set, set.source->draw(set.draws++, whole(set).points.size(0)));
      changes += " resampled " + set.name;
    }
    const auto& refinement = set.source->refine;
    if (due(refinement.every, step) && (refinement.until == 0 || step < refinement.until)) {
      refine(set);
      sizes_changed_ = true;
      changes += " refined " + set.name + " to " + std::to_string(whole(set).points.size(0));
    }
    const auto& rad = set.source->rad;
    if (due(rad.every, step) && (rad.until == 0 || step < rad.until)) {
      const int64_t before = whole(set).points.size(0);
      redistribute(set);
      if (whole(set).points.size(0) != before) sizes_changed_ = true;
      changes += " redistributed " + set.name;
    }
  }
  return changes;
}

void Objective::save_points(torch::serialize::OutputArchive& archive) const {
  for (const auto& set : sets_) {
    torch::serialize::OutputArchive stored;
    const problem::Sample all = whole(set);  // whatever the number of ranks that resume it
    stored.write("points", all.points, /*is_buffer=*/true);
    stored.write("draws", torch::tensor(static_cast<int64_t>(set.draws)), true);
    for (const auto& [name, values] : all.fields)
      stored.write("field/" + name, values, true);
    archive.write(set.name, stored);
  }
  for (size_t t : causal_terms()) {
    archive.write("causal/" + problem_->losses[t].name,
                  torch::tensor(causal_[t].chunk_means, torch::kFloat64), /*is_buffer=*/true);
  }
}

void Objective::load_points(torch::serialize::InputArchive& archive) {
  for (auto& set : sets_) {
    torch::serialize::InputArchive stored;
    if (!archive.try_read(set.name, stored)) {
      throw InputError("the checkpoint has no point set '" + set.name +
                       "': it was written for another config");
    }
    torch::Tensor draws;
    problem::Sample sample;
    stored.read("points", sample.points, true);
    stored.read("draws", draws, true);
    set.draws = static_cast<uint64_t>(draws.item<int64_t>());
    for (const auto& [name, values] : set.fields) {
      stored.read("field/" + name, sample.fields[name], true);
      (void)values;
    }
    place(set, sample, /*order=*/false);  // stored in their order
  }
  for (size_t t : causal_terms()) {
    torch::Tensor means;
    if (!archive.try_read("causal/" + problem_->losses[t].name, means, /*is_buffer=*/true)) {
      continue;  // written before the term was causal: evaluated afresh
    }
    means = means.to(torch::kCPU, torch::kFloat64).contiguous();
    causal_[t].chunk_means.assign(means.data_ptr<double>(),
                                  means.data_ptr<double>() + means.numel());
  }
}

// Across ranks, each scores its share of the candidates and the scores are summed into one
// vector of them all, the same on every rank, so that every rank makes the same choice.
torch::Tensor Objective::score_candidates(const SetWork& set, const problem::Sample& candidates) {
  SetWork trial = set;
  trial.points = torch::Tensor();  // fresh tensors: place() would copy into the set's own
  trial.fields.clear();
  place(trial, candidates, /*order=*/false);
  const auto channels = engine_->compute(trial.points, trial.channels, false);
  const expr::EvalContext context{trial.points, &channels, &trial.fields, &context_.parameters};
  auto score = torch::zeros({trial.points.size(0)}, context_.options);
  for (size_t t : set.terms)
    score += expr::evaluate(*problem_->losses[t].residual, context).detach().square();
  if (!group().distributed() || trial.share.replicated) return score;
  torch::Tensor all = torch::zeros({candidates.points.size(0)}, torch::kFloat64);
  all.narrow(0, trial.share.start, trial.share.count).copy_(score);
  group().sum(all);
  return all.to(context_.options);
}

namespace {

problem::Sample rows(const problem::Sample& sample, const torch::Tensor& chosen) {
  problem::Sample kept;
  const torch::Tensor index = chosen.to(sample.points.device());
  kept.points = sample.points.index_select(0, index);
  for (const auto& [name, values] : sample.fields)
    kept.fields[name] = values.index_select(0, index);
  return kept;
}

}  // namespace

// Adds the candidates with the largest squared residual, summed over the set's terms.
void Objective::refine(SetWork& set) {
  const auto& refine = set.source->refine;
  const problem::Sample candidates = set.source->draw(set.draws++, refine.candidates);
  const auto score = score_candidates(set, candidates);
  const problem::Sample added = rows(candidates, std::get<1>(score.topk(refine.add)));
  problem::Sample grown = whole(set);
  grown.points = torch::cat({grown.points, added.points.to(context_.options)}, 0);
  for (auto& [name, values] : grown.fields)
    values = torch::cat({values, added.fields.at(name).to(context_.options)}, 0);
  place(set, grown);
}

// Replaces the set by candidates drawn with probability r^k / mean(r^k) + c. The draw uses the
// default generator, seeded by the run's seed and saved in checkpoints, so a resumed run draws
// the same points (and every rank the same ones).
void Objective::redistribute(SetWork& set) {
  const auto& rad = set.source->rad;
  const problem::Sample candidates = set.source->draw(set.draws++, rad.candidates);
  const torch::Tensor score = score_candidates(set, candidates).to(torch::kCPU, torch::kFloat64);
  torch::Tensor density = rad.k == 1 ? score : score.pow(rad.k);
  const double mean = density.mean().item<double>();
  density = (mean > 0 && std::isfinite(mean) ? density / mean : torch::zeros_like(density)) + rad.c;
  if (!(density.sum().item<double>() > 0))
    density = torch::ones_like(density);  // k > 0, c = 0, r = 0
  place(set, rows(candidates, torch::multinomial(density, rad.count, /*replacement=*/false)));
}

}  // namespace pinn::train
