// End-to-end tests of the configs in configs/: each trains (shortened where the full run would
// not fit CI's time) and must reach the relative L2 error against its reference solution that
// docs/building.md lists next to it.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <iostream>

#include "harness.hpp"

namespace {

using namespace pinn_e2e;

struct ConfigCase {
  std::string config;
  std::string overrides;  // --set options that shorten the run
  double max_l2_relative;
};

std::ostream& operator<<(std::ostream& out, const ConfigCase& c) {
  return out << c.config;
}

class ConfigTest : public ::testing::TestWithParam<ConfigCase> {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() / ("pinn_configs_" + GetParam().config);
    fs::remove_all(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(directory_);
  }
  fs::path directory_;
};

// The Burgers and Allen-Cahn references are computed by the project's own scripts (Cole-Hopf;
// Fourier spectral with ETDRK4; a few seconds each) into the test's directory, and the config
// is pointed at the file.
std::string computed_reference(const std::string& problem, const fs::path& directory) {
  const auto path = directory / (problem + "_reference.csv");
  const Result result =
      run_command(std::string(PINN_PYTHON) + " " + source("scripts/" + problem + "_reference.py") +
                  " " + quote(path.string()));
  EXPECT_EQ(result.code, 0) << result.output;
  return " --set reference.file=" + quote(path.string());
}

TEST_P(ConfigTest, ReachesItsStatedAccuracy) {
  const ConfigCase& c = GetParam();
  const auto run = directory_ / "run";
  std::string arguments = source("configs/" + c.config + ".json") + " -q --output " +
                          quote(run.string()) + " " + c.overrides;
  if (c.config.rfind("burgers", 0) == 0) arguments += computed_reference("burgers", directory_);
  if (c.config == "allen_cahn") arguments += computed_reference("allen_cahn", directory_);
  const Result result = pinn_train(arguments);
  ASSERT_EQ(result.code, 0) << result.output;
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  // The largest relative L2 error over the outputs (u, or x, or u and v).
  double error = -1;
  for (const auto& [name, value] : summary["metrics"].items()) {
    if (name.rfind("l2_rel_", 0) == 0) error = std::max(error, value.get<double>());
  }
  ASSERT_GE(error, 0) << summary.dump(1);
  std::cout << c.config << ": relative L2 error " << error << " (bound " << c.max_l2_relative
            << ")\n";
  EXPECT_LE(error, c.max_l2_relative) << c.config << ": relative L2 error " << error;
  EXPECT_TRUE(fs::exists(run / "predictions_grid.csv") || fs::exists(run / "predictions_line.csv"));
  // The inverse problem finds its trainable diffusivity: the data came from alpha = 0.1.
  if (c.config == "heat_inverse") {
    EXPECT_NEAR(summary["parameters"]["alpha"].get<double>(), 0.1, 2e-3);
  }
  // history.csv records the metrics at every `reference.every` steps.
  const auto history = read_csv(run / "history.csv");
  ASSERT_FALSE(history.empty());
  const auto& first = history.front();
  EXPECT_TRUE(std::any_of(first.begin(), first.end(), [](const auto& column) {
    return column.first.rfind("l2_rel_", 0) == 0;
  }));
}

std::string stages(int adam, int lbfgs) {
  return "--set training[0].iterations=" + std::to_string(adam) +
         " --set training[1].iterations=" + std::to_string(lbfgs);
}

// A shortened run keeps 1000 L-BFGS iterations where it can: after 500 the errors sat just under
// their bounds (heat_1d 9.8e-4 against 1e-3 here) and heat_1d crossed it on an H200 (1.1e-3);
// after 1000 they are 2.3-7x below on both.
INSTANTIATE_TEST_SUITE_P(
    Configs, ConfigTest,
    ::testing::Values(ConfigCase{"poisson_2d_sin", stages(500, 500), 1e-4},
                      ConfigCase{"poisson_lshape", stages(500, 1000), 5e-3},
                      ConfigCase{"heat_1d", stages(500, 1000), 1e-3},
                      ConfigCase{"helmholtz_2d",
                                 stages(500, 300) + " --set points.interior.count=1000", 2e-2},
                      ConfigCase{"robin_plate", stages(500, 1000), 1e-3},
                      ConfigCase{"heat_periodic", stages(500, 1000), 2e-3},
                      ConfigCase{"heat_inverse", stages(500, 1000), 2e-3},
                      // 1000 Adam + 1000 ssbroyden iterations (no time limit): 8.9e-5 on one
                      // thread here, where the full run reaches 5.8e-8.
                      ConfigCase{"burgers_ssbroyden",
                                 "--set training[1].iterations=1000 --set "
                                 "training[1].max_seconds=0 --set reference.every=1000",
                                 1e-3},
                      ConfigCase{"burgers_best",
                                 stages(1000, 1500) + " --set training[0].max_seconds=0" +
                                     " --set training[1].max_seconds=0",
                                 5e-2},
                      // The whole recipe (periodic embedding, Fourier features, RWF, causal
                      // weights, grad-norm weights every 1000 steps) on 3000 Adam steps: far
                      // from the full run's error (README), but every part of it trains.
                      // The configs of DeepXDE's examples that need input features, parallel
                      // networks and multi-scale Fourier features (their full runs: README).
                      ConfigCase{"annulus_polar", "", 1e-3},
                      ConfigCase{"damped_oscillator", "", 1e-3},
                      ConfigCase{"elasticity_parallel", stages(500, 500), 1e-3},
                      ConfigCase{"multiscale_poisson_1d", stages(500, 1000), 1e-3},
                      ConfigCase{"allen_cahn",
                                 "--set training[0].iterations=3000 --set "
                                 "training[0].max_seconds=0 --set reference.every=1000",
                                 0.8}),
    [](const ::testing::TestParamInfo<ConfigCase>& param_info) { return param_info.param.config; });

}  // namespace

namespace {

// Bad problem input: exit code 2 and one message naming the file, the JSON path and the problem.
class ProblemInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 ("pinn_problem_input_" +
                  std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(directory_);
  }

  // Validates configs/<name>.json edited by `edit`; returns the result.
  Result validate_edited(const std::string& name, const std::function<void(Json&)>& edit) {
    Json config = read_json(source("configs/" + name + ".json"));
    edit(config);
    const auto path = directory_ / "config.json";
    std::ofstream(path) << config.dump(2);
    return pinn_train("validate " + quote(path.string()));
  }

  void expect_bad_input(const Result& result, const std::vector<std::string>& fragments) {
    EXPECT_EQ(result.code, 2) << result.output;
    EXPECT_EQ(result.output.find("terminate"), std::string::npos) << result.output;
    for (const auto& fragment : fragments)
      EXPECT_NE(result.output.find(fragment), std::string::npos) << result.output;
  }

  fs::path directory_;
};

TEST_F(ProblemInputTest, ConditionOnABoundaryPartThatDoesNotExist) {
  expect_bad_input(
      validate_edited("robin_plate", [](Json& c) { c["points"]["rim"]["parts"] = {"circel"}; }),
      {"config.json: /points/rim/parts", "no boundary part 'circel'", "did you mean 'circle'?"});
}

TEST_F(ProblemInputTest, SelfIntersectingPolygon) {
  expect_bad_input(validate_edited("poisson_lshape",
                                   [](Json& c) {
                                     c["domains"]["L"]["vertices"] =
                                         Json::parse("[[0, 0], [1, 1], [1, 0], [0, 1]]");
                                   }),
                   {"config.json: /domains/L", "edge"});
}

TEST_F(ProblemInputTest, ReferenceCsvWithoutTheNeededColumns) {
  const auto csv = directory_ / "reference.csv";
  std::ofstream(csv) << "x,t,v\n0,0,1\n0.5,0.5,2\n";
  expect_bad_input(validate_edited("heat_1d",
                                   [&](Json& c) {
                                     c["reference"] = {{"file", csv.string()}};
                                   }),
                   {"/reference/file", "reference.csv", "no column for any output"});
}

TEST_F(ProblemInputTest, MismatchedPeriodicFaces) {
  expect_bad_input(validate_edited("heat_periodic",
                                   [](Json& c) {
                                     c["losses"][1]["shift"] = {{"x", 1.5}};
                                   }),
                   {"/losses/1/shift", "mismatched periodic faces"});
}

TEST_F(ProblemInputTest, NormalDerivativeOnAnInteriorSet) {
  expect_bad_input(
      validate_edited("robin_plate", [](Json& c) { c["losses"][0]["residual"] = "dn(u)"; }),
      {"/losses/0/residual", "column 1", "dn() needs outward normals"});
}

TEST_F(ProblemInputTest, DomainThatDoesNotSpanTheInputs) {
  expect_bad_input(
      validate_edited("heat_1d", [](Json& c) { c["points"]["interior"]["domain"] = "rod"; }),
      {"/points/interior/domain", "spacetime"});
}

}  // namespace
