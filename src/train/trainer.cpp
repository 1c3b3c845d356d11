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

}  // namespace

Trainer::Trainer(Objective& objective, model::Network& network, std::vector<StageSpec> stages)
    : objective_(objective), network_(network), stages_(std::move(stages)) {}

HistoryRow Trainer::record(const std::string& stage, const LossValues& values) {
  HistoryRow row;
  row.step = step_;
  row.stage = stage;
  row.total = values.total.item<double>();
  for (const auto& term : values.terms)
    row.terms.push_back(term.item<double>());
  row.elapsed_seconds = elapsed_;
  return row;
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
  line.precision(3);
  line << "  " << std::fixed << ms_per_step << " ms/step";
  spdlog::info("{}", line.str());
}

TrainingReport Trainer::run() {
  TrainingReport report;
  auto parameters = network_.parameters();
  LossValues latest;
  const LossAndGradient closure = [&]() {
    network_.zero_grad();
    latest = objective_.evaluate(true);
    latest.total.backward();
    return latest.total.detach();
  };

  latest = objective_.evaluate(false);
  report.history.push_back(record(stages_.front().type, latest));
  spdlog::info("initial loss {:.6e} on {} points", report.history.back().total,
               objective_.total_points());

  for (const auto& spec : stages_) {
    auto stage = make_stage(spec, parameters);
    StageReport stage_report;
    stage_report.type = spec.type;
    const auto stage_start = Clock::now();
    while (stage_report.iterations < spec.iterations) {
      const int chunk = std::min(spec.log_every, spec.iterations - stage_report.iterations);
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
      // The loss at the weights reached, not at the optimizer's last trial point.
      const HistoryRow row = record(spec.type, objective_.evaluate(false));
      report.history.push_back(row);
      log_progress(spec, stage_report.iterations, row, 1e3 * chunk_seconds / done);
      if (!std::isfinite(row.total)) {
        report.diverged = true;
        break;
      }
      if (done < chunk) {
        stage_report.converged = true;
        break;
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
  report.steps = step_;
  report.seconds = elapsed_;
  return report;
}

}  // namespace pinn::train
