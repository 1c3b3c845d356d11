// One run across processes (`pinn-train launch`, Gloo on 127.0.0.1): the same history as one
// process, rank 0 alone writing, a stop on any rank checkpointing all of them and resuming on
// another number of ranks, and a lost rank or rendezvous ending the run with a clear error.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "harness.hpp"

namespace pinn_e2e {
namespace {

// Heat on a rod in float64, full batch: sets of 301, 40 and 31 points (none divides by 2 or 3)
// and a set of one point (held whole by every rank), a reference with a residual metric, and
// Adam, L-BFGS and ssbroyden stages. The pin's target differs from the initial condition's, so
// that its residual stays away from zero (relative differences of a vanishing term say little).
const char* kHeatConfig = R"json({
  "name": "heat_ranks",
  "inputs": ["x", "t"], "outputs": ["u"], "constants": {"alpha": 0.1},
  "domains": {
    "rod": {"type": "interval", "bounds": {"x": [0, 1]}},
    "rod_time": {"type": "spacetime", "space": "rod", "time": {"t": [0, 1]}}
  },
  "network": {"type": "mlp", "hidden": [16, 16], "activation": "tanh"},
  "points": {
    "interior": {"domain": "rod_time", "region": "interior", "sampler": "hammersley", "count": 301},
    "ends": {"domain": "rod_time", "region": "boundary", "sampler": "hammersley", "count": 40},
    "start": {"domain": "rod_time", "region": "initial", "sampler": "hammersley", "count": 31},
    "pin": {"domain": "rod_time", "region": "initial", "sampler": "hammersley", "count": 1}
  },
  "losses": [
    {"name": "pde", "points": "interior", "residual": "u_t - alpha*u_xx"},
    {"name": "ends", "type": "dirichlet", "points": "ends", "value": "0"},
    {"name": "initial", "type": "initial", "points": "start", "value": "sin(pi*x)"
},
    {"name": "pin", "points": "pin", "residual": "u - sin(pi*x) - 0.05"}
  ],
  "reference": {
    "solution": {"u": "exp(-alpha*pi^2*t)*sin(pi*x)"},
    "points": {"sampler": "grid", "bounds": {"x": [0, 1], "t": [0, 1]}, "count": 21},
    "every": 50, "residuals": ["pde"]
  },
  "training": [
    {"type": "adam", "lr": 1e-3, "iterations": 200, "log_every": 50},
    {"type": "lbfgs", "iterations": 10, "log_every": 5},
    {"type": "ssbroyden", "iterations": 6, "log_every": 3}
  ],
  "evaluate": [
    {"name": "grid", "points": {"sampler": "grid", "bounds": {"x": [0, 1], "t": [0, 1]}, "count": 11}}
  ],
  "distributed": {"timeout_s": 60, "check_every": 50},
  "dtype": "float64", "seed": 0, "threads": 1
})json";

class DistributedTest : public TemporaryDirectoryTest {
 protected:
  fs::path write_config(const std::string& text) {
    const fs::path path = directory_ / "heat_ranks.json";
    std::ofstream(path) << text;
    return path;
  }
  // `pinn-train launch --nproc N` (or plain pinn-train for N = 0), run in the test's folder.
  Result train(int ranks, const std::string& arguments) {
    const std::string launcher = ranks > 0 ? "launch --nproc " + std::to_string(ranks) + " " : "";
    return run_command("cd " + quote(directory_.string()) + " && " + PINN_TRAIN_BIN + " " +
                       launcher + arguments);
  }
};

// The largest relative difference between two histories over every numeric column but the
// time; the step lists must be equal.
double history_difference(const fs::path& a, const fs::path& b) {
  const auto first = read_csv(a / "history.csv");
  const auto second = read_csv(b / "history.csv");
  EXPECT_EQ(first.size(), second.size()) << a << " vs " << b;
  double worst = 0;
  for (size_t r = 0; r < std::min(first.size(), second.size()); ++r) {
    EXPECT_EQ(first[r].at("step"), second[r].at("step"));
    for (const auto& [column, value] : first[r]) {
      if (column == "elapsed_s" || column == "stage" || std::isnan(value)) continue;
      const double other = second[r].at(column);
      worst = std::max(worst, std::abs(value - other) / std::max(std::abs(value), 1e-300));
    }
  }
  return worst;
}

std::vector<std::string> entries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The children of process `pid` (the launcher's ranks), in the order they were started.
std::vector<pid_t> children_of(pid_t pid) {
  const Result found = run_command("pgrep -P " + std::to_string(pid));
  std::vector<pid_t> children;
  std::stringstream lines(found.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) children.push_back(static_cast<pid_t>(std::stol(line)));
  }
  std::sort(children.begin(), children.end());
  return children;
}

int free_port() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(socket_fd);
  return ntohs(address.sin_port);
}

// Float64, full batch: 1, 2 and 3 ranks give the same history (every term, metric and stage:
// Adam, L-BFGS, ssbroyden) to 1e-10. Rounding differs (the sums run in another order), and
// L-BFGS and quasi-Newton stages amplify it as they would a change of thread count; these stages
// are short enough that it stays below 1e-10. Only rank 0 writes: one run directory and nothing
// else; the summary counts the ranks and their traffic; the ranks' weights agree throughout
// (check_every).
TEST_F(DistributedTest, OneTwoAndThreeRanksGiveTheSameHistory) {
  write_config(kHeatConfig);
  for (int ranks : {0, 2, 3}) {
    const Result result = train(ranks, "heat_ranks.json -q -o run" + std::to_string(ranks));
    ASSERT_EQ(result.code, 0) << result.output;
  }
  EXPECT_EQ(entries(directory_),
            (std::vector<std::string>{"heat_ranks.json", "run0", "run2", "run3"}));
  for (const char* run : {"run2", "run3"}) {
    const double difference = history_difference(directory_ / "run0", directory_ / run);
    EXPECT_LT(difference, 1e-10) << run;
    const Json summary = read_json(directory_ / run / "summary.json");
    EXPECT_EQ(summary["status"], "completed");
    EXPECT_EQ(summary["training_points"], 301 + 40 + 31 + 1);
    EXPECT_EQ(summary["distributed"]["ranks"], run == std::string("run2") ? 2 : 3);
    EXPECT_GT(summary["distributed"]["collectives"].get<int64_t>(), 200);
    EXPECT_GT(summary["distributed"]["bytes_per_rank"].get<int64_t>(), 0);
  }
  EXPECT_FALSE(read_json(directory_ / "run0" / "summary.json").contains("distributed"));
  // The evaluation set and the reference, evaluated in shares: the whole tables, in order.
  for (const char* file : {"predictions_grid.csv", "reference.csv"}) {
    const auto one = read_csv(directory_ / "run0" / file);
    for (const char* run : {"run2", "run3"}) {
      const auto shared = read_csv(directory_ / run / file);
      ASSERT_EQ(shared.size(), one.size()) << run << "/" << file;
      for (size_t r = 0; r < one.size(); ++r) {
        for (const auto& [column, value] : one[r])
          EXPECT_NEAR(shared[r].at(column), value, 1e-9) << run << "/" << file << " " << column;
      }
    }
  }
  const auto stages = read_json(directory_ / "run3" / "summary.json")["stages"];
  ASSERT_EQ(stages.size(), 3u);
  EXPECT_EQ(stages[1]["type"], "lbfgs");
  EXPECT_EQ(stages[2]["type"], "ssbroyden");
}

// Resampled and refined sets: every rank draws the whole set and keeps its share; a refinement's
// candidates are scored in shares and chosen once from all the scores, so the sets stay the ones
// one process has (same point count, same history).
TEST_F(DistributedTest, ResamplingAndRefinementAcrossRanksMatchOneProcess) {
  std::string config = kHeatConfig;
  const std::string interior = R"("count": 301})";
  config.replace(config.find(interior), interior.size(),
                 R"("count": 301, "resample_every": 40,
                    "refine": {"every": 60, "add": 13, "candidates": 200}})");
  const std::string start = R"("sampler": "hammersley", "count": 31})";
  config.replace(config.find(start), start.size(),
                 R"("sampler": "uniform", "count": 31, "rad": {"every": 50, "candidates": 101}})");
  write_config(config);
  for (int ranks : {0, 2}) {
    const Result result = train(
        ranks,
        "heat_ranks.json -q -o run" + std::to_string(ranks) +
            R"( --set 'training=[{"type":"adam","lr":1e-3,"iterations":200,"log_every":20}]')");
    ASSERT_EQ(result.code, 0) << result.output;
  }
  EXPECT_LT(history_difference(directory_ / "run0", directory_ / "run2"), 1e-10);
  const Json one = read_json(directory_ / "run0" / "summary.json");
  const Json two = read_json(directory_ / "run2" / "summary.json");
  EXPECT_EQ(one["training_points"], two["training_points"]);
  EXPECT_GT(two["training_points"].get<int64_t>(), 301 + 40 + 31 + 1);  // refined
}

// Grad-norm loss weights: each term's gradient is summed over the ranks before its norm is taken,
// so the weights, and the history, are one process's (to 1e-10).
TEST_F(DistributedTest, GradNormWeightsAcrossRanksMatchOneProcess) {
  write_config(kHeatConfig);
  for (int ranks : {0, 2}) {
    const Result result = train(
        ranks,
        "heat_ranks.json -q -o run" + std::to_string(ranks) +
            R"( --set 'weighting={"method":"grad_norm","every":50}')" +
            R"( --set 'training=[{"type":"adam","lr":1e-3,"iterations":200,"log_every":25}]')");
    ASSERT_EQ(result.code, 0) << result.output;
  }
  EXPECT_LT(history_difference(directory_ / "run0", directory_ / "run2"), 1e-10);
  const auto rows = read_csv(directory_ / "run2" / "history.csv");
  ASSERT_TRUE(rows.back().count("w_pin"));
  EXPECT_NE(rows.back().at("w_pin"), 1.0);  // the weights moved
}

// SIGTERM to one rank only: every rank stops at the same step after one checkpoint (exit 6);
// `launch --nproc 3 ... --resume` continues the two ranks' run on three, and the history is the
// one of an uninterrupted run of one process (Adam: to 1e-10; at a learning rate of 1e-4, where
// no loss spike of Adam's amplifies the rounding of the sums' other order).
TEST_F(DistributedTest, AStopOnOneRankCheckpointsAllAndResumesOnThree) {
  write_config(kHeatConfig);
  const std::string adam =
      R"(--set 'training=[{"type":"adam","lr":1e-4,"iterations":8000,"log_every":500}]')"
      " --set checkpoint_every=1000";
  ASSERT_EQ(train(0, "heat_ranks.json -q -o whole " + adam).code, 0);
  const fs::path log = directory_ / "launch.log";
  const pid_t launcher =
      start_pinn_train({"launch", "--nproc", "2", (directory_ / "heat_ranks.json").string(), "-o",
                        (directory_ / "stopped").string(), "--set",
                        R"(training=[{"type":"adam","lr":1e-4,"iterations":8000,"log_every":500}])",
                        "--set", "checkpoint_every=1000"},
                       log);
  ASSERT_TRUE(wait_for_text(log, "adam 2000/", launcher)) << file_text(log);
  const auto ranks = children_of(launcher);
  ASSERT_EQ(ranks.size(), 2u);
  kill(ranks[1], SIGTERM);  // rank 1 only
  EXPECT_EQ(wait_for_exit(launcher), 6) << file_text(log);
  const std::string text = file_text(log);
  const auto stopped = [&](size_t from) {
    const size_t at = text.find("stopped by signal", from);
    return at == std::string::npos ? std::string() : text.substr(at, text.find('"', at) - at);
  };
  const std::string first = stopped(0);
  ASSERT_FALSE(first.empty()) << text;
  // Both ranks report the same step.
  EXPECT_EQ(stopped(text.find("stopped by signal") + 1), first) << text;
  EXPECT_EQ(read_json(directory_ / "stopped" / "summary.json")["status"], "interrupted");

  const Result resumed = train(3, "heat_ranks.json -q -o stopped --resume " + adam);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  const Json summary = read_json(directory_ / "stopped" / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_EQ(summary["distributed"]["ranks"], 3);
  EXPECT_LT(history_difference(directory_ / "whole", directory_ / "stopped"), 1e-10);
}

// A rank killed with SIGKILL: the others end within the timeout, naming it (exit 7 each); the
// launcher returns the first failure's code (137: killed by signal 9).
TEST_F(DistributedTest, AKilledRankEndsTheOthersNamingIt) {
  write_config(kHeatConfig);
  const fs::path log = directory_ / "launch.log";
  const pid_t launcher = start_pinn_train(
      {"launch", "--nproc", "3", (directory_ / "heat_ranks.json").string(), "-o",
       (directory_ / "killed").string(), "--set",
       R"(training=[{"type":"adam","lr":1e-3,"iterations":1000000,"log_every":500}])", "--set",
       R"(distributed={"timeout_s":15})"},
      log);
  ASSERT_TRUE(wait_for_text(log, "adam 1000/", launcher)) << file_text(log);
  const auto ranks = children_of(launcher);
  ASSERT_EQ(ranks.size(), 3u);
  const auto start = std::chrono::steady_clock::now();
  kill(ranks[2], SIGKILL);
  EXPECT_EQ(wait_for_exit(launcher), 128 + SIGKILL) << file_text(log);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 15) << file_text(log);  // the reset, not the timeout, tells them
  const std::string text = file_text(log);
  EXPECT_NE(text.find("rank 0 of 3: an all-reduce failed"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 1 of 3: an all-reduce failed"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 2 did not answer"), std::string::npos) << text;
  EXPECT_NE(text.find("launch: rank 2"), std::string::npos) << text;
  EXPECT_EQ(text.find("did not end by itself"), std::string::npos) << text;
}

// A rendezvous whose other ranks never come: the error names the address and port it waited on.
TEST_F(DistributedTest, ARendezvousThatCannotCompleteSaysWhere) {
  write_config(kHeatConfig);
  const std::string port = std::to_string(free_port());
  const auto start = std::chrono::steady_clock::now();
  const Result result = run_command(
      "cd " + quote(directory_.string()) +
      " && RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + PINN_TRAIN_BIN +
      R"( heat_ranks.json -q -o lonely --set 'distributed={"timeout_s":2}')");
  EXPECT_EQ(result.code, 7) << result.output;
  EXPECT_NE(result.output.find("127.0.0.1:" + port), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("did not complete within 2 s"), std::string::npos) << result.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30);
}

// What does not work across processes yet is refused with its JSON path; "off" trains alone.
TEST_F(DistributedTest, UnsupportedRecipesAreRefusedAndOffTrainsAlone) {
  write_config(kHeatConfig);
  const std::string environment =
      "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) + " ";
  const auto run = [&](const std::string& arguments) {
    return run_command("cd " + quote(directory_.string()) + " && " + environment + PINN_TRAIN_BIN +
                       " heat_ranks.json -q " + arguments);
  };
  const Result causal = run(R"(-o a --set 'losses[0].causal={"input":"t","chunks":4}')");
  EXPECT_EQ(causal.code, 2) << causal.output;
  EXPECT_NE(causal.output.find("/losses/0/causal: causal training does not work in a run across"),
            std::string::npos)
      << causal.output;
  const Result weighting = run(R"(-o b --set 'weighting={"method":"ntk"}')");
  EXPECT_EQ(weighting.code, 2) << weighting.output;
  EXPECT_NE(weighting.output.find("/weighting/method: weighting that draws random points (ntk)"),
            std::string::npos)
      << weighting.output;
  const Result alone =
      run(R"(-o c --set distributed=off --set 'training=[{"type":"adam","iterations":20}]')");
  EXPECT_EQ(alone.code, 0) << alone.output;
  EXPECT_FALSE(read_json(directory_ / "c" / "summary.json").contains("distributed"));
  const Result bad = run("-o d --set distributed=sometimes");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("/distributed"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace pinn_e2e
