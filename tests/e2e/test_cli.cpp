// End-to-end tests: run the pinn-train binary on configs and check exit codes, messages and
// the files of the run directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "harness.hpp"

namespace {

using namespace pinn_e2e;

class CliTest : public TemporaryDirectoryTest {
 protected:
  // Writes the seed config with `edit` applied and returns its path.
  std::string seed_config_with(const std::function<void(Json&)>& edit,
                               const std::string& name = "config.json") {
    Json config = read_json(source("configs/seed_dx_squared.json"));
    edit(config);
    const auto path = directory_ / name;
    std::ofstream(path) << config.dump(2);
    return path.string();
  }
};

// --- the seed example -----------------------------------------------------------------------

void expect_seed_run_solves_the_problem(const fs::path& run) {
  for (const char* file :
       {"config.json", "model.pt", "history.csv", "summary.json", "predictions_line_y_plus1.csv",
        "predictions_line_y_minus1.csv", "predictions_grid.csv"}) {
    EXPECT_TRUE(fs::exists(run / file)) << file;
  }
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_LE(summary["losses"]["dx_squared"]["max_abs_residual"].get<double>(), 1e-4);
  EXPECT_GT(summary["wall_time_s"].get<double>(), 0.0);
  EXPECT_GT(summary["points_per_second"].get<double>(), 0.0);
  EXPECT_EQ(summary["dtype"], "float64");
  // One L-BFGS stage, which says why it ended and how many evaluations its line search made.
  ASSERT_EQ(summary["stages"].size(), 1u);
  const Json& stage = summary["stages"][0];
  EXPECT_TRUE(stage["stop"] == "iterations" || stage["stop"] == "converged" ||
              stage["stop"] == "stalled")
      << stage.dump();
  EXPECT_GE(stage["evaluations"].get<int>(), stage["iterations"].get<int>());
  // The device the tests were pointed at (PINN_TRAIN_DEVICE, on the GPU machine), else the CPU.
  const char* device = std::getenv("PINN_TRAIN_DEVICE");
  EXPECT_EQ(summary["device"], device && *device ? device : "cpu");
  for (const char* line : {"predictions_line_y_plus1.csv", "predictions_line_y_minus1.csv"}) {
    double low = 1e300, high = -1e300;
    for (const auto& row : read_csv(run / line)) {
      if (row.at("x") < -2 || row.at("x") > 2) continue;
      low = std::min(low, row.at("u"));
      high = std::max(high, row.at("u"));
      EXPECT_LE(std::abs(row.at("u_x")), 1e-2);
    }
    EXPECT_LE(high - low, 1e-2) << line;
  }
}

TEST_F(CliTest, SeedExampleTrainsToAConstantAlongX) {
  const auto run = directory_ / "run";
  const Result result =
      pinn_train(source("configs/seed_dx_squared.json") + " --output " + quote(run.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  expect_seed_run_solves_the_problem(run);

  // The resolved config holds the defaults and the CLI's choices.
  const Json config = read_json(run / "config.json");
  EXPECT_EQ(config["network"]["init"], "xavier_normal");
  EXPECT_EQ(config["output"], run.string());
  EXPECT_EQ(config["derivatives"], "auto");

  // The history: a header naming the terms, then one row per log point, steps increasing.
  std::ifstream history(run / "history.csv");
  std::string header;
  std::getline(history, header);
  EXPECT_EQ(header, "step,stage,total,dx_squared,lr,elapsed_s");
  const auto rows = read_csv(run / "history.csv");
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows.front().at("step"), 0);
  EXPECT_LT(rows.back().at("total"), rows.front().at("total"));
}

TEST_F(CliTest, DirectionalDerivativeConfigSolvesTheSameProblem) {
  const auto run = directory_ / "run";
  const Result result = pinn_train("train " + source("configs/seed_dx_squared_dir.json") +
                                   " --output " + quote(run.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  expect_seed_run_solves_the_problem(run);
}

TEST_F(CliTest, EnginesGiveTheSameTraining) {
  std::vector<double> finals;
  for (const std::string engine : {"autograd", "forward"}) {
    const auto run = directory_ / engine;
    const Result result =
        pinn_train(source("configs/seed_dx_squared.json") + " -q --set derivatives=" + engine +
                   " --set training[0].iterations=20 --output " + quote(run.string()));
    ASSERT_EQ(result.code, 0) << result.output;
    EXPECT_EQ(read_json(run / "summary.json")["engine"], engine);
    finals.push_back(read_json(run / "summary.json")["final_loss"].get<double>());
  }
  EXPECT_NEAR(finals[0], finals[1], 1e-8 * std::abs(finals[0]) + 1e-300);
}

// Taylor mode through an output transform, on each network type: the summary names taylor as the
// engine that ran (a fallback would name forward) and the run trains as autograd's does.
TEST_F(CliTest, TaylorRunsOutputTransformsOnEveryNetworkType) {
  for (const std::string network : {"mlp", "modified_mlp", "resnet"}) {
    const std::string shape =
        network == "resnet"
            ? " --set " + quote(R"(network={"type": "resnet", "width": 12, "blocks": 2})")
            : " --set network.type=" + network;
    std::map<std::string, double> finals;
    for (const std::string engine : {"autograd", "taylor"}) {
      const auto run = directory_ / (network + "_" + engine);
      const Result result = pinn_train(
          source("configs/poisson_2d_sin.json") + " -q --set derivatives=" + engine + shape +
          " --set training[0].iterations=10 --set training[1].iterations=3 --output " +
          quote(run.string()));
      ASSERT_EQ(result.code, 0) << network << ": " << result.output;
      const Json summary = read_json(run / "summary.json");
      EXPECT_EQ(summary["engine"], engine) << network;
      finals[engine] = summary["final_loss"].get<double>();
    }
    EXPECT_NEAR(finals["taylor"], finals["autograd"], 1e-6 * finals["autograd"]) << network;
  }
}

TEST_F(CliTest, PlainPytorchReproducesThePredictions) {
  if (run_command(std::string(PINN_PYTHON) + " -c 'import torch'").code != 0) {
    GTEST_SKIP() << "python3-torch is not installed (scripts/setup.sh installs it)";
  }
  const auto run = directory_ / "run";
  ASSERT_EQ(
      pinn_train(source("configs/seed_dx_squared.json") + " -q --output " + quote(run.string()))
          .code,
      0);
  for (const char* file : {"predictions_grid.csv", "predictions_line_y_plus1.csv"}) {
    const Result check = run_command(std::string(PINN_PYTHON) + " " + source("scripts/predict.py") +
                                     " " + quote((run / "model.pt").string()) + " --points " +
                                     quote((run / file).string()) + " --check");
    EXPECT_EQ(check.code, 0) << check.output;
    EXPECT_NE(check.output.find("reproduces"), std::string::npos) << check.output;
  }
  // A network with the periodic embedding, Fourier features and factorized weights (Allen-Cahn's,
  // 100 steps in float64, without its reference): predict.py rebuilds those too, to rounding.
  Json config = read_json(source("configs/allen_cahn.json"));
  config.erase("reference");
  config["dtype"] = "float64";
  config["training"][0]["iterations"] = 100;
  config["training"][0]["max_seconds"] = 0;
  const auto config_path = directory_ / "recipe.json";
  std::ofstream(config_path) << config.dump(2);
  const auto recipe = directory_ / "recipe";
  const Result trained =
      pinn_train(quote(config_path.string()) + " -q --output " + quote(recipe.string()));
  ASSERT_EQ(trained.code, 0) << trained.output;
  const Result check =
      run_command(std::string(PINN_PYTHON) + " " + source("scripts/predict.py") + " " +
                  quote((recipe / "model.pt").string()) + " --points " +
                  quote((recipe / "predictions_grid.csv").string()) + " --fields u --check");
  EXPECT_EQ(check.code, 0) << check.output;
  EXPECT_NE(check.output.find("reproduces"), std::string::npos) << check.output;
}

// Input features, parallel networks and multi-scale Fourier features train (a few steps each),
// keep_best writes model_best.pt with its step in summary.json, and plain PyTorch (predict.py)
// rebuilds every one of them from model.pt and model_best.pt.
TEST_F(CliTest, MappedAndParallelNetworksTrainKeepTheBestAndRebuild) {
  const bool torch_installed =
      run_command(std::string(PINN_PYTHON) + " -c 'import torch'").code == 0;
  struct Case {
    std::string config, predictions, fields;
  };
  for (const Case& c : {Case{"annulus_polar", "predictions_grid.csv", "u"},
                        Case{"damped_oscillator", "predictions_line.csv", "x"},
                        Case{"elasticity_parallel", "predictions_grid.csv", "u,v"},
                        Case{"multiscale_poisson_1d", "predictions_line.csv", "u"}}) {
    const auto run = directory_ / c.config;
    const Result trained =
        pinn_train(source("configs/" + c.config + ".json") +
                   " -q --set training[0].iterations=30 --set training[0].log_every=10"
                   " --set training[1].iterations=5 --set output.keep_best=true --output " +
                   quote(run.string()));
    ASSERT_EQ(trained.code, 0) << c.config << ": " << trained.output;
    const Json summary = read_json(run / "summary.json");
    ASSERT_TRUE(summary.contains("best")) << c.config;
    EXPECT_EQ(summary["best"]["file"], "model_best.pt");
    EXPECT_EQ(summary["best"]["criterion"], "reference");  // each config has a reference
    EXPECT_LE(summary["best"]["step"].get<int64_t>(), summary["steps"].get<int64_t>());
    EXPECT_TRUE(summary["best"]["metrics"].contains("l2_rel_" + c.fields.substr(0, 1)));
    EXPECT_TRUE(fs::exists(run / "model_best.pt"));
    if (!torch_installed) continue;
    const std::string predict = std::string(PINN_PYTHON) + " " + source("scripts/predict.py") +
                                " --points " + quote((run / c.predictions).string()) +
                                " --fields " + c.fields + " ";
    const Result check = run_command(predict + quote((run / "model.pt").string()) + " --check");
    EXPECT_EQ(check.code, 0) << c.config << ": " << check.output;
    EXPECT_NE(check.output.find("reproduces"), std::string::npos) << check.output;
    // model_best.pt holds the weights whose error summary.json records for the best step: its
    // predictions at the reference points give that relative L2 error again.
    const std::string output = c.fields.substr(0, 1);
    const auto best_csv = run / "best.csv";
    const Result best = run_command(std::string(PINN_PYTHON) + " " + source("scripts/predict.py") +
                                    " " + quote((run / "model_best.pt").string()) + " --points " +
                                    quote((run / "reference.csv").string()) + " --fields " +
                                    output + " --out " + quote(best_csv.string()));
    ASSERT_EQ(best.code, 0) << c.config << ": " << best.output;
    const auto predicted = read_csv(best_csv);
    const auto reference = read_csv(run / "reference.csv");
    ASSERT_EQ(predicted.size(), reference.size());
    double error = 0, norm = 0;
    for (size_t i = 0; i < predicted.size(); ++i) {
      const double exact = reference[i].at(output + "_reference");
      error += std::pow(predicted[i].at(output) - exact, 2);
      norm += exact * exact;
    }
    const double recorded = summary["best"]["metrics"]["l2_rel_" + output].get<double>();
    EXPECT_NEAR(std::sqrt(error / norm), recorded, 1e-6 * recorded) << c.config;
  }
}

// --- commands and options -------------------------------------------------------------------

TEST_F(CliTest, ValidateChecksWithoutTraining) {
  const auto run = directory_ / "run";
  const Result result = pinn_train("validate " + source("configs/seed_dx_squared.json") +
                                   " --output " + quote(run.string()));
  EXPECT_EQ(result.code, 0) << result.output;
  EXPECT_NE(result.output.find("valid"), std::string::npos);
  EXPECT_FALSE(fs::exists(run));
}

// bench times Adam steps of a config per engine, writes no run directory and prints one JSON
// line; every engine starts from the same weights, so the losses after the same steps agree.
TEST_F(CliTest, BenchPrintsTheStepTimeOfEachEngine) {
  std::map<std::string, double> losses;
  for (const std::string engine : {"autograd", "forward", "taylor"}) {
    const Result result = run_command("cd " + quote(directory_.string()) + " && " + PINN_TRAIN_BIN +
                                      " bench " + source("configs/heat_1d.json") + " --engine " +
                                      engine + " --steps 6 --warmup 2 --chunks 3 -q");
    ASSERT_EQ(result.code, 0) << result.output;
    const Json line = Json::parse(result.output);
    EXPECT_EQ(line["engine"], engine);
    EXPECT_EQ(line["steps"], 6);
    EXPECT_GT(line["ms_per_step"].get<double>(), 0);
    EXPECT_LE(line["ms_per_step_min"].get<double>(), line["ms_per_step"].get<double>());
    losses[engine] = line["loss"].get<double>();
  }
  EXPECT_NEAR(losses["forward"], losses["autograd"], 1e-9 * losses["autograd"]);
  EXPECT_NEAR(losses["taylor"], losses["autograd"], 1e-9 * losses["autograd"]);
  EXPECT_TRUE(fs::is_empty(directory_));  // no run directory

  const Result bad = pinn_train("bench " + source("configs/heat_1d.json") + " --steps 0");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--steps"), std::string::npos) << bad.output;
}

// cuda_graph: on a CUDA device (PINN_TRAIN_DEVICE=cuda on the GPU machine) the step of every
// engine is captured and replayed, and the replays follow the eager steps' trajectory; elsewhere
// the steps run eagerly. bench's JSON says which happened.
TEST_F(CliTest, CudaGraphStepsFollowTheEagerSteps) {
  const char* device = std::getenv("PINN_TRAIN_DEVICE");
  const bool on_cuda = device && std::string(device).rfind("cuda", 0) == 0;
  for (const std::string engine : {"autograd", "forward", "taylor"}) {
    double losses[2] = {0, 0};
    for (const bool graph : {false, true}) {
      const Result result =
          pinn_train("bench " + source("configs/heat_1d.json") + " --engine " + engine +
                     " --steps 20 --warmup 5 --chunks 1 -q --set training[0].cuda_graph=" +
                     (graph ? "true" : "false"));
      ASSERT_EQ(result.code, 0) << result.output;
      const Json line = Json::parse(result.output.substr(result.output.rfind("{\"engine\"")));
      EXPECT_EQ(line["cuda_graph"], graph && on_cuda) << engine << ": " << result.output;
      losses[graph] = line["loss"].get<double>();
    }
    EXPECT_NEAR(losses[1], losses[0], 1e-9 * losses[0]) << engine;
  }
}

TEST_F(CliTest, ExistingRunDirectoryNeedsForce) {
  const auto run = directory_ / "run";
  const std::string command = source("configs/seed_dx_squared.json") +
                              " -q --set training[0].iterations=5 --output " + quote(run.string());
  ASSERT_EQ(pinn_train(command).code, 0);
  const auto before = fs::last_write_time(run / "summary.json");
  const Result again = pinn_train(command);
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
  EXPECT_EQ(fs::last_write_time(run / "summary.json"), before);
  EXPECT_EQ(pinn_train(command + " --force").code, 0);
}

TEST_F(CliTest, OverridesAndSeedAreAppliedAndRecorded) {
  const auto run = directory_ / "run";
  const Result result = pinn_train(source("configs/seed_dx_squared.json") +
                                   " -q --seed 5 --set network.hidden=[8,8] --set "
                                   "network.activation=tanh --set training[0].iterations=5 "
                                   "--output " +
                                   quote(run.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  const Json config = read_json(run / "config.json");
  EXPECT_EQ(config["seed"], 5);
  EXPECT_EQ(config["network"]["hidden"], Json::parse("[8,8]"));
  EXPECT_EQ(config["network"]["activation"], "tanh");
  EXPECT_EQ(read_json(run / "summary.json")["network_parameters"], 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1);
}

TEST_F(CliTest, HelpAndVersion) {
  const Result help = pinn_train("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("validate"), std::string::npos);
  EXPECT_NE(help.output.find("--set"), std::string::npos);
  const Result version = pinn_train("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_NE(version.output.find("pinn-train 0."), std::string::npos);
  EXPECT_NE(version.output.find("LibTorch"), std::string::npos);
}

// --- bad input: exit 2, one clear message naming the file and path, never a stack trace -----

void expect_clean_failure(const Result& result, int code, const std::vector<std::string>& parts) {
  EXPECT_EQ(result.code, code) << result.output;
  for (const auto& part : parts) {
    EXPECT_NE(result.output.find(part), std::string::npos) << "missing '" << part << "' in:\n"
                                                           << result.output;
  }
  for (const char* trace : {"terminate called", "Exception raised from", "frame #", "Aborted"}) {
    EXPECT_EQ(result.output.find(trace), std::string::npos) << result.output;
  }
}

// Input features that read an output or an unknown name, a parallel network without a
// sub-network for every output, and an empty list of point sets: exit 2 with the JSON path.
TEST_F(CliTest, BadFeaturesParallelNetworksAndSetListsExitTwo) {
  const std::string annulus = source("configs/annulus_polar.json") + " --output " +
                              quote((directory_ / "never").string()) + " --set ";
  expect_clean_failure(pinn_train(annulus + quote(R"(network.features=["r", "u*r"])")), 2,
                       {"--set network.features", "/network/features/1", "an output"});
  expect_clean_failure(pinn_train(annulus + quote(R"j(network.features=["r", "sin(phi)"])j")), 2,
                       {"/network/features/1", "column 5", "phi"});
  expect_clean_failure(pinn_train(annulus + quote("losses[1].points=[]")), 2,
                       {"/losses/1/points", "at least one point set"});
  expect_clean_failure(pinn_train(source("configs/elasticity_parallel.json") + " --set " +
                                  quote(R"(network.networks={"u": {"hidden": [8]}})")),
                       2, {"--set network.networks", "/network/networks", "none for 'v'"});
  EXPECT_FALSE(fs::exists(directory_ / "never"));
}

// Without --threads a run takes every CPU it may use (LibTorch alone took 1 of 2 on some
// machines); --threads and the config's "threads" choose, and the summary says what ran.
TEST_F(CliTest, ThreadCountIsChosenAndRecorded) {
  const std::string base =
      source("configs/seed_dx_squared.json") + " -q --set training[0].iterations=5 --output ";
  const auto chosen = directory_ / "one";
  ASSERT_EQ(pinn_train(base + quote(chosen.string()) + " --threads 1").code, 0);
  EXPECT_EQ(read_json(chosen / "summary.json")["threads"], 1);
  EXPECT_EQ(read_json(chosen / "config.json")["threads"], 1);
  // ctest gives every test OMP_NUM_THREADS=1 (tests run side by side); without it, every CPU.
  const auto automatic = directory_ / "auto";
  const Result cpus = run_command("env -u OMP_NUM_THREADS nproc");  // nproc heeds it too
  ASSERT_EQ(run_command("env -u OMP_NUM_THREADS " + std::string(PINN_TRAIN_BIN) + " " + base +
                        quote(automatic.string()))
                .code,
            0);
  EXPECT_EQ(read_json(automatic / "summary.json")["threads"].get<int>(), std::stoi(cpus.output));
  expect_clean_failure(
      pinn_train(base + quote((directory_ / "bad").string()) + " --threads -2"), 2,
      {"--threads", "/threads", "expected a number of CPU threads >= 0", "found -2"});
}

// The Taylor engine's CPU kernels come in variants (builds for AVX-512, AVX-512 with narrow row
// tails, AVX2; three tile sizes): a run measures them on its first call of each shape, keeps the
// fastest and caches the pick under $XDG_CACHE_HOME (the fixture's own folder); the next run takes
// the cached pick; PINN_TRAIN_KERNELS forces one, or measures anew; the summary says which ran
// and why.
TEST_F(CliTest, CpuKernelsAreMeasuredCachedForcedAndRecorded) {
  // Not quiet: the warning of the unknown name is checked.
  const std::string base = source("configs/seed_dx_squared.json") +
                           " --set training[0].iterations=5 --set derivatives=taylor --output ";
  const auto run = [&](const std::string& name, const std::string& kernels) {
    const std::string env =
        kernels.empty() ? "env -u PINN_TRAIN_KERNELS " : "PINN_TRAIN_KERNELS=" + kernels + " ";
    const Result result = run_command(env + std::string(PINN_TRAIN_BIN) + " " + base +
                                      quote((directory_ / name).string()));
    EXPECT_EQ(result.code, 0) << result.output;
    return std::make_pair(read_json(directory_ / name / "summary.json"), result.output);
  };
  const auto [measured, measured_output] = run("measured", "");
  const std::string chosen = measured["cpu_kernels"];
  if (chosen == "none") GTEST_SKIP() << "this CPU runs no kernel loops";
  const Json& choices = measured["cpu_kernel_choices"];
  ASSERT_FALSE(choices.empty()) << measured.dump(1);
  EXPECT_EQ(choices[0]["reason"], "measured");
  EXPECT_GE(choices[0]["ms_per_call"].size(), 3u);  // a build's three tile sizes at least
  EXPECT_TRUE(choices[0]["ms_per_call"].contains(chosen) ||
              std::any_of(choices.begin(), choices.end(),
                          [&](const Json& c) { return c["variant"] == chosen; }));
  const char* cache_home = std::getenv("XDG_CACHE_HOME");
  ASSERT_NE(cache_home, nullptr);
  EXPECT_TRUE(fs::exists(fs::path(cache_home) / "pinn-train" / "kernels.json"));

  const auto [cached, cached_output] = run("cached", "");
  EXPECT_EQ(cached["cpu_kernels"], chosen);
  EXPECT_EQ(cached["cpu_kernel_choices"][0]["reason"], "cached");
  EXPECT_FALSE(cached["cpu_kernel_choices"][0].contains("ms_per_call"));

  const auto [forced, forced_output] = run("forced", "avx2");
  EXPECT_EQ(forced["cpu_kernels"], "avx2/256k");
  EXPECT_EQ(forced["cpu_kernel_choices"][0]["reason"], "forced");

  const auto [again, again_output] = run("again", "measure");
  EXPECT_EQ(again["cpu_kernel_choices"][0]["reason"], "measured");

  // A name it does not know: a warning, and the measured (here cached) pick.
  const auto [unknown, unknown_output] = run("unknown", "sse9");
  EXPECT_NE(unknown_output.find("PINN_TRAIN_KERNELS=sse9"), std::string::npos) << unknown_output;
  EXPECT_EQ(unknown["cpu_kernel_choices"][0]["reason"], "cached");
}

// history.csv's last row holds the final errors against the reference, the same as summary.json's,
// though the run's 13 steps are no multiple of reference.every.
TEST_F(CliTest, HistoryEndsWithTheFinalMetrics) {
  const auto run = directory_ / "run";
  const Result result = pinn_train(
      source("configs/poisson_2d_sin.json") +
      " -q --set training[0].iterations=10 --set training[1].iterations=3 --set reference.every=7 "
      "--output " +
      quote(run.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  const double final_error = read_json(run / "summary.json")["metrics"]["l2_rel_u"].get<double>();
  const auto history = read_csv(run / "history.csv");
  ASSERT_GE(history.size(), 3u);
  EXPECT_EQ(history.back().at("step"), 13);
  EXPECT_GT(history.back().at("l2_rel_u"), 0);
  EXPECT_NEAR(history.back().at("l2_rel_u"), final_error, 1e-9 * final_error);
  EXPECT_GT(history[1].at("l2_rel_u"), 0);  // step 7, a multiple of every
}

// "weight": "initial_inverse" makes a term's weight 1 / its loss at step 0: the first row shows 1
// for it, and summary.json's weight is 1 / the unweighted run's first loss of the term. A
// mistyped word is refused with its JSON path and the word meant.
TEST_F(CliTest, InitialInverseWeightIsOneOverTheFirstLoss) {
  const std::string base = source("configs/heat_1d.json") +
                           " -q --set training[0].iterations=5 --set training[1].iterations=2";
  const auto plain = directory_ / "plain", scaled = directory_ / "scaled";
  ASSERT_EQ(pinn_train(base + " --output " + quote(plain.string())).code, 0);
  const Result result = pinn_train(
      base + R"( --set 'losses[0].weight="initial_inverse"' --output )" + quote(scaled.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  const double first_loss = read_csv(plain / "history.csv").front().at("pde");
  const auto rows = read_csv(scaled / "history.csv");
  EXPECT_NEAR(rows.front().at("pde"), 1.0, 1e-12);
  EXPECT_EQ(rows.front().at("ends"), read_csv(plain / "history.csv").front().at("ends"));
  const Json losses = read_json(scaled / "summary.json")["losses"];
  EXPECT_NEAR(losses["pde"]["weight"].get<double>(), 1 / first_loss, 1e-12 / first_loss);
  EXPECT_EQ(losses["ends"]["weight"].get<double>(), 1.0);
  expect_clean_failure(pinn_train(base + R"( --set 'losses[0].weight="initial_invers"' --output )" +
                                  quote((directory_ / "typo").string())),
                       2, {"/losses/0/weight", "initial_invers", "did you mean 'initial_inverse'"});
}

TEST_F(CliTest, MissingConfigFile) {
  expect_clean_failure(pinn_train(quote((directory_ / "nope.json").string())), 2,
                       {"nope.json", "file not found"});
}

TEST_F(CliTest, InvalidJsonGivesLineAndColumn) {
  const auto path = directory_ / "broken.json";
  std::ofstream(path) << "{\n  \"inputs\": [\"x\"],\n  \"outputs\": [\"u\"\n}\n";
  expect_clean_failure(pinn_train(quote(path.string())), 2,
                       {"broken.json", "invalid JSON at line 4, column 1"});
}

TEST_F(CliTest, UnknownKeySuggestsTheClosest) {
  const auto config = seed_config_with([](Json& c) { c["network"]["activaton"] = "tanh"; });
  expect_clean_failure(
      pinn_train(quote(config)), 2,
      {"config.json: /network/activaton", "unknown key 'activaton'", "did you mean 'activation'?"});
  const auto top = seed_config_with([](Json& c) { c["trainig"] = Json::array(); });
  expect_clean_failure(pinn_train(quote(top)), 2, {"/trainig", "did you mean 'training'?"});
}

TEST_F(CliTest, WrongType) {
  const auto config = seed_config_with([](Json& c) { c["network"]["hidden"] = "20"; });
  expect_clean_failure(
      pinn_train(quote(config)), 2,
      {"config.json: /network/hidden", "expected a list of integers", "found a string (\"20\")"});
}

TEST_F(CliTest, NegativeCount) {
  const auto config = seed_config_with([](Json& c) { c["points"]["samples"]["count"] = -100; });
  expect_clean_failure(pinn_train(quote(config)), 2,
                       {"/points/samples/count", "expected a positive integer, found -100"});
}

TEST_F(CliTest, UnknownNameInExpressionWithColumn) {
  const auto config = seed_config_with([](Json& c) { c["losses"][0]["residual"] = "u_x + uu"; });
  expect_clean_failure(
      pinn_train(quote(config)), 2,
      {"/losses/0/residual", "column 7", "unknown name 'uu'", "did you mean 'u'?"});
}

TEST_F(CliTest, UnknownFunctionInExpressionWithColumn) {
  const auto config = seed_config_with([](Json& c) { c["losses"][0]["residual"] = "sinn(u_x)"; });
  expect_clean_failure(pinn_train(quote(config)), 2,
                       {"/losses/0/residual", "column 1", "unknown function 'sinn'"});
}

TEST_F(CliTest, DerivativeWithRespectToANonInput) {
  const auto config =
      seed_config_with([](Json& c) { c["losses"][0]["residual"] = "d(u, x) + d(u, u)"; });
  expect_clean_failure(pinn_train(quote(config)), 2,
                       {"/losses/0/residual", "column 16", "not an input"});
}

TEST_F(CliTest, DerivativeOfSomethingThatIsNotAnOutput) {
  const auto config =
      seed_config_with([](Json& c) { c["losses"][0]["residual"] = "d(sin(u), x)"; });
  expect_clean_failure(pinn_train(quote(config)), 2,
                       {"/losses/0/residual", "column 3", "not an output"});
}

TEST_F(CliTest, EmptyPointSet) {
  std::ofstream(directory_ / "empty.csv") << "x,y\n";
  const auto config = seed_config_with([](Json& c) {
    c["points"]["samples"] = {{"sampler", "file"}, {"path", "empty.csv"}};
  });
  expect_clean_failure(pinn_train(quote(config)), 2,
                       {"/points/samples/path", "empty.csv", "no data rows"});
}

TEST_F(CliTest, UnreadableCsv) {
  std::ofstream(directory_ / "bad.csv") << "x,y\n1,2\n3,oops\n";
  const auto config = seed_config_with([](Json& c) {
    c["points"]["samples"] = {{"sampler", "file"}, {"path", "bad.csv"}};
  });
  expect_clean_failure(pinn_train(quote(config)), 2,
                       {"bad.csv", "line 3, column 'y': expected a finite number, found 'oops'"});
  const auto missing = seed_config_with(
      [](Json& c) {
        c["points"]["samples"] = {{"sampler", "file"}, {"path", "absent.csv"}};
      },
      "missing.json");
  expect_clean_failure(pinn_train(quote(missing)), 2,
                       {"missing.json: /points/samples/path", "absent.csv does not exist"});
}

TEST_F(CliTest, BadOverride) {
  expect_clean_failure(
      pinn_train(source("configs/seed_dx_squared.json") + " --set training[0].lr=fast"), 2,
      {"--set training[0].lr=fast", "/training/0/lr", "expected a number"});
  expect_clean_failure(pinn_train(source("configs/seed_dx_squared.json") + " --set netwrk.x=1"), 2,
                       {"--set netwrk.x=1", "does not exist"});
}

// The engine's name is read by config/ and checked where the engine is chosen: a typo still exits
// 2 naming the file, the JSON path and the closest engine.
TEST_F(CliTest, UnknownEngineNamesTheKey) {
  const auto config = seed_config_with([](Json& c) { c["derivatives"] = "taylr"; }, "engine.json");
  expect_clean_failure(pinn_train("validate " + quote(config)), 2,
                       {"engine.json: /derivatives", "found 'taylr'", "did you mean 'taylor'?"});
}

// The dense quasi-Newton stages, their objective and Adam's schedules are read like every other
// key: a typo, an unknown objective, a network over max_parameters and a schedule with negative
// steps each exit 2 naming the JSON path.
TEST_F(CliTest, QuasiNewtonStagesAndSchedulesRefuseBadInput) {
  const auto stage = [&](const Json& settings) {
    return seed_config_with([&](Json& c) { c["training"] = Json::array({settings}); });
  };
  expect_clean_failure(pinn_train(quote(stage({{"type", "ssbroydn"}}))), 2,
                       {"/training/0/type", "found 'ssbroydn'", "did you mean 'ssbroyden'?"});
  expect_clean_failure(pinn_train(quote(stage({{"type", "bfgs"}, {"objective", "sqr"}}))), 2,
                       {"/training/0/objective", "found 'sqr'", "did you mean 'sqrt'?"});
  // The seed network has 2 x 20 + 20 + 20 + 1 = 81 trained parameters.
  expect_clean_failure(
      pinn_train(quote(stage({{"type", "ssbroyden"}, {"max_parameters", 50}}))), 2,
      {"/training/0/max_parameters", "81 trained parameters", "81 x 81", "\"lbfgs\""});
  expect_clean_failure(
      pinn_train(
          quote(stage({{"type", "adam"},
                       {"lr_schedule", {{"type", "exponential"}, {"rate", 0.9}, {"steps", -5}}}}))),
      2, {"/training/0/lr_schedule/steps", "expected a positive integer, found -5"});
  expect_clean_failure(
      pinn_train(quote(stage({{"type", "adam"}, {"lr_schedule", {{"type", "cosin"}}}}))), 2,
      {"/training/0/lr_schedule/type", "did you mean 'cosine'?"});
  expect_clean_failure(pinn_train(quote(stage({{"type", "ssbfgs"}, {"history", 10}}))), 2,
                       {"/training/0/history", "unknown key 'history'"});
}

// The training recipe's keys refuse what they cannot mean, each with exit 2 and the JSON path: a
// causal term ordered by an input the problem does not have, a periodic embedding of an input no
// domain bounds (the seed problem has none) or that is no input, adaptive weights for a term
// that does not exist.
TEST_F(CliTest, RecipeKeysRefuseBadInput) {
  const auto with = [&](const std::function<void(Json&)>& edit) {
    return pinn_train("validate " + quote(seed_config_with(edit, "recipe.json")));
  };
  expect_clean_failure(with([](Json& c) {
                         c["losses"][0]["causal"] = {{"input", "t"}};
                       }),
                       2, {"recipe.json: /losses/0/causal/input", "no input 't'", "'x' and 'y'"});
  expect_clean_failure(with([](Json& c) {
                         c["network"]["periodic"] = {{"x", 2.0}};
                       }),
                       2, {"recipe.json: /network/periodic/x", "no domain bounds"});
  expect_clean_failure(with([](Json& c) {
                         c["network"]["periodic"] = {{"z", 2.0}};
                       }),
                       2, {"recipe.json: /network/periodic", "'z'"});
  expect_clean_failure(with([](Json& c) {
                         c["weighting"] = {{"method", "ntk"}, {"terms", {"dx_square"}}};
                       }),
                       2, {"recipe.json: /weighting/terms/0", "did you mean 'dx_squared'?"});
}

// Each dense quasi-Newton stage, with each objective, solves the seed example; the summary gives
// the optimizer's own report (resets of H, skipped updates, the time spent on H).
TEST_F(CliTest, QuasiNewtonStagesSolveTheSeedExample) {
  for (const std::string type : {"bfgs", "ssbfgs", "ssbroyden"}) {
    for (const std::string objective : {"mean_square", "sqrt", "log"}) {
      const auto run = directory_ / (type + "_" + objective);
      const auto config = seed_config_with([&](Json& c) {
        c["training"] = Json::array({{{"type", type},
                                      {"objective", objective},
                                      {"iterations", 400},
                                      {"restart_every", 100},
                                      {"tolerance_grad", 1e-12}}});
      });
      const Result result = pinn_train(quote(config) + " -q -o " + quote(run.string()));
      ASSERT_EQ(result.code, 0) << result.output;
      const Json summary = read_json(run / "summary.json");
      EXPECT_LE(summary["losses"]["dx_squared"]["max_abs_residual"].get<double>(), 1e-4)
          << type << " " << objective;
      const Json& report = summary["stages"][0];
      EXPECT_EQ(report["type"], type);
      EXPECT_GE(report["evaluations"].get<int>(), report["iterations"].get<int>());
      EXPECT_TRUE(report["details"].contains("hessian_resets")) << report.dump();
      EXPECT_GE(report["details"]["hessian_seconds"].get<double>(), 0.0);
    }
  }
}

TEST_F(CliTest, BadCommandLine) {
  expect_clean_failure(pinn_train(source("configs/seed_dx_squared.json") + " --no-such-option"), 2,
                       {"--no-such-option"});
  expect_clean_failure(pinn_train(""), 2, {"no config given"});
}

// PINN_TRAIN_DEVICE chooses the device when --device does not (a job script's, or the tests' on
// the GPU machine); "cuda_graph" off CUDA and "tf32" are accepted, the first with a warning.
TEST_F(CliTest, DeviceFromTheEnvironmentAndCudaOptions) {
  const std::string config = source("configs/seed_dx_squared.json");
  const Result unavailable =
      run_command("PINN_TRAIN_DEVICE=cuda " + std::string(PINN_TRAIN_BIN) + " validate " + config);
  if (unavailable.code == 0) GTEST_SKIP() << "CUDA is available here";
  expect_clean_failure(unavailable, 3, {"device 'cuda'"});
  const Result overridden = run_command("PINN_TRAIN_DEVICE=cuda " + std::string(PINN_TRAIN_BIN) +
                                        " validate " + config + " --device cpu");
  EXPECT_EQ(overridden.code, 0) << overridden.output;
  const auto run = directory_ / "graph";
  const Result trained = run_command(
      "PINN_TRAIN_DEVICE=cpu " + std::string(PINN_TRAIN_BIN) + " " + config +
      " --set training[0].iterations=20 --set training[0].cuda_graph=true --set tf32=true -o " +
      quote(run.string()));
  ASSERT_EQ(trained.code, 0) << trained.output;
  EXPECT_NE(trained.output.find("cuda_graph applies on a CUDA device only"), std::string::npos)
      << trained.output;
  EXPECT_EQ(read_json(run / "summary.json")["device"], "cpu");
}

TEST_F(CliTest, UnavailableDeviceExitsThree) {
  const Result result =
      pinn_train("validate " + source("configs/seed_dx_squared.json") + " --device cuda");
  if (result.code == 0) GTEST_SKIP() << "CUDA is available here";
  expect_clean_failure(result, 3, {"device 'cuda'", "--device cpu"});
}

}  // namespace
