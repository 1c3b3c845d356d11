// Setup: everything a run is made of, read and checked from the config before any training
// starts, so that `validate` and `train` report the same errors.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "config/document.hpp"
#include "config/settings.hpp"
#include "derivatives/engine.hpp"
#include "distributed/group.hpp"
#include "distributed/launch.hpp"
#include "model/network.hpp"
#include "problem/problem.hpp"
#include "train/loss_weighting.hpp"
#include "train/objective.hpp"
#include "train/stage.hpp"
#include "train/trainer.hpp"

namespace pinn::cli {

struct Setup {
  config::Document document;  // resolved: defaults filled in, overrides applied
  config::RunSettings settings;
  problem::Problem problem;
  std::shared_ptr<model::Network> network;      // the raw network: its weights are saved
  std::shared_ptr<model::Network> model;        // what the engines differentiate (with transforms)
  std::shared_ptr<derivatives::Engine> engine;  // made for `model` on its device and dtype
  std::vector<torch::Tensor> parameters;        // trainable problem parameters, on the device
  std::vector<train::StageSpec> stages;
  std::optional<train::WeightingSettings> weighting;  // adaptive loss weights, if configured
  train::DivergencePolicy divergence;                 // on_divergence, max_rollbacks
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  std::string output_where;  // what chose the run directory: "--output", "a.json: /output"
  // A run across processes: where this one stands (none: one process), and once joined, the
  // group its objective reduces over.
  std::optional<distributed::Launch> launch;
  distributed::Group* group = nullptr;
};

Setup prepare(const RunOptions& options);

// What prepare() reads of setup.document: the settings, problem, network (with its transforms)
// and stages, each checked. `default_name`: the name of a config without one (its file's stem);
// `base_directory`: where the config's relative data paths start.
void read_config(Setup& setup, const std::string& default_name, const std::string& base_directory);

// The group of the launch's ranks, joined (a group of one process without a launch); its address
// goes into setup.group.
std::unique_ptr<distributed::Group> join_group(Setup& setup);

// The network's parameters and the problem's: what the optimizer trains.
std::vector<torch::Tensor> trainable_tensors(const Setup& setup);

// What the objective reads besides the problem: device, dtype, parameters, the fused loss.
train::ObjectiveContext objective_context(const Setup& setup);

// "cpu", "cuda", "cuda:1" or "auto" -> a device; DeviceError when CUDA is asked for but missing.
torch::Device resolve_device(const std::string& name);

}  // namespace pinn::cli
