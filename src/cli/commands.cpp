// validate and train: prepare the setup, train, and write the run directory.
#include "cli/commands.hpp"

#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <chrono>

#include "cli/setup.hpp"
#include "derivatives/engine.hpp"
#include "output/run_directory.hpp"
#include "problem/csv.hpp"
#include "train/metrics.hpp"
#include "train/objective.hpp"
#include "train/trainer.hpp"
#include "util/errors.hpp"

namespace pinn::cli {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Evaluation sets can be large: their fields are computed in batches of this many points.
constexpr int64_t kEvaluationBatch = 16384;

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// Values of the set's fields at its points, N x fields, float64 on the CPU.
torch::Tensor evaluate_fields(const problem::EvaluationSet& set, model::Network& network,
                              derivatives::Engine& engine, const train::ObjectiveContext& context) {
  std::set<expr::Channel> channels;
  for (const auto& field : set.fields)
    expr::collect_channels(*field, channels);
  std::vector<torch::Tensor> batches;
  for (int64_t start = 0; start < set.points.size(0); start += kEvaluationBatch) {
    const auto points = set.points.slice(0, start, start + kEvaluationBatch).to(context.options);
    const auto values = engine.compute(network, points, channels, /*create_graph=*/false);
    const std::map<std::string, torch::Tensor> no_fields;
    const expr::EvalContext evaluation{points, &values, &no_fields, &context.parameters};
    std::vector<torch::Tensor> columns;
    for (const auto& field : set.fields) {
      columns.push_back(
          expr::evaluate(*field, evaluation).detach().to(torch::kCPU, torch::kFloat64));
    }
    batches.push_back(torch::stack(columns, 1));
  }
  return torch::cat(batches, 0);
}

std::vector<std::string> write_predictions(const Setup& setup, const output::RunDirectory& run,
                                           derivatives::Engine& engine,
                                           const train::ObjectiveContext& context) {
  std::vector<std::string> files;
  for (const auto& set : setup.problem.evaluations) {
    const auto fields = evaluate_fields(set, *setup.model, engine, context);
    std::vector<std::string> columns = setup.problem.symbols.inputs;
    columns.insert(columns.end(), set.field_names.begin(), set.field_names.end());
    const std::string file = "predictions_" + set.name + ".csv";
    problem::write_csv(run.file(file), columns, torch::cat({set.points, fields}, 1));
    files.push_back(file);
  }
  return files;
}

Json summarize(const Setup& setup, const std::string& engine, const train::TrainingReport& report,
               const std::vector<train::TermDiagnostics>& terms,
               const std::vector<std::string>& metric_names, int64_t points, double wall,
               const std::vector<std::string>& predictions) {
  Json summary;
  summary["status"] = report.diverged ? "diverged" : "completed";
  summary["name"] = setup.settings.name;
  summary["engine"] = engine;  // the one that ran
  summary["device"] = setup.device.str();
  summary["dtype"] = setup.settings.dtype;
  summary["seed"] = setup.settings.seed;
  summary["libtorch_version"] = libtorch_version();
  summary["pinn_train_version"] = PINN_TRAIN_VERSION;
  summary["network_parameters"] = model::parameter_count(*setup.network);
  summary["training_points"] = points;
  summary["steps"] = report.steps;
  summary["stages"] = Json::array();
  for (const auto& stage : report.stages) {
    summary["stages"].push_back({{"type", stage.type},
                                 {"iterations", stage.iterations},
                                 {"converged", stage.converged},
                                 {"timed_out", stage.timed_out},
                                 {"seconds", stage.seconds},
                                 {"final_loss", stage.final_loss}});
  }
  summary["training_time_s"] = report.seconds;
  summary["wall_time_s"] = wall;
  summary["points_per_second"] =
      report.seconds > 0 ? static_cast<double>(points * report.steps) / report.seconds : 0.0;
  Json losses;
  double total = 0;
  for (const auto& term : terms) {
    total += term.loss;
    losses[term.name] = {{"loss", term.loss},
                         {"mean_square", term.mean_square},
                         {"max_abs_residual", term.max_abs_residual},
                         {"mean_abs_residual", term.mean_abs_residual}};
  }
  summary["final_loss"] = total;
  summary["losses"] = losses;
  if (!setup.parameters.empty()) {
    Json parameters;
    for (size_t p = 0; p < setup.parameters.size(); ++p)
      parameters[setup.problem.symbols.parameters[p]] = setup.parameters[p].item<double>();
    summary["parameters"] = parameters;
  }
  if (!metric_names.empty()) {
    Json metrics;
    for (size_t m = 0; m < metric_names.size(); ++m)
      metrics[metric_names[m]] = report.final_metrics[m];
    summary["metrics"] = metrics;
  }
  summary["predictions"] = predictions;
  return summary;
}

output::ModelDescription describe_model(const Setup& setup) {
  output::ModelDescription description;
  const auto& root = setup.document.root();
  description.network = root.at("network");
  description.inputs = setup.problem.symbols.inputs;
  description.outputs = setup.problem.symbols.outputs;
  if (root.contains("transform")) description.transform = root.at("transform");
  description.constants = root.at("constants");
  description.parameter_names = setup.problem.symbols.parameters;
  description.parameters = setup.parameters;
  return description;
}

std::vector<std::string> term_names(const problem::Problem& problem) {
  std::vector<std::string> names;
  for (const auto& term : problem.losses)
    names.push_back(term.name);
  return names;
}

}  // namespace

int validate_command(const RunOptions& options) {
  const Setup setup = prepare(options);
  int64_t points = 0;
  for (const auto& entry : setup.problem.point_sets)
    points += entry.second.size();
  spdlog::info(
      "{}: valid; {} inputs, {} outputs, {} loss terms, {} points, {} parameters, {} "
      "stages, engine {}, device {}",
      options.config_path, setup.problem.input_count(), setup.problem.output_count(),
      setup.problem.losses.size(), points, model::parameter_count(*setup.network),
      setup.stages.size(), setup.settings.derivatives, setup.device.str());
  return kExitOk;
}

int train_command(const RunOptions& options) {
  const auto start = Clock::now();
  Setup setup = prepare(options);
  const auto run = output::RunDirectory::create(setup.settings.output, options.force);
  run.write_json("config.json", setup.document.root());
  spdlog::info("training {} on {} ({}, engine {}) into {}", setup.settings.name, setup.device.str(),
               setup.settings.dtype, setup.settings.derivatives, run.path().string());

  const auto engine = derivatives::make_engine(setup.settings.derivatives);
  train::ObjectiveContext context{torch::TensorOptions().dtype(setup.dtype).device(setup.device),
                                  setup.parameters};
  train::Objective objective(setup.problem, *setup.model, *engine, context);
  train::ReferenceMetrics metrics(setup.problem.reference, objective);
  train::Trainer trainer(objective, trainable_tensors(setup), metrics, setup.stages);
  const train::TrainingReport report = trainer.run();

  const auto terms = objective.diagnostics();
  run.write_history({term_names(setup.problem), setup.problem.symbols.parameters, metrics.names()},
                    report.history);
  output::save_model(run.file("model.pt"), *setup.network, describe_model(setup));
  const auto predictions = report.diverged ? std::vector<std::string>{}
                                           : write_predictions(setup, run, *engine, context);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const Json summary = summarize(setup, engine->effective_name(*setup.model), report, terms,
                                 metrics.names(), objective.total_points(), wall, predictions);
  run.write_json("summary.json", summary);  // last: its presence marks a finished run

  if (report.diverged) {
    throw TrainingError("the loss became NaN or infinite after " + std::to_string(report.steps) +
                        " steps; try a smaller learning rate or float64 (outputs written to " +
                        run.path().string() + ")");
  }
  spdlog::info("done: {} steps in {:.2f} s (wall {:.2f} s), final loss {:.6e}", report.steps,
               report.seconds, wall, summary["final_loss"].get<double>());
  for (const auto& term : terms) {
    spdlog::info("  {}: loss {:.6e}, max |residual| {:.3e}", term.name, term.loss,
                 term.max_abs_residual);
  }
  for (size_t m = 0; m < metrics.names().size(); ++m)
    spdlog::info("  {}: {:.4e}", metrics.names()[m], report.final_metrics[m]);
  for (size_t p = 0; p < setup.parameters.size(); ++p) {
    spdlog::info("  parameter {}: {:.6g}", setup.problem.symbols.parameters[p],
                 setup.parameters[p].item<double>());
  }
  return kExitOk;
}

}  // namespace pinn::cli
