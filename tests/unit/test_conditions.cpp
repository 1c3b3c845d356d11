// Unit tests of the condition layer: the condition types' residuals against closed forms (the
// network replaced by a known function), periodic terms, output transforms, trainable parameters,
// reference metrics, resampling and refinement, and the errors of bad condition input.
#include <gtest/gtest.h>
#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>

#include "config/reader.hpp"
#include "derivatives/engine.hpp"
#include "model/network.hpp"
#include "model/transform.hpp"
#include "problem/csv.hpp"
#include "problem/problem.hpp"
#include "train/metrics.hpp"
#include "train/objective.hpp"
#include "util/errors.hpp"

namespace pinn {
namespace {

using testing_support::error_of;

using config::Document;
using config::Json;
using config::Pointer;
using config::Reader;

constexpr double kTiny = 1e-12;
const double kPi = std::acos(-1.0);

// A "network" that is a known function of the points: one column of N x d -> N per output,
// written with differentiable torch ops, so that the engines' derivatives are exact.
class KnownNetwork : public model::Network {
 public:
  using Function = std::function<torch::Tensor(const torch::Tensor& x)>;
  explicit KnownNetwork(std::vector<Function> outputs) : outputs_(std::move(outputs)) {}
  torch::Tensor forward(const torch::Tensor& points) override {
    std::vector<torch::Tensor> columns;
    for (const auto& output : outputs_)
      columns.push_back(output(points));
    return torch::stack(columns, 1);
  }
  int smooth_orders() const override { return 8; }

 private:
  std::vector<Function> outputs_;
};

torch::Tensor col(const torch::Tensor& points, int64_t i) {
  return points.select(1, i);
}

// u = sin(x) exp(y): lap(u) = 0, u_x = cos(x) exp(y), u_y = u.
torch::Tensor sin_exp(const torch::Tensor& p) {
  return torch::sin(col(p, 0)) * torch::exp(col(p, 1));
}

std::filesystem::path temp_directory() {
  const auto path = std::filesystem::temp_directory_path() / "pinn_conditions";
  std::filesystem::create_directories(path);
  return path;
}

// The document, the problem and an objective over a known network.
struct Setup {
  Document document;
  problem::Problem problem;
  std::shared_ptr<model::Network> network;
  std::unique_ptr<derivatives::Engine> engine;
  std::vector<torch::Tensor> parameters;
  std::unique_ptr<train::Objective> objective;

  const torch::Tensor& points(const std::string& set) const {
    return problem.point_sets.at(set).sample.points;
  }
  const torch::Tensor& field(const std::string& set, const std::string& name) const {
    return problem.point_sets.at(set).sample.fields.at(name);
  }
  train::TermDiagnostics term(const std::string& name) {
    for (const auto& d : objective->diagnostics()) {
      if (d.name == name) return d;
    }
    ADD_FAILURE() << "no term " << name;
    return {};
  }
};

std::unique_ptr<Setup> load(const std::string& json) {
  auto s = std::make_unique<Setup>();
  s->document = Document::from_json(Json::parse(json), "p.json");
  Reader top(s->document, Pointer());
  s->problem = problem::read_problem(top, temp_directory().string(), 0);
  return s;
}

std::unique_ptr<Setup> with_network(const std::string& json,
                                    std::vector<KnownNetwork::Function> outputs) {
  auto s = load(json);
  s->network = std::make_shared<KnownNetwork>(std::move(outputs));
  s->engine = derivatives::make_engine("autograd", *s->network);
  for (double value : s->problem.parameter_initial_values)
    s->parameters.push_back(
        torch::tensor(value, torch::dtype(torch::kFloat64)).requires_grad_(true));
  s->objective = std::make_unique<train::Objective>(
      s->problem, *s->network, *s->engine,
      train::ObjectiveContext{torch::dtype(torch::kFloat64), s->parameters});
  return s;
}

// The config fails to load with an InputError whose message contains `text`.
::testing::AssertionResult fails_with(const std::string& json, const std::string& text) {
  const auto message = error_of([&] { load(json); });
  if (message.find(text) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected \"" << text << "\" in: " << message;
}

#define EXPECT_ERROR(json, text) EXPECT_TRUE(fails_with(json, text))

// The diagnostics of a term equal those of the hand-computed residual r.
void expect_near(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, kTiny * std::max(1.0, std::abs(expected))) << what;
}

void expect_residual(const train::TermDiagnostics& d, const torch::Tensor& r) {
  ASSERT_FALSE(d.name.empty());
  expect_near(d.mean_square, r.square().mean().item<double>(), d.name + " mean square");
  expect_near(d.max_abs_residual, r.abs().max().item<double>(), d.name + " max");
  expect_near(d.mean_abs_residual, r.abs().mean().item<double>(), d.name + " mean abs");
}

void expect_zero(const train::TermDiagnostics& d) {
  EXPECT_LT(d.max_abs_residual, kTiny) << d.name;
}

// ---- Condition residuals against closed forms -----------------------------------------------

const char* kPlane = R"j({
  "inputs": ["x", "y"], "outputs": ["u"],
  "domains": {"sq": {"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}},
              "disk": {"type": "disk", "center": {"x": 0, "y": 0}, "radius": 1}},
  "points": {"in": {"domain": "sq", "region": "interior", "sampler": "sobol", "count": 64},
             "wall": {"domain": "sq", "region": "boundary", "parts": ["x_max", "y_min"],
                      "count": 40},
             "rim": {"domain": "disk", "region": "boundary", "count": 50}},
  "losses": [
    {"name": "pde", "points": "in", "residual": "lap(u)"},
    {"name": "d_exact", "type": "dirichlet", "points": "wall", "value": "sin(x)*exp(y)"},
    {"name": "d_off", "type": "dirichlet", "points": "wall", "value": "x*y", "weight": 3},
    {"name": "n_exact", "type": "neumann", "points": "rim",
     "value": "x*cos(x)*exp(y) + y*sin(x)*exp(y)"},
    {"name": "n_wall", "type": "neumann", "points": "wall"},
    {"name": "robin", "type": "robin", "points": "rim", "alpha": "2", "beta": "3", "value": "1"},
    {"name": "robin_default", "type": "robin", "points": "wall"}]
})j";

TEST(ConditionsResidual, DirichletNeumannRobinMatchClosedForms) {
  auto s = with_network(kPlane, {sin_exp});
  const auto& wall = s->points("wall");
  const auto wx = col(wall, 0), wy = col(wall, 1);
  const auto& rim = s->points("rim");
  const auto rx = col(rim, 0), ry = col(rim, 1);

  // The normals: the faces' axis directions, and the radius direction on the unit circle.
  const auto on_x_max = wx == 1.0;
  const auto on_y_min = wy == 0.0;
  EXPECT_TRUE(torch::logical_or(on_x_max, on_y_min).all().item<bool>());
  EXPECT_GT(on_x_max.sum().item<int64_t>(), 0);
  EXPECT_GT(on_y_min.sum().item<int64_t>(), 0);
  const auto nx = s->field("wall", "n_x"), ny = s->field("wall", "n_y");
  EXPECT_TRUE(torch::equal(nx, on_x_max.to(torch::kFloat64)));
  EXPECT_TRUE(torch::equal(ny, -on_y_min.logical_and(on_x_max.logical_not()).to(torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(s->field("rim", "n_x"), rx, 0, kTiny));
  EXPECT_TRUE(torch::allclose(s->field("rim", "n_y"), ry, 0, kTiny));
  EXPECT_TRUE(torch::allclose(rx.square() + ry.square(), torch::ones_like(rx), 0, kTiny));

  expect_zero(s->term("pde"));
  expect_zero(s->term("d_exact"));
  expect_zero(s->term("n_exact"));

  const auto u_wall = torch::sin(wx) * torch::exp(wy);
  const auto d_off = u_wall - wx * wy;
  expect_residual(s->term("d_off"), d_off);
  EXPECT_NEAR(s->term("d_off").loss, 3 * d_off.square().mean().item<double>(), kTiny);

  // dn(u) = n_x cos(x) e^y + n_y sin(x) e^y on the faces.
  const auto dn_wall = nx * torch::cos(wx) * torch::exp(wy) + ny * u_wall;
  expect_residual(s->term("n_wall"), dn_wall);
  // Robin defaults: alpha = beta = 1, value 0.
  expect_residual(s->term("robin_default"), u_wall + dn_wall);

  const auto u_rim = torch::sin(rx) * torch::exp(ry);
  const auto dn_rim = rx * torch::cos(rx) * torch::exp(ry) + ry * u_rim;
  expect_residual(s->term("robin"), 2 * u_rim + 3 * dn_rim - 1);

  // LossValues.terms are weight * mean(r^2), in problem order.
  const auto values = s->objective->evaluate(false);
  ASSERT_EQ(values.terms.size(), 7u);
  EXPECT_NEAR(values.terms[2].item<double>(), 3 * d_off.square().mean().item<double>(), kTiny);
  EXPECT_NEAR(values.terms[4].item<double>(), dn_wall.square().mean().item<double>(), kTiny);
}

const char* kRod = R"j({
  "inputs": ["x", "t"], "outputs": ["u"],
  "domains": {"rod": {"type": "interval", "bounds": {"x": [0, 2]}},
              "rod_t": {"type": "spacetime", "space": "rod", "time": {"t": [0.5, 1]}}},
  "points": {"ic": {"domain": "rod_t", "region": "initial", "count": 20},
             "ends": {"domain": "rod_t", "region": "boundary", "count": 20}},
  "losses": [
    {"name": "value", "type": "initial", "points": "ic", "value": "sin(x)*exp(-t)"},
    {"name": "rate", "type": "initial", "points": "ic", "derivative": "t",
     "value": "-sin(x)*exp(-t)"},
    {"name": "rate_off", "type": "initial", "points": "ic", "derivative": "t", "value": "x"},
    {"name": "value_off", "type": "initial", "points": "ic"},
    {"name": "ends", "type": "neumann", "points": "ends", "value": "0"}]
})j";

TEST(ConditionsResidual, InitialValueAndRateOnSpacetime) {
  // u = sin(x) exp(-t), so u_t = -u.
  auto s = with_network(kRod, {[](const torch::Tensor& p) {
                          return torch::sin(col(p, 0)) * torch::exp(-col(p, 1));
                        }});
  const auto& ic = s->points("ic");
  ASSERT_EQ(ic.size(0), 20);
  const auto x = col(ic, 0), t = col(ic, 1);
  EXPECT_TRUE((t == 0.5).all().item<bool>());
  EXPECT_TRUE(torch::logical_and(x > 0, x < 2).all().item<bool>());
  EXPECT_TRUE((s->field("ic", "n_t") == -1.0).all().item<bool>());
  EXPECT_TRUE((s->field("ic", "n_x") == 0.0).all().item<bool>());
  expect_zero(s->term("value"));
  expect_zero(s->term("rate"));
  const auto u = torch::sin(x) * std::exp(-0.5);
  expect_residual(s->term("rate_off"), -u - x);
  expect_residual(s->term("value_off"), u);

  // The lateral boundary: x = 0 (normal -1) and x = 2 (normal +1), dn(u) = n_x cos(x) e^-t.
  const auto& ends = s->points("ends");
  const auto ex = col(ends, 0), et = col(ends, 1);
  EXPECT_TRUE(torch::logical_or(ex == 0, ex == 2).all().item<bool>());
  EXPECT_TRUE(torch::equal(s->field("ends", "n_x"),
                           torch::where(ex == 0, -torch::ones_like(ex), torch::ones_like(ex))));
  EXPECT_TRUE((s->field("ends", "n_t") == 0.0).all().item<bool>());
  expect_residual(s->term("ends"), s->field("ends", "n_x") * torch::cos(ex) * torch::exp(-et));
}

TEST(ConditionsResidual, DataTermFitsTheFileColumns) {
  auto generator = at::detail::createCPUGenerator(5);
  const auto points = torch::rand({30, 2}, generator, torch::dtype(torch::kFloat64));
  const auto exact = sin_exp(points);
  const auto off = exact + 0.25 * col(points, 0);
  problem::write_csv(temp_directory() / "data.csv", {"y", "x", "u_obs", "u_off"},
                     torch::stack({col(points, 1), col(points, 0), exact, off}, 1));
  auto s = with_network(R"({
    "inputs": ["x", "y"], "outputs": ["u"],
    "points": {"obs": {"sampler": "file", "path": "data.csv", "fields": ["u_obs", "u_off"]}},
    "losses": [{"name": "fit", "type": "data", "points": "obs"},
               {"name": "fit_off", "type": "data", "points": "obs", "field": "u_off",
                "weight": 2}]})",
                        {sin_exp});
  EXPECT_TRUE(torch::equal(s->points("obs"), points));
  EXPECT_TRUE(torch::equal(s->field("obs", "u_off"), off));
  expect_zero(s->term("fit"));  // the first field is the default
  const auto r = -0.25 * col(points, 0);
  expect_residual(s->term("fit_off"), r);
  EXPECT_NEAR(s->term("fit_off").loss, 2 * r.square().mean().item<double>(), kTiny);
}

// Normals of a polygon in either orientation and of a hole cut from a square point out of the
// domain: with u = x + 3y, dn(u) = n_x + 3 n_y is known on each part.
TEST(ConditionsResidual, NeumannOnPolygonEdgesAndAHole) {
  const std::string json = R"j({
    "inputs": ["x", "y"], "outputs": ["u"],
    "domains": {"L": {"type": "polygon", "vertices": [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]},
                "Lcw": {"type": "polygon", "vertices": [[0, 2], [1, 2], [1, 1], [2, 1], [2, 0], [0, 0]]},
                "sq": {"type": "box", "bounds": {"x": [-1, 1], "y": [-1, 1]}},
                "hole": {"type": "disk", "center": {"x": 0, "y": 0}, "radius": 0.5},
                "plate": {"type": "difference", "of": ["sq", "hole"]}},
    "points": {"bottom": {"domain": "L", "region": "boundary", "parts": ["edge0"], "count": 8},
               "step": {"domain": "L", "region": "boundary", "parts": ["edge3"], "count": 8},
               "top_cw": {"domain": "Lcw", "region": "boundary", "parts": ["edge0"], "count": 8},
               "bottom_cw": {"domain": "Lcw", "region": "boundary", "parts": ["edge4"], "count": 8},
               "hole": {"domain": "plate", "region": "boundary", "parts": ["hole.circle"],
                        "count": 30},
               "outer": {"domain": "plate", "region": "boundary", "parts": ["sq.x_max"],
                         "count": 10}},
    "losses": [{"name": "bottom", "type": "neumann", "points": "bottom", "value": "-3"},
               {"name": "step", "type": "neumann", "points": "step", "value": "1"},
               {"name": "top_cw", "type": "neumann", "points": "top_cw", "value": "3"},
               {"name": "bottom_cw", "type": "neumann", "points": "bottom_cw", "value": "-3"},
               {"name": "hole", "type": "neumann", "points": "hole"},
               {"name": "outer", "type": "neumann", "points": "outer", "value": "1"}]})j";
  auto s = with_network(json, {[](const torch::Tensor& p) { return col(p, 0) + 3 * col(p, 1); }});
  for (const char* term : {"bottom", "step", "top_cw", "bottom_cw", "outer"})
    expect_zero(s->term(term));
  // On the hole, n = -(x, y)/0.5 (into the hole, out of the plate): dn(u) = -2(x + 3y).
  const auto& hole = s->points("hole");
  EXPECT_TRUE(torch::allclose(col(hole, 0).square() + col(hole, 1).square(),
                              torch::full({hole.size(0)}, 0.25, torch::kFloat64), 0, kTiny));
  EXPECT_TRUE(torch::allclose(s->field("hole", "n_x"), -2 * col(hole, 0), 0, kTiny));
  EXPECT_TRUE(torch::allclose(s->field("hole", "n_y"), -2 * col(hole, 1), 0, kTiny));
  expect_residual(s->term("hole"), -2 * (col(hole, 0) + 3 * col(hole, 1)));
}

// ---- Periodic terms ---------------------------------------------------------------------------

std::string periodic_problem(const std::string& shift, const std::string& residual) {
  return R"({
    "inputs": ["x", "y"], "outputs": ["u"],
    "domains": {"strip": {"type": "box", "bounds": {"x": [-1, 1], "y": [0, 1]}}},
    "points": {"left": {"domain": "strip", "region": "boundary", "parts": ["x_min"],
                        "count": 16}},
    "losses": [{"name": "per", "type": "periodic", "points": "left", "shift": )" +
         shift + residual + "}]}";
}

TEST(ConditionsPeriodic, PeriodicFunctionGivesZero) {
  const auto json = periodic_problem(R"({"x": 2})", "");
  auto s = with_network(json, {[](const torch::Tensor& p) {
                          return torch::sin(kPi * col(p, 0)) * torch::exp(col(p, 1));
                        }});
  // The partner set: the same points on the opposite face, keeping the set's normals.
  const auto& partner = s->problem.point_sets.at("left@per");
  EXPECT_TRUE((col(partner.sample.points, 0) == 1.0).all().item<bool>());
  EXPECT_TRUE(torch::equal(col(partner.sample.points, 1), col(s->points("left"), 1)));
  EXPECT_TRUE((partner.sample.fields.at("n_x") == -1.0).all().item<bool>());
  EXPECT_TRUE((s->field("left", "n_x") == -1.0).all().item<bool>());
  EXPECT_LT(s->term("per").max_abs_residual, kTiny);
  EXPECT_EQ(s->objective->total_points(), 32);

  // The derivative is periodic too: u_x = pi cos(pi x) e^y.
  auto d = with_network(
      periodic_problem(R"({"x": 2})", R"(, "residual": "u_x")"),
      {[](const torch::Tensor& p) { return torch::sin(kPi * col(p, 0)) * torch::exp(col(p, 1)); }});
  EXPECT_LT(d->term("per").max_abs_residual, kTiny);
}

TEST(ConditionsPeriodic, NonPeriodicFunctionGivesTheMeanSquareDifference) {
  // u = x e^y: u(-1, y) - u(1, y) = -2 e^y.
  auto s = with_network(periodic_problem(R"({"x": 2})", ""),
                        {[](const torch::Tensor& p) { return col(p, 0) * torch::exp(col(p, 1)); }});
  const auto y = col(s->points("left"), 1);
  expect_residual(s->term("per"), -2 * torch::exp(y));
  // dn(u) uses the set's normal on both faces (the partner keeps them): n_x u_x = -e^y on each
  // face, so the x-derivative, which is periodic here, gives a zero residual.
  auto n = with_network(periodic_problem(R"({"x": 2})", R"j(, "residual": "dn(u)")j"),
                        {[](const torch::Tensor& p) { return col(p, 0) * torch::exp(col(p, 1)); }});
  expect_residual(n->term("per"), torch::zeros_like(col(n->points("left"), 1)));
}

TEST(ConditionsPeriodic, MismatchedFacesAreAnError) {
  const auto message = error_of([] { load(periodic_problem(R"({"x": 1.5})", "")); });
  EXPECT_NE(message.find("p.json: /losses/0/shift: mismatched periodic faces"), std::string::npos)
      << message;
  EXPECT_NE(error_of([] {
              load(periodic_problem(R"({"x": 0})", ""));
            }).find("/losses/0/shift: expected a non-zero shift"),
            std::string::npos);
  EXPECT_NE(error_of([] { load(periodic_problem(R"({"z": 2})", "")); }).find("/losses/0/shift"),
            std::string::npos);
}

// ---- Output transforms ------------------------------------------------------------------------

TEST(ConditionsTransform, HardConstraintVanishesOnTheFaces) {
  auto document = Document::from_json(Json::parse(R"({
    "network": {"hidden": [8, 8], "activation": "tanh"},
    "transform": {"u": "x*(1-x)*N"}})"),
                                      "p.json");
  Reader top(document, Pointer());
  expr::Symbols symbols;
  symbols.inputs = {"x", "y"};
  symbols.outputs = {"v", "u"};
  torch::manual_seed(3);
  Reader network = top.object("network");
  auto raw = model::make_network(network, 2, 2);
  raw->to(torch::kFloat64);
  // Larger weights than the initialisation, so that the raw output is far from 0.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : raw->parameters())
      p.normal_(0, 2);
  }
  auto transformed = model::apply_transforms(top, raw, symbols);
  ASSERT_NE(transformed, raw);

  auto generator = at::detail::createCPUGenerator(11);
  auto points = torch::rand({40, 2}, generator, torch::dtype(torch::kFloat64));
  points.select(1, 0).slice(0, 0, 10).fill_(0.0);
  points.select(1, 0).slice(0, 10, 20).fill_(1.0);
  const auto out = transformed->forward(points);
  const auto before = raw->forward(points);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{40, 2}));
  EXPECT_GT(before.select(1, 1).slice(0, 0, 20).abs().min().item<double>(), 0.0);
  EXPECT_TRUE((out.select(1, 1).slice(0, 0, 20) == 0.0).all().item<bool>());
  const auto x = col(points, 0);
  EXPECT_TRUE(torch::allclose(out.select(1, 1), x * (1 - x) * before.select(1, 1), 0, 1e-14));
  // Outputs without a transform are the raw ones.
  EXPECT_TRUE(torch::equal(out.select(1, 0), before.select(1, 0)));
  // The transformed network carries the raw one's weights.
  EXPECT_EQ(transformed->parameters().size(), raw->parameters().size());
  EXPECT_EQ(raw->smooth_orders(), transformed->smooth_orders());
}

TEST(ConditionsTransform, DirichletTermOfTheTransformedNetworkIsZero) {
  auto s = load(R"({
    "inputs": ["x", "y"], "outputs": ["u"],
    "domains": {"sq": {"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}}},
    "points": {"sides": {"domain": "sq", "region": "boundary", "parts": ["x_min", "x_max"],
                         "count": 20}},
    "losses": [{"name": "sides", "type": "dirichlet", "points": "sides", "value": "0"},
               {"name": "slope", "type": "neumann", "points": "sides"}],
    "network": {"hidden": [6], "activation": "tanh"},
    "transform": {"u": "x*(1-x)*N"}})");
  Reader top(s->document, Pointer());
  torch::manual_seed(4);
  Reader network = top.object("network");
  auto raw = model::make_network(network, 2, 1);
  raw->to(torch::kFloat64);
  s->network = model::apply_transforms(top, raw, s->problem.symbols);
  s->engine = derivatives::make_engine("autograd", *s->network);
  s->objective = std::make_unique<train::Objective>(
      s->problem, *s->network, *s->engine,
      train::ObjectiveContext{torch::dtype(torch::kFloat64), {}});
  EXPECT_EQ(s->term("sides").max_abs_residual, 0.0);
  // dn(u) = n_x (1 - 2x) N on x = 0, 1: -N(0, y) on x_min (n = -1) and -N(1, y) on x_max.
  const auto& p = s->points("sides");
  expect_residual(s->term("slope"), -raw->forward(p).select(1, 0).detach());

  auto bad = Document::from_json(Json::parse(R"({"transform": {"w": "N"}})"), "p.json");
  Reader bad_top(bad, Pointer());
  EXPECT_NE(error_of([&] {
              model::apply_transforms(bad_top, raw, s->problem.symbols);
            }).find("p.json: /transform/w: 'w' is not an output"),
            std::string::npos);
  auto unknown = Document::from_json(Json::parse(R"({"transform": {"u": "x*M"}})"), "p.json");
  Reader unknown_top(unknown, Pointer());
  EXPECT_NE(error_of([&] {
              model::apply_transforms(unknown_top, raw, s->problem.symbols);
            }).find("p.json: /transform/u: column 3"),
            std::string::npos);
}

// ---- Trainable parameters ---------------------------------------------------------------------

TEST(ConditionsParameters, ResidualUsesTheValueAndGradientIsExact) {
  // u = exp(2x): r = u_x - lam*u = (2 - lam) e^{2x}; L = w mean(r^2),
  // dL/dlam = -2 w (2 - lam) mean(e^{4x}).
  auto s = with_network(R"({
    "inputs": ["x"], "outputs": ["u"], "parameters": {"lam": 0.5},
    "points": {"line": {"sampler": "grid", "bounds": {"x": [0, 1]}, "count": 11}},
    "losses": [{"name": "ode", "points": "line", "residual": "u_x - lam*u", "weight": 3}]})",
                        {[](const torch::Tensor& p) { return torch::exp(2 * col(p, 0)); }});
  ASSERT_EQ(s->problem.symbols.parameters, (std::vector<std::string>{"lam"}));
  ASSERT_EQ(s->problem.parameter_initial_values, (std::vector<double>{0.5}));
  const auto x = col(s->points("line"), 0);
  expect_residual(s->term("ode"), 1.5 * torch::exp(2 * x));

  auto& lam = s->parameters[0];
  const auto values = s->objective->evaluate(true);
  values.total.backward();
  ASSERT_TRUE(lam.grad().defined());
  const double expected = -2 * 3 * 1.5 * torch::exp(4 * x).mean().item<double>();
  EXPECT_NEAR(lam.grad().item<double>(), expected, 1e-12 * std::abs(expected));

  // The objective reads the parameter tensor itself, not the initial value.
  {
    torch::NoGradGuard no_grad;
    lam.fill_(2.0);
  }
  expect_zero(s->term("ode"));
  {
    torch::NoGradGuard no_grad;
    lam.fill_(-1.0);
  }
  expect_residual(s->term("ode"), 3 * torch::exp(2 * x));
}

TEST(ConditionsParameters, ParametersInConditionValues) {
  auto s = with_network(R"({
    "inputs": ["x", "y"], "outputs": ["u"], "parameters": {"a": 0.25, "b": -1},
    "domains": {"sq": {"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}}},
    "points": {"wall": {"domain": "sq", "region": "boundary", "count": 24}},
    "losses": [{"name": "d", "type": "dirichlet", "points": "wall", "value": "a*x + b"}]})",
                        {sin_exp});
  ASSERT_EQ(s->problem.symbols.parameters, (std::vector<std::string>{"a", "b"}));
  const auto& p = s->points("wall");
  const auto r = sin_exp(p) - (0.25 * col(p, 0) - 1);
  expect_residual(s->term("d"), r);
  s->objective->evaluate(true).total.backward();
  // d/da mean(r^2) = -2 mean(r x), d/db = -2 mean(r).
  EXPECT_NEAR(s->parameters[0].grad().item<double>(), -2 * (r * col(p, 0)).mean().item<double>(),
              kTiny);
  EXPECT_NEAR(s->parameters[1].grad().item<double>(), -2 * r.mean().item<double>(), kTiny);
}

// ---- Reference metrics ------------------------------------------------------------------------

std::string reference_problem(const std::string& reference) {
  return R"j({
    "inputs": ["x", "y"], "outputs": ["u"],
    "points": {"in": {"sampler": "sobol", "bounds": {"x": [0, 1], "y": [0, 1]}, "count": 32}},
    "losses": [{"name": "pde", "points": "in", "residual": "lap(u)"},
               {"name": "grad", "points": "in", "residual": "u_x"}],
    "reference": )j" +
         reference + "}";
}

TEST(ConditionsReference, ExactSolutionGivesZeroErrors) {
  auto s = with_network(reference_problem(R"j({"solution": {"u": "sin(x)*exp(y)"},
      "points": {"sampler": "grid", "bounds": {"x": [0, 1], "y": [0, 1]}, "count": 6},
      "every": 10, "residuals": ["pde", "grad"]})j"),
                        {sin_exp});
  train::ReferenceMetrics metrics(s->problem.reference, *s->objective);
  ASSERT_TRUE(metrics.enabled());
  EXPECT_EQ(metrics.every(), 10);
  EXPECT_EQ(metrics.names(),
            (std::vector<std::string>{"l2_rel_u", "max_err_u", "mean_abs_residual_pde",
                                      "mean_abs_residual_grad", "rms_residual_pde",
                                      "rms_residual_grad"}));
  const auto& points = s->problem.reference.points;
  ASSERT_EQ(points.size(0), 36);
  const auto values = metrics.measure();
  ASSERT_EQ(values.size(), 6u);
  EXPECT_LT(values[0], kTiny);
  EXPECT_LT(values[1], kTiny);
  EXPECT_LT(values[2], kTiny);
  const auto u_x = torch::cos(col(points, 0)) * torch::exp(col(points, 1));
  EXPECT_NEAR(values[3], u_x.abs().mean().item<double>(), kTiny);
  EXPECT_LT(values[4], kTiny);
  EXPECT_NEAR(values[5], u_x.square().mean().sqrt().item<double>(), kTiny);
}

TEST(ConditionsReference, ErrorsAgainstAShiftedSolutionMatchByHand) {
  auto s = with_network(reference_problem(R"({"solution": {"u": "sin(x)*exp(y) + 0.1*x*y"},
      "points": "in"})"),
                        {sin_exp});
  train::ReferenceMetrics metrics(s->problem.reference, *s->objective);
  EXPECT_EQ(metrics.every(), 0);
  const auto& points = s->points("in");
  EXPECT_TRUE(torch::equal(s->problem.reference.points, points));
  const auto exact = sin_exp(points) + 0.1 * col(points, 0) * col(points, 1);
  const auto error = 0.1 * col(points, 0) * col(points, 1);
  const auto values = metrics.measure();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_NEAR(values[0], (error.norm() / exact.norm()).item<double>(), kTiny);
  EXPECT_NEAR(values[1], error.abs().max().item<double>(), kTiny);
}

TEST(ConditionsReference, FromAFile) {
  auto generator = at::detail::createCPUGenerator(8);
  const auto points = torch::rand({25, 2}, generator, torch::dtype(torch::kFloat64));
  const auto exact = sin_exp(points);
  problem::write_csv(temp_directory() / "ref.csv", {"x", "y", "u"},
                     torch::cat({points, exact.unsqueeze(1)}, 1));
  problem::write_csv(temp_directory() / "ref_renamed.csv", {"x", "y", "u_exact"},
                     torch::cat({points, (2 * exact).unsqueeze(1)}, 1));
  auto s = with_network(reference_problem(R"({"file": "ref.csv"})"), {sin_exp});
  EXPECT_TRUE(torch::equal(s->problem.reference.points, points));
  train::ReferenceMetrics metrics(s->problem.reference, *s->objective);
  auto values = metrics.measure();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_LT(values[0], kTiny);
  EXPECT_LT(values[1], kTiny);

  // u = exact, reference 2*exact: relative L2 = 1/2, max error = max |exact|.
  auto r = with_network(
      reference_problem(R"({"file": "ref_renamed.csv", "columns": {"u": "u_exact"}})"), {sin_exp});
  train::ReferenceMetrics renamed(r->problem.reference, *r->objective);
  values = renamed.measure();
  EXPECT_NEAR(values[0], 0.5, kTiny);
  EXPECT_NEAR(values[1], exact.abs().max().item<double>(), kTiny);

  const auto message = error_of([] { load(reference_problem(R"({"file": "ref_renamed.csv"})")); });
  EXPECT_NE(message.find("p.json: /reference/file"), std::string::npos) << message;
  EXPECT_NE(message.find("no column for any output ('u')"), std::string::npos) << message;
}

// ---- Resampling and refinement ----------------------------------------------------------------

// u = x + 2y, residual "u": the diagnostics show which points the set holds.
torch::Tensor linear(const torch::Tensor& p) {
  return col(p, 0) + 2 * col(p, 1);
}

TEST(ConditionsResample, DueSetIsRedrawnWithTheSameCount) {
  auto s = with_network(R"({
    "inputs": ["x", "y"], "outputs": ["u"],
    "points": {"in": {"sampler": "uniform", "bounds": {"x": [0, 1], "y": [0, 1]}, "count": 50,
                      "resample_every": 10},
               "fixed": {"sampler": "grid", "bounds": {"x": [0, 1], "y": [0, 1]}, "count": 3}},
    "losses": [{"name": "r", "points": "in", "residual": "u"},
               {"name": "f", "points": "fixed", "residual": "u"}]})",
                        {linear});
  const auto& set = s->problem.point_sets.at("in");
  expect_residual(s->term("r"), linear(set.sample.points));
  EXPECT_EQ(s->objective->next_point_update(0), 10);
  EXPECT_EQ(s->objective->next_point_update(10), 20);
  EXPECT_EQ(s->objective->update_points(5), "");
  expect_residual(s->term("r"), linear(set.sample.points));

  EXPECT_NE(s->objective->update_points(10).find("resampled in"), std::string::npos);
  EXPECT_EQ(s->objective->total_points(), 59);
  const auto first = set.draw(1, 50).points;
  EXPECT_FALSE(torch::equal(first, set.sample.points));
  expect_residual(s->term("r"), linear(first));
  expect_residual(s->term("f"), linear(s->points("fixed")));
  EXPECT_GT(
      std::abs(s->term("r").mean_square - linear(set.sample.points).square().mean().item<double>()),
      1e-6);

  s->objective->update_points(20);
  expect_residual(s->term("r"), linear(set.draw(2, 50).points));
  EXPECT_EQ(s->objective->total_points(), 59);
}

TEST(ConditionsResample, RefinementAddsTheCandidatesWithTheLargestResidual) {
  auto s = with_network(R"({
    "inputs": ["x", "y"], "outputs": ["u"],
    "points": {"in": {"sampler": "sobol", "bounds": {"x": [0, 1], "y": [0, 1]}, "count": 20,
                      "refine": {"every": 5, "add": 4, "candidates": 40}}},
    "losses": [{"name": "r", "points": "in", "residual": "u"},
               {"name": "q", "points": "in", "residual": "u - 1"}]})",
                        {linear});
  const auto& set = s->problem.point_sets.at("in");
  EXPECT_EQ(s->objective->next_point_update(0), 5);
  const auto message = s->objective->update_points(5);
  EXPECT_NE(message.find("refined in to 24"), std::string::npos) << message;
  EXPECT_EQ(s->objective->total_points(), 24);
  // The score sums the squared residuals of the set's terms: u^2 + (u - 1)^2.
  const auto candidates = set.draw(1, 40).points;
  const auto u = linear(candidates);
  const auto score = u.square() + (u - 1).square();
  const auto chosen = candidates.index_select(0, std::get<1>(score.topk(4)));
  const auto all = torch::cat({set.sample.points, chosen}, 0);
  expect_residual(s->term("r"), linear(all));
  expect_residual(s->term("q"), linear(all) - 1);

  s->objective->update_points(10);
  EXPECT_EQ(s->objective->total_points(), 28);
}

TEST(ConditionsResample, RefiningABoundarySetKeepsItsNormals) {
  auto s = with_network(R"({
    "inputs": ["x", "y"], "outputs": ["u"],
    "domains": {"disk": {"type": "disk", "center": {"x": 0, "y": 0}, "radius": 1}},
    "points": {"rim": {"domain": "disk", "region": "boundary", "count": 16,
                       "refine": {"every": 3, "add": 5}, "resample_every": 7}},
    "losses": [{"name": "n", "type": "neumann", "points": "rim"}]})",
                        {sin_exp});
  const auto& set = s->problem.point_sets.at("rim");
  EXPECT_EQ(set.refine.candidates, 50);
  EXPECT_EQ(s->objective->next_point_update(0), 3);
  EXPECT_EQ(s->objective->next_point_update(6), 7);
  s->objective->update_points(3);
  EXPECT_EQ(s->objective->total_points(), 21);
  // dn(u) = x u_x + y u_y on the unit circle; the added points carry their normals.
  auto dn = [](const torch::Tensor& p) {
    return col(p, 0) * torch::cos(col(p, 0)) * torch::exp(col(p, 1)) + col(p, 1) * sin_exp(p);
  };
  const auto candidates = set.draw(1, 50).points;
  const auto chosen = candidates.index_select(0, std::get<1>(dn(candidates).square().topk(5)));
  expect_residual(s->term("n"), dn(torch::cat({set.sample.points, chosen}, 0)));
  // Resampling keeps the refined count.
  s->objective->update_points(7);
  EXPECT_EQ(s->objective->total_points(), 21);
}

// ---- Bad input --------------------------------------------------------------------------------

std::string plane_with(const std::string& domains, const std::string& points,
                       const std::string& losses, const std::string& inputs = R"(["x", "y"])") {
  return R"({"inputs": )" + inputs + R"(, "outputs": ["u"], "domains": )" + domains +
         R"(, "points": )" + points + R"(, "losses": )" + losses + "}";
}

const char* kSquare = R"({"sq": {"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}}})";

TEST(ConditionsBadInput, UnknownBoundaryPart) {
  const auto json = plane_with(
      kSquare,
      R"({"wall": {"domain": "sq", "region": "boundary", "parts": ["x_mni"], "count": 5}})",
      R"([{"type": "dirichlet", "points": "wall"}])");
  EXPECT_ERROR(json,
               "p.json: /points/wall/parts: the domain has no boundary part 'x_mni' (did "
               "you mean 'x_min'?)");
  EXPECT_ERROR(plane_with(kSquare,
                          R"({"wall": {"domain": "sq", "region": "boundary", "part": "top",
                                       "count": 5}})",
                          R"([{"type": "dirichlet", "points": "wall"}])"),
               "p.json: /points/wall/part: the domain has no boundary part 'top'");
  EXPECT_ERROR(plane_with(kSquare, R"({"in": {"domain": "sq", "parts": ["x_min"], "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /points/in/parts: boundary parts apply to \"region\": \"boundary\" only");
  EXPECT_ERROR(plane_with(kSquare, R"({"in": {"domain": "sq", "region": "initial", "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /points/in/region: \"initial\" needs a spacetime domain");
}

TEST(ConditionsBadInput, SelfIntersectingPolygon) {
  EXPECT_ERROR(plane_with(R"({"bow": {"type": "polygon",
                                      "vertices": [[0, 0], [1, 1], [1, 0], [0, 1]]}})",
                          R"({"in": {"domain": "bow", "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /domains/bow/vertices: the polygon intersects itself");
}

TEST(ConditionsBadInput, NormalDerivativeNeedsABoundarySet) {
  const std::string interior = R"({"in": {"domain": "sq", "count": 5}})";
  EXPECT_ERROR(plane_with(kSquare, interior, R"j([{"points": "in", "residual": "u - dn(u)"}])j"),
               "p.json: /losses/0/residual: column 5: dn() needs outward normals");
  EXPECT_ERROR(plane_with(kSquare, interior, R"([{"type": "neumann", "points": "in"}])"),
               "p.json: /losses/0/type: column 1: dn() needs outward normals");
  EXPECT_ERROR(plane_with(kSquare, interior, R"([{"type": "robin", "points": "in"}])"),
               "dn() needs outward normals");
  EXPECT_ERROR(plane_with(kSquare, interior, R"([{"type": "dirichlet", "points": "in",
                                                  "value": "n_x"}])"),
               "p.json: /losses/0/value: column 1: unknown name 'n_x'");
}

TEST(ConditionsBadInput, DataTermNeedsFields) {
  problem::write_csv(temp_directory() / "bare.csv", {"x", "y", "w"},
                     torch::zeros({3, 3}, torch::kFloat64));
  EXPECT_ERROR(plane_with(kSquare, R"({"in": {"domain": "sq", "count": 5}})",
                          R"([{"type": "data", "points": "in"}])"),
               "p.json: /losses/0/points: a data term needs a set read from a CSV file");
  // A boundary set's only fields are its normals, which are not data.
  EXPECT_ERROR(
      plane_with(kSquare, R"({"wall": {"domain": "sq", "region": "boundary", "count": 5}})",
                 R"([{"type": "data", "points": "wall"}])"),
      "p.json: /losses/0/points: a data term needs a set read from a CSV file");
  EXPECT_ERROR(
      plane_with(kSquare, R"({"wall": {"domain": "sq", "region": "boundary", "count": 5}})",
                 R"([{"type": "data", "points": "wall", "field": "n_x"}])"),
      "p.json: /losses/0/points: a data term needs a set read from a CSV file");
  EXPECT_ERROR(plane_with(kSquare, R"({"f": {"sampler": "file", "path": "bare.csv"}})",
                          R"([{"type": "data", "points": "f"}])"),
               "p.json: /losses/0/points: a data term needs a set read from a CSV file");
  EXPECT_ERROR(
      plane_with(kSquare, R"({"f": {"sampler": "file", "path": "bare.csv", "fields": ["w"]}})",
                 R"([{"type": "data", "points": "f", "field": "v"}])"),
      "p.json: /losses/0/field");
}

TEST(ConditionsBadInput, UnknownDomainAndMismatchedAxes) {
  EXPECT_ERROR(plane_with(kSquare, R"({"in": {"domain": "sqr", "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /points/in/domain: no domain named 'sqr' (did you mean 'sq'?)");
  EXPECT_ERROR(
      plane_with(R"({"rod": {"type": "interval", "bounds": {"x": [0, 1]}}})",
                 R"({"in": {"domain": "rod", "count": 5}})",
                 R"([{"points": "in", "residual": "u"}])"),
      "p.json: /points/in/domain: the domain 'rod' spans 'x', but the problem's inputs are 'x' "
      "and 'y'");
  EXPECT_ERROR(plane_with(kSquare, R"({"in": {"domain": "sq", "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])", R"(["x", "y", "t"])"),
               "p.json: /points/in/domain: the domain 'sq' spans");
  EXPECT_ERROR(plane_with(R"({"sq": {"type": "box", "bounds": {"x": [0, 1], "z": [0, 1]}}})",
                          R"({"in": {"domain": "sq", "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /domains/sq/bounds/z: 'z' is not an input");
  EXPECT_ERROR(plane_with(R"({"a": {"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}},
                              "plate": {"type": "difference", "of": ["a", "hole"]}})",
                          R"({"in": {"domain": "plate", "count": 5}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /domains/plate/of: unknown domain 'hole'");
}

TEST(ConditionsBadInput, RedrawingNeedsASampler) {
  EXPECT_ERROR(plane_with(kSquare,
                          R"({"g": {"sampler": "grid", "bounds": {"x": [0, 1], "y": [0, 1]},
                                    "count": 3, "resample_every": 5}})",
                          R"([{"points": "g", "residual": "u"}])"),
               "p.json: /points/g/resample_every: this set cannot be drawn again");
  EXPECT_ERROR(plane_with(kSquare,
                          R"({"w": {"domain": "sq", "region": "boundary", "parts": ["x_min"],
                                    "count": 4, "resample_every": 5}})",
                          R"([{"type": "periodic", "points": "w", "shift": {"x": 1}}])"),
               "p.json: /losses/0/points: a periodic term's points must not be resampled");
  EXPECT_ERROR(plane_with(kSquare,
                          R"({"in": {"domain": "sq", "count": 5,
                                     "refine": {"every": 2, "add": 4, "candidates": 3}}})",
                          R"([{"points": "in", "residual": "u"}])"),
               "p.json: /points/in/refine/candidates: expected at least as many candidates");
}

}  // namespace
}  // namespace pinn
