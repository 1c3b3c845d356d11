// Creating the run directory and writing its files atomically.
#include "output/run_directory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>

#include "output/layout.hpp"
#include "problem/csv.hpp"
#include "util/crc32c.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/timestamp.hpp"

namespace pinn::output {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModelFormat = "pinn-train-model/1";
constexpr const char* kMarkerFormat = "pinn-train-run/1";

std::string new_run_id() {
  std::random_device device;
  std::ostringstream id;
  id << std::hex << std::setfill('0') << std::setw(8) << device() << std::setw(8) << device();
  return id.str();
}

std::string marker_id(const fs::path& path) {
  try {
    const auto marker = nlohmann::json::parse(read_text_file(path / run_layout().marker));
    return marker.value("id", "");
  } catch (const std::exception&) {
    return "";
  }
}

// Whether `inner` is `outer` or lies inside it (both absolute and normal).
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin();
  for (auto i = inner.begin(); o != outer.end(); ++i, ++o) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

fs::path resolved(const fs::path& path) {
  std::error_code error;
  fs::path result = fs::weakly_canonical(fs::absolute(path, error), error);
  if (error) result = fs::absolute(path).lexically_normal();
  // "a/b/" and "a/b" are one directory.
  if (result.has_filename() || result == result.root_path()) return result;
  return result.parent_path();
}

}  // namespace

void check_output_location(const fs::path& path, const std::string& where) {
  const fs::path target = resolved(path);
  std::error_code error;
  const fs::path current = resolved(fs::current_path(error));
  std::string what;
  if (target == target.root_path()) {
    what = "the root directory";
  } else if (const char* home = std::getenv("HOME"); home && *home && target == resolved(home)) {
    what = "the home directory";
  } else if (target == current) {
    what = "the current directory";
  } else if (is_within(current, target)) {
    what = "a parent of the current directory";
  }
  if (what.empty()) return;
  throw InputError(where, "'" + path.string() + "' resolves to " + target.string() + ", " + what +
                              "; pinn-train writes (and with --force clears) a directory of its "
                              "own: name one inside it, e.g. runs/NAME");
}

bool RunDirectory::is_run_directory(const fs::path& path) {
  return fs::exists(path / run_layout().marker) || fs::exists(path / "config.json") ||
         fs::exists(path / "summary.json");
}

void RunDirectory::require(const fs::path& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) throw InputError(path.string(), "no such run directory");
  if (!is_run_directory(path)) {
    throw InputError(path.string(), "not a pinn-train run directory (it has no config.json)");
  }
}

RunDirectory RunDirectory::open(const fs::path& path) {
  require(path);
  auto lock = lock_directory(path, run_layout());
  return RunDirectory(path, std::move(lock), marker_id(path));
}

RunDirectory RunDirectory::create(const fs::path& path, bool force) {
  const Layout& layout = run_layout();
  auto lock = claim_directory(path, layout, force);
  RunDirectory run(path, std::move(lock), new_run_id());
  run.write_json(layout.marker, {{"format", kMarkerFormat},
                                 {"id", run.id()},
                                 {"created", utc_timestamp()},
                                 {"host", host_name()},
                                 {"pid", static_cast<long>(::getpid())},
                                 {"pinn_train_version", PINN_TRAIN_VERSION}});
  return run;
}

void RunDirectory::write_json(const std::string& name, const nlohmann::ordered_json& value) const {
  write_text_atomically(file(name), value.dump(2) + "\n");
}

void RunDirectory::write_history(const HistoryColumns& columns,
                                 const std::vector<train::HistoryRow>& rows) const {
  auto write_values = [](std::ostream& out, const std::vector<double>& values, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      out << ",";
      if (i < values.size()) out << values[i];
    }
  };
  write_file_atomically(file("history.csv"), [&](std::ostream& out) {
    out << "step,stage,total";
    for (const auto* names : {&columns.terms, &columns.parameters, &columns.metrics}) {
      for (const auto& name : *names)
        out << "," << problem::csv_field(name);
    }
    for (const auto& name : columns.weights)
      out << "," << problem::csv_field("w_" + name);
    for (const auto& name : columns.causal)
      out << "," << problem::csv_field("causal_min_" + name);
    out << ",lr,elapsed_s\n" << std::setprecision(std::numeric_limits<double>::max_digits10);
    for (const auto& row : rows) {
      out << row.step << "," << row.stage << "," << row.total;
      write_values(out, row.terms, columns.terms.size());
      write_values(out, row.parameters, columns.parameters.size());
      write_values(out, row.metrics, columns.metrics.size());
      write_values(out, row.loss_weights, columns.weights.size());
      write_values(out, row.causal_min, columns.causal.size());
      out << ",";
      if (std::isfinite(row.learning_rate)) out << row.learning_rate;
      out << "," << row.elapsed_seconds << "\n";
    }
  });
}

void save_model(const fs::path& path, model::Network& network,
                const ModelDescription& description) {
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& item : network.named_parameters()) {
    state.insert(item.key(), item.value().detach().to(torch::kCPU).clone());
  }
  for (const auto& item : network.named_buffers()) {
    state.insert(item.key(), item.value().detach().to(torch::kCPU).clone());
  }
  c10::Dict<std::string, double> parameters;
  for (size_t p = 0; p < description.parameters.size(); ++p) {
    parameters.insert(description.parameter_names[p], description.parameters[p].item<double>());
  }
  c10::impl::GenericDict file(c10::StringType::get(), c10::AnyType::get());
  file.insert("format", std::string(kModelFormat));
  file.insert("network", description.network.dump());
  file.insert("inputs", c10::List<std::string>(description.inputs));
  file.insert("outputs", c10::List<std::string>(description.outputs));
  file.insert("transform", description.transform.dump());
  file.insert("constants", description.constants.dump());
  file.insert("parameters", parameters);
  file.insert("state_dict", state);
  const std::vector<char> bytes = torch::pickle_save(file);
  // With its checksum, which `eval` checks. model.pt keeps its name (unlike a checkpoint), so no
  // order of two renames is safe from a kill: the old checksum goes first, and a model.pt left
  // without one is read unchecked rather than refused.
  std::error_code error;
  fs::remove(util::checksum_file(path), error);
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
  util::write_checksum_file(path, {util::crc32c(0, bytes.data(), bytes.size()), bytes.size()});
}

std::map<std::string, double> load_model_weights(const fs::path& path, model::Network& network) {
  const std::string bytes = read_text_file(path);
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const c10::Error&) {
    throw InputError(path.string(), "not a pinn-train model file (unreadable pickle)");
  }
  if (!value.isGenericDict() || !value.toGenericDict().contains("state_dict")) {
    throw InputError(path.string(), "not a pinn-train model file (no state_dict)");
  }
  const auto state = value.toGenericDict().at("state_dict").toGenericDict();
  torch::NoGradGuard no_grad;
  for (auto& item : network.named_parameters()) {
    if (!state.contains(item.key())) {
      throw InputError(path.string(), "has no weights for '" + item.key() + "'");
    }
    const auto stored = state.at(item.key()).toTensor();
    if (stored.sizes() != item.value().sizes()) {
      throw InputError(path.string(), "weights '" + item.key() + "' have another shape");
    }
    item.value().copy_(stored);
  }
  std::map<std::string, double> parameters;
  const auto file = value.toGenericDict();
  if (file.contains("parameters")) {
    for (const auto& entry : file.at("parameters").toGenericDict())
      parameters[entry.key().toStringRef()] = entry.value().toDouble();
  }
  return parameters;
}

}  // namespace pinn::output
