// Domains: the geometry a problem lives on. Each can say which points it contains, sample its
// interior and (named parts of) its boundary with any unit-cube sequence, and give the outward
// unit normal at boundary points. Built from the config's "domains" object by a factory keyed by
// "type": interval, box, ball (disk), polygon, union, difference, intersection, spacetime.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/reader.hpp"

namespace pinn::geometry {

// Boundary samples: points (N x dim) and their outward unit normals (N x dim), float64 CPU.
struct BoundarySamples {
  torch::Tensor points;
  torch::Tensor normals;
};

class Domain {
 public:
  virtual ~Domain() = default;

  // The input names of the coordinates, in column order (e.g. {"x", "y"} or {"x", "t"}).
  const std::vector<std::string>& axes() const { return axes_; }
  int dimension() const { return static_cast<int>(axes_.size()); }

  // Axis-aligned bounding box: {low, high}, one entry per axis.
  virtual std::pair<std::vector<double>, std::vector<double>> bounding_box() const = 0;

  // N bool: true for points inside, or on the boundary when `include_boundary` (within a small
  // tolerance relative to the domain's size).
  virtual torch::Tensor contains(const torch::Tensor& points, bool include_boundary) const = 0;

  // The names of the boundary's parts (box: "x_min", "x_max", ...; ball: "circle"/"sphere";
  // polygon: "edge0"... or the user's names; CSG: the children's parts, "child.part";
  // spacetime: the space domain's parts (lateral), "initial", "final").
  virtual std::vector<std::string> boundary_parts() const = 0;

  // `count` interior points (strictly inside). The default maps the sequence onto the bounding
  // box and rejects outside points, drawing again with derived seeds until `count` are found.
  virtual torch::Tensor sample_interior(int64_t count, const std::string& sequence,
                                        uint64_t seed) const;

  // `count` points on the parts named in `parts` (empty: the whole boundary; for spacetime, the
  // lateral boundary), spread over the parts in proportion to their size, with outward unit
  // normals. Throws std::invalid_argument naming a part that does not exist.
  virtual BoundarySamples sample_boundary(int64_t count, const std::vector<std::string>& parts,
                                          const std::string& sequence, uint64_t seed) const = 0;

 protected:
  explicit Domain(std::vector<std::string> axes) : axes_(std::move(axes)) {}

 private:
  std::vector<std::string> axes_;
};

using DomainPtr = std::shared_ptr<const Domain>;

std::vector<std::string> domain_types();

// Builds the domain described by one entry of "domains". `inputs` are the problem's inputs
// (axes must be among them); `named` holds the domains defined before it (CSG children and
// spacetime's "space" refer to them by name). Errors are InputErrors through the reader, naming
// the JSON path: unknown type, a self-intersecting polygon, axes that are not inputs, ...
DomainPtr make_domain(config::Reader& reader, const std::vector<std::string>& inputs,
                      const std::map<std::string, DomainPtr>& named);

}  // namespace pinn::geometry
