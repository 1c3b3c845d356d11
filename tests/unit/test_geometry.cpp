// Unit tests of geometry/: the unit-cube sequences (range, determinism, stratification, Sobol
// net structure, low discrepancy) and every domain type (interior and boundary samples, outward
// unit normals, parts, CSG boundaries, space-time ends) plus the config errors of the factory.
#include <gtest/gtest.h>

#include <cmath>

#include "config/document.hpp"
#include "config/reader.hpp"
#include "geometry/domain.hpp"
#include "geometry/sequence.hpp"
#include "geometry/shapes.hpp"
#include "util/errors.hpp"

namespace pinn::geometry {
namespace {

constexpr double kPi = 3.14159265358979323846;

const std::vector<std::string> kInputs = {"x", "y", "z", "t"};

// ---- helpers --------------------------------------------------------------------------------

struct Built {
  config::Document document = config::Document::from_json(config::Json::object(), "test.json");
  std::map<std::string, DomainPtr> named;

  // Adds "name": json to /domains and builds it with the domains added before.
  DomainPtr add(const std::string& name, const std::string& json,
                const std::vector<std::string>& inputs = kInputs) {
    document.root()["domains"][name] = config::Json::parse(json);
    config::Reader reader(document, config::Pointer("/domains/" + name));
    auto domain = make_domain(reader, inputs, named);
    named[name] = domain;
    return domain;
  }
};

template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no InputError";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

torch::Tensor col(const torch::Tensor& p, int64_t i) {
  return p.select(1, i);
}

double max_abs(const torch::Tensor& t) {
  return t.numel() == 0 ? 0.0 : t.abs().max().item<double>();
}

// Interior samples of every sequence: the right count, strictly inside, in the bounding box.
void check_interior(const Domain& domain, int64_t count = 300) {
  const auto box = domain.bounding_box();
  for (const auto& sequence : sequence_names()) {
    SCOPED_TRACE(sequence);
    const auto p = domain.sample_interior(count, sequence, 11);
    ASSERT_EQ(p.dim(), 2);
    ASSERT_EQ(p.size(1), domain.dimension());
    EXPECT_EQ(p.scalar_type(), torch::kFloat64);
    if (sequence == "grid") {
      EXPECT_GT(p.size(0), count / 2);
      EXPECT_LT(p.size(0), count * 2);
    } else {
      EXPECT_EQ(p.size(0), count);
    }
    EXPECT_TRUE(domain.contains(p, false).all().item<bool>());
    for (int i = 0; i < domain.dimension(); ++i) {
      EXPECT_GE(col(p, i).min().item<double>(), box.first[static_cast<size_t>(i)]);
      EXPECT_LE(col(p, i).max().item<double>(), box.second[static_cast<size_t>(i)]);
    }
  }
}

// Boundary samples: on the boundary (contained with it, not strictly), unit normals pointing out
// (a small step along the normal leaves the domain, a step against it enters).
BoundarySamples check_boundary(const Domain& domain, const std::vector<std::string>& parts,
                               int64_t count = 400, const std::string& sequence = "sobol",
                               uint64_t seed = 3) {
  const auto b = domain.sample_boundary(count, parts, sequence, seed);
  EXPECT_EQ(b.points.sizes(), b.normals.sizes());
  if (sequence != "grid") {
    EXPECT_EQ(b.points.size(0), count);
  }
  EXPECT_EQ(b.points.scalar_type(), torch::kFloat64);
  EXPECT_LT(max_abs(b.normals.norm(2, 1) - 1.0), 1e-12);
  EXPECT_TRUE(domain.contains(b.points, true).all().item<bool>());
  EXPECT_FALSE(domain.contains(b.points, false).any().item<bool>());
  const auto box = domain.bounding_box();
  double size = 0.0;
  for (size_t i = 0; i < box.first.size(); ++i)
    size = std::max(size, box.second[i] - box.first[i]);
  const double eps = 1e-6 * size;
  EXPECT_FALSE(domain.contains(b.points + eps * b.normals, true).any().item<bool>());
  EXPECT_TRUE(domain.contains(b.points - eps * b.normals, false).all().item<bool>());
  return b;
}

// Distance from each point to the nearest segment of a closed polygon.
torch::Tensor polygon_distance(const torch::Tensor& p,
                               const std::vector<std::pair<double, double>>& v) {
  auto best = torch::full({p.size(0)}, 1e300, torch::kFloat64);
  for (size_t i = 0; i < v.size(); ++i) {
    const auto& a = v[i];
    const auto& b = v[(i + 1) % v.size()];
    const double ex = b.first - a.first, ey = b.second - a.second;
    const auto t =
        (((col(p, 0) - a.first) * ex + (col(p, 1) - a.second) * ey) / (ex * ex + ey * ey))
            .clamp(0.0, 1.0);
    const auto d = torch::sqrt(torch::pow(col(p, 0) - a.first - t * ex, 2) +
                               torch::pow(col(p, 1) - a.second - t * ey, 2));
    best = torch::minimum(best, d);
  }
  return best;
}

// ---- sequences ------------------------------------------------------------------------------

TEST(Sequence, ValuesInUnitCubeWithShapeAndType) {
  for (const auto& name : sequence_names()) {
    for (int dim : {1, 2, 3, 5, 21}) {
      SCOPED_TRACE(name + " dim " + std::to_string(dim));
      const auto p = unit_cube_samples(name, 200, dim, 42);
      EXPECT_EQ(p.scalar_type(), torch::kFloat64);
      EXPECT_EQ(p.device().type(), torch::kCPU);
      ASSERT_EQ(p.size(1), dim);
      if (name != "grid") {
        EXPECT_EQ(p.size(0), 200);
      }
      EXPECT_GE(p.min().item<double>(), 0.0);
      EXPECT_LT(p.max().item<double>(), 1.0);
    }
  }
}

TEST(Sequence, DeterministicPerSeedAndDifferentAcrossSeeds) {
  for (const auto& name : sequence_names()) {
    SCOPED_TRACE(name);
    const auto a = unit_cube_samples(name, 64, 3, 1);
    EXPECT_TRUE(torch::equal(a, unit_cube_samples(name, 64, 3, 1)));
    const auto b = unit_cube_samples(name, 64, 3, 2);
    if (name == "grid") {
      EXPECT_TRUE(torch::equal(a, b));
    } else {
      EXPECT_FALSE(torch::allclose(a, b));
    }
  }
}

TEST(Sequence, BadArgumentsThrow) {
  EXPECT_THROW(unit_cube_samples("sobel", 10, 2, 0), std::invalid_argument);
  EXPECT_THROW(unit_cube_samples("sobol", 0, 2, 0), std::invalid_argument);
  EXPECT_THROW(unit_cube_samples("sobol", 10, 0, 0), std::invalid_argument);
  EXPECT_THROW(unit_cube_samples("sobol", 10, 41, 0), std::invalid_argument);
  EXPECT_NO_THROW(unit_cube_samples("sobol", 10, 40, 0));
  try {
    unit_cube_samples("sobel", 10, 2, 0);
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(has(e.what(), "did you mean 'sobol'")) << e.what();
  }
}

TEST(Sequence, GridCellCentres) {
  const auto g = unit_cube_samples("grid", 100, 2, 0);
  ASSERT_EQ(g.size(0), 100);
  EXPECT_DOUBLE_EQ(g[0][0].item<double>(), 0.05);
  EXPECT_DOUBLE_EQ(g[0][1].item<double>(), 0.05);
  EXPECT_DOUBLE_EQ(g[1][1].item<double>(), 0.15);  // the last axis varies fastest
  EXPECT_DOUBLE_EQ(g[99][0].item<double>(), 0.95);
  EXPECT_EQ(unit_cube_samples("grid", 1000, 3, 0).size(0), 1000);
  EXPECT_EQ(unit_cube_samples("grid", 10, 3, 0).size(0), 8);  // round(10^(1/3)) = 2 per axis
  EXPECT_EQ(unit_cube_samples("grid", 7, 1, 0).size(0), 7);
  EXPECT_EQ(unit_cube_samples("grid", 1, 4, 0).size(0), 1);
}

TEST(Sequence, LatinHypercubeHasOnePointPerStratumPerAxis) {
  const int64_t n = 57;
  const auto p = unit_cube_samples("lhs", n, 4, 9);
  for (int axis = 0; axis < 4; ++axis) {
    const auto strata = std::get<0>(torch::sort(torch::floor(col(p, axis) * n)));
    EXPECT_TRUE(torch::equal(strata, torch::arange(n, torch::kFloat64))) << "axis " << axis;
  }
}

TEST(Sequence, SobolIsStratifiedInEveryDimensionAndANetInTheFirstTwo) {
  // Every Sobol dimension is a (0,1)-sequence: the first 2^k points fill the 2^k strata once.
  const int64_t n = 1024;
  for (uint64_t seed : {0ULL, 5ULL}) {
    const auto p = unit_cube_samples("sobol", n, 40, seed);
    for (int d = 0; d < 40; ++d) {
      const auto strata = std::get<0>(torch::sort(torch::floor(col(p, d) * n)));
      EXPECT_TRUE(torch::equal(strata, torch::arange(n, torch::kFloat64))) << "dim " << d;
    }
    // Dimensions 1 and 2 form a (0,2)-sequence: every 2^-a x 2^-(k-a) box holds one point.
    const int k = 8;
    const auto q = p.slice(0, 0, 1 << k);
    for (int a = 0; a <= k; ++a) {
      const auto ix = torch::floor(col(q, 0) * (1 << a));
      const auto iy = torch::floor(col(q, 1) * (1 << (k - a)));
      const auto cell = ix * (1 << (k - a)) + iy;
      const auto cells = std::get<0>(torch::sort(cell));
      EXPECT_TRUE(torch::equal(cells, torch::arange(1 << k, torch::kFloat64))) << "a = " << a;
    }
  }
}

// The error of the estimate of a smooth integral over [0,1]^2, RMS over seeds.
double integration_error(const std::string& sequence) {
  const double exact = (std::exp(1.0) - 1.0) * 2.0 / kPi;  // int exp(x) sin(pi y)
  double sum = 0.0;
  const int seeds = 8;
  for (int s = 0; s < seeds; ++s) {
    const auto p = unit_cube_samples(sequence, 1024, 2, static_cast<uint64_t>(s) * 7919 + 1);
    const double estimate =
        (torch::exp(col(p, 0)) * torch::sin(kPi * col(p, 1))).mean().item<double>();
    sum += (estimate - exact) * (estimate - exact);
  }
  return std::sqrt(sum / seeds);
}

// A star-discrepancy estimate: the largest |fraction in [0,a)x[0,b) - ab| over a 32 x 32 grid.
double star_discrepancy(const torch::Tensor& p) {
  double worst = 0.0;
  for (int i = 1; i <= 32; ++i) {
    for (int j = 1; j <= 32; ++j) {
      const double a = i / 32.0, b = j / 32.0;
      const double fraction =
          ((col(p, 0) < a) & (col(p, 1) < b)).to(torch::kFloat64).mean().item<double>();
      worst = std::max(worst, std::abs(fraction - a * b));
    }
  }
  return worst;
}

TEST(Sequence, LowDiscrepancySequencesBeatUniform) {
  const double uniform_error = integration_error("uniform");
  const double uniform_discrepancy = star_discrepancy(unit_cube_samples("uniform", 1024, 2, 1));
  for (const std::string name : {"sobol", "halton", "hammersley"}) {
    SCOPED_TRACE(name);
    EXPECT_LT(integration_error(name), uniform_error / 4);
    EXPECT_LT(star_discrepancy(unit_cube_samples(name, 1024, 2, 1)), uniform_discrepancy / 2);
  }
  EXPECT_LT(integration_error("lhs"), uniform_error);
}

// ---- boxes and intervals --------------------------------------------------------------------

TEST(Domain, BoxInteriorBoundaryAndFaces) {
  Built b;
  const auto box = b.add("plate", R"({"type": "box", "bounds": {"y": [0, 1], "x": [0, 2]}})");
  EXPECT_EQ(box->axes(), (std::vector<std::string>{"x", "y"}));  // ordered as the inputs
  EXPECT_EQ(box->boundary_parts(), (std::vector<std::string>{"x_min", "x_max", "y_min", "y_max"}));
  check_interior(*box);
  const auto all = check_boundary(*box, {}, 600);
  const auto x = col(all.points, 0), y = col(all.points, 1);
  const auto on_face = torch::minimum(torch::minimum(x.abs(), (x - 2).abs()),
                                      torch::minimum(y.abs(), (y - 1).abs()));
  EXPECT_EQ(max_abs(on_face), 0.0);
  // Faces in proportion to their length: 1 : 1 : 2 : 2.
  EXPECT_EQ((x == 0).sum().item<int64_t>(), 100);
  EXPECT_EQ((y == 1).sum().item<int64_t>(), 200);

  const auto left = check_boundary(*box, {"x_min"}, 50);
  EXPECT_EQ(max_abs(col(left.points, 0)), 0.0);
  EXPECT_EQ(max_abs(left.normals - torch::tensor({-1.0, 0.0}, torch::kFloat64)), 0.0);
  const auto top = check_boundary(*box, {"y_max"}, 50, "grid");
  EXPECT_EQ(top.points.size(0), 50);
  EXPECT_EQ(max_abs(col(top.points, 1) - 1), 0.0);
  EXPECT_EQ(max_abs(top.normals - torch::tensor({0.0, 1.0}, torch::kFloat64)), 0.0);
}

TEST(Domain, BoxInThreeDimensions) {
  Built b;
  const auto box =
      b.add("cube", R"({"type": "box", "bounds": {"x": [-1, 1], "y": [0, 1], "z": [0, 3]}})");
  check_interior(*box);
  for (const auto& sequence : sequence_names()) {
    SCOPED_TRACE(sequence);
    check_boundary(*box, {}, 500, sequence);
  }
  const auto bottom = check_boundary(*box, {"z_min", "x_max"}, 100);
  EXPECT_TRUE(((col(bottom.points, 2) == 0) | (col(bottom.points, 0) == 1)).all().item<bool>());
}

TEST(Domain, IntervalEndsShareTheBoundaryEqually) {
  Built b;
  const auto rod = b.add("rod", R"({"type": "interval", "bounds": {"x": [0, 1]}})");
  EXPECT_EQ(rod->dimension(), 1);
  check_interior(*rod);
  const auto ends = check_boundary(*rod, {}, 10);
  EXPECT_EQ((col(ends.points, 0) == 0).sum().item<int64_t>(), 5);
  EXPECT_EQ((col(ends.points, 0) == 1).sum().item<int64_t>(), 5);
  const auto right = check_boundary(*rod, {"x_max"}, 4);
  EXPECT_EQ(max_abs(right.normals - 1), 0.0);
  EXPECT_TRUE(has(input_error([&] {
                    b.add("bad", R"({"type": "interval", "bounds": {"x": [0, 1], "y": [0, 1]}})");
                  }),
                  "expected exactly one axis"));
}

// ---- balls ----------------------------------------------------------------------------------

TEST(Domain, DiskAndBalls) {
  Built b;
  const auto disk =
      b.add("disk", R"({"type": "disk", "center": {"x": 1, "y": -1}, "radius": 0.5})");
  EXPECT_EQ(disk->boundary_parts(), std::vector<std::string>{"circle"});
  check_interior(*disk);
  const auto center2 = torch::tensor({1.0, -1.0}, torch::kFloat64);
  for (const auto& sequence : sequence_names()) {
    SCOPED_TRACE(sequence);
    const auto circle = check_boundary(*disk, {"circle"}, 256, sequence);
    EXPECT_LT(max_abs((circle.points - center2).norm(2, 1) - 0.5), 1e-12);
    EXPECT_LT(max_abs(circle.normals - (circle.points - center2) / 0.5), 1e-12);
  }
  // The interior is evenly spread: about a quarter of the points within half the radius.
  const auto inner = disk->sample_interior(4000, "sobol", 1);
  const double fraction =
      ((inner - center2).norm(2, 1) < 0.25).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(fraction, 0.25, 0.01);

  const auto ball =
      b.add("ball", R"({"type": "ball", "center": {"x": 0, "y": 0, "z": 0}, "radius": 2})");
  EXPECT_EQ(ball->boundary_parts(), std::vector<std::string>{"sphere"});
  check_interior(*ball);
  const auto sphere = check_boundary(*ball, {}, 2000);
  EXPECT_LT(max_abs(sphere.points.norm(2, 1) - 2), 1e-12);
  // Uniform on the sphere: the mean is near the centre.
  EXPECT_LT(max_abs(sphere.points.mean(0)), 0.05);

  const auto ball4 = b.add(
      "ball4", R"({"type": "ball", "center": {"x": 0, "y": 0, "z": 0, "t": 1}, "radius": 1})");
  check_interior(*ball4, 100);
  const auto s4 = check_boundary(*ball4, {}, 500, "halton");
  EXPECT_LT(
      max_abs((s4.points - torch::tensor({0.0, 0.0, 0.0, 1.0}, torch::kFloat64)).norm(2, 1) - 1),
      1e-12);

  const auto ball1 = b.add("ball1", R"({"type": "ball", "center": {"x": 2}, "radius": 1})");
  EXPECT_EQ(ball1->boundary_parts(), (std::vector<std::string>{"x_min", "x_max"}));
  check_interior(*ball1);
}

TEST(Domain, BallErrors) {
  Built b;
  EXPECT_TRUE(has(input_error([&] {
                    b.add("d", R"({"type": "ball", "center": {"x": 0, "y": 0}, "radius": 0})");
                  }),
                  "positive radius"));
  EXPECT_TRUE(
      has(input_error([&] { b.add("d", R"({"type": "disk", "center": {"x": 0}, "radius": 1})"); }),
          "exactly two axes"));
  const auto message = input_error(
      [&] { b.add("d", R"({"type": "disk", "center": {"x": 0, "w": 0}, "radius": 1})"); });
  EXPECT_TRUE(has(message, "'w' is not an input")) << message;
  EXPECT_TRUE(has(message, "/domains/d/center/w")) << message;
}

// ---- polygons -------------------------------------------------------------------------------

const std::vector<std::pair<double, double>> kL = {{0, 0}, {2, 0}, {2, 1}, {1, 1}, {1, 2}, {0, 2}};
const char* const kLJson = R"({"type": "polygon", "vertices": [[0,0],[2,0],[2,1],[1,1],[1,2],[0,2]],
                               "edges": {"inlet": [0], "walls": [1, 2, 3]}})";

TEST(Domain, LShapedPolygon) {
  Built b;
  const auto l = b.add("L", kLJson);
  EXPECT_EQ(l->axes(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(b.document.root()["domains"]["L"]["axes"], config::Json::parse(R"(["x", "y"])"));
  EXPECT_EQ(l->boundary_parts(), (std::vector<std::string>{"edge0", "edge1", "edge2", "edge3",
                                                           "edge4", "edge5", "inlet", "walls"}));
  check_interior(*l);
  const auto inside = l->sample_interior(500, "sobol", 2);
  EXPECT_FALSE(((col(inside, 0) > 1) & (col(inside, 1) > 1)).any().item<bool>());
  for (const auto& sequence : sequence_names()) {
    SCOPED_TRACE(sequence);
    const auto all = check_boundary(*l, {}, 800, sequence);
    EXPECT_LT(max_abs(polygon_distance(all.points, kL)), 1e-12);
  }
  // Arc length: edge 0 is 2 of the 8 units of perimeter.
  const auto grid = l->sample_boundary(800, {}, "grid", 0);
  EXPECT_EQ((col(grid.points, 1) == 0).sum().item<int64_t>(), 200);

  const auto inlet = check_boundary(*l, {"inlet"}, 100);
  EXPECT_EQ(max_abs(col(inlet.points, 1)), 0.0);
  EXPECT_LT(max_abs(inlet.normals - torch::tensor({0.0, -1.0}, torch::kFloat64)), 1e-15);
  const auto walls = check_boundary(*l, {"walls", "edge2"}, 300);  // edge2 is in walls already
  EXPECT_EQ(
      ((col(walls.points, 0) == 2) | (col(walls.points, 1) == 1) | (col(walls.points, 0) == 1))
          .sum()
          .item<int64_t>(),
      300);
  // Edge 3 runs from (1,1) to (1,2): its outward normal is +x.
  const auto edge3 = check_boundary(*l, {"edge3"}, 20);
  EXPECT_LT(max_abs(edge3.normals - torch::tensor({1.0, 0.0}, torch::kFloat64)), 1e-15);
}

TEST(Domain, ClockwisePolygonHasOutwardNormals) {
  Built b;
  const auto cw = b.add(
      "cw",
      R"({"type": "polygon", "axes": ["y", "x"], "vertices": [[0,0],[0,2],[1,2],[1,1],[2,1],[2,0]]})");
  EXPECT_EQ(cw->axes(), (std::vector<std::string>{"y", "x"}));
  check_interior(*cw);
  const auto all = check_boundary(*cw, {}, 400);
  EXPECT_LT(max_abs(polygon_distance(all.points, {{0, 0}, {0, 2}, {1, 2}, {1, 1}, {2, 1}, {2, 0}})),
            1e-12);
  const auto first = check_boundary(*cw, {"edge0"}, 10);  // (0,0) to (0,2): outward is -first axis
  EXPECT_LT(max_abs(first.normals - torch::tensor({-1.0, 0.0}, torch::kFloat64)), 1e-15);
}

TEST(Domain, PolygonErrors) {
  Built b;
  const auto bow = input_error(
      [&] { b.add("bow", R"({"type": "polygon", "vertices": [[0,0],[1,1],[1,0],[0,1]]})"); });
  EXPECT_TRUE(has(bow, "intersects itself")) << bow;
  EXPECT_TRUE(has(bow, "edge 0") && has(bow, "edge 2")) << bow;
  EXPECT_TRUE(has(bow, "/domains/bow/vertices")) << bow;
  EXPECT_TRUE(
      has(input_error([&] { b.add("p", R"({"type": "polygon", "vertices": [[0,0],[1,1]]})"); }),
          "at least 3 vertices"));
  EXPECT_TRUE(has(input_error([&] {
                    b.add("p", R"({"type": "polygon", "vertices": [[0,0],[1,0],[1,0],[0,1]]})");
                  }),
                  "zero length"));
  EXPECT_TRUE(has(
      input_error([&] { b.add("p", R"({"type": "polygon", "vertices": [[0,0],[1,0],[2,0]]})"); }),
      "fold back"));
  EXPECT_TRUE(has(
      input_error([&] {
        b.add("p", R"({"type": "polygon", "axes": ["x", "q"], "vertices": [[0,0],[1,0],[0,1]]})");
      }),
      "'q' is not an input"));
  EXPECT_TRUE(has(
      input_error([&] {
        b.add("p", R"({"type": "polygon", "vertices": [[0,0],[1,0],[0,1]], "edges": {"a": [3]}})");
      }),
      "edge 3 does not exist"));
  EXPECT_TRUE(has(input_error([&] {
                    b.add("p",
                          R"({"type": "polygon", "vertices": [[0,0],[1,0],[0,1]], "edge": {}})");
                  }),
                  "unknown key 'edge'"));
}

// ---- CSG ------------------------------------------------------------------------------------

TEST(Domain, SquareMinusDisk) {
  Built b;
  b.add("square", R"({"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}})");
  b.add("hole", R"({"type": "disk", "center": {"x": 0.5, "y": 0.5}, "radius": 0.25})");
  const auto plate = b.add("plate", R"({"type": "difference", "of": ["square", "hole"]})");
  const auto parts = plate->boundary_parts();
  for (const std::string part : {"square.x_min", "hole.circle", "x_min", "circle"}) {
    EXPECT_NE(std::find(parts.begin(), parts.end(), part), parts.end()) << part;
  }
  check_interior(*plate);
  const auto centre = torch::tensor({0.5, 0.5}, torch::kFloat64);
  const auto inside = plate->sample_interior(1000, "halton", 1);
  EXPECT_GT((inside - centre).norm(2, 1).min().item<double>(), 0.25);
  for (const auto& sequence : sequence_names()) {
    SCOPED_TRACE(sequence);
    const auto all = check_boundary(*plate, {}, 1000, sequence);
    const auto x = col(all.points, 0), y = col(all.points, 1);
    const auto on_square = torch::minimum(torch::minimum(x.abs(), (x - 1).abs()),
                                          torch::minimum(y.abs(), (y - 1).abs()));
    const auto on_circle = ((all.points - centre).norm(2, 1) - 0.25).abs();
    EXPECT_LT(max_abs(torch::minimum(on_square, on_circle)), 1e-12);
    if (sequence != "grid") {
      // In proportion to length: the circle is pi/2 / (4 + pi/2) of the boundary.
      const double share = (on_circle < 1e-9).to(torch::kFloat64).mean().item<double>();
      EXPECT_NEAR(share, (kPi / 2) / (4 + kPi / 2), 0.03);
    }
  }
  const auto hole = check_boundary(*plate, {"hole.circle"}, 200);
  EXPECT_LT(max_abs((hole.points - centre).norm(2, 1) - 0.25), 1e-12);
  // The normals of the hole point into it (out of the plate).
  EXPECT_LT(max_abs(hole.normals + (hole.points - centre) / 0.25), 1e-12);
  const auto left = check_boundary(*plate, {"x_min"}, 50);
  EXPECT_EQ(max_abs(col(left.points, 0)), 0.0);
}

TEST(Domain, UnionDropsSharedFacesAndOverlaps) {
  Built b;
  b.add("a", R"({"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}})");
  b.add("b", R"({"type": "box", "bounds": {"x": [1, 2], "y": [0, 1]}})");
  b.add("c", R"({"type": "box", "bounds": {"x": [0.5, 1.5], "y": [0.5, 2]}})");
  const auto ab = b.add("ab", R"({"type": "union", "of": ["a", "b"]})");
  check_interior(*ab);
  const auto edge = check_boundary(*ab, {}, 600);
  const auto x = col(edge.points, 0), y = col(edge.points, 1);
  // No points on the shared face x = 1 (except at its ends).
  EXPECT_FALSE((((x - 1).abs() < 1e-9) & (y > 1e-9) & (y < 1 - 1e-9)).any().item<bool>());
  // The outline is 6 long: the two bottom halves are 1 each, so about 1/6 of the points each.
  EXPECT_NEAR(((y == 0) & (x < 1)).to(torch::kFloat64).mean().item<double>(), 1.0 / 6, 0.02);

  const auto abc = b.add("abc", R"({"type": "union", "of": ["a", "b", "c"]})");
  check_interior(*abc);
  const auto outline = check_boundary(*abc, {}, 800);
  // Nothing strictly inside any child.
  for (const std::string child : {"a", "b", "c"}) {
    EXPECT_FALSE(b.named[child]->contains(outline.points, false).any().item<bool>()) << child;
  }
}

TEST(Domain, IntersectionOfDisksIsALens) {
  Built b;
  b.add("left", R"({"type": "disk", "center": {"x": 0, "y": 0}, "radius": 1})");
  b.add("right", R"({"type": "disk", "center": {"x": 1, "y": 0}, "radius": 1})");
  const auto lens = b.add("lens", R"({"type": "intersection", "of": ["left", "right"]})");
  check_interior(*lens);
  const auto rim = check_boundary(*lens, {}, 500);
  const auto d0 = rim.points.norm(2, 1);
  const auto d1 = (rim.points - torch::tensor({1.0, 0.0}, torch::kFloat64)).norm(2, 1);
  EXPECT_TRUE((((d0 - 1).abs() < 1e-12) | ((d1 - 1).abs() < 1e-12)).all().item<bool>());
  EXPECT_TRUE((d0 <= 1 + 1e-12).all().item<bool>());
  EXPECT_TRUE((d1 <= 1 + 1e-12).all().item<bool>());
  // Symmetric: about half on each arc.
  EXPECT_NEAR(((d0 - 1).abs() < 1e-12).to(torch::kFloat64).mean().item<double>(), 0.5, 0.03);
  // Nested: the lens minus a box.
  b.add("cut", R"({"type": "box", "bounds": {"x": [0.4, 0.6], "y": [-2, 0]}})");
  const auto nested = b.add("nested", R"({"type": "difference", "of": ["lens", "cut"]})");
  check_interior(*nested);
  check_boundary(*nested, {}, 300);
  check_boundary(*nested, {"lens.left.circle"}, 50);
}

TEST(Domain, CsgErrors) {
  Built b;
  b.add("square", R"({"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}})");
  b.add("hole", R"({"type": "disk", "center": {"x": 0.5, "y": 0.5}, "radius": 0.25})");
  b.add("far", R"({"type": "disk", "center": {"x": 5, "y": 5}, "radius": 0.25})");
  b.add("yx", R"({"type": "polygon", "axes": ["y", "x"], "vertices": [[0,0],[1,0],[0,1]]})");
  const auto unknown =
      input_error([&] { b.add("d", R"({"type": "difference", "of": ["square", "hoel"]})"); });
  EXPECT_TRUE(has(unknown, "unknown domain 'hoel' (did you mean 'hole'?)")) << unknown;
  EXPECT_TRUE(has(unknown, "/domains/d/of")) << unknown;
  EXPECT_TRUE(has(input_error([&] { b.add("d", R"({"type": "union", "of": ["square"]})"); }),
                  "two or more"));
  EXPECT_TRUE(has(input_error([&] { b.add("d", R"({"type": "union", "of": ["square", "yx"]})"); }),
                  "same axes"));
  EXPECT_TRUE(
      has(input_error([&] { b.add("d", R"({"type": "intersection", "of": ["square", "far"]})"); }),
          "is empty"));
  const auto plate = b.add("plate", R"({"type": "difference", "of": ["square", "hole"]})");
  try {
    plate->sample_boundary(10, {"hole.cirle"}, "sobol", 0);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(has(e.what(), "unknown boundary part 'hole.cirle'")) << e.what();
    EXPECT_TRUE(has(e.what(), "did you mean 'hole.circle'")) << e.what();
  }
}

// ---- space-time -----------------------------------------------------------------------------

TEST(Domain, SpacetimeOfAnInterval) {
  Built b;
  b.add("rod", R"({"type": "interval", "bounds": {"x": [0, 1]}})");
  const auto st = b.add("rod_t", R"({"type": "spacetime", "space": "rod", "time": {"t": [0, 2]}})");
  EXPECT_EQ(st->axes(), (std::vector<std::string>{"x", "t"}));
  EXPECT_EQ(st->boundary_parts(), (std::vector<std::string>{"x_min", "x_max", "initial", "final"}));
  check_interior(*st);
  for (const auto& sequence : sequence_names()) {
    SCOPED_TRACE(sequence);
    const auto lateral = check_boundary(*st, {}, 200, sequence);
    const auto x = col(lateral.points, 0);
    EXPECT_TRUE(((x == 0) | (x == 1)).all().item<bool>());
    EXPECT_EQ(max_abs(col(lateral.normals, 1)), 0.0);
    EXPECT_NEAR(col(lateral.points, 1).mean().item<double>(), 1.0, 0.1);
  }
  const auto initial = check_boundary(*st, {"initial"}, 100);
  EXPECT_EQ(max_abs(col(initial.points, 1)), 0.0);
  EXPECT_EQ(max_abs(initial.normals - torch::tensor({0.0, -1.0}, torch::kFloat64)), 0.0);
  const auto final_ = check_boundary(*st, {"final"}, 100, "lhs");
  EXPECT_EQ(max_abs(col(final_.points, 1) - 2), 0.0);
  EXPECT_EQ(max_abs(final_.normals - torch::tensor({0.0, 1.0}, torch::kFloat64)), 0.0);
  const auto left = check_boundary(*st, {"x_min"}, 100);
  EXPECT_EQ(max_abs(col(left.points, 0)), 0.0);
  // Mixed parts in proportion to size: the initial line has length 1, the left side 2.
  const auto mixed = check_boundary(*st, {"initial", "x_min"}, 300);
  EXPECT_EQ((col(mixed.normals, 1) == -1).sum().item<int64_t>(), 100);
}

// Interior points cover the domain evenly along every axis, whichever sequence draws them: a
// Hammersley sequence comes ordered along its first coordinate, so keeping a prefix of the
// candidates once left a band of x without any point.
TEST(Domain, InteriorPointsLeaveNoBand) {
  Built b;
  b.add("line", R"({"type": "interval", "bounds": {"x": [-1, 1]}})");
  b.add("line_t", R"({"type": "spacetime", "space": "line", "time": {"t": [0, 0.99]}})");
  b.add("disk", R"({"type": "disk", "center": {"x": 0, "y": 0}, "radius": 1})");
  for (const auto& name : {"line_t", "disk"}) {
    for (const auto& sequence : {"hammersley", "sobol", "halton", "lhs", "uniform"}) {
      SCOPED_TRACE(std::string(name) + " " + sequence);
      const auto points = b.named.at(name)->sample_interior(2540, sequence, 7);
      ASSERT_EQ(points.size(0), 2540);
      // Bands in x: 20 over the whole strip, 10 over the middle of the disk (nearly full height).
      const auto x = col(points, 0);
      const bool strip = std::string(name) == "line_t";
      const auto counts = strip ? torch::histc(x, 20, -1, 1)
                                : torch::histc(x.index({x.abs() < 0.5}), 10, -0.5, 0.5);
      const double mean = counts.mean().item<double>();
      EXPECT_GT(counts.min().item<double>(), 0.6 * mean);
    }
  }
}

TEST(Domain, SpacetimeOfAPlateWithAHole) {
  Built b;
  b.add("square", R"({"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}})");
  b.add("hole", R"({"type": "disk", "center": {"x": 0.5, "y": 0.5}, "radius": 0.25})");
  b.add("plate", R"({"type": "difference", "of": ["square", "hole"]})");
  const auto st =
      b.add("plate_t", R"({"type": "spacetime", "space": "plate", "time": {"t": [0, 1]}})");
  EXPECT_EQ(st->axes(), (std::vector<std::string>{"x", "y", "t"}));
  check_interior(*st, 200);
  const auto rim = check_boundary(*st, {"circle"}, 200);
  EXPECT_LT(
      max_abs((rim.points.slice(1, 0, 2) - torch::tensor({0.5, 0.5}, torch::kFloat64)).norm(2, 1) -
              0.25),
      1e-12);
  check_boundary(*st, {}, 300, "grid");
  const auto initial = check_boundary(*st, {"initial"}, 100, "halton");
  EXPECT_EQ(max_abs(col(initial.points, 2)), 0.0);
  EXPECT_EQ(max_abs(initial.normals - torch::tensor({0.0, 0.0, -1.0}, torch::kFloat64)), 0.0);
}

TEST(Domain, SpacetimeErrors) {
  Built b;
  b.add("rod", R"({"type": "interval", "bounds": {"x": [0, 1]}})");
  EXPECT_TRUE(has(input_error([&] {
                    b.add("s", R"({"type": "spacetime", "space": "rdo", "time": {"t": [0, 1]}})");
                  }),
                  "did you mean 'rod'"));
  EXPECT_TRUE(has(input_error([&] {
                    b.add("s", R"({"type": "spacetime", "space": "rod", "time": {"x": [0, 1]}})");
                  }),
                  "already an axis"));
  EXPECT_TRUE(has(input_error([&] {
                    b.add("s", R"({"type": "spacetime", "space": "rod", "time": {"t": [1, 0]}})");
                  }),
                  "low < high"));
  const auto st = b.add("s", R"({"type": "spacetime", "space": "rod", "time": {"t": [0, 1]}})");
  EXPECT_THROW(st->sample_boundary(10, {"begin"}, "sobol", 0), std::invalid_argument);
}

// ---- the factory ----------------------------------------------------------------------------

TEST(Domain, FactoryErrors) {
  Built b;
  const auto type = input_error([&] { b.add("d", R"({"type": "boxx"})"); });
  EXPECT_TRUE(has(type, "did you mean 'box'")) << type;
  const auto key =
      input_error([&] { b.add("d", R"({"type": "box", "bounds": {"x": [0, 1]}, "bound": 1})"); });
  EXPECT_TRUE(has(key, "unknown key 'bound'")) << key;
  const auto axis =
      input_error([&] { b.add("d", R"({"type": "box", "bounds": {"xx": [0, 1]}})"); });
  EXPECT_TRUE(has(axis, "'xx' is not an input (did you mean 'x'?)")) << axis;
  EXPECT_TRUE(has(input_error([&] { b.add("d", R"({"type": "box", "bounds": {"x": [1, 1]}})"); }),
                  "low < high"));
  EXPECT_TRUE(has(input_error([&] { b.add("d", R"({"type": "box", "bounds": {}})"); }),
                  "at least one axis"));
  EXPECT_EQ(domain_types().size(), 9U);
  const auto box = b.add("ok", R"({"type": "box", "bounds": {"x": [0, 1]}})");
  EXPECT_THROW(box->sample_boundary(10, {"y_min"}, "sobol", 0), std::invalid_argument);
  EXPECT_THROW(box->sample_interior(10, "sobel", 0), std::invalid_argument);
}

TEST(Geometry, ResamplingWithANewSeedGivesNewPoints) {
  Built b;
  b.add("square", R"({"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}})");
  b.add("hole", R"({"type": "disk", "center": {"x": 0.5, "y": 0.5}, "radius": 0.25})");
  const auto plate = b.add("plate", R"({"type": "difference", "of": ["square", "hole"]})");
  for (const std::string sequence : {"uniform", "lhs", "sobol", "halton", "hammersley"}) {
    SCOPED_TRACE(sequence);
    const auto a = plate->sample_interior(100, sequence, 1);
    EXPECT_TRUE(torch::equal(a, plate->sample_interior(100, sequence, 1)));
    EXPECT_FALSE(torch::allclose(a, plate->sample_interior(100, sequence, 2)));
    const auto e = plate->sample_boundary(100, {}, sequence, 1);
    EXPECT_TRUE(torch::equal(e.points, plate->sample_boundary(100, {}, sequence, 1).points));
    EXPECT_FALSE(torch::allclose(e.points, plate->sample_boundary(100, {}, sequence, 2).points));
  }
}

}  // namespace
}  // namespace pinn::geometry
