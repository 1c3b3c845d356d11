// Constructive solid geometry: union, intersection and difference (the first child minus the
// others) of earlier domains. Containment is the boolean combination; boundary points are the
// children's boundary points that lie on the result's boundary (oversampled and filtered), with
// the subtracted children's normals flipped; parts are "child.part" (and the bare part name
// when no other child has it).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"
#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn::geometry {

namespace {

class Csg : public Shape {
 public:
  Csg(CsgKind kind, std::vector<std::string> names, std::vector<DomainPtr> children)
      : Shape(children.empty() ? std::vector<std::string>{} : children.front()->axes()),
        kind_(kind),
        names_(std::move(names)),
        children_(std::move(children)) {
    if (children_.size() < 2 || names_.size() != children_.size()) {
      throw std::invalid_argument(
          "a union, intersection or difference needs two or more named "
          "domains");
    }
    for (size_t c = 0; c < children_.size(); ++c) {
      if (children_[c]->axes() != axes()) {
        throw std::invalid_argument("'" + names_[c] + "' has other axes than '" + names_[0] + "'");
      }
    }
    // Bounding box.
    auto box = children_[0]->bounding_box();
    for (size_t c = 1; c < children_.size() && kind_ != CsgKind::kDifference; ++c) {
      const auto other = children_[c]->bounding_box();
      for (size_t i = 0; i < box.first.size(); ++i) {
        if (kind_ == CsgKind::kUnion) {
          box.first[i] = std::min(box.first[i], other.first[i]);
          box.second[i] = std::max(box.second[i], other.second[i]);
        } else {
          box.first[i] = std::max(box.first[i], other.first[i]);
          box.second[i] = std::min(box.second[i], other.second[i]);
        }
      }
    }
    box_ = box;
    double largest = 0.0;
    for (const auto& child : children_) {
      const auto b = child->bounding_box();
      for (size_t i = 0; i < b.first.size(); ++i)
        largest = std::max(largest, b.second[i] - b.first[i]);
    }
    step_ = 1e-7 * largest;
    // Parts: "child.part" for all, plus bare names that only one child has.
    std::map<std::string, int> bare_count;
    for (size_t c = 0; c < children_.size(); ++c) {
      for (const auto& part : children_[c]->boundary_parts()) {
        qualified_.push_back({names_[c] + "." + part, {c, part}});
        ++bare_count[part];
      }
    }
    for (size_t c = 0; c < children_.size(); ++c) {
      for (const auto& part : children_[c]->boundary_parts()) {
        if (bare_count[part] == 1) bare_.push_back({part, {c, part}});
      }
    }
    empty_box_ = false;
    for (size_t i = 0; i < box_.first.size(); ++i)
      empty_box_ = empty_box_ || !(box_.first[i] < box_.second[i]);
  }

  std::pair<std::vector<double>, std::vector<double>> bounding_box() const override { return box_; }

  torch::Tensor contains(const torch::Tensor& points, bool include_boundary) const override {
    const auto p = as_points(points, dimension());
    switch (kind_) {
      case CsgKind::kUnion: {
        auto result = children_[0]->contains(p, include_boundary);
        for (size_t c = 1; c < children_.size(); ++c)
          result = result | children_[c]->contains(p, include_boundary);
        return result;
      }
      case CsgKind::kIntersection: {
        auto result = children_[0]->contains(p, include_boundary);
        for (size_t c = 1; c < children_.size(); ++c)
          result = result & children_[c]->contains(p, include_boundary);
        return result;
      }
      case CsgKind::kDifference:
      default: {
        // With the boundary: in A and not strictly in any B; strictly: strictly in A, in no B.
        auto result = children_[0]->contains(p, include_boundary);
        for (size_t c = 1; c < children_.size(); ++c)
          result = result & ~children_[c]->contains(p, !include_boundary);
        return result;
      }
    }
  }

  std::vector<std::string> boundary_parts() const override {
    std::vector<std::string> parts;
    for (const auto& entry : qualified_)
      parts.push_back(entry.first);
    for (const auto& entry : bare_)
      parts.push_back(entry.first);
    return parts;
  }

  double boundary_measure(const std::vector<std::string>& parts) const override {
    // The children's part measures times the fraction of their candidates that survive.
    const auto chosen = resolve(parts);
    const auto weights = child_weights(chosen);
    double total = 0.0;
    for (size_t c = 0; c < children_.size(); ++c) {
      if (weights[c] <= 0) continue;
      constexpr int64_t kProbe = 4096;
      const auto candidates =
          children_[c]->sample_boundary(kProbe, chosen[c], "sobol", derive_seed(0x5EED, c));
      const auto kept = keep_mask(c, candidates.points, result_normals(c, candidates.normals))
                            .sum()
                            .item<int64_t>();
      total += weights[c] * static_cast<double>(kept) / static_cast<double>(kProbe);
    }
    return total;
  }

  double volume() const override {
    if (empty_box_) return 0.0;
    constexpr int64_t kProbe = 1 << 16;
    const auto low = torch::tensor(box_.first, torch::dtype(torch::kFloat64));
    const auto extent = torch::tensor(box_.second, torch::dtype(torch::kFloat64)) - low;
    const auto p = unit_cube_samples("sobol", kProbe, dimension(), 0x5EED) * extent + low;
    const double fraction =
        static_cast<double>(contains(p, false).sum().item<int64_t>()) / static_cast<double>(kProbe);
    return fraction * extent.prod().item<double>();
  }

  torch::Tensor sample_interior(int64_t count, const std::string& sequence,
                                uint64_t seed) const override {
    if (empty_box_) throw InputError(label(), "the domain is empty");
    return Domain::sample_interior(count, sequence, seed);
  }

  BoundarySamples sample_boundary(int64_t count, const std::vector<std::string>& parts,
                                  const std::string& sequence, uint64_t seed) const override {
    const auto chosen = resolve(check_parts(parts));
    const auto weights = child_weights(chosen);
    const int dim = dimension();
    // Rows of [points, normals of the result, child index]; the candidates of the children
    // interleaved by their position in each child's sequence, so that any prefix holds every
    // child in proportion.
    const auto draw = [&](int64_t n, const std::string& kind, uint64_t s) {
      const auto counts = split_count(n, weights);
      std::vector<torch::Tensor> rows, order;
      for (size_t c = 0; c < children_.size(); ++c) {
        if (counts[c] == 0) continue;
        const auto samples =
            children_[c]->sample_boundary(counts[c], chosen[c], kind, derive_seed(s, c));
        const auto m = samples.points.size(0);
        if (m == 0) continue;
        const auto index = torch::full({m, 1}, static_cast<double>(c), torch::kFloat64);
        rows.push_back(torch::cat({samples.points, result_normals(c, samples.normals), index}, 1));
        order.push_back((torch::arange(m, torch::kFloat64) + 0.5) / static_cast<double>(m) +
                        1e-9 * static_cast<double>(c));
      }
      if (rows.empty()) return torch::empty({0, 2 * dim + 1}, torch::kFloat64);
      const auto sorted = torch::argsort(torch::cat(order, 0));
      return torch::cat(rows, 0).index({sorted}).contiguous();
    };
    const auto keep = [&](const torch::Tensor& rows) {
      const auto p = rows.slice(1, 0, dim), n = rows.slice(1, dim, 2 * dim);
      const auto child = rows.select(1, 2 * dim);
      auto mask = torch::zeros({rows.size(0)}, torch::kBool);
      for (size_t c = 0; c < children_.size(); ++c) {
        const auto from_c = child == static_cast<double>(c);
        if (!from_c.any().item<bool>()) continue;
        mask = mask | (from_c & keep_mask(c, p, n));
      }
      return mask;
    };
    const auto rows = rejection_fill(count, sequence, seed, draw, keep, label());
    return {rows.slice(1, 0, dim).contiguous(), rows.slice(1, dim, 2 * dim).contiguous()};
  }

 private:
  using PartRef = std::pair<size_t, std::string>;  // child index, child part

  // The requested parts per child (empty request: every child's default boundary).
  std::vector<std::vector<std::string>> resolve(const std::vector<std::string>& parts) const {
    std::vector<std::vector<std::string>> chosen(children_.size());
    if (parts.empty()) return chosen;
    for (const auto& part : parts) {
      const PartRef* ref = nullptr;
      for (const auto& entry : qualified_)
        if (entry.first == part) ref = &entry.second;
      for (const auto& entry : bare_)
        if (entry.first == part) ref = &entry.second;
      if (ref == nullptr) continue;  // checked before
      auto& list = chosen[ref->first];
      if (std::find(list.begin(), list.end(), ref->second) == list.end()) {
        list.push_back(ref->second);
      }
    }
    // Children with nothing requested get no candidates: mark them with a sentinel.
    for (auto& list : chosen)
      if (list.empty()) list.push_back(kNone);
    return chosen;
  }

  // Each child's share of the candidates: the measure of its chosen parts (0 when none).
  std::vector<double> child_weights(const std::vector<std::vector<std::string>>& chosen) const {
    std::vector<double> weights;
    for (size_t c = 0; c < children_.size(); ++c) {
      const bool none = chosen[c].size() == 1 && chosen[c][0] == kNone;
      weights.push_back(none ? 0.0 : boundary_measure_of(*children_[c], chosen[c]));
    }
    return weights;
  }

  // The result's outward normals at child c's boundary points: flipped for subtracted children.
  torch::Tensor result_normals(size_t c, const torch::Tensor& normals) const {
    return kind_ == CsgKind::kDifference && c > 0 ? -normals : normals;
  }

  // Whether child c's boundary points p, with outward normals n of the result, lie on the
  // result's boundary. `step` moves a little along the normal, which tells coincident faces
  // (where the result continues across) from real boundary; of several children sharing a
  // face with the same orientation only the first keeps its points.
  torch::Tensor keep_mask(size_t c, const torch::Tensor& p, const torch::Tensor& n) const {
    const auto outside = p + step_ * n, inside = p - step_ * n;
    auto mask = torch::ones({p.size(0)}, torch::kBool);
    for (size_t o = 0; o < children_.size(); ++o) {
      if (o == c) continue;
      const auto& other = *children_[o];
      switch (kind_) {
        case CsgKind::kUnion:
          mask = mask & ~other.contains(p, false) & ~other.contains(outside, false);
          if (o < c) mask = mask & ~other.contains(p, true);
          break;
        case CsgKind::kIntersection:
          mask = mask & other.contains(p, true) & other.contains(inside, false);
          if (o < c) mask = mask & other.contains(p, false);
          break;
        case CsgKind::kDifference:
          if (c == 0) {
            mask = mask & ~other.contains(p, false) & ~other.contains(inside, true);
          } else if (o == 0) {
            mask = mask & other.contains(p, false);
          } else {
            // Among the subtracted children: the boundary of their union.
            mask = mask & ~other.contains(p, false) & ~other.contains(inside, false);
            if (o < c) mask = mask & ~other.contains(p, true);
          }
          break;
      }
    }
    return mask;
  }

  static inline const std::string kNone = "\x01none";

  CsgKind kind_;
  std::vector<std::string> names_;
  std::vector<DomainPtr> children_;
  std::pair<std::vector<double>, std::vector<double>> box_;
  double step_ = 0.0;
  bool empty_box_ = false;
  std::vector<std::pair<std::string, PartRef>> qualified_, bare_;
};

DomainPtr build_csg(config::Reader& reader, const std::vector<std::string>& /*inputs*/,
                    const std::map<std::string, DomainPtr>& named, CsgKind kind,
                    const std::string& type) {
  const auto names = reader.get<std::vector<std::string>>("of");
  if (names.size() < 2) {
    reader.fail("of", "a " + type + " needs the names of two or more domains, found " +
                          std::to_string(names.size()));
  }
  std::vector<std::string> known;
  for (const auto& entry : named)
    known.push_back(entry.first);
  std::vector<DomainPtr> children;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto found = named.find(names[i]);
    if (found == named.end()) {
      reader.fail("of", "unknown domain '" + names[i] + "'" + did_you_mean(names[i], known) +
                            (known.empty() ? "; no domain is defined before this one"
                                           : "; the domains defined before this one are " +
                                                 quoted_list(known, "and")));
    }
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      reader.fail("of", "'" + names[i] + "' is listed twice");
    }
    children.push_back(found->second);
  }
  const auto quoted_axes = [](const std::vector<std::string>& axes) {
    std::string text;
    for (const auto& axis : axes)
      text += (text.empty() ? "" : ", ") + axis;
    return "[" + text + "]";
  };
  for (size_t i = 1; i < children.size(); ++i) {
    if (children[i]->axes() != children[0]->axes()) {
      reader.fail("of", "all domains of a " + type + " need the same axes in the same order: '" +
                            names[0] + "' has " + quoted_axes(children[0]->axes()) + ", '" +
                            names[i] + "' has " + quoted_axes(children[i]->axes()));
    }
  }
  auto csg = make_csg(kind, names, children);
  csg->set_label(reader.where());
  if (!(csg->volume() > 0)) {
    reader.fail("of", "the " + type + " of " + quoted_list(names, "and") + " is empty");
  }
  return csg;
}

}  // namespace

std::shared_ptr<Shape> make_csg(CsgKind kind, std::vector<std::string> names,
                                std::vector<DomainPtr> children) {
  return std::make_shared<Csg>(kind, std::move(names), std::move(children));
}

DomainPtr build_union(config::Reader& reader, const std::vector<std::string>& inputs,
                      const std::map<std::string, DomainPtr>& named) {
  return build_csg(reader, inputs, named, CsgKind::kUnion, "union");
}

DomainPtr build_intersection(config::Reader& reader, const std::vector<std::string>& inputs,
                             const std::map<std::string, DomainPtr>& named) {
  return build_csg(reader, inputs, named, CsgKind::kIntersection, "intersection");
}

DomainPtr build_difference(config::Reader& reader, const std::vector<std::string>& inputs,
                           const std::map<std::string, DomainPtr>& named) {
  return build_csg(reader, inputs, named, CsgKind::kDifference, "difference");
}

}  // namespace pinn::geometry
