// Running the stages, with progress logs and history rows at every log point.
#include "train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <sstream>

#include "util/errors.hpp"
#include "util/logging.hpp"
#include "util/signals.hpp"

namespace pinn::train {

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr const char* kCheckpointFormat = "pinn-train-checkpoint/1";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string format_metrics(const std::vector<std::string>& names,
                           const std::vector<double>& values) {
  std::ostringstream text;
  for (size_t i = 0; i < values.size(); ++i)
    text << "  " << names[i] << " " << values[i];
  return text.str();
}

// `to` takes the values of `from`, allocated on first use.
void copy_weights(const std::vector<torch::Tensor>& from, std::vector<torch::Tensor>& to);

}  // namespace

LossAndGradient loss_and_gradient(Objective& objective, std::vector<torch::Tensor> trainable,
                                  LossValues& latest) {
  return [&objective, trainable = std::move(trainable), &latest]() {
    latest = objective.loss_and_gradient(trainable);
    return latest.total;
  };
}

DivergencePolicy read_divergence_policy(config::Reader& top) {
  DivergencePolicy policy;
  top.describe("on_divergence",
               "when the loss or the weights become NaN or infinite at a log point: \"rollback\" "
               "to the last finite one (Adam halves its learning rate, L-BFGS and the quasi-Newton "
               "methods restart their curvature history) or \"stop\" (exit 4)");
  policy.roll_back = top.choice("on_divergence", {"rollback", "stop"}, "rollback") == "rollback";
  top.describe("max_rollbacks",
               "rollbacks in a row (none getting past the step that diverged) before the run stops "
               "with exit 4 and the last finite weights");
  policy.max_rollbacks = top.positive_int("max_rollbacks", policy.max_rollbacks);
  return policy;
}

Json to_json(const Rollback& rollback) {
  return {{"diverged_at", rollback.diverged_at},
          {"back_to", rollback.back_to},
          {"change", rollback.change}};
}

Trainer::Trainer(Objective& objective, std::vector<torch::Tensor> trainable,
                 ReferenceMetrics& metrics, std::vector<StageSpec> stages,
                 CheckpointSettings checkpoints, LossWeighting* weighting,
                 DivergencePolicy divergence)
    : objective_(objective),
      trainable_(std::move(trainable)),
      metrics_(metrics),
      stages_(std::move(stages)),
      checkpoints_(checkpoints),
      weighting_(weighting),
      divergence_(divergence) {}

bool Trainer::update_loss_weights() {
  if (weighting_ == nullptr || !weighting_->due(step_)) return false;
  weighting_->update(objective_, trainable_);
  spdlog::debug("step {}: loss weights updated", step_);
  return true;
}

HistoryRow Trainer::record(const std::string& stage, const LossValues& values,
                           double learning_rate) {
  HistoryRow row;
  row.step = step_;
  row.stage = stage;
  row.total = values.total.item<double>();
  for (const auto& term : values.terms)
    row.terms.push_back(term.item<double>());
  for (const auto& parameter : objective_.context().parameters)
    row.parameters.push_back(parameter.item<double>());
  if (metrics_due() || (keep_best_ && metrics_.enabled())) row.metrics = metrics_.measure();
  if (weighting_ != nullptr) row.loss_weights = weighting_->weights();
  for (size_t t : objective_.causal_terms())
    row.causal_min.push_back(objective_.causal_min_weight(t));
  row.learning_rate = learning_rate;
  row.elapsed_seconds = elapsed_;
  return row;
}

bool Trainer::metrics_due() const {
  return metrics_.enabled() && metrics_.every() > 0 && step_ % metrics_.every() == 0;
}

void Trainer::keep_best_weights() {
  keep_best_ = true;
}

double Trainer::best_score(const HistoryRow& row) const {
  return metrics_.enabled() ? metrics_.mean_relative_l2(row.metrics) : row.total;
}

void Trainer::consider_best(const HistoryRow& row) {
  if (!keep_best_) return;
  const double score = best_score(row);
  if (!std::isfinite(score) || !weights_finite()) return;
  if (report_.best && report_.best->score <= score) return;
  if (!report_.best) report_.best.emplace();
  BestWeights& best = *report_.best;
  best.step = row.step;
  best.criterion = metrics_.enabled() ? "reference" : "loss";
  best.score = score;
  best.row = row;
  copy_weights(trainable_, best.weights);
}

bool Trainer::consistency_check_due() const {
  const int every = objective_.group().check_every();
  return objective_.group().distributed() && every > 0 && step_ % every == 0;
}

namespace {

// Sums of the weights, of their squares and of the weights times their position: three numbers
// that any change of a weight changes.
torch::Tensor weights_checksum(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat;
  for (const auto& tensor : tensors)
    flat.push_back(tensor.detach().reshape({-1}).to(torch::kCPU, torch::kFloat64));
  const torch::Tensor all = torch::cat(flat);
  const torch::Tensor position = torch::arange(1, all.numel() + 1, all.options());
  return torch::stack({all.sum(), all.square().sum(), (all * position).sum()});
}

}  // namespace

// Every rank applies the same reduced gradient to the same weights: they stay bit for bit equal
// unless something breaks that (a rank-dependent random draw, another BLAS on another node).
void Trainer::check_weights_agree() {
  auto& group = objective_.group();
  const torch::Tensor own = weights_checksum(trainable_);
  torch::Tensor first = own.clone();
  group.broadcast(first, 0);
  const bool differs = !torch::equal(own, first);
  if (group.any(differs)) {
    throw TrainingError(
        "step " + std::to_string(step_) + ": the ranks' weights differ (distributed.check_every " +
        std::to_string(group.check_every()) + "); rank " + std::to_string(group.rank()) +
        (differs ? " has checksum " + std::to_string(own[0].item<double>()) + ", rank 0 " +
                       std::to_string(first[0].item<double>())
                 : std::string(" agrees with rank 0; another rank does not")));
  }
  spdlog::debug("step {}: the ranks' weights agree", step_);
}

// The ranks start from rank 0's weights (they are equal when made from one seed; this makes
// sure).
void Trainer::share_weights() {
  auto& group = objective_.group();
  if (!group.distributed()) return;
  torch::NoGradGuard no_grad;
  for (auto& tensor : trainable_) {
    torch::Tensor values = tensor.detach().contiguous().clone();
    group.broadcast(values, 0);
    tensor.detach().copy_(values);
  }
}

bool Trainer::checkpoint_due() const {
  return checkpoints_.store != nullptr && checkpoints_.every > 0 && step_ % checkpoints_.every == 0;
}

void Trainer::log_progress(const StageSpec& spec, int done, const HistoryRow& row,
                           double ms_per_step) {
  std::ostringstream line;
  line << spec.type << " " << done << "/" << spec.iterations << "  loss " << row.total;
  const auto& terms = objective_.problem().losses;
  if (terms.size() > 1) {
    for (size_t t = 0; t < terms.size(); ++t)
      line << "  " << terms[t].name << " " << row.terms[t];
  }
  const auto& parameters = objective_.problem().symbols.parameters;
  for (size_t p = 0; p < parameters.size(); ++p)
    line << "  " << parameters[p] << " " << row.parameters[p];
  for (size_t t = 0; t < row.loss_weights.size(); ++t)
    line << "  w_" << terms[t].name << " " << row.loss_weights[t];
  const auto causal = objective_.causal_terms();
  for (size_t k = 0; k < row.causal_min.size(); ++k)
    line << "  causal_min_" << terms[causal[k]].name << " " << row.causal_min[k];
  line << format_metrics(metrics_.names(), row.metrics);
  line.precision(3);
  line << "  " << std::fixed << ms_per_step << " ms/step";
  // The time left if the stage runs to its end (an upper bound: L-BFGS may converge sooner).
  const double left = 1e-3 * ms_per_step * static_cast<double>(spec.iterations - done);
  line.precision(0);
  line << "  ETA " << left << " s";
  spdlog::info("{}", line.str());
}

int Trainer::next_chunk(const StageSpec& spec, int done_in_stage) const {
  const int to_log = spec.log_every - done_in_stage % spec.log_every;
  int64_t chunk = std::min(to_log, spec.iterations - done_in_stage);
  for (int every : {metrics_.enabled() ? metrics_.every() : 0,
                    checkpoints_.store != nullptr ? checkpoints_.every : 0,
                    objective_.group().distributed() ? objective_.group().check_every() : 0}) {
    if (every > 0) chunk = std::min<int64_t>(chunk, every - step_ % every);
  }
  const int64_t update = objective_.next_point_update(step_);
  if (update > 0) chunk = std::min(chunk, update - step_);
  if (weighting_ != nullptr) chunk = std::min(chunk, weighting_->next_update(step_) - step_);
  return static_cast<int>(chunk);
}

TrainingReport Trainer::run(torch::serialize::InputArchive* resume) {
  LossValues latest;
  const LossAndGradient closure = loss_and_gradient(objective_, trainable_, latest);
  share_weights();
  if (resume != nullptr) {
    restore(*resume);
    spdlog::info("resuming at step {} (stage {} of {}, {} of its iterations done)", step_,
                 stage_index_ + 1, stages_.size(), current_.iterations);
  } else {
    update_loss_weights();
    latest = objective_.evaluate(false);
    // Terms weighted "initial_inverse" take 1 / this loss; the first row shows the weighted loss.
    if (objective_.set_initial_inverse_weights(latest)) latest = objective_.evaluate(false);
    report_.history.push_back(record(stages_.front().type, latest));
    consider_best(report_.history.back());
    spdlog::info("initial loss {:.6e} on {} points{}", report_.history.back().total,
                 objective_.total_points(),
                 format_metrics(metrics_.names(), report_.history.back().metrics));
  }
  remember_finite_weights();
  for (; stage_index_ < stages_.size(); ++stage_index_) {
    const StageSpec& spec = stages_[stage_index_];
    auto stage = make_stage(spec, trainable_);
    if (resume != nullptr && current_.iterations > 0) {
      torch::serialize::InputArchive state;
      resume->read("stage", state);
      stage->load(state);
    } else {
      current_ = StageReport{};
      current_.type = spec.type;
    }
    resume = nullptr;
    if (!run_stage(spec, *stage, closure)) break;
    report_.stages.push_back(current_);
    current_ = StageReport{};
    if (checkpoints_.store != nullptr) {
      ++stage_index_;  // the checkpoint starts the next stage
      write_checkpoint(nullptr);
      --stage_index_;
    }
  }
  report_.weights_step = step_;
  if (report_.diverged) restore_finite_weights();
  if (!report_.interrupted) {
    report_.final_metrics = metrics_.enabled() ? metrics_.measure() : std::vector<double>{};
    // The last row is the run's end: it carries the final errors whatever `every` is (a run of
    // 1500 steps measured every 1000 would otherwise end on a row without them).
    HistoryRow& last = report_.history.back();
    if (!report_.diverged && last.step == step_ && last.metrics.empty())
      last.metrics = report_.final_metrics;
  }
  report_.steps = step_;
  report_.seconds = elapsed_;
  return report_;
}

// On a terminal, the closure also updates the live progress line: Adam evaluates once per step;
// L-BFGS evaluates once or more per iteration, so its count is of evaluations.
LossAndGradient Trainer::with_live_line(const StageSpec& spec, const LossAndGradient& closure,
                                        Clock::time_point chunk_start) const {
  const bool counts_iterations = stage_type(spec).one_evaluation_per_iteration;
  return [this, &spec, &closure, chunk_start, counts_iterations, evaluations = 0]() mutable {
    torch::Tensor loss = closure();
    ++evaluations;
    auto& live = util::LiveLine::instance();
    if (!live.due()) return loss;
    const double seconds = std::max(seconds_since(chunk_start), 1e-9);
    const double rate = evaluations / seconds;
    std::ostringstream line;
    line.precision(4);
    if (counts_iterations) {
      line << spec.type << " " << current_.iterations + evaluations << "/" << spec.iterations;
    } else {
      line << spec.type << " " << current_.iterations << "/" << spec.iterations << " (+"
           << evaluations << " evaluations)";
    }
    line << "  loss " << std::scientific << loss.item<double>() << std::fixed;
    line.precision(0);
    line << "  " << rate << " evals/s";
    if (counts_iterations) {
      line << "  ETA " << (spec.iterations - current_.iterations - evaluations) / rate << " s";
    }
    live.show(line.str());
    return loss;
  };
}

bool Trainer::run_stage(const StageSpec& spec, Stage& stage, const LossAndGradient& closure) {
  take_snapshot(stage);
  const double seconds_before = current_.seconds;
  const auto stage_start = Clock::now();
  auto stage_seconds = [&] { return seconds_before + seconds_since(stage_start); };
  while (current_.iterations < spec.iterations) {
    const int chunk = next_chunk(spec, current_.iterations);
    const auto chunk_start = Clock::now();
    const int done = stage.advance(chunk, with_live_line(spec, closure, chunk_start));
    const double chunk_seconds = seconds_since(chunk_start);
    elapsed_ += chunk_seconds;
    step_ += done;
    current_.iterations += done;
    current_.evaluations = stage.evaluations();
    current_.details = stage.details();
    const bool stopping = util::stop_requested();
    // A chunk cut short by a stop request ends between two log points: no history row there,
    // so that a resumed run's history is the uninterrupted one's.
    if (!(stopping && done < chunk)) {
      if (done == 0) {
        current_.stop = stage.stop_reason();  // nothing left to do at the start of the chunk
        break;
      }
      const bool log_point = current_.iterations % spec.log_every == 0 ||
                             current_.iterations == spec.iterations || done < chunk;
      if (log_point || metrics_due()) {
        // The loss at the weights reached, not at the optimizer's last trial point.
        const HistoryRow row = record(spec.type, objective_.evaluate(false), stage.learning_rate());
        report_.history.push_back(row);
        log_progress(spec, current_.iterations, row, 1e3 * chunk_seconds / done);
        if (const std::string divergence = what_diverged(stage, row); !divergence.empty()) {
          if (roll_back(stage, divergence)) continue;
          report_.diverged = true;
          current_.stop = "diverged";
          current_.seconds = stage_seconds();
          report_.stages.push_back(current_);
          return false;
        }
        if (step_ > diverged_at_) rollbacks_in_a_row_ = 0;
        consider_best(row);
        take_snapshot(stage);
      }
      if (done < chunk) {
        current_.stop = stage.stop_reason();
        log_early_stop(spec);
        break;
      }
      // Across ranks the clocks differ: the stage ends when any rank's time is up.
      if (spec.max_seconds > 0 && objective_.group().any(stage_seconds() >= spec.max_seconds)) {
        current_.stop = "max_seconds";
        spdlog::info("{} stopped at its time limit of {} s", spec.type, spec.max_seconds);
        break;
      }
      const std::string changes = objective_.update_points(step_);
      if (!changes.empty()) {
        // L-BFGS's curvature history assumed the old points, a CUDA graph their sizes.
        stage.restart(objective_.sizes_changed());
        spdlog::debug("step {}:{}", step_, changes);
      }
      // New weights make a new objective, which L-BFGS's curvature history did not see.
      if (update_loss_weights()) stage.restart(false);
    }
    current_.seconds = stage_seconds();
    if (stopping) {
      report_.interrupted = true;
      if (checkpoints_.store != nullptr) write_checkpoint(&stage);
      spdlog::warn("stopped by signal {} at step {}{}", util::stop_signal(), step_,
                   checkpoints_.store != nullptr ? "; checkpoint written" : "");
      return false;
    }
    if (checkpoint_due() && current_.iterations < spec.iterations) write_checkpoint(&stage);
    if (consistency_check_due()) check_weights_agree();
  }
  current_.seconds = stage_seconds();
  current_.final_loss = report_.history.back().total;
  if (current_.stop.empty()) current_.stop = "iterations";
  return true;
}

void Trainer::log_early_stop(const StageSpec& spec) const {
  if (current_.stop == "stalled") {
    // Not convergence: the loss stopped decreasing (by more than tolerance_change), even from a
    // fresh curvature history; the gradient is still above tolerance_grad.
    spdlog::info("{} stopped after {} iterations: no further progress (tolerance_change)",
                 spec.type, current_.iterations);
  } else {
    spdlog::info("{} converged after {} iterations (tolerance_grad reached)", spec.type,
                 current_.iterations);
  }
}

// ---- checkpoints ----

namespace {

void copy_weights(const std::vector<torch::Tensor>& from, std::vector<torch::Tensor>& to) {
  torch::NoGradGuard no_grad;
  if (to.size() != from.size()) {
    to.clear();
    for (const auto& tensor : from)
      to.push_back(tensor.detach().clone());
    return;
  }
  for (size_t i = 0; i < from.size(); ++i)
    to[i].copy_(from[i]);
}

// JSON has no NaN: non-finite values are stored as strings and read back by from_number.
Json number(double value) {
  return std::isfinite(value) ? Json(value) : Json(std::to_string(value));
}

Json row_to_json(const HistoryRow& row) {
  auto numbers = [&](const std::vector<double>& values) {
    Json list = Json::array();
    for (double value : values)
      list.push_back(number(value));
    return list;
  };
  return {{"step", row.step},
          {"stage", row.stage},
          {"total", number(row.total)},
          {"terms", numbers(row.terms)},
          {"parameters", numbers(row.parameters)},
          {"metrics", numbers(row.metrics)},
          {"weights", numbers(row.loss_weights)},
          {"causal", numbers(row.causal_min)},
          {"lr", number(row.learning_rate)},
          {"elapsed", row.elapsed_seconds}};
}

double from_number(const Json& value) {
  return value.is_string() ? std::stod(value.get<std::string>()) : value.get<double>();
}

HistoryRow row_from_json(const Json& json) {
  auto numbers = [](const Json& list) {
    std::vector<double> values;
    for (const auto& value : list)
      values.push_back(from_number(value));
    return values;
  };
  HistoryRow row;
  row.step = json.at("step").get<int64_t>();
  row.stage = json.at("stage").get<std::string>();
  row.total = from_number(json.at("total"));
  row.terms = numbers(json.at("terms"));
  row.parameters = numbers(json.at("parameters"));
  row.metrics = numbers(json.at("metrics"));
  if (json.contains("weights")) row.loss_weights = numbers(json.at("weights"));
  if (json.contains("causal")) row.causal_min = numbers(json.at("causal"));
  if (json.contains("lr")) row.learning_rate = from_number(json.at("lr"));
  row.elapsed_seconds = json.at("elapsed").get<double>();
  return row;
}

}  // namespace

Json to_json(const StageReport& stage) {
  // "converged" and "timed_out" stay for the readers of earlier summaries.
  Json json = {{"type", stage.type},
               {"iterations", stage.iterations},
               {"stop", stage.stop},
               {"converged", stage.converged()},
               {"timed_out", stage.stop == "max_seconds"},
               {"seconds", stage.seconds},
               {"final_loss", number(stage.final_loss)}};
  if (stage.evaluations > 0) json["evaluations"] = stage.evaluations;
  if (!stage.details.empty()) json["details"] = stage.details;
  return json;
}

StageReport stage_report_from_json(const Json& json) {
  StageReport stage;
  stage.type = json.at("type").get<std::string>();
  stage.iterations = json.at("iterations").get<int>();
  stage.evaluations = json.value("evaluations", int64_t{0});
  if (json.contains("details")) stage.details = json.at("details");
  if (json.contains("stop")) {
    stage.stop = json.at("stop").get<std::string>();
  } else if (json.at("converged").get<bool>()) {
    stage.stop = "converged";
  } else if (json.at("timed_out").get<bool>()) {
    stage.stop = "max_seconds";
  }
  stage.seconds = json.at("seconds").get<double>();
  stage.final_loss = from_number(json.at("final_loss"));
  return stage;
}

Json Trainer::position() const {
  Json finished = Json::array();
  for (const auto& stage : report_.stages)
    finished.push_back(to_json(stage));
  Json history = Json::array();
  for (const auto& row : report_.history)
    history.push_back(row_to_json(row));
  Json position = {{"format", kCheckpointFormat}, {"stage_index", stage_index_},
                   {"stages", stages_.size()},    {"step", step_},
                   {"elapsed", elapsed_},         {"current", to_json(current_)},
                   {"finished", finished},        {"history", history}};
  if (weighting_ != nullptr) position["loss_weights"] = weighting_->state();
  position["initial_scales"] = objective_.initial_scales();
  if (report_.best) {
    position["best"] = {{"step", report_.best->step},
                        {"criterion", report_.best->criterion},
                        {"score", report_.best->score},
                        {"row", row_to_json(report_.best->row)}};
  }
  if (!report_.rollbacks.empty()) {
    position["rollbacks"] = Json::array();
    for (const auto& rollback : report_.rollbacks)
      position["rollbacks"].push_back(to_json(rollback));
  }
  return position;
}

bool Trainer::weights_finite() const {
  torch::NoGradGuard no_grad;
  return std::all_of(trainable_.begin(), trainable_.end(), [](const torch::Tensor& tensor) {
    return torch::isfinite(tensor).all().item<bool>();
  });
}

bool Trainer::remember_finite_weights() {
  if (!weights_finite()) return false;
  copy_weights(trainable_, finite_weights_);
  finite_step_ = step_;
  return true;
}

void Trainer::take_snapshot(const Stage& stage) {
  if (!remember_finite_weights() || !divergence_.roll_back) return;
  std::ostringstream state;
  torch::serialize::OutputArchive archive;
  // A dense quasi-Newton H (8 n² bytes) is not copied at every log point: its rollback starts
  // afresh from the weights.
  if (!stage_type(stages_[stage_index_]).dense_hessian) stage.save(archive);
  archive.save_to(state);
  snapshot_.step = step_;
  snapshot_.stage = current_;
  snapshot_.history_rows = report_.history.size();
  snapshot_.stage_state = state.str();
  copy_weights(trainable_, snapshot_.weights);
}

std::string Trainer::what_diverged(const Stage& stage, const HistoryRow& row) const {
  if (!std::isfinite(row.total)) return "the loss became " + std::to_string(row.total);
  if (!weights_finite()) return "the weights are not finite";
  return stage.non_finite_state();
}

bool Trainer::roll_back(Stage& stage, const std::string& divergence) {
  if (!divergence_.roll_back || snapshot_.step < 0) return false;
  if (rollbacks_in_a_row_ >= divergence_.max_rollbacks) {
    spdlog::warn("step {}: {}, again after {} rollbacks in a row (max_rollbacks)", step_,
                 divergence, rollbacks_in_a_row_);
    return false;
  }
  ++rollbacks_in_a_row_;
  diverged_at_ = std::max(diverged_at_, step_);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < trainable_.size(); ++i)
      trainable_[i].copy_(snapshot_.weights[i]);
  }
  std::istringstream state(snapshot_.stage_state);
  torch::serialize::InputArchive archive;
  archive.load_from(state);
  const Rollback rollback{step_, snapshot_.step, stage.roll_back(archive)};
  spdlog::warn("step {}: {}; rolled back to step {} ({} of at most {} in a row), {}", step_,
               divergence, snapshot_.step, rollbacks_in_a_row_, divergence_.max_rollbacks,
               rollback.change);
  report_.rollbacks.push_back(rollback);
  step_ = snapshot_.step;
  const double seconds = current_.seconds;  // the time was spent all the same
  current_ = snapshot_.stage;
  current_.seconds = seconds;
  report_.history.resize(snapshot_.history_rows);
  return true;
}

void Trainer::restore_finite_weights() {
  if (finite_weights_.size() != trainable_.size()) return;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < trainable_.size(); ++i)
    trainable_[i].copy_(finite_weights_[i]);
  report_.weights_step = finite_step_;
  spdlog::warn("the weights of step {}, the last finite ones, are restored", finite_step_);
}

void Trainer::write_checkpoint(const Stage* stage) {
  if (!weights_finite()) {
    spdlog::warn("step {}: the weights are not finite; no checkpoint written", step_);
    return;
  }
  remember_finite_weights();
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(position().dump()));
  for (size_t i = 0; i < trainable_.size(); ++i)
    archive.write("trainable/" + std::to_string(i), trainable_[i].detach(), true);
  if (report_.best) {
    for (size_t i = 0; i < report_.best->weights.size(); ++i)
      archive.write("best/" + std::to_string(i), report_.best->weights[i], true);
  }
  torch::serialize::OutputArchive points;
  objective_.save_points(points);
  archive.write("points", points);
  if (stage != nullptr) {
    torch::serialize::OutputArchive state;
    stage->save(state);
    archive.write("stage", state);
  }
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("rng", generator.get_state(), true);
  }
  if (objective_.group().rank() == 0) checkpoints_.store->write(archive, step_);
}

void Trainer::restore(torch::serialize::InputArchive& archive) {
  c10::IValue meta;
  archive.read("meta", meta);
  const Json state = Json::parse(meta.toStringRef());
  if (state.at("format") != kCheckpointFormat || state.at("stages") != stages_.size()) {
    throw InputError("the checkpoint was written by another version or for another config (" +
                     state.at("format").dump() + ", " + state.at("stages").dump() + " stages)");
  }
  stage_index_ = state.at("stage_index").get<size_t>();
  step_ = state.at("step").get<int64_t>();
  elapsed_ = state.at("elapsed").get<double>();
  current_ = stage_report_from_json(state.at("current"));
  for (const auto& stage : state.at("finished"))
    report_.stages.push_back(stage_report_from_json(stage));
  for (const auto& row : state.at("history"))
    report_.history.push_back(row_from_json(row));
  for (const auto& rollback : state.value("rollbacks", Json::array())) {
    report_.rollbacks.push_back({rollback.at("diverged_at").get<int64_t>(),
                                 rollback.at("back_to").get<int64_t>(),
                                 rollback.at("change").get<std::string>()});
  }
  if (weighting_ != nullptr && state.contains("loss_weights")) {
    weighting_->restore(state.at("loss_weights"), objective_);
  }
  if (state.contains("initial_scales")) {
    objective_.set_initial_scales(state.at("initial_scales").get<std::vector<double>>());
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < trainable_.size(); ++i) {
    torch::Tensor stored;
    archive.read("trainable/" + std::to_string(i), stored, true);
    if (stored.sizes() != trainable_[i].sizes()) {
      throw InputError("the checkpoint's weights have other shapes: it is for another network");
    }
    trainable_[i].copy_(stored);
  }
  if (state.contains("best")) {
    BestWeights best;
    const Json& stored = state.at("best");
    best.step = stored.at("step").get<int64_t>();
    best.criterion = stored.at("criterion").get<std::string>();
    best.score = stored.at("score").get<double>();
    best.row = row_from_json(stored.at("row"));
    for (size_t i = 0; i < trainable_.size(); ++i) {
      torch::Tensor weights;
      archive.read("best/" + std::to_string(i), weights, true);
      best.weights.push_back(weights.to(trainable_[i].options()));
    }
    report_.best = std::move(best);
  }
  torch::serialize::InputArchive points;
  archive.read("points", points);
  objective_.load_points(points);
  torch::Tensor rng;
  archive.read("rng", rng, true);
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(rng);
}

}  // namespace pinn::train
