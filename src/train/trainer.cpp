// Running the stages, with progress logs and history rows at every log point.
#include "train/trainer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <sstream>

namespace pinn::train {

namespace {

using Clock = std::chrono::steady_clock;

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

}  // namespace

LossAndGradient loss_and_gradient(Objective& objective, std::vector<torch::Tensor> trainable,
                                  LossValues& latest) {
  return [&objective, trainable = std::move(trainable), &latest]() {
    for (const auto& parameter : trainable) {
      if (parameter.grad().defined()) parameter.mutable_grad().zero_();
    }
    latest = objective.evaluate(true);
    latest.total.backward();
    return latest.total.detach();
  };
}

Trainer::Trainer(Objective& objective, std::vector<torch::Tensor> trainable,
                 ReferenceMetrics& metrics, std::vector<StageSpec> stages)
    : objective_(objective),
      trainable_(std::move(trainable)),
      metrics_(metrics),
      stages_(std::move(stages)) {}

HistoryRow Trainer::record(const std::string& stage, const LossValues& values) {
  HistoryRow row;
  row.step = step_;
  row.stage = stage;
  row.total = values.total.item<double>();
  for (const auto& term : values.terms)
    row.terms.push_back(term.item<double>());
  for (const auto& parameter : objective_.context().parameters)
    row.parameters.push_back(parameter.item<double>());
  if (metrics_due()) row.metrics = metrics_.measure();
  row.elapsed_seconds = elapsed_;
  return row;
}

bool Trainer::metrics_due() const {
  return metrics_.enabled() && metrics_.every() > 0 && step_ % metrics_.every() == 0;
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
  line << format_metrics(metrics_.names(), row.metrics);
  line.precision(3);
  line << "  " << std::fixed << ms_per_step << " ms/step";
  spdlog::info("{}", line.str());
}

int Trainer::next_chunk(const StageSpec& spec, int done_in_stage) const {
  const int to_log = spec.log_every - done_in_stage % spec.log_every;
  int64_t chunk = std::min(to_log, spec.iterations - done_in_stage);
  if (metrics_.enabled() && metrics_.every() > 0) {
    chunk = std::min<int64_t>(chunk, metrics_.every() - step_ % metrics_.every());
  }
  const int64_t update = objective_.next_point_update(step_);
  if (update > 0) chunk = std::min(chunk, update - step_);
  return static_cast<int>(chunk);
}

TrainingReport Trainer::run() {
  TrainingReport report;
  LossValues latest;
  const LossAndGradient closure = loss_and_gradient(objective_, trainable_, latest);

  latest = objective_.evaluate(false);
  report.history.push_back(record(stages_.front().type, latest));
  spdlog::info("initial loss {:.6e} on {} points{}", report.history.back().total,
               objective_.total_points(),
               format_metrics(metrics_.names(), report.history.back().metrics));

  for (const auto& spec : stages_) {
    auto stage = make_stage(spec, trainable_);
    StageReport stage_report;
    stage_report.type = spec.type;
    const auto stage_start = Clock::now();
    while (stage_report.iterations < spec.iterations) {
      const int chunk = next_chunk(spec, stage_report.iterations);
      const auto chunk_start = Clock::now();
      const int done = stage->advance(chunk, closure);
      const double chunk_seconds = seconds_since(chunk_start);
      elapsed_ += chunk_seconds;
      step_ += done;
      stage_report.iterations += done;
      if (done == 0) {
        stage_report.converged = true;  // nothing left to do at the start of the chunk
        break;
      }
      const bool log_point = stage_report.iterations % spec.log_every == 0 ||
                             stage_report.iterations == spec.iterations || done < chunk;
      if (log_point || metrics_due()) {
        // The loss at the weights reached, not at the optimizer's last trial point.
        const HistoryRow row = record(spec.type, objective_.evaluate(false));
        report.history.push_back(row);
        log_progress(spec, stage_report.iterations, row, 1e3 * chunk_seconds / done);
        if (!std::isfinite(row.total)) {
          report.diverged = true;
          break;
        }
      }
      if (done < chunk) {
        stage_report.converged = true;
        break;
      }
      if (spec.max_seconds > 0 && seconds_since(stage_start) >= spec.max_seconds) {
        stage_report.timed_out = true;
        spdlog::info("{} stopped at its time limit of {} s", spec.type, spec.max_seconds);
        break;
      }
      const std::string changes = objective_.update_points(step_);
      if (!changes.empty()) {
        stage->restart();  // L-BFGS's curvature history assumed the old points
        spdlog::debug("step {}:{}", step_, changes);
      }
    }
    stage_report.seconds = seconds_since(stage_start);
    stage_report.final_loss = report.history.back().total;
    if (stage_report.converged) {
      spdlog::info("{} converged after {} iterations (tolerance reached)", spec.type,
                   stage_report.iterations);
    }
    report.stages.push_back(stage_report);
    if (report.diverged) break;
  }
  report.final_metrics = metrics_.enabled() ? metrics_.measure() : std::vector<double>{};
  report.steps = step_;
  report.seconds = elapsed_;
  return report;
}

}  // namespace pinn::train
