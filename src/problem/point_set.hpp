// Point sets: the named sets of the config's "points" object. Each holds its points, per-point
// fields (outward normals n_<input> of boundary sets, data columns of CSV files) and, when it can
// be drawn again, how: resampling every K steps and residual-based refinement draw from it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "geometry/domain.hpp"

namespace pinn::problem {

struct Sample {
  torch::Tensor points;                         // N x d, float64, CPU
  std::map<std::string, torch::Tensor> fields;  // name -> N, float64, CPU
};

// Residual-based adaptive refinement: every `every` steps, draw `candidates` points from the
// set's sampler and add the `add` of them where the residuals of the set's terms are largest,
// before step `until`.
struct Refinement {
  int every = 0;  // 0: off
  int candidates = 0;
  int add = 0;
  int64_t until = 0;  // refine only before this step (0: always); e.g. during Adam only
};

// Residual-based adaptive distribution (RAD; Wu, Zhu, Tan, Kartha and Lu, "A comprehensive study
// of non-adaptive and residual-based adaptive sampling for physics-informed neural networks",
// CMAME 2023): every `every` steps the set is replaced by `count` of `candidates` fresh points,
// drawn without replacement with probability proportional to r^k / mean(r^k) + c, r the squared
// residual summed over the set's terms; before step `until` (0: always).
struct AdaptiveDistribution {
  int every = 0;  // 0: off
  int candidates = 0;
  int count = 0;  // points kept (default: the set's size)
  double k = 1, c = 1;
  int64_t until = 0;
};

struct PointSet {
  Sample sample;
  geometry::DomainPtr domain;  // the domain sampled, if any (for periodic checks)
  std::string region;          // interior, boundary, initial; empty for box and file sets
  int resample_every = 0;      // 0: drawn once
  Refinement refine;
  AdaptiveDistribution rad;
  // Draws the set anew; `round` 0 gives the initial points, later rounds fresh ones. Empty for
  // sets that cannot be redrawn (files, grids).
  std::function<Sample(uint64_t round, int64_t count)> draw;
  // A union of named sets (a loss term's "points" list): their names; empty for any other set.
  std::vector<std::string> members;

  int64_t size() const { return sample.points.size(0); }
  std::vector<std::string> field_names() const;
};

struct SamplingContext {
  std::vector<std::string> inputs;       // the problem's input names, one column each
  std::filesystem::path base_directory;  // relative file paths are resolved against it
  int64_t default_seed = 0;              // used when the set gives no "seed"
  const std::map<std::string, geometry::DomainPtr>* domains = nullptr;
};

// Reads one point-set object: a box sampler ("bounds"), a domain sampler ("domain", "region",
// "parts"), or a CSV file ("path", "fields"); plus "resample_every", "refine" and "rad".
PointSet read_point_set(config::Reader& reader, const SamplingContext& context);

// The union of `members` (at least two sets of `sets`) as one set: their points in order, the
// fields they all have, drawn anew together (each its own share) when they are resampled alike.
// `where` names the list for errors (members refined or resampled differently are refused).
PointSet union_of(const std::vector<std::string>& members,
                  const std::map<std::string, PointSet>& sets, const std::string& where);

// Every sampler name ("uniform", "normal", "grid", "file", "lhs", "sobol", ...).
std::vector<std::string> sampler_names();

}  // namespace pinn::problem
