// Predictions, the reference comparison and summary.json.
#include "output/results.hpp"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "derivatives/kernels/tiled_pass.hpp"
#include "problem/csv.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::output {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr int64_t kEvaluationBatch = 16384;

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// predictions_<set>.csv for each evaluation set: the inputs, then the set's fields. Returns the
// file names.
std::vector<std::string> write_predictions(const RunDirectory& run, const problem::Problem& problem,
                                           const Evaluator& evaluator) {
  std::vector<std::string> files;
  for (const auto& set : problem.evaluations) {
    const auto fields = evaluate_fields(set, evaluator);
    std::vector<std::string> columns = problem.symbols.inputs;
    columns.insert(columns.end(), set.field_names.begin(), set.field_names.end());
    const std::string file = "predictions_" + set.name + ".csv";
    problem::write_csv(run.file(file), columns, torch::cat({set.points, fields}, 1));
    files.push_back(file);
  }
  return files;
}

// The reference points as an evaluation set of the outputs that have a reference.
problem::EvaluationSet reference_set(const problem::Problem& problem) {
  const auto& reference = problem.reference;
  problem::EvaluationSet set;
  set.name = "reference";
  set.points = reference.points;
  for (int output : reference.outputs) {
    const std::string& name = problem.symbols.outputs[static_cast<size_t>(output)];
    set.field_names.push_back(name);
    set.fields.push_back(expr::parse(name, problem.symbols));
  }
  return set;
}

// reference.csv: at the reference points, each output with a reference, its reference value and
// the error (prediction - reference); what scripts/plot_run.py draws.
void write_reference_comparison(const RunDirectory& run, const problem::Problem& problem,
                                const Evaluator& evaluator) {
  const auto& reference = problem.reference;
  if (!reference.defined()) return;
  const problem::EvaluationSet set = reference_set(problem);
  const auto predicted = evaluate_fields(set, evaluator);
  std::vector<std::string> columns = problem.symbols.inputs;
  std::vector<torch::Tensor> blocks = {reference.points};
  for (size_t o = 0; o < set.field_names.size(); ++o) {
    const auto value = predicted.select(1, static_cast<int64_t>(o));
    const auto truth = reference.values.select(1, static_cast<int64_t>(o));
    columns.insert(columns.end(), {set.field_names[o], set.field_names[o] + "_reference",
                                   set.field_names[o] + "_error"});
    blocks.push_back(torch::stack({value, truth, value - truth}, 1));
  }
  problem::write_csv(run.file("reference.csv"), columns, torch::cat(blocks, 1));
}

// The status, what ran it and how big it was.
void describe_run(Json& summary, const RunFacts& facts, const derivatives::Engine& engine) {
  const auto& report = facts.report;
  summary["status"] = report.diverged      ? "diverged"
                      : report.interrupted ? "interrupted"
                                           : "completed";
  summary["name"] = facts.settings.name;
  summary["engine"] = engine.name();  // the one that ran
  summary["device"] = facts.device;
  summary["dtype"] = facts.settings.dtype;
  summary["seed"] = facts.settings.seed;
  summary["threads"] = at::get_num_threads();
  summary["cpu_kernels"] = engine.cpu_kernels();
  summary["cpu_kernel_choices"] = kernel_choices(engine);
  summary["libtorch_version"] = libtorch_version();
  summary["pinn_train_version"] = PINN_TRAIN_VERSION;
  summary["network_parameters"] = model::parameter_count(facts.network);
  summary["training_points"] = facts.training_points;
  if (!facts.distributed.is_null()) summary["distributed"] = facts.distributed;
}

// The steps, stages and times.
void describe_training(Json& summary, const train::TrainingReport& report, int64_t points,
                       double wall) {
  summary["steps"] = report.steps;
  summary["model_step"] = report.weights_step;  // the step whose weights model.pt holds
  summary["stages"] = Json::array();
  for (const auto& stage : report.stages)
    summary["stages"].push_back(Json(train::to_json(stage)));
  if (!report.rollbacks.empty()) {
    summary["rollbacks"] = Json::array();
    for (const auto& rollback : report.rollbacks)
      summary["rollbacks"].push_back(Json(train::to_json(rollback)));
  }
  summary["training_time_s"] = report.seconds;
  summary["wall_time_s"] = wall;
  summary["points_per_second"] =
      report.seconds > 0 ? static_cast<double>(points * report.steps) / report.seconds : 0.0;
}

// keep_best: the step model_best.pt holds, by which criterion, and its losses and metrics.
void describe_best(Json& summary, const RunFacts& facts) {
  const train::BestWeights& best = *facts.report.best;
  Json terms;
  for (size_t t = 0; t < facts.terms.size() && t < best.row.terms.size(); ++t)
    terms[facts.terms[t].name] = best.row.terms[t];
  Json entry = {{"file", "model_best.pt"},
                {"step", best.step},
                {"criterion", best.criterion},
                {"loss", best.row.total},
                {"losses", terms}};
  const auto& names = facts.metric_names;
  if (best.row.metrics.size() == names.size() && !names.empty()) {
    Json metrics;
    for (size_t m = 0; m < names.size(); ++m)
      metrics[names[m]] = best.row.metrics[m];
    entry["metrics"] = metrics;
  }
  summary["best"] = entry;
}

// The final loss and each term's, the trained parameters and the final metrics.
void describe_outcome(Json& summary, const RunFacts& facts) {
  Json losses;
  double total = 0;
  for (const auto& term : facts.terms) {
    total += term.loss;
    losses[term.name] = {{"loss", term.loss},
                         {"mean_square", term.mean_square},
                         {"max_abs_residual", term.max_abs_residual},
                         {"mean_abs_residual", term.mean_abs_residual},
                         {"weight", term.weight},
                         {"adaptive_weight", term.adaptive_weight}};
    if (std::isfinite(term.causal_min_weight)) {
      losses[term.name]["causal_min_weight"] = term.causal_min_weight;
    }
  }
  summary["final_loss"] = total;
  summary["losses"] = losses;
  if (!facts.parameters.empty()) {
    Json parameters;
    for (size_t p = 0; p < facts.parameters.size(); ++p)
      parameters[facts.problem.symbols.parameters[p]] = facts.parameters[p].item<double>();
    summary["parameters"] = parameters;
  }
  if (facts.report.best) describe_best(summary, facts);
  // An interrupted run stops without measuring its final errors: history.csv has the last ones.
  const auto& names = facts.metric_names;
  if (!names.empty() && facts.report.final_metrics.size() == names.size()) {
    Json metrics;
    for (size_t m = 0; m < names.size(); ++m)
      metrics[names[m]] = facts.report.final_metrics[m];
    summary["metrics"] = metrics;
  }
}

}  // namespace

namespace {

// This rank's rows of the set's fields (all of them for one process).
torch::Tensor evaluate_rows(const problem::EvaluationSet& set, const Evaluator& evaluator,
                            int64_t first, int64_t count) {
  std::set<expr::Channel> channels;
  for (const auto& field : set.fields)
    expr::collect_channels(*field, channels);
  const auto& context = evaluator.context;
  std::vector<torch::Tensor> batches;
  for (int64_t start = first; start < first + count; start += kEvaluationBatch) {
    const auto points =
        set.points.slice(0, start, std::min(start + kEvaluationBatch, first + count))
            .to(context.options);
    const auto values = evaluator.engine.compute(points, channels, /*create_graph=*/false);
    const std::map<std::string, torch::Tensor> no_fields;
    const expr::EvalContext evaluation{points, &values, &no_fields, &context.parameters};
    std::vector<torch::Tensor> columns;
    for (const auto& field : set.fields) {
      columns.push_back(
          expr::evaluate(*field, evaluation).detach().to(torch::kCPU, torch::kFloat64));
    }
    batches.push_back(torch::stack(columns, 1));
  }
  if (batches.empty()) {
    return torch::zeros({0, static_cast<int64_t>(set.fields.size())}, torch::kFloat64);
  }
  return torch::cat(batches, 0);
}

}  // namespace

// Across ranks each evaluates its share of the rows; the shares, summed into a table of zeros,
// make the whole table on every rank.
torch::Tensor evaluate_fields(const problem::EvaluationSet& set, const Evaluator& evaluator) {
  auto* group = evaluator.context.group;
  const int64_t rows = set.points.size(0);
  if (group == nullptr || !group->distributed()) return evaluate_rows(set, evaluator, 0, rows);
  const auto share = group->share(rows);
  const torch::Tensor mine = evaluate_rows(set, evaluator, share.start, share.count);
  if (share.replicated) return mine;
  torch::Tensor all =
      torch::zeros({rows, static_cast<int64_t>(set.fields.size())}, torch::kFloat64);
  all.narrow(0, share.start, share.count).copy_(mine);
  group->sum(all);
  return all;
}

void evaluate_for_rank_zero(const problem::Problem& problem, const Evaluator& evaluator) {
  for (const auto& set : problem.evaluations)
    evaluate_fields(set, evaluator);
  if (problem.reference.defined()) evaluate_fields(reference_set(problem), evaluator);
}

Json write_results(const RunDirectory& run, const RunFacts& facts, const Evaluator& evaluator,
                   std::chrono::steady_clock::time_point started) {
  const bool finished = !facts.report.diverged && !facts.report.interrupted;
  const auto predictions =
      finished ? write_predictions(run, facts.problem, evaluator) : std::vector<std::string>{};
  if (finished) write_reference_comparison(run, facts.problem, evaluator);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  Json summary;
  describe_run(summary, facts, evaluator.engine);
  describe_training(summary, facts.report, facts.training_points, wall);
  describe_outcome(summary, facts);
  summary["predictions"] = predictions;
  summary["run_id"] = run.id();
  run.write_json("summary.json", summary);  // last: its presence marks a finished run
  return summary;
}

void write_failure_summary(const RunDirectory& run, const std::string& name,
                           const train::CheckpointStore& store, const std::string& failure) {
  const auto checkpoints = store.files();
  Json summary;
  summary["status"] = "write_failed";
  summary["error"] = failure;
  summary["name"] = name;
  summary["run_id"] = run.id();
  summary["checkpoint"] = checkpoints.empty()
                              ? Json(nullptr)
                              : Json("checkpoints/" + checkpoints.front().filename().string());
  summary["pinn_train_version"] = PINN_TRAIN_VERSION;
  try {
    run.write_json("summary.json", summary);
  } catch (const OutputError& e) {
    std::error_code error;
    fs::remove(run.file("summary.json"), error);  // an older run's "interrupted" would mislead
    spdlog::warn("no summary written either: {}", e.what());
  }
}

Json read_summary(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path / "summary.json", error)) return nullptr;
  try {
    return Json::parse(read_text_file(path / "summary.json"));
  } catch (const Json::exception&) {
    return nullptr;
  }
}

Json kernel_choices(const derivatives::Engine& engine) {
  Json choices = Json::array();
  if (engine.cpu_kernels() == "none") return choices;
  for (const auto& choice : derivatives::tiles::kernel_choices()) {
    Json entry = {{"call", choice.call},
                  {"points", choice.points},
                  {"calls", choice.calls},
                  {"variant", choice.variant},
                  {"reason", choice.reason}};
    if (!choice.times.empty()) {
      Json times = Json::object();
      for (const auto& time : choice.times)
        times[time.variant] = time.ms;
      entry["ms_per_call"] = times;
    }
    choices.push_back(entry);
  }
  return choices;
}

}  // namespace pinn::output
