// End-to-end tests of checkpoints and resume: a run stopped by a signal at a random step (in Adam
// or in L-BFGS) and resumed ends with the same history and weights, bit for bit (float64, CPU), as
// one never stopped; a corrupt checkpoint falls back to the previous one; a second SIGINT ends the
// process at once; resuming what cannot be resumed gives a clear message.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "../common/flip_bytes.hpp"
#include "harness.hpp"

namespace {

using namespace pinn_e2e;
using namespace std::chrono_literals;

// The heat equation of configs/heat_1d.json, made small: 2000 Adam steps and up to 3000 L-BFGS
// iterations (history 50; the config's own second stage is ssbroyden) on 230 points take a few
// seconds, checkpoints every 100 steps.
const std::vector<std::string> kSmallHeat = {
    "--set", "training[1].type=lbfgs",      "--set", "training[1].history=50",
    "--set", "points.interior.count=200",   "--set", "points.ends.count=10",
    "--set", "points.start.count=20",       "--set", "network.hidden=[12,12]",
    "--set", "training[0].iterations=2000", "--set", "training[0].log_every=100",
    "--set", "training[1].iterations=3000", "--set", "training[1].log_every=50",
    "--set", "checkpoint_every=100",        "--set", "reference.every=500"};

class ResumeTest : public TemporaryDirectoryTest {
 protected:
  std::vector<std::string> train_arguments(const std::string& run) const {
    std::vector<std::string> arguments = {source("configs/heat_1d.json"), "-o",
                                          (directory_ / run).string()};
    arguments.insert(arguments.end(), kSmallHeat.begin(), kSmallHeat.end());
    arguments.insert(arguments.end(), extra_arguments_.begin(), extra_arguments_.end());
    return arguments;
  }

  std::vector<std::string> extra_arguments_;  // appended to every run's arguments

  std::string command_line(const std::vector<std::string>& arguments) const {
    std::string line;
    for (const auto& argument : arguments)
      line += " " + quote(argument);
    return line;
  }

  // Trains straight through into `run`.
  void train_straight(const std::string& run) const {
    const Result result = pinn_train(command_line(train_arguments(run)));
    ASSERT_EQ(result.code, 0) << result.output;
  }

  // Starts a run, waits for `marker` in its log, then sends `signal_number` after a random delay
  // of up to `jitter`; expects the run to stop with exit code 6 and a checkpoint. The delays are
  // short: a step of these small runs takes 0.1 to 0.2 ms, and the whole run under a second, so
  // a long delay (hundreds of ms, as once) can land after the stage, or the run, has ended.
  void train_and_interrupt(const std::string& run, const std::string& marker, int signal_number,
                           std::chrono::milliseconds jitter) const {
    const fs::path log = directory_ / (run + ".log");
    const pid_t pid = start_pinn_train(train_arguments(run), log);
    ASSERT_TRUE(wait_for_text(log, marker, pid)) << "never reached '" << marker << "'";
    std::mt19937 random(std::random_device{}());
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(0, jitter.count())(random)));
    kill(pid, signal_number);
    const int code = wait_for_exit(pid);
    std::ifstream in(log);
    const std::string output((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    ASSERT_EQ(code, 6) << output;
    EXPECT_NE(output.find("pinn-train resume"), std::string::npos) << output;
    const Json summary = read_json(directory_ / run / "summary.json");
    EXPECT_EQ(summary["status"], "interrupted");
    EXPECT_FALSE(fs::is_empty(directory_ / run / "checkpoints"));
  }

  // history.csv without its last column (elapsed_s, wall-clock time).
  static std::vector<std::string> history_without_time(const fs::path& run) {
    std::ifstream in(run / "history.csv");
    std::vector<std::string> rows;
    for (std::string line; std::getline(in, line);)
      rows.push_back(line.substr(0, line.rfind(',')));
    return rows;
  }

  void expect_same_run(const std::string& a, const std::string& b, size_t min_rows = 40) const {
    const auto history_a = history_without_time(directory_ / a);
    EXPECT_GT(history_a.size(), min_rows);
    EXPECT_EQ(history_a, history_without_time(directory_ / b));
    EXPECT_EQ(file_text(directory_ / a / "model.pt"), file_text(directory_ / b / "model.pt"))
        << "the final weights differ";
    const Json summary_a = read_json(directory_ / a / "summary.json");
    const Json summary_b = read_json(directory_ / b / "summary.json");
    EXPECT_EQ(summary_b["status"], "completed");
    EXPECT_EQ(summary_a["final_loss"], summary_b["final_loss"]);
    EXPECT_EQ(summary_a["metrics"], summary_b["metrics"]);
    EXPECT_EQ(summary_a["steps"], summary_b["steps"]);
  }
};

TEST_F(ResumeTest, StoppedDuringAdamResumesToTheSameRun) {
  train_straight("straight");
  train_and_interrupt("stopped", "adam 300/", SIGTERM, 20ms);
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming at step"), std::string::npos);
  expect_same_run("straight", "stopped");
  // Resuming a finished run does nothing.
  const Result again = pinn_train("resume " + quote((directory_ / "stopped").string()));
  EXPECT_EQ(again.code, 0);
  EXPECT_NE(again.output.find("nothing to resume"), std::string::npos) << again.output;
}

TEST_F(ResumeTest, StoppedDuringLbfgsResumesToTheSameRun) {
  train_straight("straight");
  // SIGUSR1, what Slurm's --signal sends; resumed by repeating the command with --resume.
  train_and_interrupt("stopped", "lbfgs 100/", SIGUSR1, 20ms);
  auto arguments = train_arguments("stopped");
  arguments.push_back("--resume");
  const Result resumed = pinn_train(command_line(arguments));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("stage 2 of 2"), std::string::npos) << resumed.output;
  expect_same_run("straight", "stopped");
}

// Causal chunk statistics and adaptive loss weights are part of the state: a run with both (and a
// weight update every 150 steps), stopped in Adam and resumed, is the run never stopped; its
// history and summary report the weights.
TEST_F(ResumeTest, CausalAndAdaptiveWeightsResumeToTheSameRun) {
  extra_arguments_ = {"--set", R"(losses[0].causal={"input": "t", "chunks": 8, "epsilon": 5})",
                      "--set", R"(weighting={"method": "grad_norm", "every": 150})"};
  train_straight("straight");
  train_and_interrupt("stopped", "adam 300/", SIGTERM, 20ms);
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  // L-BFGS stops sooner here (the chunk weights and loss weights move between its evaluations,
  // which its line search reads as no progress): fewer rows than the plain run's.
  expect_same_run("straight", "stopped", 25);
  const auto rows = read_csv(directory_ / "straight" / "history.csv");
  ASSERT_GT(rows.size(), 2u);
  for (const char* column : {"w_pde", "w_ends", "w_initial", "causal_min_pde"})
    ASSERT_TRUE(rows.back().count(column)) << column;
  EXPECT_NE(rows.back().at("w_pde"), 1.0);
  EXPECT_GT(rows.back().at("causal_min_pde"), 0.0);
  EXPECT_LE(rows.back().at("causal_min_pde"), 1.0);
  const Json summary = read_json(directory_ / "straight" / "summary.json");
  EXPECT_EQ(summary["losses"]["pde"]["adaptive_weight"].get<double>(), rows.back().at("w_pde"));
  EXPECT_TRUE(summary["losses"]["pde"].contains("causal_min_weight"));
}

// Weights "initial_inverse" (1 / each term's loss at step 0) are set once, before the first row:
// the resumed run keeps them from the checkpoint instead of taking its own first loss.
TEST_F(ResumeTest, InitialInverseWeightsResumeToTheSameRun) {
  extra_arguments_ = {"--set", R"(losses[0].weight="initial_inverse")", "--set",
                      R"(losses[2].weight="initial_inverse")"};
  train_straight("straight");
  train_and_interrupt("stopped", "adam 300/", SIGTERM, 20ms);
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  expect_same_run("straight", "stopped");
  const auto rows = read_csv(directory_ / "straight" / "history.csv");
  EXPECT_NEAR(rows.front().at("pde"), 1.0, 1e-12);
  EXPECT_NEAR(rows.front().at("initial"), 1.0, 1e-12);
  EXPECT_EQ(read_json(directory_ / "stopped" / "summary.json")["losses"]["pde"]["weight"],
            read_json(directory_ / "straight" / "summary.json")["losses"]["pde"]["weight"]);
}

// In float32 the L-BFGS stage keeps float64 copies of the weights; they are checkpointed too.
// The stop comes early in L-BFGS, with checkpoints every 10 steps, so the stage is saved before
// its curvature history (50 pairs) is full, which LibTorch's serializer once refused.
TEST_F(ResumeTest, Float32StoppedEarlyInLbfgsResumesToTheSameRun) {
  extra_arguments_ = {"--set", "dtype=float32",           "--set", "checkpoint_every=10",
                      "--set", "training[1].log_every=20"};
  train_straight("straight");
  train_and_interrupt("stopped", "lbfgs 40/", SIGTERM, 5ms);
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  expect_same_run("straight", "stopped");
}

// A self-scaled Broyden stage keeps a dense inverse Hessian, a pending lazy update and its line
// search's state; the interior set is redrawn by RAD (its draws use the run's generator) and Adam
// follows an exponential schedule. Stopped inside the quasi-Newton stage, the run resumes to the
// same history and weights.
TEST_F(ResumeTest, StoppedDuringSsbroydenWithRadResumesToTheSameRun) {
  extra_arguments_ = {"--set",
                      R"(training=[{"type": "adam", "iterations": 600, "log_every": 100,
                    "lr_schedule": {"type": "exponential", "rate": 0.5, "steps": 300}},
                   {"type": "ssbroyden", "iterations": 2000, "log_every": 50,
                    "restart_every": 150, "objective": "log"}])",
                      "--set", R"(points.interior.rad={"every": 250, "candidates": 600})"};
  train_straight("straight");
  const Json summary = read_json(directory_ / "straight" / "summary.json");
  ASSERT_EQ(summary["stages"][1]["type"], "ssbroyden");
  EXPECT_GT(summary["stages"][1]["iterations"].get<int>(), 300) << summary.dump();
  train_and_interrupt("stopped", "ssbroyden 100/", SIGTERM, 20ms);
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("stage 2 of 2"), std::string::npos) << resumed.output;
  expect_same_run("straight", "stopped");
}

namespace {

// The checkpoints (not their checksum files) of a run, oldest first.
std::vector<fs::path> checkpoint_files(const fs::path& run) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(run / "checkpoints")) {
    if (entry.path().extension() == ".pt") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

using pinn_tests::flip_bytes;

}  // namespace

TEST_F(ResumeTest, CorruptCheckpointFallsBackToThePreviousOne) {
  train_straight("straight");
  train_and_interrupt("stopped", "adam 500/", SIGTERM, 20ms);
  const auto files = checkpoint_files(directory_ / "stopped");
  ASSERT_EQ(files.size(), 2u) << "the previous checkpoint is kept";
  fs::resize_file(files.back(), fs::file_size(files.back()) / 2);  // a truncated write
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("cannot be used (damaged:"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find(files.front().filename().string()), std::string::npos);
  expect_same_run("straight", "stopped");
}

// 64 flipped bytes in the middle of the newest checkpoint: its CRC-32C no longer matches, so it
// is named and the one before it is used; the resumed run ends as the uninterrupted one, bit for
// bit. With both damaged, exit 2 names both.
TEST_F(ResumeTest, FlippedBytesAreFoundByTheChecksum) {
  train_straight("straight");
  train_and_interrupt("stopped", "adam 500/", SIGTERM, 20ms);
  const auto files = checkpoint_files(directory_ / "stopped");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files)
    fs::copy_file(file, directory_ / file.filename());
  flip_bytes(files.back());
  const Result resumed = pinn_train("resume " + quote((directory_ / "stopped").string()));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(files.back().filename().string() +
                                " cannot be used (damaged: its CRC-32C is"),
            std::string::npos)
      << resumed.output;
  expect_same_run("straight", "stopped");

  train_and_interrupt("twice", "adam 500/", SIGTERM, 20ms);
  const auto both = checkpoint_files(directory_ / "twice");
  ASSERT_EQ(both.size(), 2u);
  for (const auto& file : both)
    flip_bytes(file);
  const Result refused = pinn_train("resume " + quote((directory_ / "twice").string()));
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("has no usable checkpoint to resume from"), std::string::npos)
      << refused.output;
  for (const auto& file : both)
    EXPECT_NE(refused.output.find(file.filename().string() + ": damaged"), std::string::npos)
        << refused.output;
}

TEST_F(ResumeTest, SecondSigintExitsAtOnce) {
  // One L-BFGS chunk of 3000 iterations: the first SIGINT waits for its end, the second does not.
  auto arguments = train_arguments("stopped");
  for (const char* setting : {"training[0].iterations=10", "training[1].log_every=3000",
                              "checkpoint_every=0", "reference.every=3000"}) {
    arguments.push_back("--set");
    arguments.push_back(setting);
  }
  const fs::path log = directory_ / "stopped.log";
  const pid_t pid = start_pinn_train(arguments, log);
  ASSERT_TRUE(wait_for_text(log, "adam 10/10", pid));
  // Both well inside the chunk, which takes about 0.4 s on a fast machine.
  std::this_thread::sleep_for(30ms);
  kill(pid, SIGINT);
  std::this_thread::sleep_for(30ms);
  kill(pid, SIGINT);
  EXPECT_EQ(wait_for_exit(pid), 130);
  EXPECT_FALSE(fs::exists(directory_ / "stopped" / "summary.json"));
}

TEST_F(ResumeTest, WhatCannotBeResumedIsSaidClearly) {
  const Result missing = pinn_train("resume " + quote((directory_ / "nothing").string()));
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.output.find("no such run directory"), std::string::npos) << missing.output;

  fs::create_directories(directory_ / "plain");
  std::ofstream(directory_ / "plain" / "notes.txt") << "mine";
  const Result plain = pinn_train("resume " + quote((directory_ / "plain").string()));
  EXPECT_EQ(plain.code, 2);
  EXPECT_NE(plain.output.find("not a pinn-train run directory"), std::string::npos);
  EXPECT_TRUE(fs::exists(directory_ / "plain" / "notes.txt"));

  // A run directory whose run stopped before its first checkpoint.
  fs::create_directories(directory_ / "early");
  std::ofstream(directory_ / "early" / "config.json") << "{}";
  const Result early = pinn_train("resume " + quote((directory_ / "early").string()));
  EXPECT_EQ(early.code, 2);
  EXPECT_NE(early.output.find("no checkpoint to resume from"), std::string::npos) << early.output;
}

}  // namespace
