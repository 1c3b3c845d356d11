// validate and train: prepare the setup, train, and write the run directory.
#include "cli/commands.hpp"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cli/setup.hpp"
#include "derivatives/engine.hpp"
#include "distributed/group.hpp"
#include "output/layout.hpp"
#include "output/results.hpp"
#include "output/run_directory.hpp"
#include "problem/csv.hpp"
#include "train/metrics.hpp"
#include "train/objective.hpp"
#include "train/trainer.hpp"
#include "util/crc32c.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/logging.hpp"

namespace pinn::cli {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

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
  output::check_output_location(setup.settings.output, setup.output_where);
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

namespace {

namespace fs = std::filesystem;

// RUN_DIR/source.json: where the run's config came from, so that `resume` finds its data files.
void write_source(const output::RunDirectory& run, const RunOptions& options) {
  const fs::path config = fs::absolute(options.config_path);
  const std::string base = options.base_directory ? fs::absolute(*options.base_directory).string()
                                                  : config.parent_path().string();
  run.write_json("source.json", {{"config", config.string()}, {"base_directory", base}});
}

void log_results(const Setup& setup, const train::TrainingReport& report,
                 const std::vector<train::TermDiagnostics>& terms,
                 const train::ReferenceMetrics& metrics, double wall, double final_loss) {
  spdlog::info("done: {} steps in {:.2f} s (wall {:.2f} s), final loss {:.6e}", report.steps,
               report.seconds, wall, final_loss);
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
}

// output.plots: scripts/plot_run.py draws the run into RUN_DIR/plots. A failure to draw is a
// warning: the run itself is complete.
void draw_plots(const output::RunDirectory& run) {
  const std::string command = std::string(PINN_PYTHON) + " '" + std::string(PINN_SCRIPTS_DIR) +
                              "/plot_run.py' '" + run.path().string() + "' > '" +
                              run.file("plots.log").string() + "' 2>&1";
  const int status = std::system(command.c_str());
  if (status != 0) {
    spdlog::warn("drawing the plots failed (see {}); draw them with: {}",
                 run.file("plots.log").string(), command.substr(0, command.find(" >")));
  } else {
    spdlog::info("plots in {}", run.file("plots").string());
  }
}

// Runs `write_run` (everything that writes into `run`); a failed write is recorded in the
// summary, then raised (exit 5).
int guard_writes(const output::RunDirectory& run, const train::CheckpointStore& store,
                 const Setup& setup, const std::function<int()>& write_run) {
  try {
    return write_run();
  } catch (const OutputError& e) {
    output::write_failure_summary(run, setup.settings.name, store, e.what());
    const auto checkpoints = store.files();
    if (checkpoints.empty()) throw;
    throw OutputError(std::string(e.what()) + "\nThe newest complete checkpoint is " +
                      checkpoints.front().string() + ": make room, then continue with: " +
                      "pinn-train resume " + run.path().string());
  }
}

// After the run's files are written: its plots when it finished, else its error (diverged) or
// exit code (interrupted); the results in the log.
int conclude(const Setup& setup, const output::RunDirectory& run,
             const train::TrainingReport& report, const std::vector<train::TermDiagnostics>& terms,
             const train::ReferenceMetrics& metrics, const Json& summary) {
  const bool finished = !report.diverged && !report.interrupted;
  if (finished && setup.settings.plots) draw_plots(run);
  if (report.diverged) {
    throw TrainingError("training diverged (a NaN or infinity) after " +
                        std::to_string(report.steps) +
                        " steps; try a smaller learning rate or float64 (model.pt holds the "
                        "weights of step " +
                        std::to_string(report.weights_step) +
                        ", the last finite ones; outputs in " + run.path().string() + ")");
  }
  if (report.interrupted) {
    const bool ranks = setup.group != nullptr && setup.group->distributed();
    spdlog::warn(
        "interrupted at step {}; continue with: pinn-train {}resume {}{}", report.steps,
        ranks ? "launch --nproc N " : "", run.path().string(),
        ranks ? " (or the same srun or torchrun line with --resume; any number of ranks)" : "");
    return kExitInterrupted;
  }
  log_results(setup, report, terms, metrics, summary["wall_time_s"].get<double>(),
              summary["final_loss"].get<double>());
  return kExitOk;
}

// What a run across processes reports of itself in summary.json (null for one process).
Json distributed_facts(const Setup& setup) {
  if (setup.group == nullptr || !setup.group->distributed()) return nullptr;
  const auto& traffic = setup.group->traffic();
  return {{"ranks", setup.group->size()},
          {"launcher", setup.launch->launcher},
          {"collectives", traffic.collectives},
          {"bytes_per_rank", traffic.bytes},
          {"communication_s", traffic.seconds}};
}

// How a rank other than 0 ends: as rank 0 does, without writing anything.
int conclude_quietly(const train::TrainingReport& report) {
  if (report.diverged) {
    throw TrainingError("training diverged (a NaN or infinity) after " +
                        std::to_string(report.steps) + " steps (rank 0 writes the run)");
  }
  return report.interrupted ? kExitInterrupted : kExitOk;
}

// model_best.pt: the model with the best log point's weights (keep_best), written with them in
// place for the moment it takes; the final weights are back afterwards.
void save_best_model(Setup& setup, const output::RunDirectory& run,
                     const train::TrainingReport& report) {
  if (!report.best) return;
  const auto trainable = trainable_tensors(setup);
  std::vector<torch::Tensor> final_weights;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < trainable.size(); ++i) {
    final_weights.push_back(trainable[i].detach().clone());
    trainable[i].copy_(report.best->weights[i]);
  }
  output::save_model(run.file("model_best.pt"), *setup.network, describe_model(setup));
  for (size_t i = 0; i < trainable.size(); ++i)
    trainable[i].copy_(final_weights[i]);
}

// Trains the prepared setup into `run`, from the start or from `resume`. Across processes only
// rank 0 has a `run`: the others train with it and write nothing.
int train_into(Setup& setup, const output::RunDirectory* run, train::CheckpointStore& store,
               torch::serialize::InputArchive* resume, Clock::time_point start) {
  if (run != nullptr) util::log_to_file(run->file("train.log"));
  const auto& engine = setup.engine;
  train::ObjectiveContext context = objective_context(setup);
  train::Objective objective(setup.problem, *setup.model, *engine, context);
  train::ReferenceMetrics metrics(setup.problem.reference, objective);
  std::optional<train::LossWeighting> weighting;
  if (setup.weighting) weighting.emplace(*setup.weighting, setup.problem.losses.size());
  train::Trainer trainer(objective, trainable_tensors(setup), metrics, setup.stages,
                         {&store, setup.settings.checkpoint_every},
                         weighting ? &*weighting : nullptr, setup.divergence);
  if (setup.settings.keep_best) trainer.keep_best_weights();
  const train::TrainingReport report = trainer.run(resume);

  const auto terms = objective.diagnostics();
  if (run == nullptr) {
    if (!report.diverged && !report.interrupted) {
      output::evaluate_for_rank_zero(setup.problem, {*engine, context});
    }
    return conclude_quietly(report);
  }
  std::vector<std::string> causal;
  for (size_t t : objective.causal_terms())
    causal.push_back(setup.problem.losses[t].name);
  run->write_history({term_names(setup.problem), setup.problem.symbols.parameters, metrics.names(),
                      weighting ? term_names(setup.problem) : std::vector<std::string>{}, causal},
                     report.history);
  output::save_model(run->file("model.pt"), *setup.network, describe_model(setup));
  save_best_model(setup, *run, report);
  const output::RunFacts facts{setup.settings,
                               setup.problem,
                               *setup.network,
                               setup.parameters,
                               setup.device.str(),
                               report,
                               terms,
                               metrics.names(),
                               objective.total_points(),
                               distributed_facts(setup)};
  const auto summary = output::write_results(*run, facts, {*engine, context}, start);
  return conclude(setup, *run, report, terms, metrics, summary);
}

// The folder the run's relative data paths start from: `data_directory` when given (--data-dir),
// else the one RUN_DIR/source.json records. Runs written before source.json existed fall back to
// the run directory itself, with a warning, since their configs rarely name data files.
std::string run_data_directory(const fs::path& path,
                               const std::optional<std::string>& data_directory) {
  if (data_directory) return *data_directory;
  const fs::path source_path = path / "source.json";
  if (!fs::exists(source_path)) {
    spdlog::warn(
        "{} is missing (the run predates it): relative data paths in its config start "
        "at {}; pass --data-dir to choose another folder",
        source_path.string(), path.string());
    return path.string();
  }
  const Json source = config::parse_json(read_text_file(source_path), source_path.string());
  if (!source.is_object() || !source.contains("base_directory") ||
      !source["base_directory"].is_string()) {
    throw InputError(source_path.string() + ": /base_directory",
                     "expected a string (the folder the run's data paths start from)");
  }
  return source["base_directory"].get<std::string>();
}

// The setup of the run in `path`, from its resolved config and the folder its data came from.
Setup prepare_from_run(const fs::path& path, const std::optional<std::string>& data_directory) {
  RunOptions options;
  options.config_path = (path / "config.json").string();
  options.output = path.string();
  options.base_directory = run_data_directory(path, data_directory);
  return prepare(options);
}

// ---- runs across processes: rank 0 decides, the others follow ----

// What rank 0 found the run must do before training; the others learn it from rank 0, since the
// run directory is rank 0's to judge (and to create).
enum class Plan : int64_t { start = 0, resume = 1, nothing = 2, failed = 3 };

struct Decision {
  Plan plan = Plan::start;
  int exit_code = kExitOk;  // of rank 0's failure
};

// Rank 0's decision, sent to every rank (a no-op for one process).
Decision announce(distributed::Group& group, Decision decision) {
  if (!group.distributed()) return decision;
  torch::Tensor message =
      torch::tensor({static_cast<int64_t>(decision.plan), int64_t{decision.exit_code}});
  group.broadcast(message, 0);
  return {static_cast<Plan>(message[0].item<int64_t>()),
          static_cast<int>(message[1].item<int64_t>())};
}

// The exit code with_exit_codes gives the exception in flight.
int exit_code_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const InputError&) {
    return kExitBadInput;
  } catch (const DeviceError&) {
    return kExitDevice;
  } catch (const OutputError&) {
    return kExitOutputFailed;
  } catch (...) {
    return kExitInternal;
  }
}

// Runs rank 0's part of deciding (`decide`); a failure there is announced before it is raised,
// so that no rank waits for a rank 0 that has left.
Decision decide_for_all(distributed::Group& group, const std::function<Decision()>& decide) {
  Decision decision;
  try {
    decision = decide();
  } catch (...) {
    announce(group, {Plan::failed, exit_code_of(std::current_exception())});
    throw;
  }
  return decision;
}

// A rank other than 0: does what rank 0 announced.
int follow(Setup& setup, distributed::Group& group, const fs::path& path,
           const std::optional<std::string>& data_directory, Clock::time_point start) {
  const Decision decision = announce(group, {});
  switch (decision.plan) {
    case Plan::failed:
      spdlog::error("rank {}: rank 0 could not start the run (exit {}); see its message",
                    group.rank(), decision.exit_code);
      return decision.exit_code;
    case Plan::nothing:
      return kExitOk;
    case Plan::start: {
      train::CheckpointStore store(path / "checkpoints");
      return train_into(setup, nullptr, store, nullptr, start);
    }
    case Plan::resume:
      break;
  }
  Setup resumed = prepare_from_run(path, data_directory);
  resumed.launch = setup.launch;
  resumed.group = &group;
  train::CheckpointStore store(path / "checkpoints");
  auto loaded = store.load_latest();
  if (!loaded.archive) {
    throw InputError(path.string(), "rank " + std::to_string(group.rank()) +
                                        " finds no readable checkpoint there (is the run "
                                        "directory on a file system every rank shares?)");
  }
  return train_into(resumed, nullptr, store, loaded.archive.get(), start);
}

// Continues the run in `path` (an open run directory whose config was written by train) with
// `setup`, made from its config (rank 0 of a run across processes; the others follow()).
int continue_run(const fs::path& path, Clock::time_point start, Setup& setup,
                 distributed::Group& group) {
  std::optional<output::RunDirectory> run;
  train::CheckpointStore store(path / "checkpoints");
  train::CheckpointStore::Loaded loaded;
  const Decision decision = decide_for_all(group, [&] {
    const Json summary = output::read_summary(path);
    if (summary.is_object() && summary.value("status", "") == "completed") {
      spdlog::info("{}: the run is complete; nothing to resume", path.string());
      return Decision{Plan::nothing};
    }
    run.emplace(output::RunDirectory::open(path));
    loaded = store.load_latest();
    if (!loaded.archive) {
      std::string why;
      for (const auto& rejected : loaded.rejected)
        why += "\n  " + rejected;
      throw InputError(path.string(), store.files().empty()
                                          ? "has no checkpoint to resume from"
                                          : "has no usable checkpoint to resume from:" + why);
    }
    return Decision{Plan::resume};
  });
  announce(group, decision);
  if (decision.plan == Plan::nothing) return kExitOk;
  spdlog::info("resuming {} from {}", path.string(), loaded.path.filename().string());
  return guard_writes(*run, store, setup,
                      [&] { return train_into(setup, &*run, store, loaded.archive.get(), start); });
}

// The setup of the run in `path` for `group` (one already joined).
Setup prepare_run_for(const fs::path& path, const std::optional<std::string>& data_directory,
                      const Setup& joined) {
  Setup setup = prepare_from_run(path, data_directory);
  setup.launch = joined.launch;
  setup.group = joined.group;
  return setup;
}

}  // namespace

int train_command(const RunOptions& options) {
  const auto start = Clock::now();
  Setup setup = prepare(options);
  const auto group = join_group(setup);
  const fs::path path = setup.settings.output;
  if (group->rank() != 0) return follow(setup, *group, path, options.base_directory, start);
  std::optional<output::RunDirectory> run;
  const Decision decision = decide_for_all(*group, [&] {
    output::check_output_location(path, setup.output_where);
    if (options.resume && output::RunDirectory::is_run_directory(path)) {
      const train::CheckpointStore existing(path / "checkpoints");
      if (!existing.files().empty() || output::read_summary(path).is_object()) {
        return Decision{Plan::resume};
      }
      spdlog::info("{} holds no checkpoint yet: starting the run again", path.string());
    }
    run.emplace(output::RunDirectory::create(path, options.force || options.resume));
    return Decision{Plan::start};
  });
  if (decision.plan == Plan::resume) {
    Setup resumed;
    decide_for_all(*group, [&] {
      resumed = prepare_run_for(path, options.base_directory, setup);
      return decision;
    });
    return continue_run(path, start, resumed, *group);
  }
  announce(*group, decision);
  train::CheckpointStore store(path / "checkpoints");
  return guard_writes(*run, store, setup, [&] {
    config::Json resolved = setup.document.root();
    config::rebase_schema_reference(resolved, fs::path(options.config_path).parent_path(),
                                    run->path());
    run->write_json("config.json", resolved);
    write_source(*run, options);
    spdlog::info("training {} on {} ({}, engine {}, {} threads{}) into {}", setup.settings.name,
                 setup.device.str(), setup.settings.dtype, setup.settings.derivatives,
                 at::get_num_threads(),
                 group->distributed() ? ", " + std::to_string(group->size()) + " ranks" : "",
                 run->path().string());
    return train_into(setup, &*run, store, nullptr, start);
  });
}

// The --fields values split at the commas outside parentheses and brackets, so that
// "u,d(u,x,y)" is two fields; spaces around a field are dropped.
// "u, u_x + v, d(u,x,y)" -> three fields: commas inside parentheses or brackets do not split.
// Unbalanced brackets and empty fields are refused with the column.
std::vector<std::string> field_list(const std::vector<std::string>& values) {
  std::vector<std::string> fields;
  for (const auto& value : values) {
    auto fail = [&](size_t index, const std::string& why) {
      throw InputError("--fields " + value, "column " + std::to_string(index + 1) + ": " + why);
    };
    std::vector<size_t> open;  // where each unclosed '(' or '[' is
    std::string field;
    const std::string text = value + ",";
    for (size_t i = 0; i < text.size(); ++i) {
      const char ch = text[i];
      if (ch == '(' || ch == '[') open.push_back(i);
      if (ch == ')' || ch == ']') {
        if (open.empty()) fail(i, std::string("this '") + ch + "' closes nothing");
        open.pop_back();
      }
      if (ch != ',' || !open.empty()) {
        field += ch;
        continue;
      }
      const auto first = field.find_first_not_of(' ');
      if (first == std::string::npos)
        fail(i, "an empty field (two commas in a row, or a comma at an end)");
      fields.push_back(field.substr(first, field.find_last_not_of(' ') - first + 1));
      field.clear();
    }
    if (!open.empty())
      fail(open.front(), "this '" + std::string(1, text[open.front()]) + "' is not closed");
  }
  if (fields.empty()) {
    throw InputError("--fields",
                     "expected at least one field (an output, a loss term's name or an "
                     "expression), found none");
  }
  return fields;
}

// `--fields residual`: the residual of the problem's one PDE term (type "residual").
expr::NodePtr pde_residual(const std::vector<problem::LossTerm>& losses) {
  std::vector<const problem::LossTerm*> pdes;
  for (const auto& loss : losses) {
    if (loss.pde) pdes.push_back(&loss);
  }
  if (pdes.size() == 1) return pdes.front()->residual;
  std::string names;
  for (const auto* pde : pdes)
    names += (names.empty() ? "" : ", ") + pde->name;
  throw InputError("--fields residual",
                   pdes.empty() ? "the problem has no residual (PDE) term; name a loss term instead"
                                : "the problem has several residual terms (" + names +
                                      "): name the one you want");
}

// The header line write_csv gives `columns`.
std::string csv_header(const std::vector<std::string>& columns) {
  std::string header;
  for (size_t c = 0; c < columns.size(); ++c)
    header += (c ? "," : "") + problem::csv_field(columns[c]);
  return header;
}

std::string first_line(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// `eval --out`: a file of its own. --force replaces an earlier output of the same evaluation (the
// same columns) and nothing else: never a folder, the --points file, a run directory's own file
// or a CSV of other columns, which is a user's data as far as pinn-train can tell.
void check_eval_output(const EvalOptions& options, const std::vector<std::string>& columns) {
  const fs::path out = options.out;
  std::error_code error;
  if (!fs::exists(out, error)) return;
  if (fs::is_directory(out, error)) {
    throw InputError(options.out, "is a directory; --out names the CSV file to write");
  }
  if (!options.force) throw InputError(options.out, "exists; pass --force to replace it");
  if (fs::equivalent(out, options.points, error)) {
    throw InputError(options.out, "is the --points file itself; write the values elsewhere");
  }
  const fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (output::RunDirectory::is_run_directory(folder) &&
      output::accounts_for_file(output::run_layout(), out.filename().string())) {
    throw InputError(options.out, "is a file of the run directory " + folder.string() +
                                      "; --force does not replace it: choose another --out");
  }
  const std::string header = csv_header(columns);
  if (const std::string found = first_line(out); found != header) {
    throw InputError(options.out,
                     "--force replaces only an earlier output of the same evaluation, and this "
                     "file's first line is '" +
                         found.substr(0, 80) + (found.size() > 80 ? "..." : "") +
                         "', not this evaluation's header '" + header +
                         "'; choose another --out, or remove the file yourself");
  }
}

int eval_command(const EvalOptions& options) {
  const fs::path path = options.run_directory;
  output::RunDirectory::require(path);
  if (!fs::exists(path / "model.pt")) {
    throw InputError(path.string(), "has no model.pt: the run has not saved its weights yet");
  }
  if (const std::string damage = util::checksum_damage(path / "model.pt"); !damage.empty()) {
    throw InputError((path / "model.pt").string(), "cannot be used: " + damage);
  }
  std::error_code error;
  if (fs::exists(options.out, error) && !options.force) {
    throw InputError(options.out, "exists; pass --force to replace it");  // before the work
  }
  Setup setup = prepare_from_run(path, options.data_directory);
  const auto stored = output::load_model_weights(path / "model.pt", *setup.network);
  const auto& names = setup.problem.symbols.parameters;
  for (size_t p = 0; p < names.size(); ++p) {
    if (stored.count(names[p]) != 0) setup.parameters[p].detach().fill_(stored.at(names[p]));
  }

  problem::EvaluationSet set;
  set.name = "eval";
  set.points =
      problem::read_csv(options.points).select(setup.problem.symbols.inputs, options.points);
  if (set.points.size(0) == 0) throw InputError(options.points, "holds no data rows");
  set.field_names =
      options.fields.empty() ? setup.problem.symbols.outputs : field_list(options.fields);
  const auto& losses = setup.problem.losses;
  for (const auto& field : set.field_names) {
    const auto& outputs = setup.problem.symbols.outputs;
    const bool output_named_residual =
        std::find(outputs.begin(), outputs.end(), field) != outputs.end();
    if (field == "residual" && !output_named_residual) {
      set.fields.push_back(pde_residual(losses));  // the PDE's residual
      continue;
    }
    const auto term = std::find_if(losses.begin(), losses.end(),
                                   [&](const auto& loss) { return loss.name == field; });
    if (term != setup.problem.losses.end()) {
      set.fields.push_back(term->residual);  // a loss term's name: its residual
      continue;
    }
    try {
      set.fields.push_back(expr::parse(field, setup.problem.symbols));
    } catch (const expr::ParseError& e) {
      const std::string caret(static_cast<size_t>(std::max(e.column() - 1, 0)), ' ');
      throw InputError("--fields", "column " + std::to_string(e.column()) + ": " + e.what() +
                                       "\n    " + field + "\n    " + caret + "^");
    }
  }
  std::vector<std::string> columns = setup.problem.symbols.inputs;
  columns.insert(columns.end(), set.field_names.begin(), set.field_names.end());
  check_eval_output(options, columns);
  const auto& engine = setup.engine;
  const train::ObjectiveContext context = objective_context(setup);
  const auto values = output::evaluate_fields(set, {*engine, context});
  problem::write_csv(options.out, columns, torch::cat({set.points, values}, 1));
  spdlog::info("{} points, fields {} -> {}", set.points.size(0), fmt::join(set.field_names, ", "),
               options.out);
  return kExitOk;
}

int resume_command(const std::string& run_directory,
                   const std::optional<std::string>& data_directory) {
  const auto start = Clock::now();
  // What can be said of the folder before its config is read (which joining the ranks needs).
  const fs::path path = run_directory;
  const Json summary = output::read_summary(path);
  if (!(summary.is_object() && summary.value("status", "") == "completed")) {
    output::RunDirectory::require(path);
    if (train::CheckpointStore(path / "checkpoints").files().empty()) {
      throw InputError(path.string(), "has no checkpoint to resume from");
    }
  }
  Setup setup = prepare_from_run(path, data_directory);
  const auto group = join_group(setup);
  if (group->rank() != 0) return follow(setup, *group, path, data_directory, start);
  return continue_run(path, start, setup, *group);
}

}  // namespace pinn::cli
