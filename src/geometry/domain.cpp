// Shared domain machinery: the default interior sampler (rejection from the bounding box), the
// Shape helpers (tolerance, part checks), seed derivation, proportional splits, the rejection
// filler, the axis readers, and make_domain's table of types.
#include "geometry/domain.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"
#include "util/errors.hpp"
#include "util/registry.hpp"
#include "util/suggest.hpp"

namespace pinn::geometry {

// ---- helpers --------------------------------------------------------------------------------

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<int64_t> split_count(int64_t count, const std::vector<double>& weights) {
  std::vector<int64_t> counts(weights.size(), 0);
  if (weights.empty()) return counts;
  double total = 0.0;
  for (double w : weights)
    total += std::max(w, 0.0);
  if (!(total > 0.0) || !std::isfinite(total)) {
    // Nothing has a size, or sizes past the range of a double: spread evenly.
    for (size_t i = 0; i < counts.size(); ++i)
      counts[i] = count / static_cast<int64_t>(counts.size()) +
                  (static_cast<int64_t>(i) < count % static_cast<int64_t>(counts.size()));
    return counts;
  }
  std::vector<double> remainders(weights.size());
  int64_t assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    // The share first: count * weight may overflow where weight / total cannot.
    const double exact = static_cast<double>(count) * (std::max(weights[i], 0.0) / total);
    counts[i] = static_cast<int64_t>(std::floor(exact));
    remainders[i] = exact - static_cast<double>(counts[i]);
    assigned += counts[i];
  }
  std::vector<size_t> order(weights.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
  for (size_t k = 0; assigned < count; k = (k + 1) % order.size(), ++assigned)
    ++counts[order[k]];
  return counts;
}

torch::Tensor as_points(const torch::Tensor& points, int dim) {
  if (points.dim() != 2 || points.size(1) != dim) {
    throw std::invalid_argument(
        "expected points of shape N x " + std::to_string(dim) + ", got " +
        std::to_string(points.dim()) + " dimensions" +
        (points.dim() == 2 ? " (N x " + std::to_string(points.size(1)) + ")" : std::string()));
  }
  return points.to(torch::kCPU, torch::kFloat64).contiguous();
}

torch::Tensor rejection_fill(int64_t count, const std::string& sequence, uint64_t seed,
                             const DrawFunction& draw, const KeepFunction& keep,
                             const std::string& what) {
  if (count < 1) throw std::invalid_argument("cannot sample " + std::to_string(count) + " points");
  // Estimate the acceptance rate on a well spread probe (a larger one when nothing survives).
  int64_t drawn = 0;
  int64_t accepted = 0;
  for (int64_t probe : {int64_t{4096}, int64_t{1} << 16}) {
    accepted = keep(draw(probe, "sobol", derive_seed(seed, 0xACCE + drawn))).sum().item<int64_t>();
    drawn += probe;
    if (accepted > 0) break;
  }
  const auto empty = [&] {
    return InputError(what, "found no points to sample in " + std::to_string(drawn) +
                                " candidates: is the domain (or the requested boundary) empty?");
  };
  if (accepted == 0) throw empty();
  double rate = static_cast<double>(accepted) / static_cast<double>(drawn);
  if (is_grid(sequence)) {
    const auto target = static_cast<int64_t>(std::ceil(static_cast<double>(count) / rate));
    const auto candidates = draw(target, sequence, seed);
    const auto result = candidates.index({keep(candidates)});
    if (result.size(0) == 0) throw empty();
    return result.contiguous();
  }
  std::vector<torch::Tensor> kept;
  int64_t found = 0;
  for (uint64_t round = 0; found < count; ++round) {
    if (round > 1000 || drawn > (int64_t{1} << 28)) throw empty();
    const auto missing = static_cast<double>(count - found);
    // Where everything is accepted (a box), draw exactly what is missing: the sequence is then
    // used whole, with its low discrepancy intact.
    const auto n =
        rate >= 1.0 ? count - found
                    : std::min<int64_t>(static_cast<int64_t>(std::ceil(missing / rate * 1.05)) + 16,
                                        int64_t{1} << 22);
    const auto candidates = draw(n, sequence, derive_seed(seed, round));
    const auto chosen = candidates.index({keep(candidates)});
    drawn += n;
    found += chosen.size(0);
    kept.push_back(chosen);
    // Later rounds use the rate measured on this draw (at least a small floor).
    rate = std::max(static_cast<double>(chosen.size(0)) / static_cast<double>(n), 0.25 * rate);
  }
  const auto all = torch::cat(kept, 0);
  if (all.size(0) == count) return all.contiguous();
  // Keep a seeded random subset, in the original order. Not a prefix: a Hammersley sequence
  // comes ordered along its first coordinate, so dropping its tail would leave a band of the
  // domain without points.
  auto generator = at::detail::createCPUGenerator(derive_seed(seed, 0x5B5E7));
  const auto chosen =
      std::get<0>(torch::randperm(all.size(0), generator, torch::kLong).slice(0, 0, count).sort());
  return all.index_select(0, chosen).contiguous();
}

AxisRanges read_axis_ranges(config::Reader& reader, const std::string& key,
                            const std::vector<std::string>& inputs, bool single) {
  config::Reader ranges = reader.object(key);
  const auto keys = ranges.keys();
  if (keys.empty()) reader.fail(key, "expected at least one axis, e.g. {\"x\": [0, 1]}");
  if (single && keys.size() != 1) {
    reader.fail(key, "expected exactly one axis, found " + std::to_string(keys.size()));
  }
  for (const auto& axis : keys)
    check_axis(ranges, axis, axis, inputs);
  AxisRanges result;
  for (const auto& input : inputs) {
    if (std::find(keys.begin(), keys.end(), input) == keys.end()) continue;
    const auto pair = ranges.get<std::vector<double>>(input);
    if (pair.size() != 2 || !(pair[0] < pair[1]) || !std::isfinite(pair[0]) ||
        !std::isfinite(pair[1])) {
      ranges.fail(input,
                  "expected [low, high] with low < high, found " + ranges.json(input).dump());
    }
    result.axes.push_back(input);
    result.low.push_back(pair[0]);
    result.high.push_back(pair[1]);
  }
  ranges.finish();
  return result;
}

void check_axis(const config::Reader& reader, const std::string& key, const std::string& axis,
                const std::vector<std::string>& inputs) {
  if (std::find(inputs.begin(), inputs.end(), axis) == inputs.end()) {
    reader.fail(key, "'" + axis + "' is not an input" + did_you_mean(axis, inputs) +
                         "; the inputs are " + quoted_list(inputs, "and"));
  }
}

// ---- Domain and Shape -----------------------------------------------------------------------

torch::Tensor Domain::sample_interior(int64_t count, const std::string& sequence,
                                      uint64_t seed) const {
  const auto box = bounding_box();
  const auto low = torch::tensor(box.first, torch::dtype(torch::kFloat64));
  const auto extent = torch::tensor(box.second, torch::dtype(torch::kFloat64)) - low;
  const int dim = dimension();
  const auto draw = [&](int64_t n, const std::string& kind, uint64_t s) {
    return unit_cube_samples(kind, n, dim, s) * extent + low;
  };
  const auto keep = [&](const torch::Tensor& p) { return contains(p, false); };
  const auto* shape = dynamic_cast<const Shape*>(this);
  const std::string what = shape ? shape->label() : std::string();
  return rejection_fill(count, sequence, seed, draw, keep, what);
}

double Shape::size() const {
  const auto box = bounding_box();
  double largest = 0.0;
  for (size_t i = 0; i < box.first.size(); ++i)
    largest = std::max(largest, box.second[i] - box.first[i]);
  return largest;
}

double Shape::tolerance() const {
  return 1e-10 * std::max(size(), 1e-300);
}

const std::vector<std::string>& Shape::check_parts(const std::vector<std::string>& parts) const {
  const auto available = boundary_parts();
  for (const auto& part : parts) {
    if (std::find(available.begin(), available.end(), part) == available.end()) {
      throw std::invalid_argument("unknown boundary part '" + part + "'" +
                                  did_you_mean(part, available) + "; the parts are " +
                                  quoted_list(available, "and"));
    }
  }
  return parts;
}

double boundary_measure_of(const Domain& domain, const std::vector<std::string>& parts) {
  if (const auto* shape = dynamic_cast<const Shape*>(&domain)) {
    return shape->boundary_measure(parts);
  }
  return parts.empty() ? 1.0 : static_cast<double>(parts.size());
}

double volume_of(const Domain& domain) {
  if (const auto* shape = dynamic_cast<const Shape*>(&domain)) return shape->volume();
  const auto box = domain.bounding_box();
  double volume = 1.0;
  for (size_t i = 0; i < box.first.size(); ++i)
    volume *= box.second[i] - box.first[i];
  return volume;
}

// ---- the factory ----------------------------------------------------------------------------

namespace {

const Registry<BuildFunction>& builders() {
  static const Registry<BuildFunction> table("domain type", {{"interval", build_interval},
                                                             {"box", build_box},
                                                             {"ball", build_ball},
                                                             {"disk", build_disk},
                                                             {"polygon", build_polygon},
                                                             {"union", build_union},
                                                             {"intersection", build_intersection},
                                                             {"difference", build_difference},
                                                             {"spacetime", build_spacetime}});
  return table;
}

}  // namespace

std::vector<std::string> domain_types() {
  return builders().names();
}

DomainPtr make_domain(config::Reader& reader, const std::vector<std::string>& inputs,
                      const std::map<std::string, DomainPtr>& named) {
  reader.describe("type",
                  "the domain's shape: a primitive, a set operation on domains defined "
                  "before it, or a space domain times a time interval");
  const std::string type = reader.choice("type", domain_types());
  DomainPtr domain = builders().make(type, reader.where("type"), reader, inputs, named);
  reader.finish();
  return domain;
}

}  // namespace pinn::geometry
