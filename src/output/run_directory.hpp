// The run directory and everything written into it: the resolved config, the weights, the
// history, the summary and the predictions. Each file is written under a temporary name and
// renamed; an existing run directory is only replaced with --force, and only if it is one.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
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

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

  void write_json(const std::string& name, const nlohmann::ordered_json& value) const;
  void write_history(const std::vector<std::string>& term_names,
                     const std::vector<train::HistoryRow>& rows) const;

 private:
  explicit RunDirectory(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// model.pt: a pickled dict that plain PyTorch reads with torch.load: {"format", "network"
// (the resolved network config as JSON text), "inputs", "outputs", "state_dict"}.
void save_model(const std::filesystem::path& path, model::Network& network,
                const nlohmann::ordered_json& network_config,
                const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);

// Loads the weights of save_model into `network` (same architecture); InputError otherwise.
void load_model_weights(const std::filesystem::path& path, model::Network& network);

}  // namespace pinn::output
