// Space-time cylinders: a space domain times a time interval, axes = space axes + the time axis.
// Parts: the space domain's parts (the lateral boundary, time normal component 0), "initial"
// (t = t0, normal -e_t) and "final" (t = t1, normal +e_t); an empty part list means the lateral
// boundary. The interior is sampled by rejection from the space-time bounding box, so a
// low-discrepancy sequence is spread jointly over space and time.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"
#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn::geometry {

namespace {

std::vector<std::string> with_time(std::vector<std::string> axes, const std::string& time) {
  axes.push_back(time);
  return axes;
}

class Spacetime : public Shape {
 public:
  Spacetime(DomainPtr space, const std::string& time_axis, double t0, double t1)
      : Shape(with_time(space->axes(), time_axis)), space_(std::move(space)), t0_(t0), t1_(t1) {
    const auto& space_axes = space_->axes();
    if (std::find(space_axes.begin(), space_axes.end(), time_axis) != space_axes.end()) {
      throw std::invalid_argument("the time axis '" + time_axis + "' is also a space axis");
    }
    if (!(t0_ < t1_)) throw std::invalid_argument("a time interval needs t0 < t1");
    lateral_ = space_->boundary_parts();
  }

  std::pair<std::vector<double>, std::vector<double>> bounding_box() const override {
    auto box = space_->bounding_box();
    box.first.push_back(t0_);
    box.second.push_back(t1_);
    return box;
  }

  torch::Tensor contains(const torch::Tensor& points, bool include_boundary) const override {
    const auto p = as_points(points, dimension());
    const int dim = space_->dimension();
    const auto t = p.select(1, dim);
    const double tol = 1e-10 * (t1_ - t0_);
    const auto in_time =
        include_boundary ? (t >= t0_ - tol) & (t <= t1_ + tol) : (t > t0_ + tol) & (t < t1_ - tol);
    return space_->contains(p.slice(1, 0, dim), include_boundary) & in_time;
  }

  std::vector<std::string> boundary_parts() const override {
    auto parts = lateral_;
    parts.push_back("initial");
    parts.push_back("final");
    return parts;
  }

  double boundary_measure(const std::vector<std::string>& parts) const override {
    const auto split = split_parts(parts);
    double total = 0.0;
    if (split.lateral) total += boundary_measure_of(*space_, split.space_parts) * (t1_ - t0_);
    if (split.initial) total += volume_of(*space_);
    if (split.final) total += volume_of(*space_);
    return total;
  }

  double volume() const override { return volume_of(*space_) * (t1_ - t0_); }

  BoundarySamples sample_boundary(int64_t count, const std::vector<std::string>& parts,
                                  const std::string& sequence, uint64_t seed) const override {
    const auto split = split_parts(check_parts(parts));
    const double duration = t1_ - t0_;
    const double space_volume = volume_of(*space_);
    const std::vector<double> weights = {
        split.lateral ? boundary_measure_of(*space_, split.space_parts) * duration : 0.0,
        split.initial ? space_volume : 0.0, split.final ? space_volume : 0.0};
    const auto counts = split_count(count, weights);
    std::vector<torch::Tensor> points, normals;
    if (counts[0] > 0) {
      auto lateral = lateral_samples(counts[0], split.space_parts, sequence, derive_seed(seed, 0));
      points.push_back(lateral.points);
      normals.push_back(lateral.normals);
    }
    for (int end = 0; end < 2; ++end) {
      const auto n = counts[static_cast<size_t>(end + 1)];
      if (n == 0) continue;
      const auto space =
          space_->sample_interior(n, sequence, derive_seed(seed, static_cast<uint64_t>(end + 1)));
      const auto m = space.size(0);
      points.push_back(
          torch::cat({space, torch::full({m, 1}, end == 0 ? t0_ : t1_, torch::kFloat64)}, 1));
      auto normal = torch::zeros({m, dimension()}, torch::kFloat64);
      normal.select(1, dimension() - 1).fill_(end == 0 ? -1.0 : 1.0);
      normals.push_back(normal);
    }
    if (points.empty()) {
      return {torch::empty({0, dimension()}, torch::kFloat64),
              torch::empty({0, dimension()}, torch::kFloat64)};
    }
    return {torch::cat(points, 0), torch::cat(normals, 0)};
  }

 private:
  struct Split {
    bool lateral = false, initial = false, final = false;
    std::vector<std::string> space_parts;  // empty with lateral: the whole space boundary
  };

  Split split_parts(const std::vector<std::string>& parts) const {
    Split split;
    if (parts.empty()) {
      split.lateral = true;
      return split;
    }
    for (const auto& part : parts) {
      if (part == "initial") {
        split.initial = true;
      } else if (part == "final") {
        split.final = true;
      } else {
        split.lateral = true;
        split.space_parts.push_back(part);
      }
    }
    return split;
  }

  // Space boundary points paired with times: for "grid" the product of a space grid and a time
  // grid; otherwise a stratified 1-D time sample in a seeded random order (pairing two
  // independently scrambled sequences index by index could align them on a curve).
  BoundarySamples lateral_samples(int64_t count, const std::vector<std::string>& parts,
                                  const std::string& sequence, uint64_t seed) const {
    const double duration = t1_ - t0_;
    if (is_grid(sequence)) {
      BoundarySamples space;
      int64_t steps = 1;
      if (space_->dimension() == 1) {
        // The space boundary is a few end points: one time grid through each.
        const auto ends = space_->sample_boundary(count, parts, sequence, seed);
        const auto rows = std::get<0>(
            torch::unique_dim(torch::cat({ends.points, ends.normals}, 1), 0, /*sorted=*/true));
        space = {rows.slice(1, 0, 1).contiguous(), rows.slice(1, 1, 2).contiguous()};
        steps = std::max<int64_t>(1, count / std::max<int64_t>(1, rows.size(0)));
      } else {
        steps = std::max<int64_t>(
            1, std::llround(std::pow(static_cast<double>(count), 1.0 / space_->dimension())));
        const auto per_step = std::max<int64_t>(
            1, std::llround(static_cast<double>(count) / static_cast<double>(steps)));
        space = space_->sample_boundary(per_step, parts, sequence, seed);
      }
      const auto times = unit_cube_samples("grid", steps, 1, seed) * duration + t0_;
      const auto m = space.points.size(0);
      const auto t = times.repeat_interleave(m, 0);
      return {torch::cat({space.points.repeat({steps, 1}), t}, 1),
              torch::cat({space.normals.repeat({steps, 1}), torch::zeros_like(t)}, 1)};
    }
    const auto space = space_->sample_boundary(count, parts, sequence, derive_seed(seed, 10));
    const auto m = space.points.size(0);
    auto generator = at::detail::createCPUGenerator(derive_seed(seed, 11));
    const auto order = torch::randperm(m, generator, torch::dtype(torch::kLong));
    const auto t =
        unit_cube_samples(sequence, m, 1, derive_seed(seed, 12)).index({order}) * duration + t0_;
    return {torch::cat({space.points, t}, 1),
            torch::cat({space.normals, torch::zeros({m, 1}, torch::kFloat64)}, 1)};
  }

  DomainPtr space_;
  double t0_, t1_;
  std::vector<std::string> lateral_;
};

}  // namespace

std::shared_ptr<Shape> make_spacetime(DomainPtr space, std::string time_axis, double t0,
                                      double t1) {
  return std::make_shared<Spacetime>(std::move(space), time_axis, t0, t1);
}

DomainPtr build_spacetime(config::Reader& reader, const std::vector<std::string>& inputs,
                          const std::map<std::string, DomainPtr>& named) {
  const auto name = reader.get<std::string>("space");
  const auto found = named.find(name);
  if (found == named.end()) {
    std::vector<std::string> known;
    for (const auto& entry : named)
      known.push_back(entry.first);
    reader.fail("space", "unknown domain '" + name + "'" + did_you_mean(name, known) +
                             (known.empty() ? "; no domain is defined before this one"
                                            : "; the domains defined before this one are " +
                                                  quoted_list(known, "and")));
  }
  const auto time = read_axis_ranges(reader, "time", inputs, true);
  const auto& space_axes = found->second->axes();
  if (std::find(space_axes.begin(), space_axes.end(), time.axes[0]) != space_axes.end()) {
    reader.fail("time",
                "'" + time.axes[0] + "' is already an axis of the space domain '" + name + "'");
  }
  for (const auto& part : found->second->boundary_parts()) {
    if (part == "initial" || part == "final") {
      reader.fail("space", "the space domain '" + name + "' has a part named '" + part +
                               "', which a space-time domain uses for its ends");
    }
  }
  auto domain = make_spacetime(found->second, time.axes[0], time.low[0], time.high[0]);
  domain->set_label(reader.where());
  return domain;
}

}  // namespace pinn::geometry
