// Balls in any dimension ("ball", and "disk" with two axes): one boundary part, "circle" in 2-D
// and "sphere" otherwise; sequences mapped onto the ball and its sphere by measure-preserving
// maps (polar in 2-D, Archimedes in 3-D, normalised Gaussians above).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"

namespace pinn::geometry {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Unit vectors, uniform on the sphere S^(dim-1), from `count` unit-cube points.
torch::Tensor unit_directions(const std::string& sequence, int64_t count, int dim, uint64_t seed) {
  if (dim == 2) {
    const auto angle = unit_cube_samples(sequence, count, 1, seed).select(1, 0) * (2 * kPi);
    return torch::stack({torch::cos(angle), torch::sin(angle)}, 1);
  }
  if (dim == 3) {
    // Archimedes: z uniform in [-1, 1] and the azimuth uniform give the uniform sphere.
    const auto u = unit_cube_samples(sequence, count, 2, seed);
    const auto z = 1.0 - 2.0 * u.select(1, 0);
    const auto angle = u.select(1, 1) * (2 * kPi);
    const auto rho = torch::sqrt(torch::clamp_min(1.0 - z * z, 0.0));
    return torch::stack({rho * torch::cos(angle), rho * torch::sin(angle), z}, 1);
  }
  // Independent standard normals through the inverse normal CDF, normalised.
  const auto u = unit_cube_samples(sequence, count, dim, seed).clamp(1e-12, 1.0 - 1e-12);
  auto gaussian = std::sqrt(2.0) * torch::erfinv(2.0 * u - 1.0);
  auto norm = gaussian.norm(2, 1, true).clamp_min(1e-300);
  return gaussian / norm;
}

class Ball : public Shape {
 public:
  Ball(std::vector<std::string> axes, std::vector<double> center, double radius)
      : Shape(std::move(axes)), center_(std::move(center)), radius_(radius) {
    if (dimension() < 2 || center_.size() != static_cast<size_t>(dimension())) {
      throw std::invalid_argument("a ball needs a centre coordinate per axis (2 or more axes)");
    }
    if (!(radius_ > 0) || !std::isfinite(radius_)) {
      throw std::invalid_argument("a ball needs a positive radius");
    }
    part_ = dimension() == 2 ? "circle" : "sphere";
  }

  std::pair<std::vector<double>, std::vector<double>> bounding_box() const override {
    std::vector<double> low, high;
    for (double c : center_) {
      low.push_back(c - radius_);
      high.push_back(c + radius_);
    }
    return {low, high};
  }

  torch::Tensor contains(const torch::Tensor& points, bool include_boundary) const override {
    const auto distance = (as_points(points, dimension()) - center()).norm(2, 1);
    if (include_boundary) return distance <= radius_ + tolerance();
    return distance < radius_ - tolerance();
  }

  std::vector<std::string> boundary_parts() const override { return {part_}; }

  double boundary_measure(const std::vector<std::string>& /*parts*/) const override {
    // Surface of S^(d-1): 2 pi^(d/2) / Gamma(d/2) r^(d-1).
    const double d = dimension();
    return 2.0 * std::pow(kPi, d / 2.0) / std::tgamma(d / 2.0) * std::pow(radius_, d - 1.0);
  }

  double volume() const override {
    const double d = dimension();
    return std::pow(kPi, d / 2.0) / std::tgamma(d / 2.0 + 1.0) * std::pow(radius_, d);
  }

  torch::Tensor sample_interior(int64_t count, const std::string& sequence,
                                uint64_t seed) const override {
    const int dim = dimension();
    if (is_grid(sequence) || dim > 3) return Domain::sample_interior(count, sequence, seed);
    // Polar (2-D) or spherical (3-D) maps with the radius ~ r * u^(1/d), which preserve
    // volume, so a low-discrepancy sequence stays evenly spread.
    const auto draw = [&](int64_t n, const std::string& kind, uint64_t s) {
      const auto u = unit_cube_samples(kind, n, dim, s);
      const auto radial = radius_ * torch::pow(u.select(1, 0), 1.0 / dim).unsqueeze(1);
      torch::Tensor direction;
      if (dim == 2) {
        const auto angle = u.select(1, 1) * (2 * kPi);
        direction = torch::stack({torch::cos(angle), torch::sin(angle)}, 1);
      } else {
        const auto z = 1.0 - 2.0 * u.select(1, 1);
        const auto angle = u.select(1, 2) * (2 * kPi);
        const auto rho = torch::sqrt(torch::clamp_min(1.0 - z * z, 0.0));
        direction = torch::stack({rho * torch::cos(angle), rho * torch::sin(angle), z}, 1);
      }
      return center() + radial * direction;
    };
    const auto keep = [&](const torch::Tensor& p) { return contains(p, false); };
    return rejection_fill(count, sequence, seed, draw, keep, label());
  }

  BoundarySamples sample_boundary(int64_t count, const std::vector<std::string>& parts,
                                  const std::string& sequence, uint64_t seed) const override {
    check_parts(parts);
    const auto normals = unit_directions(sequence, count, dimension(), seed);
    return {center() + radius_ * normals, normals};
  }

 private:
  torch::Tensor center() const { return torch::tensor(center_, torch::dtype(torch::kFloat64)); }

  std::vector<double> center_;
  double radius_;
  std::string part_;
};

// Reads "center" ({"x": 0, "y": 0}, axes ordered as in the inputs) and "radius".
DomainPtr build_round(config::Reader& reader, const std::vector<std::string>& inputs, bool disk) {
  config::Reader centre = reader.object("center");
  const auto keys = centre.keys();
  for (const auto& axis : keys)
    check_axis(centre, axis, axis, inputs);
  std::vector<std::string> axes;
  std::vector<double> center;
  for (const auto& input : inputs) {
    if (std::find(keys.begin(), keys.end(), input) == keys.end()) continue;
    axes.push_back(input);
    center.push_back(centre.get<double>(input));
  }
  centre.finish();
  if (disk && axes.size() != 2) {
    reader.fail("center", "a disk has exactly two axes, found " + std::to_string(axes.size()));
  }
  if (axes.empty()) reader.fail("center", "expected one coordinate per axis, e.g. {\"x\": 0}");
  const double radius = reader.get<double>("radius");
  if (!(radius > 0) || !std::isfinite(radius)) {
    reader.fail("radius", "expected a positive radius, found " + reader.json("radius").dump());
  }
  auto ball = make_ball(axes, center, radius);
  ball->set_label(reader.where());
  return ball;
}

}  // namespace

std::shared_ptr<Shape> make_ball(std::vector<std::string> axes, std::vector<double> center,
                                 double radius) {
  if (axes.size() == 1 && center.size() == 1) {
    return make_box(std::move(axes), {center[0] - radius}, {center[0] + radius});
  }
  return std::make_shared<Ball>(std::move(axes), std::move(center), radius);
}

DomainPtr build_ball(config::Reader& reader, const std::vector<std::string>& inputs,
                     const std::map<std::string, DomainPtr>& /*named*/) {
  return build_round(reader, inputs, false);
}

DomainPtr build_disk(config::Reader& reader, const std::vector<std::string>& inputs,
                     const std::map<std::string, DomainPtr>& /*named*/) {
  return build_round(reader, inputs, true);
}

}  // namespace pinn::geometry
