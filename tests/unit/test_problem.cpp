// Unit tests of problem/: samplers, CSV reading and writing, and reading the problem.
#include <gtest/gtest.h>
#include "support.hpp"

#include <filesystem>
#include <fstream>

#include "problem/csv.hpp"
#include "problem/mean_square.hpp"
#include "problem/point_set.hpp"
#include "problem/problem.hpp"
#include "util/errors.hpp"

namespace pinn::problem {
namespace {

using testing_support::error_of;

using config::Document;
using config::Json;
using config::Pointer;
using config::Reader;

std::filesystem::path temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

// The one mean of squares: as a tensor, along a dimension, and as the factor of a sum of squares.
TEST(MeanSquare, AgreesInEveryForm) {
  const auto r = torch::tensor({1.0, -2.0, 3.0, 0.5}, torch::kFloat64);
  const double mean = (1.0 + 4.0 + 9.0 + 0.25) / 4;
  EXPECT_DOUBLE_EQ(mean_square(r).item<double>(), mean);
  const auto columns = torch::stack({r, 2 * r}, 1);
  EXPECT_DOUBLE_EQ(mean_square(columns, 0)[1].item<double>(), 4 * mean);
  EXPECT_DOUBLE_EQ(mean_square_scale(3.0, 4) * r.square().sum().item<double>(), 3.0 * mean);
  EXPECT_DOUBLE_EQ(mean_square_scale(3.0, 0), 3.0);  // an empty set: its sum is 0 anyway
}

torch::Tensor sample(const std::string& json, std::vector<std::string> inputs = {"x", "y"}) {
  auto document = Document::from_json(Json::parse(json), "t.json");
  Reader reader(document, Pointer());
  SamplingContext context{std::move(inputs), std::filesystem::temp_directory_path(), 3, nullptr};
  return read_point_set(reader, context).sample.points;
}

// A point count whose points could never fit is refused before they are drawn: a grid's counts
// multiply (10^6 x 10^6 points would take 16 TB).
TEST(Sampler, CountsBeyondTheMachinesMemoryAreRefusedWhenRead) {
  const std::string grid = testing_support::error_of([] {
    sample(R"({"sampler": "grid", "counts": {"x": 1000000, "y": 1000000},
               "bounds": {"x": [0, 1], "y": [0, 1]}})");
  });
  EXPECT_NE(grid.find("t.json: /counts: 1000000000000 points of 2 inputs would take about 16.0 TB"),
            std::string::npos)
      << grid;
  std::vector<std::string> inputs(2000, "x");
  const std::string wide = testing_support::error_of(
      [&] { sample(R"({"sampler": "uniform", "count": 2000000000})", inputs); });
  EXPECT_NE(wide.find("t.json: /count: 2000000000 points of 2000 inputs would take about 32.0 TB"),
            std::string::npos)
      << wide;
}

TEST(Sampler, UniformStaysInItsBoxAndIsReproducible) {
  const auto points =
      sample(R"({"sampler": "uniform", "count": 1000, "bounds": {"x": [-1, 2], "y": [5, 6]}})");
  ASSERT_EQ(points.sizes(), (std::vector<int64_t>{1000, 2}));
  EXPECT_GE(points.select(1, 0).min().item<double>(), -1);
  EXPECT_LE(points.select(1, 0).max().item<double>(), 2);
  EXPECT_GE(points.select(1, 1).min().item<double>(), 5);
  EXPECT_LE(points.select(1, 1).max().item<double>(), 6);
  const auto again =
      sample(R"({"sampler": "uniform", "count": 1000, "bounds": {"x": [-1, 2], "y": [5, 6]}})");
  EXPECT_TRUE(torch::equal(points, again));
  const auto other_seed = sample(
      R"({"sampler": "uniform", "count": 1000, "seed": 9, "bounds": {"x": [-1, 2], "y": [5, 6]}})");
  EXPECT_FALSE(torch::equal(points, other_seed));
}

TEST(Sampler, NormalHasTheRequestedMoments) {
  const auto points = sample(
      R"({"sampler": "normal", "count": 20000, "mean": {"x": 1, "y": -2}, "std": {"x": 0.5, "y": 3}})");
  EXPECT_NEAR(points.select(1, 0).mean().item<double>(), 1, 0.02);
  EXPECT_NEAR(points.select(1, 1).mean().item<double>(), -2, 0.1);
  EXPECT_NEAR(points.select(1, 0).std().item<double>(), 0.5, 0.02);
  EXPECT_NEAR(points.select(1, 1).std().item<double>(), 3, 0.1);
}

TEST(Sampler, NormalWithSeedDrawsTorchRandn) {
  const auto points = sample(R"({"sampler": "normal", "count": 5, "seed": 42})");
  auto generator = at::detail::createCPUGenerator(42);
  const auto expected = torch::randn({5, 2}, generator, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(points, expected));
}

TEST(Sampler, GridOrderAndFixedCoordinates) {
  const auto points = sample(R"({"sampler": "grid", "bounds": {"x": [0, 1], "y": [0, 2]},
                                 "counts": {"x": 2, "y": 3}})");
  const auto expected =
      torch::tensor({0., 0., 0., 1., 0., 2., 1., 0., 1., 1., 1., 2.}, torch::kFloat64)
          .reshape({6, 2});
  EXPECT_TRUE(torch::equal(points, expected));
  const auto line =
      sample(R"({"sampler": "grid", "bounds": {"x": [-10, 3], "y": 1}, "count": 14})");
  EXPECT_EQ(line.size(0), 14);
  EXPECT_TRUE(torch::all(line.select(1, 1) == 1).item<bool>());
  EXPECT_DOUBLE_EQ(line[13][0].item<double>(), 3.0);
}

TEST(Sampler, FileReadsTheInputColumnsByName) {
  temp_file("pinn_points.csv", "y,x,extra\n1,2,3\n4,5,6\n");
  const auto points = sample(R"({"sampler": "file", "path": "pinn_points.csv"})");
  EXPECT_TRUE(
      torch::equal(points, torch::tensor({2., 1., 5., 4.}, torch::kFloat64).reshape({2, 2})));
}

TEST(Sampler, BadInput) {
  EXPECT_NE(error_of([] {
              sample(R"({"sampler": "uniform", "count": -5, "bounds": {}})");
            }).find("/count: expected a positive integer, found -5"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              sample(R"({"sampler": "unifrom", "count": 5})");
            }).find("did you mean 'uniform'?"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              sample(R"({"sampler": "uniform", "count": 5, "bounds": {"x": [0, 1]}})");
            }).find("missing the range of input 'y'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              sample(R"({"sampler": "uniform", "count": 5, "bounds": {"x": [1, 0], "y": 0}})");
            }).find("low <= high"),
            std::string::npos);
  EXPECT_NE(error_of([] { sample(R"({"sampler": "file", "path": "no_such_file.csv"})"); })
                .find("t.json: /path: " +
                      (std::filesystem::temp_directory_path() / "no_such_file.csv").string() +
                      " does not exist"),
            std::string::npos);
  temp_file("pinn_empty.csv", "x,y\n");
  EXPECT_NE(error_of([] {
              sample(R"({"sampler": "file", "path": "pinn_empty.csv"})");
            }).find("no data rows"),
            std::string::npos);
  temp_file("pinn_only_x.csv", "x\n1\n");
  EXPECT_NE(error_of([] {
              sample(R"({"sampler": "file", "path": "pinn_only_x.csv"})");
            }).find("column 'y' is missing"),
            std::string::npos);
}

TEST(Csv, ReportsLineAndColumnOfBadValues) {
  const auto path = temp_file("pinn_bad.csv", "x,y\n1,2\n3,abc\n");
  EXPECT_NE(error_of([&] { read_csv(path); }).find("line 3, column 'y': expected a finite number"),
            std::string::npos);
  const auto ragged = temp_file("pinn_ragged.csv", "x,y\n1,2,3\n");
  EXPECT_NE(error_of([&] { read_csv(ragged); }).find("expected 2 fields, found 3"),
            std::string::npos);
  // Not numbers either: nan and inf, a number out of range, a cell that a NUL byte cuts short.
  for (const std::string& cell :
       std::vector<std::string>{"nan", "inf", "-infinity", "1e999", std::string("0\0\0", 3)}) {
    const auto bad = temp_file("pinn_cell.csv", "x,y\n1," + cell + "\n");
    EXPECT_NE(error_of([&] { read_csv(bad); }).find("line 2, column 'y': expected a finite number"),
              std::string::npos)
        << cell;
  }
  const auto twice = temp_file("pinn_twice.csv", "x,u,u\n1,2,3\n");
  EXPECT_NE(error_of([&] { read_csv(twice); }).find("line 1: the column 'u' appears twice"),
            std::string::npos);
}

TEST(Csv, WriteThenReadRoundTripsExactly) {
  const auto path = std::filesystem::temp_directory_path() / "pinn_roundtrip.csv";
  const auto values = torch::randn({10, 3}, torch::kFloat64);
  write_csv(path, {"a", "b", "c"}, values);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  const auto table = read_csv(path);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(torch::equal(table.select({"a", "b", "c"}, "t"), values));
}

// Column names with commas or quotes (a field d(u,x,y)) are quoted as RFC 4180 says, and read
// back as they were; a quoted header written by another tool reads too.
TEST(Csv, ColumnNamesWithCommasAndQuotesRoundTrip) {
  const auto path = std::filesystem::temp_directory_path() / "pinn_quoted.csv";
  const std::vector<std::string> columns = {"x", "d(u,x,y)", "say \"hi\""};
  write_csv(path, columns, torch::ones({2, 3}, torch::kFloat64));
  std::ifstream written(path);
  std::string header;
  std::getline(written, header);
  EXPECT_EQ(header, "x,\"d(u,x,y)\",\"say \"\"hi\"\"\"");
  EXPECT_EQ(read_csv(path).columns, columns);
  const auto other = temp_file("pinn_other.csv", "\"x\", \"y\"\n1,2\n");
  EXPECT_EQ(read_csv(other).columns, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(csv_field("u_x"), "u_x");
}

Problem read(const std::string& json) {
  static Document document;
  document = Document::from_json(Json::parse(json), "p.json");
  Reader top(document, Pointer());
  return read_problem(top, ".", 0);
}

const char* kValid = R"({
  "inputs": ["x", "t"], "outputs": ["u"], "constants": {"nu": 0.01},
  "points": {"inner": {"sampler": "uniform", "count": 10, "bounds": {"x": [0, 1], "t": [0, 1]}}},
  "losses": [{"name": "pde", "points": "inner", "residual": "u_t + u*u_x - nu*u_xx"},
             {"points": "inner", "residual": "u", "weight": 2}],
  "evaluate": [{"name": "ev", "points": "inner", "fields": ["u", "u_x"]}]})";

TEST(Problem, ReadsNamesPointsLossesAndEvaluations) {
  const Problem problem = read(kValid);
  EXPECT_EQ(problem.symbols.inputs, (std::vector<std::string>{"x", "t"}));
  EXPECT_DOUBLE_EQ(problem.symbols.constants.at("nu"), 0.01);
  ASSERT_EQ(problem.losses.size(), 2u);
  EXPECT_EQ(problem.losses[1].name, "term1");
  EXPECT_DOUBLE_EQ(problem.losses[1].weight, 2.0);
  EXPECT_EQ(problem.channels_on("inner").size(), 4u);  // u, u_x, u_t, u_xx
  EXPECT_EQ(problem.max_derivative_order(), 2);
  ASSERT_EQ(problem.evaluations.size(), 1u);
  EXPECT_EQ(problem.evaluations[0].points.size(0), 10);
}

TEST(Problem, BadInputNamesThePathAndColumn) {
  auto with = [](const std::string& from, const std::string& to) {
    std::string text = kValid;
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  EXPECT_NE(error_of([&] {
              read(with("u*u_x", "u*uu_x"));
            }).find("p.json: /losses/0/residual: column 9: unknown name 'uu_x'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read(with("\"points\": \"inner\", \"residual\": \"u\"",
                        "\"points\": \"iner\", \"residual\": \"u\""));
            }).find("no point set named 'iner' (did you mean 'inner'?)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read(with("\"outputs\": [\"u\"]", "\"outputs\": [\"x\"]"));
            }).find("used twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read(with("\"outputs\": [\"u\"]", "\"outputs\": [\"sin\"]"));
            }).find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read(with("\"name\": \"pde\",", "\"name\": \"pde\", \"wieght\": 1,"));
            }).find("unknown key 'wieght' (did you mean 'weight'?)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read(with("\"weight\": 2", "\"weight\": -2"));
            }).find("/losses/1/weight: expected a number >= 0"),
            std::string::npos);
}

}  // namespace
}  // namespace pinn::problem
