// Point sequences in the unit cube [0, 1)^dim: pseudo-random (uniform), stratified (Latin
// hypercube) and low-discrepancy (Sobol, Halton, Hammersley), plus a regular grid. Domains map
// these onto their interiors and boundaries, so every domain supports every sequence.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pinn::geometry {

// "grid", "halton", "hammersley", "lhs", "sobol", "uniform".
std::vector<std::string> sequence_names();

// Whether `sequence` is the regular grid (see below), which domains sample their own way.
// Throws std::invalid_argument for an unknown name.
bool is_grid(const std::string& sequence);

// `count` points in [0, 1)^dim as a count x dim float64 CPU tensor, deterministic for a seed.
// The seed randomises each sequence (uniform, lhs: the generator; sobol: a scramble or a random
// skip; halton, hammersley: a random shift modulo 1), so that resampling with a new seed gives
// new points. "grid" returns the cell centres of a regular grid with round(count^(1/dim)) points
// per axis (so possibly not exactly `count` points) and ignores the seed.
// Throws std::invalid_argument for an unknown name, count < 1 or dim < 1.
torch::Tensor unit_cube_samples(const std::string& sequence, int64_t count, int dim, uint64_t seed);

}  // namespace pinn::geometry
