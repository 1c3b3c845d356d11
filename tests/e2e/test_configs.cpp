// End-to-end tests of the configs in configs/: each trains (shortened where the full run would
// not fit CI's time) and must reach the relative L2 error against its reference solution that
// the README states next to it.
#include <gtest/gtest.h>

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

// The Burgers reference is computed by the project's own script (Cole-Hopf), into the test's
// directory, and the config is pointed at it.
std::string burgers_reference(const fs::path& directory) {
  const auto path = directory / "burgers_reference.csv";
  const Result result = run_command("/usr/bin/python3 " + source("scripts/burgers_reference.py") +
                                    " " + quote(path.string()));
  EXPECT_EQ(result.code, 0) << result.output;
  return " --set reference.file=" + quote(path.string());
}

TEST_P(ConfigTest, ReachesItsStatedAccuracy) {
  const ConfigCase& c = GetParam();
  const auto run = directory_ / "run";
  std::string arguments = source("configs/" + c.config + ".json") + " -q --output " +
                          quote(run.string()) + " " + c.overrides;
  if (c.config == "burgers") arguments += burgers_reference(directory_);
  const Result result = pinn_train(arguments);
  ASSERT_EQ(result.code, 0) << result.output;
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  const double error = summary["metrics"]["l2_rel_u"].get<double>();
  EXPECT_LE(error, c.max_l2_relative) << c.config << ": relative L2 error " << error;
  EXPECT_TRUE(fs::exists(run / "predictions_grid.csv"));
  // history.csv records the metrics at every `reference.every` steps.
  const auto history = read_csv(run / "history.csv");
  ASSERT_FALSE(history.empty());
  EXPECT_TRUE(history.front().count("l2_rel_u"));
}

std::string stages(int adam, int lbfgs) {
  return "--set training[0].iterations=" + std::to_string(adam) +
         " --set training[1].iterations=" + std::to_string(lbfgs);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, ConfigTest,
    ::testing::Values(ConfigCase{"poisson_2d_sin", stages(500, 500), 1e-4},
                      ConfigCase{"poisson_lshape", stages(500, 500), 5e-3},
                      ConfigCase{"heat_1d", stages(500, 500), 1e-3},
                      ConfigCase{"helmholtz_2d",
                                 stages(500, 300) + " --set points.interior.count=1000", 2e-2},
                      ConfigCase{"robin_plate", stages(500, 500), 1e-3},
                      ConfigCase{"heat_periodic", stages(500, 500), 2e-3},
                      ConfigCase{"burgers", stages(2000, 1000), 5e-2}),
    [](const ::testing::TestParamInfo<ConfigCase>& info) { return info.param.config; });

}  // namespace
