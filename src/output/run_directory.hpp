// The run directory and everything written into it: the resolved config, the weights, the
// history, the summary and the predictions. Each file is written under a temporary name and
// renamed. The directory is locked while a process writes it, and carries a marker written when
// pinn-train made it: --force replaces only a marked directory holding nothing but its own files
// (output/layout.hpp).
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/network.hpp"
#include "train/trainer.hpp"
#include "util/file_lock.hpp"

namespace pinn::output {

// Refuses a directory that pinn-train would write into, and with --force clear, when it
// resolves (templates expanded, symbolic links followed) to the current directory, one of its
// parents, the home directory or /: InputError naming `where` (the option or the config's JSON
// path that chose it) and the resolved path.
void check_output_location(const std::filesystem::path& path, const std::string& where);

class RunDirectory {
 public:
  // Creates `path` and locks it. An existing, non-empty `path` is an InputError unless `force`;
  // even with `force` only a marked run directory holding nothing but pinn-train's files is
  // cleared (its foreign files are listed in the error). A directory another process is writing
  // is an InputError naming that process.
  static RunDirectory create(const std::filesystem::path& path, bool force);
  // An existing run directory, locked, to resume the run in it; InputError when it is not one or
  // another process is writing it.
  static RunDirectory open(const std::filesystem::path& path);
  // Whether `path` holds a run of ours (a marker, a resolved config or a summary).
  static bool is_run_directory(const std::filesystem::path& path);
  // An InputError unless `path` is a run directory (to read it: no lock is taken).
  static void require(const std::filesystem::path& path);

  // The id in the marker ("" for a run directory made before markers).
  const std::string& id() const { return id_; }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

  void write_json(const std::string& name, const nlohmann::ordered_json& value) const;
  // history.csv: step, stage, total, the terms, the parameters, the metrics (empty where not
  // measured), lr (Adam's learning rate; empty in other stages), elapsed_s.
  struct HistoryColumns {
    std::vector<std::string> terms, parameters, metrics;
    // Adaptive weights ("weighting"): a column w_<term> per term; causal terms: causal_min_<term>.
    std::vector<std::string> weights = {}, causal = {};
  };
  void write_history(const HistoryColumns& columns,
                     const std::vector<train::HistoryRow>& rows) const;

 private:
  RunDirectory(std::filesystem::path path, std::shared_ptr<FileLock> lock, std::string id)
      : path_(std::move(path)), lock_(std::move(lock)), id_(std::move(id)) {}
  std::filesystem::path path_;
  std::shared_ptr<FileLock> lock_;  // held as long as any copy of this object lives
  std::string id_;
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
