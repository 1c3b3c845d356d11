// The run directory and everything written into it: the resolved config, the weights, the
// history, the summary and the predictions. Each file is written under a temporary name and
// renamed; an existing run directory is only replaced with --force, and only if it is one.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model/network.hpp"
#include "train/trainer.hpp"

namespace pinn::output {

class RunDirectory {
 public:
  // Creates `path`. An existing, non-empty `path` is an InputError unless `force`; even with
  // `force` only a previous pinn-train run directory is cleared, never an arbitrary folder.
  static RunDirectory create(const std::filesystem::path& path, bool force);
  // An existing run directory, to resume the run in it; InputError when it is not one.
  static RunDirectory open(const std::filesystem::path& path);
  // Whether `path` holds a run of ours (a resolved config or a summary).
  static bool is_run_directory(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

  void write_json(const std::string& name, const nlohmann::ordered_json& value) const;
  // history.csv: step, stage, total, the terms, the parameters, the metrics (empty where not
  // measured), elapsed_s.
  struct HistoryColumns {
    std::vector<std::string> terms, parameters, metrics;
  };
  void write_history(const HistoryColumns& columns,
                     const std::vector<train::HistoryRow>& rows) const;

 private:
  explicit RunDirectory(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// What model.pt holds besides the weights.
struct ModelDescription {
  nlohmann::ordered_json network;  // the resolved network config
  std::vector<std::string> inputs, outputs;
  nlohmann::ordered_json transform = nlohmann::ordered_json::object();  // output -> expression
  nlohmann::ordered_json constants = nlohmann::ordered_json::object();  // what transforms use
  std::vector<std::string> parameter_names;
  std::vector<torch::Tensor> parameters;  // trainable problem parameters
};

// model.pt: a pickled dict that plain PyTorch reads with torch.load: {"format", "network"
// (the resolved network config as JSON text), "inputs", "outputs", "transform" and
// "constants" (JSON text),
// "parameters" (name -> value), "state_dict"}.
void save_model(const std::filesystem::path& path, model::Network& network,
                const ModelDescription& description);

// Loads the weights of save_model into `network` (same architecture); InputError otherwise.
// Returns the trainable problem parameters stored with them (name -> value).
std::map<std::string, double> load_model_weights(const std::filesystem::path& path,
                                                 model::Network& network);

}  // namespace pinn::output
