// Samplers: turn a point-set object of the config ({"sampler": "uniform", "count": ...}) into an
// N x d tensor of points. A small factory keyed by the "sampler" string; the points are drawn in
// float64 on the CPU from the set's own seed, so a run is reproducible on any device and dtype.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/reader.hpp"

namespace pinn::problem {

struct SamplingContext {
  std::vector<std::string> inputs;       // the problem's input names, one column each
  std::filesystem::path base_directory;  // relative file paths are resolved against it
  int64_t default_seed = 0;              // used when the set gives no "seed"
};

// Reads the sampler object and returns its points (N x d, float64, CPU); N > 0.
torch::Tensor sample_points(config::Reader& reader, const SamplingContext& context);

std::vector<std::string> sampler_names();

}  // namespace pinn::problem
