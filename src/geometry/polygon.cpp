// Simple polygons in a plane of two inputs: validation (at least 3 vertices, no zero-length
// edges, no self-intersection), even-odd containment with a boundary tolerance, outward edge
// normals for either orientation, boundary sampling by arc length over edges and named groups.
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"
#include "util/errors.hpp"

namespace pinn::geometry {

namespace {

using Point = std::pair<double, double>;

std::string format_point(const Point& p) {
  std::ostringstream out;
  out << "[" << p.first << ", " << p.second << "]";
  return out.str();
}

// Sign of the turn a -> b -> c: > 0 left (counter-clockwise), < 0 right, 0 collinear.
double orient(const Point& a, const Point& b, const Point& c) {
  return (b.first - a.first) * (c.second - a.second) - (b.second - a.second) * (c.first - a.first);
}

// For collinear a, b, c: whether c lies within the bounding box of segment a-b.
bool on_segment(const Point& a, const Point& b, const Point& c) {
  return std::min(a.first, b.first) <= c.first && c.first <= std::max(a.first, b.first) &&
         std::min(a.second, b.second) <= c.second && c.second <= std::max(a.second, b.second);
}

// Whether the closed segments p1-p2 and q1-q2 share a point.
bool segments_intersect(const Point& p1, const Point& p2, const Point& q1, const Point& q2) {
  const double d1 = orient(q1, q2, p1), d2 = orient(q1, q2, p2);
  const double d3 = orient(p1, p2, q1), d4 = orient(p1, p2, q2);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) {
    return true;
  }
  return (d1 == 0 && on_segment(q1, q2, p1)) || (d2 == 0 && on_segment(q1, q2, p2)) ||
         (d3 == 0 && on_segment(p1, p2, q1)) || (d4 == 0 && on_segment(p1, p2, q2));
}

class Polygon : public Shape {
 public:
  Polygon(std::vector<std::string> axes, std::vector<Point> vertices, EdgeGroups groups)
      : Shape(std::move(axes)), vertices_(std::move(vertices)), groups_(std::move(groups)) {
    if (dimension() != 2) throw std::invalid_argument("a polygon has exactly two axes");
    validate();
    const auto n = static_cast<int64_t>(vertices_.size());
    starts_ = torch::empty({n, 2}, torch::kFloat64);
    ends_ = torch::empty({n, 2}, torch::kFloat64);
    normals_ = torch::empty({n, 2}, torch::kFloat64);
    lengths_.resize(static_cast<size_t>(n));
    double twice_area = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const Point& a = vertex(i);
      const Point& b = vertex(i + 1);
      twice_area += a.first * b.second - b.first * a.second;
    }
    area_ = std::abs(twice_area) / 2;
    // Outward normals: right of the edge direction when counter-clockwise, left otherwise.
    const double orientation = twice_area > 0 ? 1.0 : -1.0;
    for (int64_t i = 0; i < n; ++i) {
      const Point& a = vertex(i);
      const Point& b = vertex(i + 1);
      const double dx = b.first - a.first, dy = b.second - a.second;
      const double length = std::hypot(dx, dy);
      lengths_[static_cast<size_t>(i)] = length;
      starts_[i][0] = a.first;
      starts_[i][1] = a.second;
      ends_[i][0] = b.first;
      ends_[i][1] = b.second;
      normals_[i][0] = orientation * dy / length;
      normals_[i][1] = -orientation * dx / length;
    }
    for (int64_t i = 0; i < n; ++i)
      parts_.push_back("edge" + std::to_string(i));
    for (const auto& group : groups_)
      parts_.push_back(group.first);
  }

  std::pair<std::vector<double>, std::vector<double>> bounding_box() const override {
    std::vector<double> low = {vertices_[0].first, vertices_[0].second};
    std::vector<double> high = low;
    for (const auto& v : vertices_) {
      low[0] = std::min(low[0], v.first);
      low[1] = std::min(low[1], v.second);
      high[0] = std::max(high[0], v.first);
      high[1] = std::max(high[1], v.second);
    }
    return {low, high};
  }

  torch::Tensor contains(const torch::Tensor& points, bool include_boundary) const override {
    const auto p = as_points(points, 2);
    std::vector<torch::Tensor> chunks;
    constexpr int64_t kChunk = 1 << 14;
    for (int64_t start = 0; start < p.size(0); start += kChunk) {
      chunks.push_back(
          contains_chunk(p.slice(0, start, std::min(start + kChunk, p.size(0))), include_boundary));
    }
    if (chunks.empty()) return torch::zeros({0}, torch::kBool);
    return torch::cat(chunks, 0);
  }

  std::vector<std::string> boundary_parts() const override { return parts_; }

  double boundary_measure(const std::vector<std::string>& parts) const override {
    double total = 0.0;
    for (int64_t edge : edges_of(parts))
      total += lengths_[static_cast<size_t>(edge)];
    return total;
  }

  double volume() const override { return area_; }

  BoundarySamples sample_boundary(int64_t count, const std::vector<std::string>& parts,
                                  const std::string& sequence, uint64_t seed) const override {
    const auto edges = edges_of(check_parts(parts));
    // One 1-D sequence over the concatenated arc length of the chosen edges.
    std::vector<double> ends;
    double total = 0.0;
    for (int64_t edge : edges) {
      total += lengths_[static_cast<size_t>(edge)];
      ends.push_back(total);
    }
    const auto s = unit_cube_samples(sequence, count, 1, seed).select(1, 0) * total;
    const auto cumulative = torch::tensor(ends, torch::dtype(torch::kFloat64));
    auto which = torch::searchsorted(cumulative, s, /*out_int32=*/false, /*right=*/true)
                     .clamp_max(static_cast<int64_t>(edges.size()) - 1);
    const auto edge_ids = torch::tensor(edges, torch::dtype(torch::kLong)).index({which});
    const auto lengths = torch::tensor(lengths_, torch::dtype(torch::kFloat64)).index({edge_ids});
    const auto before = cumulative.index({which}) - lengths;
    const auto t = ((s - before) / lengths).clamp(0.0, 1.0).unsqueeze(1);
    const auto a = starts_.index({edge_ids});
    const auto b = ends_.index({edge_ids});
    return {a + t * (b - a), normals_.index({edge_ids}).clone()};
  }

 private:
  const Point& vertex(int64_t i) const {
    return vertices_[static_cast<size_t>(i % static_cast<int64_t>(vertices_.size()))];
  }

  std::string edge_text(int64_t i) const {
    return "edge " + std::to_string(i) + " (" + format_point(vertex(i)) + " to " +
           format_point(vertex(i + 1)) + ")";
  }

  void validate() const {
    const auto n = static_cast<int64_t>(vertices_.size());
    if (n < 3) {
      throw std::invalid_argument("a polygon needs at least 3 vertices, found " +
                                  std::to_string(n));
    }
    for (const auto& v : vertices_) {
      if (!std::isfinite(v.first) || !std::isfinite(v.second)) {
        throw std::invalid_argument("vertex " + format_point(v) + " is not finite");
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      if (vertex(i) == vertex(i + 1)) {
        throw std::invalid_argument(edge_text(i) + " has zero length: vertices " +
                                    std::to_string(i) + " and " + std::to_string((i + 1) % n) +
                                    " coincide");
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      // Neighbouring edges share a vertex; they must not fold back onto each other.
      const Point& a = vertex(i);
      const Point& b = vertex(i + 1);
      const Point& c = vertex(i + 2);
      const double dot =
          (b.first - a.first) * (c.first - b.first) + (b.second - a.second) * (c.second - b.second);
      if (orient(a, b, c) == 0 && dot < 0) {
        throw std::invalid_argument("the polygon intersects itself: " + edge_text(i) + " and " +
                                    edge_text((i + 1) % n) + " fold back onto each other");
      }
      for (int64_t j = i + 2; j < n; ++j) {
        if (i == 0 && j == n - 1) continue;  // neighbours through vertex 0
        if (segments_intersect(a, b, vertex(j), vertex(j + 1))) {
          throw std::invalid_argument("the polygon intersects itself: " + edge_text(i) + " and " +
                                      edge_text(j) + " meet");
        }
      }
    }
    for (const auto& group : groups_) {
      if (group.second.empty()) {
        throw std::invalid_argument("edge group '" + group.first + "' lists no edges");
      }
      for (int index : group.second) {
        if (index < 0 || index >= n) {
          throw std::invalid_argument("edge group '" + group.first + "' names edge " +
                                      std::to_string(index) + ", but the edges are 0 to " +
                                      std::to_string(n - 1));
        }
      }
    }
  }

  // The distinct edges of `parts` (empty: all), in increasing order.
  std::vector<int64_t> edges_of(const std::vector<std::string>& parts) const {
    const auto n = static_cast<int64_t>(vertices_.size());
    std::set<int64_t> edges;
    if (parts.empty()) {
      for (int64_t i = 0; i < n; ++i)
        edges.insert(i);
    }
    for (const auto& part : parts) {
      const auto at = std::find(parts_.begin(), parts_.end(), part) - parts_.begin();
      if (at < n) {
        edges.insert(at);
        continue;
      }
      for (int index : groups_[static_cast<size_t>(at - n)].second)
        edges.insert(index);
    }
    return {edges.begin(), edges.end()};
  }

  torch::Tensor contains_chunk(const torch::Tensor& p, bool include_boundary) const {
    const auto px = p.select(1, 0).unsqueeze(1), py = p.select(1, 1).unsqueeze(1);
    const auto ax = starts_.select(1, 0).unsqueeze(0), ay = starts_.select(1, 1).unsqueeze(0);
    const auto bx = ends_.select(1, 0).unsqueeze(0), by = ends_.select(1, 1).unsqueeze(0);
    // Even-odd rule: count the edges a ray to +x crosses.
    const auto straddles = (ay > py) != (by > py);
    const auto dy = by - ay;
    const auto safe_dy = torch::where(dy == 0, torch::ones_like(dy), dy);
    const auto crossing_x = ax + (py - ay) * (bx - ax) / safe_dy;
    const auto crossings = (straddles & (px < crossing_x)).sum(1);
    const auto inside = crossings.remainder(2) == 1;
    // Distance to the nearest edge, for the boundary band.
    const auto ex = bx - ax, ey = by - ay;
    const auto t = (((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
    const auto distance =
        torch::sqrt(torch::pow(px - ax - t * ex, 2) + torch::pow(py - ay - t * ey, 2)).amin(1);
    if (include_boundary) return inside | (distance <= tolerance());
    return inside & (distance > tolerance());
  }

  std::vector<Point> vertices_;
  EdgeGroups groups_;
  std::vector<std::string> parts_;
  torch::Tensor starts_, ends_, normals_;
  std::vector<double> lengths_;
  double area_ = 0.0;
};

bool is_edge_name(const std::string& name) {
  return name.size() > 4 && name.compare(0, 4, "edge") == 0 &&
         std::all_of(name.begin() + 4, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::shared_ptr<Shape> make_polygon(std::vector<std::string> axes, std::vector<Point> vertices,
                                    EdgeGroups groups) {
  return std::make_shared<Polygon>(std::move(axes), std::move(vertices), std::move(groups));
}

DomainPtr build_polygon(config::Reader& reader, const std::vector<std::string>& inputs,
                        const std::map<std::string, DomainPtr>& /*named*/) {
  std::vector<std::string> axes;
  if (reader.has("axes") || inputs.size() < 2) {
    axes = reader.get<std::vector<std::string>>("axes");
  } else {
    axes = reader.get_or("axes", std::vector<std::string>{inputs[0], inputs[1]});
  }
  if (axes.size() != 2) {
    reader.fail("axes", "a polygon has exactly two axes, found " + std::to_string(axes.size()));
  }
  if (axes[0] == axes[1])
    reader.fail("axes", "the two axes must differ, found '" + axes[0] + "' twice");
  for (size_t i = 0; i < axes.size(); ++i)
    check_axis(reader, "axes", axes[i], inputs);

  const auto raw = reader.get<config::Json>("vertices");
  if (!raw.is_array()) {
    reader.fail("vertices", "expected a list of [" + axes[0] + ", " + axes[1] + "] pairs, found " +
                                config::describe_json_value(raw));
  }
  std::vector<Point> vertices;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string where = reader.where("vertices") + "/" + std::to_string(i);
    const auto pair = config::convert<std::vector<double>>(raw[i], where);
    if (pair.size() != 2) {
      throw InputError(
          where, "expected a vertex [" + axes[0] + ", " + axes[1] + "], found " + raw[i].dump());
    }
    vertices.emplace_back(pair[0], pair[1]);
  }
  if (vertices.size() < 3) {
    reader.fail("vertices",
                "a polygon needs at least 3 vertices, found " + std::to_string(vertices.size()));
  }

  EdgeGroups groups;
  if (reader.has("edges")) {
    config::Reader edges = reader.object("edges");
    for (const auto& name : edges.keys()) {
      if (name.empty() || is_edge_name(name) || name.find('.') != std::string::npos ||
          name == "initial" || name == "final") {
        edges.fail(name, "'" + name +
                             "' cannot name an edge group (it must be non-empty, without '.', "
                             "and not edgeN, initial or final)");
      }
      const auto indices = edges.get<std::vector<int>>(name);
      if (indices.empty()) edges.fail(name, "expected a non-empty list of edge indices");
      for (int index : indices) {
        if (index < 0 || index >= static_cast<int>(vertices.size())) {
          edges.fail(name, "edge " + std::to_string(index) +
                               " does not exist: the edges are 0 to " +
                               std::to_string(vertices.size() - 1) +
                               " (edge i runs from vertex i to vertex i+1)");
        }
      }
      groups.emplace_back(name, indices);
    }
    edges.finish();
  }
  try {
    auto polygon = make_polygon(axes, vertices, groups);
    polygon->set_label(reader.where());
    return polygon;
  } catch (const std::invalid_argument& error) {
    reader.fail("vertices", error.what());
  }
}

}  // namespace pinn::geometry
