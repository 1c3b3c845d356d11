// Internals shared by the domain families (box, ball, polygon, CSG, spacetime): the Shape base
// class with boundary measures and tolerances, seed derivation, proportional splitting, the
// rejection filler, and the programmatic constructors and config builders of each family.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "geometry/domain.hpp"

namespace pinn::geometry {

// A domain that also knows the size of its boundary parts and of its interior, which sampling
// needs to spread points over parts (and CSG over children) in proportion to their size.
class Shape : public Domain {
 public:
  // The (dim-1)-dimensional measure of the union of `parts` (already validated; empty: the
  // default set that sample_boundary uses for an empty list).
  virtual double boundary_measure(const std::vector<std::string>& parts) const = 0;
  // The dim-dimensional measure of the interior (an estimate for CSG).
  virtual double volume() const = 0;

  // Absolute tolerance of contains(): 1e-10 times the largest extent of the bounding box.
  double tolerance() const;
  // The largest extent of the bounding box.
  double size() const;

  // Where the domain was defined ("file.json: /domains/hole"), for error messages; may be "".
  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }

  // Throws std::invalid_argument for a name not in boundary_parts(); returns `parts` unchanged.
  const std::vector<std::string>& check_parts(const std::vector<std::string>& parts) const;

 protected:
  using Domain::Domain;

 private:
  std::string label_;
};

// Boundary measure and volume of any domain: exact for Shapes, crude estimates otherwise.
double boundary_measure_of(const Domain& domain, const std::vector<std::string>& parts);
double volume_of(const Domain& domain);

// A seed for stream `stream` derived from `seed` (splitmix64), so that sub-draws differ.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

// Splits `count` over items in proportion to `weights` (largest remainders; sums to count).
std::vector<int64_t> split_count(int64_t count, const std::vector<double>& weights);

// Fills `count` rows by rejection: `draw(n, sequence, seed)` gives n candidate rows, `keep`
// returns an N bool mask of those to keep. The acceptance rate is estimated first, then
// candidates are drawn with derived seeds until `count` are kept; the result is truncated to
// `count` (so draws should be ordered such that any prefix is well spread). For "grid" (which
// ignores seeds) one grid is drawn, sized so that about `count` rows survive, and all survivors
// are returned. An InputError prefixed with `what` (a label, may be "") when nothing survives.
using DrawFunction = std::function<torch::Tensor(int64_t, const std::string&, uint64_t)>;
using KeepFunction = std::function<torch::Tensor(const torch::Tensor&)>;
torch::Tensor rejection_fill(int64_t count, const std::string& sequence, uint64_t seed,
                             const DrawFunction& draw, const KeepFunction& keep,
                             const std::string& what);

// Points as a float64 CPU tensor with `dim` columns (std::invalid_argument otherwise).
torch::Tensor as_points(const torch::Tensor& points, int dim);

// Programmatic constructors (std::invalid_argument on bad arguments; the config builders below
// validate first and report InputErrors).
std::shared_ptr<Shape> make_box(std::vector<std::string> axes, std::vector<double> low,
                                std::vector<double> high);
// A ball; in one dimension an interval [c - r, c + r] with parts "<axis>_min"/"<axis>_max".
std::shared_ptr<Shape> make_ball(std::vector<std::string> axes, std::vector<double> center,
                                 double radius);
// A simple polygon, either orientation; edge i runs from vertex i to vertex i+1 (mod n). Its
// parts are "edge0".."edge<n-1>" followed by `groups` (named sets of edge indices, in order).
// Throws std::invalid_argument with a message naming the offending edges for a
// self-intersecting or degenerate polygon, or a bad group.
using EdgeGroups = std::vector<std::pair<std::string, std::vector<int>>>;
std::shared_ptr<Shape> make_polygon(std::vector<std::string> axes,
                                    std::vector<std::pair<double, double>> vertices,
                                    EdgeGroups groups = {});
enum class CsgKind { kUnion, kIntersection, kDifference };
// Children with names (for the "child.part" part names); all with the same axes.
std::shared_ptr<Shape> make_csg(CsgKind kind, std::vector<std::string> names,
                                std::vector<DomainPtr> children);
std::shared_ptr<Shape> make_spacetime(DomainPtr space, std::string time_axis, double t0, double t1);

// Config builders, one per family (domain.cpp keeps the table type -> builder).
using BuildFunction = std::function<DomainPtr(config::Reader&, const std::vector<std::string>&,
                                              const std::map<std::string, DomainPtr>&)>;
DomainPtr build_interval(config::Reader& reader, const std::vector<std::string>& inputs,
                         const std::map<std::string, DomainPtr>& named);
DomainPtr build_box(config::Reader& reader, const std::vector<std::string>& inputs,
                    const std::map<std::string, DomainPtr>& named);
DomainPtr build_ball(config::Reader& reader, const std::vector<std::string>& inputs,
                     const std::map<std::string, DomainPtr>& named);
DomainPtr build_disk(config::Reader& reader, const std::vector<std::string>& inputs,
                     const std::map<std::string, DomainPtr>& named);
DomainPtr build_polygon(config::Reader& reader, const std::vector<std::string>& inputs,
                        const std::map<std::string, DomainPtr>& named);
DomainPtr build_union(config::Reader& reader, const std::vector<std::string>& inputs,
                      const std::map<std::string, DomainPtr>& named);
DomainPtr build_intersection(config::Reader& reader, const std::vector<std::string>& inputs,
                             const std::map<std::string, DomainPtr>& named);
DomainPtr build_difference(config::Reader& reader, const std::vector<std::string>& inputs,
                           const std::map<std::string, DomainPtr>& named);
DomainPtr build_spacetime(config::Reader& reader, const std::vector<std::string>& inputs,
                          const std::map<std::string, DomainPtr>& named);

// Reads {"x": [low, high], ...} (keys must be inputs; low < high) into axes ordered as in
// `inputs`. `single` requires exactly one axis.
struct AxisRanges {
  std::vector<std::string> axes;
  std::vector<double> low;
  std::vector<double> high;
};
AxisRanges read_axis_ranges(config::Reader& reader, const std::string& key,
                            const std::vector<std::string>& inputs, bool single);
// Fails unless `axis` is one of `inputs`.
void check_axis(const config::Reader& reader, const std::string& key, const std::string& axis,
                const std::vector<std::string>& inputs);

}  // namespace pinn::geometry
