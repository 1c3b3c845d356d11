// Axis-aligned boxes in any dimension ("box", and "interval" with one axis): faces
// "<axis>_min"/"<axis>_max", boundary points spread over the faces by their (d-1)-measure.
#include <algorithm>
#include <stdexcept>

#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"

namespace pinn::geometry {

namespace {

class Box : public Shape {
 public:
  Box(std::vector<std::string> axes, std::vector<double> low, std::vector<double> high)
      : Shape(std::move(axes)), low_(std::move(low)), high_(std::move(high)) {
    const auto dim = static_cast<size_t>(dimension());
    if (dim == 0 || low_.size() != dim || high_.size() != dim) {
      throw std::invalid_argument("a box needs one [low, high] per axis");
    }
    for (size_t i = 0; i < dim; ++i) {
      if (!(low_[i] < high_[i])) {
        throw std::invalid_argument("a box needs low < high along '" + this->axes()[i] + "'");
      }
    }
    for (const auto& axis : this->axes()) {
      parts_.push_back(axis + "_min");
      parts_.push_back(axis + "_max");
    }
  }

  std::pair<std::vector<double>, std::vector<double>> bounding_box() const override {
    return {low_, high_};
  }

  torch::Tensor contains(const torch::Tensor& points, bool include_boundary) const override {
    const auto p = as_points(points, dimension());
    const double tol = include_boundary ? tolerance() : -tolerance();
    const auto low = torch::tensor(low_, torch::dtype(torch::kFloat64)) - tol;
    const auto high = torch::tensor(high_, torch::dtype(torch::kFloat64)) + tol;
    if (include_boundary) return ((p >= low) & (p <= high)).all(1);
    return ((p > low) & (p < high)).all(1);
  }

  std::vector<std::string> boundary_parts() const override { return parts_; }

  double boundary_measure(const std::vector<std::string>& parts) const override {
    double total = 0.0;
    for (size_t face : faces(parts))
      total += face_measure(face);
    return total;
  }

  double volume() const override {
    double volume = 1.0;
    for (size_t i = 0; i < low_.size(); ++i)
      volume *= high_[i] - low_[i];
    return volume;
  }

  BoundarySamples sample_boundary(int64_t count, const std::vector<std::string>& parts,
                                  const std::string& sequence, uint64_t seed) const override {
    const auto chosen = faces(check_parts(parts));
    std::vector<double> weights;
    for (size_t face : chosen)
      weights.push_back(face_measure(face));
    const auto counts = split_count(count, weights);
    const int dim = dimension();
    std::vector<torch::Tensor> points, normals;
    for (size_t k = 0; k < chosen.size(); ++k) {
      if (counts[k] == 0) continue;
      const size_t face = chosen[k];
      const auto axis = static_cast<int64_t>(face / 2);
      const bool upper = face % 2 == 1;
      torch::Tensor p;
      if (dim == 1) {
        p = torch::full({counts[k], 1}, upper ? high_[0] : low_[0], torch::kFloat64);
      } else {
        const auto unit = unit_cube_samples(sequence, counts[k], dim - 1, derive_seed(seed, face));
        p = torch::empty({unit.size(0), dim}, torch::kFloat64);
        int64_t column = 0;
        for (int64_t i = 0; i < dim; ++i) {
          if (i == axis) {
            p.select(1, i).fill_(upper ? high_[i] : low_[i]);
          } else {
            p.select(1, i).copy_(unit.select(1, column++) * (high_[i] - low_[i]) + low_[i]);
          }
        }
      }
      auto n = torch::zeros_like(p);
      n.select(1, axis).fill_(upper ? 1.0 : -1.0);
      points.push_back(p);
      normals.push_back(n);
    }
    if (points.empty()) {
      return {torch::empty({0, dim}, torch::kFloat64), torch::empty({0, dim}, torch::kFloat64)};
    }
    return {torch::cat(points, 0), torch::cat(normals, 0)};
  }

 private:
  // Face 2*i is "<axis i>_min", 2*i+1 is "<axis i>_max".
  std::vector<size_t> faces(const std::vector<std::string>& parts) const {
    std::vector<size_t> result;
    for (size_t face = 0; face < parts_.size(); ++face) {
      if (parts.empty() || std::find(parts.begin(), parts.end(), parts_[face]) != parts.end()) {
        result.push_back(face);
      }
    }
    return result;
  }

  double face_measure(size_t face) const {
    double measure = 1.0;
    for (size_t i = 0; i < low_.size(); ++i) {
      if (i != face / 2) measure *= high_[i] - low_[i];
    }
    return measure;
  }

  std::vector<double> low_, high_;
  std::vector<std::string> parts_;
};

DomainPtr build_ranges(config::Reader& reader, const std::vector<std::string>& inputs,
                       bool single) {
  const auto ranges = read_axis_ranges(reader, "bounds", inputs, single);
  auto box = make_box(ranges.axes, ranges.low, ranges.high);
  box->set_label(reader.where());
  return box;
}

}  // namespace

std::shared_ptr<Shape> make_box(std::vector<std::string> axes, std::vector<double> low,
                                std::vector<double> high) {
  return std::make_shared<Box>(std::move(axes), std::move(low), std::move(high));
}

DomainPtr build_interval(config::Reader& reader, const std::vector<std::string>& inputs,
                         const std::map<std::string, DomainPtr>& /*named*/) {
  return build_ranges(reader, inputs, true);
}

DomainPtr build_box(config::Reader& reader, const std::vector<std::string>& inputs,
                    const std::map<std::string, DomainPtr>& /*named*/) {
  return build_ranges(reader, inputs, false);
}

}  // namespace pinn::geometry
