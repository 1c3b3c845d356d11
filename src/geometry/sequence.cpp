// Unit-cube point sequences: uniform, Latin hypercube, Sobol (Joe-Kuo direction numbers with a
// seeded digital shift), Halton and Hammersley (seeded shift modulo 1), and the regular grid.
#include "geometry/sequence.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "util/registry.hpp"
#include "util/suggest.hpp"

namespace pinn::geometry {

namespace {

using SequenceFunction = std::function<torch::Tensor(int64_t, int, uint64_t)>;

// The largest double below 1: every value is clamped to it so that rounding never yields 1.
constexpr double kBelowOne = 1.0 - 1.0 / 9007199254740992.0;

torch::Tensor clamp_below_one(torch::Tensor points) {
  return points.clamp_(0.0, kBelowOne);
}

// splitmix64: a well-mixed 64-bit stream from a seed, for the shifts and scrambles.
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform shifts in [0, 1), one per dimension, from the seed.
std::vector<double> random_shifts(int dim, uint64_t seed) {
  uint64_t state = seed ^ 0x5851F42D4C957F2DULL;
  std::vector<double> shifts(static_cast<size_t>(dim));
  for (auto& shift : shifts)
    shift = static_cast<double>(splitmix(state) >> 11) / 9007199254740992.0;
  return shifts;
}

torch::Tensor uniform(int64_t count, int dim, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return clamp_below_one(torch::rand({count, dim}, generator, torch::dtype(torch::kFloat64)));
}

// Latin hypercube: each axis cut into `count` strata, one point per stratum, the strata of the
// axes paired by independent random permutations.
torch::Tensor latin_hypercube(int64_t count, int dim, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> columns;
  for (int axis = 0; axis < dim; ++axis) {
    auto strata = torch::randperm(count, generator, torch::dtype(torch::kFloat64));
    auto offsets = torch::rand({count}, generator, torch::dtype(torch::kFloat64));
    columns.push_back((strata + offsets) / static_cast<double>(count));
  }
  return clamp_below_one(torch::stack(columns, 1));
}

// Joe & Kuo (2008), new-joe-kuo-6.21201: degree s, coefficients a and initial m_1..m_s of the
// primitive polynomial of dimensions 2, 3, ...; dimension 1 is van der Corput.
struct SobolEntry {
  int s;
  uint32_t a;
  std::vector<uint32_t> m;
};

const std::vector<SobolEntry>& joe_kuo() {
  static const std::vector<SobolEntry> table = {
      {1, 0, {1}},
      {2, 1, {1, 3}},
      {3, 1, {1, 3, 1}},
      {3, 2, {1, 1, 1}},
      {4, 1, {1, 1, 3, 3}},
      {4, 4, {1, 3, 5, 13}},
      {5, 2, {1, 1, 5, 5, 17}},
      {5, 4, {1, 1, 5, 5, 5}},
      {5, 7, {1, 1, 7, 11, 19}},
      {5, 11, {1, 1, 5, 1, 1}},
      {5, 13, {1, 1, 1, 3, 11}},
      {5, 14, {1, 3, 5, 5, 31}},
      {6, 1, {1, 3, 3, 9, 7, 49}},
      {6, 13, {1, 1, 1, 15, 21, 21}},
      {6, 16, {1, 3, 1, 13, 27, 49}},
      {6, 19, {1, 1, 1, 15, 7, 5}},
      {6, 22, {1, 3, 1, 15, 13, 25}},
      {6, 25, {1, 1, 5, 5, 19, 61}},
      {7, 1, {1, 3, 7, 11, 23, 15, 103}},
      {7, 4, {1, 3, 7, 13, 13, 15, 69}},
      {7, 7, {1, 1, 3, 13, 7, 35, 63}},
      {7, 8, {1, 3, 5, 9, 1, 25, 53}},
      {7, 14, {1, 3, 1, 13, 9, 35, 107}},
      {7, 19, {1, 3, 1, 5, 27, 61, 31}},
      {7, 21, {1, 1, 5, 11, 19, 41, 61}},
      {7, 28, {1, 3, 5, 3, 3, 13, 69}},
      {7, 31, {1, 1, 7, 13, 1, 19, 1}},
      {7, 32, {1, 3, 7, 5, 13, 19, 59}},
      {7, 37, {1, 1, 3, 9, 25, 29, 41}},
      {7, 41, {1, 3, 5, 13, 23, 1, 55}},
      {7, 42, {1, 3, 7, 3, 13, 59, 17}},
      {7, 50, {1, 3, 1, 3, 5, 53, 69}},
      {7, 55, {1, 1, 5, 5, 23, 33, 13}},
      {7, 56, {1, 1, 7, 7, 1, 61, 123}},
      {7, 59, {1, 1, 7, 9, 13, 61, 49}},
      {7, 62, {1, 3, 3, 5, 3, 55, 33}},
      {8, 14, {1, 3, 1, 15, 31, 13, 49, 245}},
      {8, 21, {1, 3, 5, 15, 31, 59, 63, 97}},
      {8, 22, {1, 3, 1, 11, 11, 11, 77, 249}},
  };
  return table;
}

constexpr int kSobolBits = 32;

// The 32 direction numbers V_1..V_32 (scaled by 2^32) of a dimension (0: van der Corput).
std::vector<uint32_t> direction_numbers(int dimension) {
  std::vector<uint32_t> v(kSobolBits);
  if (dimension == 0) {
    for (int k = 0; k < kSobolBits; ++k)
      v[k] = 1U << (kSobolBits - 1 - k);
    return v;
  }
  const SobolEntry& entry = joe_kuo()[static_cast<size_t>(dimension - 1)];
  const int s = entry.s;
  for (int k = 0; k < kSobolBits; ++k) {
    if (k < s) {
      v[k] = entry.m[static_cast<size_t>(k)] << (kSobolBits - 1 - k);
      continue;
    }
    uint32_t value = v[k - s] ^ (v[k - s] >> s);
    for (int j = 1; j < s; ++j) {
      if ((entry.a >> (s - 1 - j)) & 1U) value ^= v[k - j];
    }
    v[k] = value;
  }
  return v;
}

// Sobol points in Gray-code order, each dimension XORed with a random 32-bit shift (a digital
// shift keeps the net structure: every dyadic box of the right volume still holds its share).
torch::Tensor sobol(int64_t count, int dim, uint64_t seed) {
  const int available = static_cast<int>(joe_kuo().size()) + 1;
  if (dim > available) {
    throw std::invalid_argument("the sobol sequence supports at most " + std::to_string(available) +
                                " dimensions, asked for " + std::to_string(dim));
  }
  if (count > (int64_t{1} << kSobolBits)) {
    throw std::invalid_argument("the sobol sequence supports at most 2^32 points");
  }
  uint64_t state = seed ^ 0xD1B54A32D192ED03ULL;
  auto points = torch::empty({count, dim}, torch::dtype(torch::kFloat64));
  auto access = points.accessor<double, 2>();
  for (int d = 0; d < dim; ++d) {
    const auto v = direction_numbers(d);
    const auto shift = static_cast<uint32_t>(splitmix(state) >> 32);
    uint32_t x = 0;
    for (int64_t i = 0; i < count; ++i) {
      access[i][d] = static_cast<double>(x ^ shift) / 4294967296.0;
      // Gray code: the next point flips the direction number of the lowest zero bit of i.
      int bit = 0;
      for (auto rest = static_cast<uint64_t>(i); rest & 1U; rest >>= 1)
        ++bit;
      if (bit < kSobolBits) x ^= v[static_cast<size_t>(bit)];
    }
  }
  return points;
}

std::vector<int> first_primes(int count) {
  std::vector<int> primes;
  for (int candidate = 2; static_cast<int>(primes.size()) < count; ++candidate) {
    bool prime = true;
    for (int p : primes) {
      if (p * p > candidate) break;
      if (candidate % p == 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes.push_back(candidate);
  }
  return primes;
}

double radical_inverse(uint64_t index, int base) {
  double result = 0.0;
  double scale = 1.0 / base;
  while (index > 0) {
    result += static_cast<double>(index % static_cast<uint64_t>(base)) * scale;
    index /= static_cast<uint64_t>(base);
    scale /= base;
  }
  return result;
}

double shifted(double value, double shift) {
  double result = value + shift;
  if (result >= 1.0) result -= 1.0;
  return std::min(result, kBelowOne);
}

// Halton: the radical inverse of the index in the d-th prime, shifted modulo 1.
torch::Tensor halton(int64_t count, int dim, uint64_t seed) {
  const auto primes = first_primes(dim);
  const auto shifts = random_shifts(dim, seed);
  auto points = torch::empty({count, dim}, torch::dtype(torch::kFloat64));
  auto access = points.accessor<double, 2>();
  for (int64_t i = 0; i < count; ++i) {
    for (int d = 0; d < dim; ++d) {
      access[i][d] = shifted(radical_inverse(static_cast<uint64_t>(i), primes[d]), shifts[d]);
    }
  }
  return points;
}

// Hammersley: i / count on the first axis, radical inverses in the first primes on the others,
// all shifted modulo 1.
torch::Tensor hammersley(int64_t count, int dim, uint64_t seed) {
  const auto primes = first_primes(dim);
  const auto shifts = random_shifts(dim, seed);
  auto points = torch::empty({count, dim}, torch::dtype(torch::kFloat64));
  auto access = points.accessor<double, 2>();
  for (int64_t i = 0; i < count; ++i) {
    access[i][0] = shifted(static_cast<double>(i) / static_cast<double>(count), shifts[0]);
    for (int d = 1; d < dim; ++d) {
      access[i][d] = shifted(radical_inverse(static_cast<uint64_t>(i), primes[d - 1]), shifts[d]);
    }
  }
  return points;
}

// Cell centres of a regular grid with round(count^(1/dim)) cells per axis, the last axis
// varying fastest.
torch::Tensor grid(int64_t count, int dim, uint64_t /*seed*/) {
  const auto per_axis = std::max<int64_t>(
      1, std::llround(std::pow(static_cast<double>(count), 1.0 / static_cast<double>(dim))));
  const auto centres = (torch::arange(per_axis, torch::dtype(torch::kFloat64)) + 0.5) /
                       static_cast<double>(per_axis);
  std::vector<torch::Tensor> axes(static_cast<size_t>(dim), centres);
  auto mesh = torch::meshgrid(axes, "ij");
  std::vector<torch::Tensor> columns;
  for (auto& axis : mesh)
    columns.push_back(axis.reshape({-1}));
  return torch::stack(columns, 1).contiguous();
}

// One record per sequence: how it draws, and whether it is the regular grid (a count rounded per
// axis, no seed), which domains sample differently.
struct Sequence {
  SequenceFunction draw;
  bool grid;
};

const Registry<Sequence>& sequences() {
  static const Registry<Sequence> table("point sequence", {{"uniform", {uniform, false}},
                                                           {"lhs", {latin_hypercube, false}},
                                                           {"sobol", {sobol, false}},
                                                           {"halton", {halton, false}},
                                                           {"hammersley", {hammersley, false}},
                                                           {"grid", {grid, true}}});
  return table;
}

// The sequence called `name`; std::invalid_argument (which domains turn into the config's error)
// otherwise.
const Sequence& sequence_named(const std::string& name) {
  if (const Sequence* sequence = sequences().find(name)) return *sequence;
  throw std::invalid_argument("unknown point sequence '" + name + "'" +
                              did_you_mean(name, sequence_names()) + "; expected " +
                              quoted_list(sequence_names()));
}

}  // namespace

std::vector<std::string> sequence_names() {
  return sequences().names();
}

bool is_grid(const std::string& sequence) {
  return sequence_named(sequence).grid;
}

torch::Tensor unit_cube_samples(const std::string& sequence, int64_t count, int dim,
                                uint64_t seed) {
  const Sequence& named = sequence_named(sequence);
  if (count < 1) {
    throw std::invalid_argument("a point sequence needs count >= 1, got " + std::to_string(count));
  }
  if (dim < 1) {
    throw std::invalid_argument("a point sequence needs dim >= 1, got " + std::to_string(dim));
  }
  return named.draw(count, dim, seed);
}

}  // namespace pinn::geometry
