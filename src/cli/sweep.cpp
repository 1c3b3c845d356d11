// Expanding a sweep into run configs, running or submitting them, and collecting their results.
#include "cli/sweep.hpp"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "cli/setup.hpp"
#include "config/document.hpp"
#include "output/layout.hpp"
#include "output/run_directory.hpp"
#include "util/errors.hpp"
#include "util/file_lock.hpp"
#include "util/files.hpp"
#include "util/threads.hpp"

namespace pinn::cli {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// One swept key and the values it takes (each as --set would read it).
struct Axis {
  std::string key;
  std::vector<std::string> values;
};

std::pair<std::string, std::string> split_assignment(const std::string& text,
                                                     const std::string& option) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size()) {
    throw InputError(option + " " + text, "expected KEY=VALUES, e.g. training[0].lr=1e-3,1e-4");
  }
  config::parse_dotted_path(text.substr(0, equals));  // a malformed key fails here
  return {text.substr(0, equals), text.substr(equals + 1)};
}

// "1e-3,[64,64],\"a,b\"" -> three values: commas inside brackets or quotes do not split.
std::vector<std::string> split_values(const std::string& text) {
  std::vector<std::string> values;
  std::string current;
  int depth = 0;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '[' || c == '{')) ++depth;
    if (!quoted && (c == ']' || c == '}')) --depth;
    if (c == ',' && depth == 0 && !quoted) {
      values.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  values.push_back(current);
  return values;
}

std::vector<Axis> read_grid(const std::vector<std::string>& grid) {
  std::vector<Axis> axes;
  for (const auto& text : grid) {
    auto [key, list] = split_assignment(text, "--grid");
    Axis axis{key, split_values(list)};
    for (const auto& value : axis.values) {
      if (value.empty()) throw InputError("--grid " + text, "has an empty value");
    }
    axes.push_back(axis);
  }
  return axes;
}

struct Range {
  std::string key;
  double low = 0, high = 0;
  bool logarithmic = false;
};

std::vector<Range> read_ranges(const std::vector<std::string>& texts, bool logarithmic) {
  std::vector<Range> ranges;
  const std::string option = logarithmic ? "--log-range" : "--range";
  for (const auto& text : texts) {
    auto [key, bounds] = split_assignment(text, option);
    const auto colon = bounds.find(':');
    Range range{key, 0, 0, logarithmic};
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      range.low = std::stod(bounds.substr(0, colon));
      range.high = std::stod(bounds.substr(colon + 1));
    } catch (const std::exception&) {
      throw InputError(option + " " + text, "expected KEY=LOW:HIGH with two numbers");
    }
    if (!(range.low < range.high) || (logarithmic && range.low <= 0)) {
      throw InputError(option + " " + text,
                       logarithmic ? "expected 0 < LOW < HIGH" : "expected LOW < HIGH");
    }
    ranges.push_back(range);
  }
  return ranges;
}

// A sweep writes and validates every run's config before anything starts: past this many runs it
// would take minutes and flood the file system, and is more likely a mistake than a plan.
constexpr size_t kMaxSweepRuns = 10000;

void check_sweep_size(const std::vector<Axis>& axes, int draws) {
  double runs = draws > 0 ? draws : 1;  // a double: a product of list sizes cannot overflow it
  std::string sizes = draws > 0 ? std::to_string(draws) + " draws" : "";
  for (const auto& axis : axes) {
    runs *= static_cast<double>(axis.values.size());
    sizes += (sizes.empty() ? "" : " x ") + std::to_string(axis.values.size());
  }
  if (runs > static_cast<double>(kMaxSweepRuns)) {
    std::ostringstream count;
    count << std::setprecision(15) << runs;
    throw InputError(axes.empty() ? "--random" : "--grid",
                     "the sweep has " + count.str() + " runs (" + sizes + "); at most " +
                         std::to_string(kMaxSweepRuns) +
                         " are allowed: split it into several sweeps");
  }
}

// Every combination: the grid's product, each crossed with `draws` random points of the ranges.
std::vector<std::vector<std::pair<std::string, std::string>>> combinations(
    const std::vector<Axis>& axes, const std::vector<Range>& ranges, int draws, int seed) {
  std::vector<std::vector<std::pair<std::string, std::string>>> grid = {{}};
  for (const auto& axis : axes) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& partial : grid) {
      for (const auto& value : axis.values) {
        auto extended = partial;
        extended.emplace_back(axis.key, value);
        next.push_back(extended);
      }
    }
    grid = next;
  }
  if (draws == 0) return grid;
  std::mt19937_64 random(static_cast<uint64_t>(seed));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<std::vector<std::pair<std::string, std::string>>> result;
  for (const auto& partial : grid) {
    for (int draw = 0; draw < draws; ++draw) {
      auto extended = partial;
      for (const auto& range : ranges) {
        const double u = unit(random);
        const double value =
            range.logarithmic
                ? std::exp(std::log(range.low) + u * (std::log(range.high) - std::log(range.low)))
                : range.low + u * (range.high - range.low);
        std::ostringstream text;
        text.precision(6);
        text << value;
        extended.emplace_back(range.key, text.str());
      }
      result.push_back(extended);
    }
  }
  return result;
}

std::string run_id(size_t index) {
  char id[32];
  std::snprintf(id, sizeof id, "run-%03zu", index);
  return id;
}

// A value as --set reads it (a number out of range stays text here: the override refuses it).
Json parsed_value(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception&) {
    return text;
  }
}

std::string this_binary() {
  std::error_code error;
  const auto path = fs::read_symlink("/proc/self/exe", error);
  return error ? std::string("pinn-train") : path.string();
}

// The command that trains run `config` of the sweep; --resume makes it safe to repeat.
std::vector<std::string> train_arguments(const std::string& config, const std::string& base) {
  return {this_binary(), "train", config, "--data-dir", base, "--resume"};
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs the sweep's runs here, `jobs` at a time, each logging to logs/<id>.log.
int run_locally(const fs::path& sweep, const Json& manifest, int jobs) {
  const std::string base = manifest["base_directory"];
  size_t next = 0, failed = 0, running = 0;
  const auto& runs = manifest["runs"];
  fs::create_directories(sweep / "logs");
  auto start_next = [&] {
    const auto& run = runs[next++];
    const auto arguments =
        train_arguments((sweep / run["config"].get<std::string>()).string(), base);
    const fs::path log = sweep / "logs" / (run["id"].get<std::string>() + ".log");
    const pid_t pid = fork();
    if (pid == 0) {
      // Runs side by side share the CPUs rather than each taking all of them.
      if (jobs > 1 && std::getenv("OMP_NUM_THREADS") == nullptr) {
        setenv("OMP_NUM_THREADS", std::to_string(std::max(1, util::usable_cpus() / jobs)).c_str(),
               1);
      }
      std::FILE* file = std::fopen(log.c_str(), "w");
      if (file != nullptr) {
        dup2(fileno(file), STDOUT_FILENO);
        dup2(fileno(file), STDERR_FILENO);
      }
      std::vector<std::string> copies = arguments;
      std::vector<char*> argv;
      for (auto& argument : copies)
        argv.push_back(argument.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (pid < 0) throw OutputError("cannot start a process for " + run["id"].get<std::string>());
    ++running;
  };
  while (next < runs.size() || running > 0) {
    while (running < static_cast<size_t>(jobs) && next < runs.size())
      start_next();
    int status = 0;
    if (wait(&status) < 0) break;
    --running;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  spdlog::info("{} of {} runs finished; {} failed (see {}/logs)", runs.size() - failed, runs.size(),
               failed, sweep.string());
  return failed == 0 ? kExitOk : kExitTrainingFailed;
}

std::string sbatch_script(const fs::path& sweep, const Json& manifest, const SlurmOptions& slurm) {
  const size_t count = manifest["runs"].size();
  std::ostringstream script;
  script << "#!/bin/bash\n"
         << "# Written by pinn-train sweep: one array task per run of " << sweep.string() << ".\n"
         << "#SBATCH --job-name=pinn-" << manifest["name"].get<std::string>() << "\n"
         << "#SBATCH --array=0-" << count - 1;
  if (slurm.max_parallel > 0) script << "%" << slurm.max_parallel;
  script << "\n#SBATCH --output=" << (sweep / "logs" / "%A_%a.out").string() << "\n"
         << "#SBATCH --open-mode=append\n"
         << "#SBATCH --requeue\n"
         << "#SBATCH --signal=B:USR1@" << slurm.signal_seconds << "\n";
  if (!slurm.partition.empty()) script << "#SBATCH --partition=" << slurm.partition << "\n";
  if (!slurm.time.empty()) script << "#SBATCH --time=" << slurm.time << "\n";
  if (slurm.gpus > 0) script << "#SBATCH --gres=gpu:" << slurm.gpus << "\n";
  if (slurm.cpus > 0) script << "#SBATCH --cpus-per-task=" << slurm.cpus << "\n";
  if (slurm.ntasks > 1) script << "#SBATCH --ntasks=" << slurm.ntasks << "\n";
  for (const auto& line : slurm.extra)
    script << "#SBATCH " << line << "\n";
  const auto arguments = train_arguments("$CONFIG", manifest["base_directory"]);
  script << "\nCONFIG=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" "
         << shell_quote((sweep / "configs.txt").string()) << ")\n"
         << "# As many threads as CPUs Slurm gave the task (1 unless --cpus-per-task).\n"
         << "export OMP_NUM_THREADS=\"${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}\"\n"
         << "# pinn-train checkpoints and exits with 6 on USR1 (sent by --signal before the time\n"
         << "# limit) or TERM (preemption, scontrol requeue); --resume continues from there.\n";
  if (slurm.ntasks > 1) {
    // One run across the task's ranks (they read SLURM_PROCID, SLURM_NTASKS, ...); srun forwards
    // the signals below to each, and a rank that fails ends the step.
    script << "srun --kill-on-bad-exit=1 ";
  }
  script << shell_quote(arguments[0]);
  for (size_t i = 1; i < arguments.size(); ++i)
    script << " " << (arguments[i] == "$CONFIG" ? "\"$CONFIG\"" : shell_quote(arguments[i]));
  script << " &\n"
         << "PID=$!\n"
         << "trap 'kill -USR1 $PID 2>/dev/null' USR1 TERM\n"
         << "while true; do\n"
         << "  wait $PID; STATUS=$?\n"
         << "  kill -0 $PID 2>/dev/null || break  # wait returned for a trapped signal\n"
         << "done\n"
         << "if [ \"$STATUS\" -eq 6 ]; then\n"
         << "  # Stopped before the time limit: queue this task again to continue it.\n"
         << "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" || true\n"
         << "fi\n"
         << "exit $STATUS\n";
  return script.str();
}

int submit_to_slurm(const fs::path& sweep, Json& manifest, const SlurmOptions& slurm) {
  fs::create_directories(sweep / "logs");
  const fs::path script = sweep / "sweep.sbatch";
  write_text_atomically(script, sbatch_script(sweep, manifest, slurm));
  const std::string command = "sbatch --parsable " + shell_quote(script.string()) + " 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw InputError("sbatch", "cannot be started");
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr)
    output += buffer;
  const int status = pclose(pipe);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' '))
    output.pop_back();
  if (status != 0) {
    throw InputError("sbatch", "failed (" + output + "); the job script is " + script.string() +
                                   (WEXITSTATUS(status) == 127 ? ": is Slurm installed?" : ""));
  }
  const std::string job = output.substr(0, output.find(';'));  // "id" or "id;cluster"
  manifest["slurm_job_id"] = job;
  write_text_atomically(sweep / "manifest.json", manifest.dump(2) + "\n");
  std::printf("%s\n", job.c_str());
  spdlog::info("submitted job array {} ({} tasks); collect with: pinn-train collect {}", job,
               manifest["runs"].size(), sweep.string());
  return kExitOk;
}

}  // namespace

int sweep_command(const SweepOptions& options) {
  const auto axes = read_grid(options.grid);
  auto ranges = read_ranges(options.ranges, false);
  const auto log_ranges = read_ranges(options.log_ranges, true);
  ranges.insert(ranges.end(), log_ranges.begin(), log_ranges.end());
  if (options.random > 0 && ranges.empty()) {
    throw InputError("--random", "needs at least one --range or --log-range to draw from");
  }
  if (options.random == 0 && !ranges.empty()) {
    throw InputError("--range", "is drawn only with --random N");
  }
  if (options.random < 0) {
    throw InputError("--random",
                     "expected a number of draws >= 0, found " + std::to_string(options.random));
  }
  if (options.jobs < 1) throw InputError("--jobs", "expected at least 1");
  check_sweep_size(axes, options.random);
  const auto all = combinations(axes, ranges, options.random, options.sweep_seed);

  // Every combination is checked like `validate` before anything is written.
  const Setup base = prepare(options.base);
  const std::string name = base.settings.name;
  const fs::path sweep = fs::absolute(options.directory.value_or("sweeps/" + name));
  output::check_output_location(
      sweep, options.directory ? "--output" : base.document.where(config::Pointer("/name")));
  const fs::path config = fs::absolute(options.base.config_path);
  Json manifest;
  manifest["name"] = name;
  manifest["config"] = config.string();
  manifest["base_directory"] = options.base.base_directory
                                   ? fs::absolute(*options.base.base_directory).string()
                                   : config.parent_path().string();
  manifest["keys"] = Json::array();
  for (const auto& axis : axes)
    manifest["keys"].push_back(axis.key);
  for (const auto& range : ranges)
    manifest["keys"].push_back(range.key);
  manifest["runs"] = Json::array();
  std::map<std::string, std::string> option_of;  // each swept key's option, for messages
  for (const auto& axis : axes)
    option_of[axis.key] = "--grid";
  for (const auto& range : ranges)
    option_of[range.key] = range.logarithmic ? "--log-range" : "--range";
  std::vector<Json> configs;
  for (size_t i = 0; i < all.size(); ++i) {
    RunOptions run = options.base;
    Json values = Json::object();
    std::string label;
    for (const auto& [key, value] : all[i]) {
      run.option_overrides.emplace_back(key + "=" + value,
                                        option_of.at(key) + " " + key + "=" + value);
      values[key] = parsed_value(value);
      label += " " + key + "=" + value;
    }
    const std::string id = run_id(i);
    run.output = (sweep / "runs" / id).string();
    try {
      configs.push_back(prepare(run).document.root());
    } catch (const InputError& e) {
      throw InputError(std::string(e.what()) + " (in " + id + ":" + label + ")");
    }
    manifest["runs"].push_back({{"id", id},
                                {"config", "configs/" + id + ".json"},
                                {"run_directory", "runs/" + id},
                                {"values", values}});
  }

  // Held while this process writes the sweep directory (and runs it, with --run local).
  const auto lock = output::claim_directory(sweep, output::sweep_layout(), options.base.force);
  write_text_atomically(sweep / output::sweep_layout().marker,
                        Json{{"format", "pinn-train-sweep/1"}, {"name", name}}.dump(2) + "\n");
  fs::create_directories(sweep / "configs");
  std::string list;
  for (size_t i = 0; i < configs.size(); ++i) {
    const fs::path file = sweep / manifest["runs"][i]["config"].get<std::string>();
    pinn::config::rebase_schema_reference(configs[i], config.parent_path(), file.parent_path());
    write_text_atomically(file, configs[i].dump(2) + "\n");
    list += file.string() + "\n";
  }
  write_text_atomically(sweep / "configs.txt", list);
  write_text_atomically(sweep / "manifest.json", manifest.dump(2) + "\n");
  spdlog::info("sweep {}: {} runs in {}", name, all.size(), sweep.string());

  if (options.run == "local") return run_locally(sweep, manifest, options.jobs);
  if (options.run == "slurm") return submit_to_slurm(sweep, manifest, options.slurm);
  spdlog::info("run them with: pinn-train sweep ... --run local|slurm, or each config by hand");
  return kExitOk;
}

// ---- collect ----

namespace {

// What a run directory says about its run: its summary, or how far it got.
Json run_state(const fs::path& run) {
  std::error_code error;
  if (fs::exists(run / "summary.json", error)) {
    try {
      return Json::parse(read_text_file(run / "summary.json"));
    } catch (const Json::exception&) {
      return {{"status", "unreadable"}};
    }
  }
  if (!fs::exists(run, error)) return {{"status", "pending"}};
  return {{"status", fs::exists(run / "checkpoints", error) ? "running" : "started"}};
}

std::string csv_field(const Json& value) {
  if (value.is_null()) return "";
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

int collect_command(const std::string& sweep_directory, const std::optional<std::string>& output) {
  const fs::path sweep = sweep_directory;
  const fs::path manifest_path = sweep / "manifest.json";
  Json manifest;
  try {
    manifest = Json::parse(read_text_file(manifest_path));
  } catch (const Json::exception& e) {
    throw InputError(manifest_path.string(), std::string("is not valid JSON: ") + e.what());
  }
  if (!manifest.contains("runs") || !manifest.contains("keys")) {
    throw InputError(manifest_path.string(), "not a pinn-train sweep manifest (no runs or keys)");
  }
  // Columns: id, the swept keys, status, then every loss, metric and parameter any run reports.
  std::vector<Json> states;
  std::vector<std::string> losses, metrics, parameters;
  auto note = [](std::vector<std::string>& names, const Json& object) {
    if (!object.is_object()) return;
    for (const auto& item : object.items()) {
      if (std::find(names.begin(), names.end(), item.key()) == names.end())
        names.push_back(item.key());
    }
  };
  for (const auto& run : manifest["runs"]) {
    states.push_back(run_state(sweep / run["run_directory"].get<std::string>()));
    note(losses, states.back().value("losses", Json::object()));
    note(metrics, states.back().value("metrics", Json::object()));
    note(parameters, states.back().value("parameters", Json::object()));
  }
  std::ostringstream table;
  table << "id";
  for (const auto& key : manifest["keys"])
    table << "," << csv_field(key);
  table << ",status,steps,final_loss";
  for (const auto& name : losses)
    table << ",loss_" << name;
  for (const auto& name : metrics)
    table << "," << name;
  for (const auto& name : parameters)
    table << ",parameter_" << name;
  table << ",wall_time_s,training_time_s,run_directory\n";
  for (size_t i = 0; i < states.size(); ++i) {
    const auto& run = manifest["runs"][i];
    const Json& state = states[i];
    table << csv_field(run["id"]);
    for (const auto& key : manifest["keys"])
      table << "," << csv_field(run["values"].value(key.get<std::string>(), Json()));
    table << "," << csv_field(state["status"]) << "," << csv_field(state.value("steps", Json()))
          << "," << csv_field(state.value("final_loss", Json()));
    for (const auto& name : losses) {
      const Json term = state.value("losses", Json::object()).value(name, Json::object());
      table << "," << csv_field(term.value("loss", Json()));
    }
    for (const auto& name : metrics)
      table << "," << csv_field(state.value("metrics", Json::object()).value(name, Json()));
    for (const auto& name : parameters)
      table << "," << csv_field(state.value("parameters", Json::object()).value(name, Json()));
    table << "," << csv_field(state.value("wall_time_s", Json())) << ","
          << csv_field(state.value("training_time_s", Json())) << ","
          << csv_field((sweep / run["run_directory"].get<std::string>()).string()) << "\n";
  }
  const fs::path target = output ? fs::path(*output) : sweep / "results.csv";
  write_text_atomically(target, table.str());
  std::fputs(table.str().c_str(), stdout);
  spdlog::info("{} runs collected into {}", states.size(), target.string());
  return kExitOk;
}

}  // namespace pinn::cli
