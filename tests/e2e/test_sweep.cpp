// End-to-end tests of sweeps and run naming: `sweep` writes one checked config per combination and
// a manifest, `--run local` trains them, `collect` tables them (finished or not); run directories
// named from a template; bad sweep options exit 2 with a clear message.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace {

using namespace pinn_e2e;

const std::string kTiny =
    " --set points.interior.count=100 --set points.ends.count=10 --set points.start.count=10"
    " --set network.hidden=[6] --set training[0].iterations=50 --set training[1].iterations=20"
    " -q";

class SweepTest : public TemporaryDirectoryTest {
 protected:
  Result sweep(const std::string& arguments) const {
    return pinn_train("sweep " + quote(source("configs/heat_1d.json")) + kTiny + " -o " +
                      quote((directory_ / "sweep").string()) + " " + arguments);
  }
};

TEST_F(SweepTest, GridRunsLocallyAndCollectsOneRowPerRun) {
  const Result result = sweep(
      "--grid 'training[0].lr=1e-3,1e-2' --grid 'network.hidden=[4],[6]' --run local "
      "--jobs 2");
  ASSERT_EQ(result.code, 0) << result.output;
  const fs::path sweep_dir = directory_ / "sweep";
  const Json manifest = read_json(sweep_dir / "manifest.json");
  ASSERT_EQ(manifest["runs"].size(), 4u);
  EXPECT_EQ(manifest["keys"], Json::parse(R"(["training[0].lr", "network.hidden"])"));
  EXPECT_EQ(manifest["runs"][1]["values"]["network.hidden"], Json::parse("[6]"));
  // Each config is the resolved one, with its combination applied.
  const Json last = read_json(sweep_dir / "configs" / "run-003.json");
  EXPECT_DOUBLE_EQ(last["training"][0]["lr"].get<double>(), 1e-2);
  EXPECT_EQ(last["network"]["hidden"], Json::parse("[6]"));
  EXPECT_EQ(last["output"], (sweep_dir / "runs" / "run-003").string());

  const Result collected = pinn_train("collect " + quote(sweep_dir.string()) + " -q");
  ASSERT_EQ(collected.code, 0) << collected.output;
  const auto rows = read_csv(sweep_dir / "results.csv");
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& row : rows) {
    EXPECT_GT(row.at("steps"), 50);  // 50 Adam steps, then L-BFGS (which may stop early)
    EXPECT_LE(row.at("steps"), 70);
    EXPECT_GT(row.at("final_loss"), 0);
    EXPECT_GT(row.at("l2_rel_u"), 0);
    EXPECT_GT(row.at("wall_time_s"), 0);
  }
  EXPECT_NE(collected.output.find("completed"), std::string::npos);
  EXPECT_DOUBLE_EQ(rows[1].at("training[0].lr"), 1e-3);
  EXPECT_DOUBLE_EQ(rows[2].at("training[0].lr"), 1e-2);
}

TEST_F(SweepTest, RandomDrawsStayInTheirRangesAndUnrunRunsArePending) {
  const Result result = sweep(
      "--random 5 --log-range 'training[0].lr=1e-4:1e-2' "
      "--range 'losses[1].weight=1:10'");
  ASSERT_EQ(result.code, 0) << result.output;
  const Json manifest = read_json(directory_ / "sweep" / "manifest.json");
  ASSERT_EQ(manifest["runs"].size(), 5u);
  for (const auto& run : manifest["runs"]) {
    const double lr = run["values"]["training[0].lr"];
    const double weight = run["values"]["losses[1].weight"];
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-2);
    EXPECT_GE(weight, 1.0);
    EXPECT_LE(weight, 10.0);
  }
  const Result collected = pinn_train("collect " + quote((directory_ / "sweep").string()));
  ASSERT_EQ(collected.code, 0) << collected.output;
  std::ifstream table(directory_ / "sweep" / "results.csv");
  const std::string text((std::istreambuf_iterator<char>(table)), std::istreambuf_iterator<char>());
  size_t pending = 0;
  for (size_t at = text.find(",pending,"); at != std::string::npos;
       at = text.find(",pending,", at + 1))
    ++pending;
  EXPECT_EQ(pending, 5u) << text;
}

TEST_F(SweepTest, BadSweepsExitTwoWithTheReason) {
  struct Case {
    std::string arguments, message;
  };
  const std::vector<Case> cases = {
      {"--grid training[0].lr", "expected KEY=VALUES"},
      {"--random 3", "needs at least one --range"},
      {"--range 'training[0].lr=1:0' --random 2", "expected LOW < HIGH"},
      {"--grid 'network.hidden=[4],fat'", "run-001"},
      {"--grid 'network.activation=tanh,nonsense'", "nonsense"},
  };
  for (const auto& c : cases) {
    const Result result = sweep(c.arguments);
    EXPECT_EQ(result.code, 2) << c.arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(c.message), std::string::npos) << c.arguments << "\n"
                                                                << result.output;
  }
  ASSERT_EQ(sweep("--grid 'seed=1,2'").code, 0);
  const Result again = sweep("--grid 'seed=1,2'");
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
  EXPECT_EQ(sweep("--grid 'seed=1,2,3' --force").code, 0);
  EXPECT_EQ(read_json(directory_ / "sweep" / "manifest.json")["runs"].size(), 3u);
}

TEST_F(SweepTest, RunDirectoryNamedFromATemplate) {
  const std::string pattern = (directory_ / "{name}-lr{training[0].lr}-h{network.hidden}").string();
  const Result result = pinn_train(quote(source("configs/heat_1d.json")) + kTiny +
                                   " --set 'training[0].lr=0.005' -o " + quote(pattern));
  ASSERT_EQ(result.code, 0) << result.output;
  const fs::path run = directory_ / "heat_1d-lr0.005-h[6]";
  ASSERT_TRUE(fs::exists(run / "summary.json")) << result.output;
  EXPECT_EQ(read_json(run / "config.json")["output"], run.string());

  const Result bad = pinn_train(quote(source("configs/heat_1d.json")) + kTiny + " -o " +
                                quote((directory_ / "{training[7].lr}").string()));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("names no value of the config"), std::string::npos) << bad.output;
}

// `eval` reproduces the run's own predictions, evaluates expressions and loss residuals, and
// refuses to overwrite its output.
TEST_F(SweepTest, EvalReproducesTheRunsPredictions) {
  const fs::path run = directory_ / "run";
  ASSERT_EQ(
      pinn_train(quote(source("configs/heat_1d.json")) + kTiny + " -o " + quote(run.string())).code,
      0);
  const auto predictions = read_csv(run / "predictions_grid.csv");
  ASSERT_GT(predictions.size(), 10u);
  std::ofstream points(directory_ / "points.csv");
  points << "t,x\n";  // any column order
  for (size_t i = 0; i < 10; ++i)
    points << predictions[i].at("t") << "," << predictions[i].at("x") << "\n";
  points.close();
  const std::string out = (directory_ / "out.csv").string();
  const std::string command = "eval " + quote(run.string()) + " --points " +
                              quote((directory_ / "points.csv").string()) + " --out " + quote(out);
  const Result result = pinn_train(command + " --fields 'u,pde,u_t - alpha*u_xx,residual'");
  ASSERT_EQ(result.code, 0) << result.output;
  const auto rows = read_csv(out);
  ASSERT_EQ(rows.size(), 10u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_NEAR(rows[i].at("u"), predictions[i].at("u"), 1e-12);
    EXPECT_NEAR(rows[i].at("pde"), rows[i].at("u_t - alpha*u_xx"), 1e-12);
    EXPECT_EQ(rows[i].at("residual"), rows[i].at("pde"));
  }
  // A field with commas inside its parentheses is one field, and one quoted CSV column. Other
  // fields make another evaluation: --force does not replace the earlier one's file.
  const Result other_fields = pinn_train(command + " --force --fields 'u_xx, d(u,x,x),lap(u,x)'");
  EXPECT_EQ(other_fields.code, 2) << other_fields.output;
  fs::remove(out);
  ASSERT_EQ(pinn_train(command + " --fields 'u_xx, d(u,x,x),lap(u,x)'").code, 0);
  ASSERT_EQ(pinn_train(command + " --force --fields 'u_xx, d(u,x,x),lap(u,x)'").code, 0);
  for (const auto& row : read_csv(out)) {
    ASSERT_EQ(row.size(), 5u);  // t, x and the three fields
    EXPECT_NEAR(row.at("d(u,x,x)"), row.at("u_xx"), 1e-12);
    EXPECT_NEAR(row.at("lap(u,x)"), row.at("u_xx"), 1e-12);
  }
  const Result again = pinn_train(command);
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.output.find("pass --force"), std::string::npos) << again.output;
  const Result bad = pinn_train(command + " --force --fields 'u_q'");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("column 1: unknown name 'u_q'"), std::string::npos) << bad.output;
}

// A run whose config reads a data file by a relative path, written before runs recorded
// source.json: `eval` says what it assumes, fails on the file it cannot find, and works once
// --data-dir names the folder.
TEST_F(SweepTest, EvalOfARunWithoutSourceJsonTakesDataDir) {
  const fs::path data = directory_ / "data";
  fs::create_directories(data);
  std::ofstream points_file(data / "grid.csv");
  points_file << "x,t\n0.25,0.5\n0.5,0.5\n0.75,0.25\n";
  points_file.close();
  const fs::path run = directory_ / "run";
  const std::string grid = R"('reference.points={"sampler": "file", "path": "grid.csv"}')";
  ASSERT_EQ(pinn_train(quote(source("configs/heat_1d.json")) + kTiny + " --set " + grid +
                       " --data-dir " + quote(data.string()) + " -o " + quote(run.string()))
                .code,
            0);
  ASSERT_TRUE(fs::remove(run / "source.json"));
  std::ofstream inputs(directory_ / "in.csv");
  inputs << "x,t\n0.5,0.5\n";
  inputs.close();
  const std::string command = "eval " + quote(run.string()) + " --points " +
                              quote((directory_ / "in.csv").string()) + " --out " +
                              quote((directory_ / "out.csv").string()) + " --fields u";
  const Result guessed = pinn_train(command);
  EXPECT_EQ(guessed.code, 2) << guessed.output;
  EXPECT_NE(guessed.output.find("source.json is missing"), std::string::npos) << guessed.output;
  EXPECT_NE(guessed.output.find("grid.csv"), std::string::npos) << guessed.output;
  const Result told = pinn_train(command + " --data-dir " + quote(data.string()));
  ASSERT_EQ(told.code, 0) << told.output;
  EXPECT_EQ(read_csv(directory_ / "out.csv").size(), 1u);
  std::ofstream(run / "source.json") << "{\"base_directory\": ";
  const Result broken = pinn_train(command + " --force");
  EXPECT_EQ(broken.code, 2) << broken.output;
  EXPECT_NE(broken.output.find("source.json: invalid JSON at line 1, column 20"), std::string::npos)
      << broken.output;
}

// output.plots draws the loss history and, with a reference, the prediction / reference / error
// heatmaps (scripts/plot_run.py); reference.csv holds what they show.
TEST_F(SweepTest, PlotsAreDrawnAtTheEndWhenAsked) {
  const fs::path run = directory_ / "run";
  const Result result =
      pinn_train(quote(source("configs/heat_1d.json")) + kTiny + " --set " +
                 quote(R"(output={"directory": ")" + run.string() + R"(", "plots": true})"));
  ASSERT_EQ(result.code, 0) << result.output;
  for (const char* png : {"plots/loss.png", "plots/field_u.png"}) {
    ASSERT_TRUE(fs::exists(run / png)) << png << "\n" << result.output;
    std::ifstream in(run / png, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << png;
    EXPECT_GT(fs::file_size(run / png), 10000u) << png;
  }
  const auto rows = read_csv(run / "reference.csv");
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows)
    EXPECT_NEAR(row.at("u_error"), row.at("u") - row.at("u_reference"), 1e-12);
}

// Off a terminal the log is JSON lines (or text with --log-format text), with ETAs in the
// progress lines, and a copy goes to the run directory's train.log.
TEST_F(SweepTest, LogsAreJsonLinesOffATerminalAndCopiedToTrainLog) {
  const std::string tiny = kTiny.substr(0, kTiny.rfind(" -q"));
  const fs::path run = directory_ / "run";
  const Result result =
      pinn_train(quote(source("configs/heat_1d.json")) + tiny + " -o " + quote(run.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  std::istringstream lines(result.output);
  int progress = 0;
  for (std::string line; std::getline(lines, line);) {
    const Json entry = Json::parse(line);  // every line is one JSON object
    EXPECT_TRUE(entry.contains("time") && entry.contains("level")) << line;
    const std::string message = entry.at("message");
    if (message.rfind("adam 50/50", 0) == 0) {
      ++progress;
      EXPECT_NE(message.find("ms/step  ETA 0 s"), std::string::npos) << message;
    }
  }
  EXPECT_EQ(progress, 1) << result.output;
  std::ifstream log(run / "train.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("info adam 50/50"), std::string::npos) << text;

  const Result plain = pinn_train(quote(source("configs/heat_1d.json")) + tiny + " -o " +
                                  quote((directory_ / "plain").string()) + " --log-format text");
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_NE(plain.output.find("] info adam 50/50"), std::string::npos) << plain.output;
}

}  // namespace
