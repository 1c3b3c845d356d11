// Creating the run directory and writing its files atomically.
#include "output/run_directory.hpp"

#include <iomanip>
#include <limits>

#include "problem/csv.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::output {

namespace fs = std::filesystem;

namespace {

constexpr const char* kModelFormat = "pinn-train-model/1";

}  // namespace

// A previous run of ours has a resolved config and, once finished, a summary.
bool RunDirectory::is_run_directory(const fs::path& path) {
  return fs::exists(path / "config.json") || fs::exists(path / "summary.json");
}

RunDirectory RunDirectory::open(const fs::path& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) throw InputError(path.string(), "no such run directory");
  if (!is_run_directory(path)) {
    throw InputError(path.string(), "not a pinn-train run directory (it has no config.json)");
  }
  return RunDirectory(path);
}

RunDirectory RunDirectory::create(const fs::path& path, bool force) {
  std::error_code error;
  if (fs::exists(path, error)) {
    if (!fs::is_directory(path, error)) {
      throw InputError(path.string(), "exists and is not a directory; choose another --output");
    }
    if (!fs::is_empty(path, error)) {
      if (!force) {
        throw InputError(path.string(),
                         "the run directory already exists; pass --force to replace it, or "
                         "choose another with --output");
      }
      if (!is_run_directory(path)) {
        throw InputError(path.string(),
                         "--force replaces only pinn-train run directories, and this one has no "
                         "config.json or summary.json; choose another --output");
      }
      if (const std::string failure = remove_tree(path); !failure.empty()) {
        throw OutputError("cannot remove " + path.string() + ": " + failure);
      }
    }
  }
  fs::create_directories(path, error);
  if (error) throw OutputError("cannot create " + path.string() + ": " + error.message());
  return RunDirectory(path);
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
    out << ",elapsed_s\n" << std::setprecision(std::numeric_limits<double>::max_digits10);
    for (const auto& row : rows) {
      out << row.step << "," << row.stage << "," << row.total;
      write_values(out, row.terms, columns.terms.size());
      write_values(out, row.parameters, columns.parameters.size());
      write_values(out, row.metrics, columns.metrics.size());
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
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
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
