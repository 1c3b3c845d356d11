// End-to-end tests of what pinn-train may do to the files around it: --force removes only what
// pinn-train wrote (a marked directory holding nothing else), output paths that resolve to the
// current directory, a parent, the home directory or / are refused, a second writer into a locked
// run directory is refused, and a full disk ends a run with exit 5, no temporary files and its
// newest complete checkpoint resumable.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "harness.hpp"

namespace {

using namespace pinn_e2e;

// The seed example cut to a few L-BFGS iterations: a run directory in well under a second.
const std::string kQuickSeed =
    source("configs/seed_dx_squared.json") + " -q --set training[0].iterations=5";

// The heat equation of configs/heat_1d.json, made small, checkpointed every 100 steps.
std::vector<std::string> small_heat(const fs::path& run, int adam_steps) {
  return {source("configs/heat_1d.json"),
          "-o",
          run.string(),
          "--set",
          "points.interior.count=200",
          "--set",
          "points.ends.count=10",
          "--set",
          "points.start.count=20",
          "--set",
          "training[0].iterations=" + std::to_string(adam_steps),
          "--set",
          "training[1].iterations=200",
          "--set",
          "checkpoint_every=100",
          "--set",
          "reference.every=500"};
}

std::string joined(const std::vector<std::string>& arguments) {
  std::string line;
  for (const auto& argument : arguments)
    line += " " + quote(argument);
  return line;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every file under `directory` whose name ends in ".tmp" (or holds ".tmp."), relative to it.
std::vector<std::string> temporary_files(const fs::path& directory) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (contains(name, ".tmp")) found.push_back(fs::relative(entry.path(), directory).string());
  }
  return found;
}

class RunDirectoryTest : public TemporaryDirectoryTest {
 protected:
  // pinn-train ARGUMENTS run with `folder` as the current directory.
  static Result pinn_train_in(const fs::path& folder, const std::string& arguments) {
    return run_command("cd " + quote(folder.string()) + " && " + PINN_TRAIN_BIN + " " + arguments);
  }
};

// --- --force and the paths it may touch ------------------------------------------------------

TEST_F(RunDirectoryTest, NameDotDotIsRefusedAndTheCurrentDirectoryKeepsItsFiles) {
  // The reproducer: a name of ".." would have put the run (and --force's removal) in ".".
  const fs::path work = directory_ / "w";
  fs::create_directories(work / "runs");
  std::ofstream(work / "precious.txt") << "keep\n";
  std::ofstream(work / "config.json") << "{}";
  for (const std::string extra : {"--set name=..", "--set name=.. --force"}) {
    const Result result = pinn_train_in(work, kQuickSeed + " " + extra);
    EXPECT_EQ(result.code, 2) << result.output;
    EXPECT_TRUE(contains(result.output, "/name")) << result.output;
    EXPECT_TRUE(contains(result.output, "'..'")) << result.output;
  }
  EXPECT_EQ(file_text(work / "precious.txt"), "keep\n");
  EXPECT_EQ(file_text(work / "config.json"), "{}");
}

TEST_F(RunDirectoryTest, OutputsThatResolveToTheCurrentDirectoryAParentHomeOrRootAreRefused) {
  const fs::path work = directory_ / "w";
  const fs::path home = directory_ / "home";
  fs::create_directories(work / "runs");
  fs::create_directories(home);
  std::ofstream(work / "precious.txt") << "keep\n";
  fs::create_directory_symlink("..", work / "runs" / "up");
  struct Case {
    std::string output, resolved, what;
  };
  const std::vector<Case> cases = {
      {".", work.string(), "the current directory"},
      {"..", directory_.string(), "a parent of the current directory"},
      {"/", "/", "the root directory"},
      {home.string(), home.string(), "the home directory"},
      {"runs/up", work.string(), "the current directory"},  // a symbolic link to a parent
      {"runs/up/..", directory_.string(), "a parent of the current directory"},
      // A templated directory that resolves to the current one.
      {"runs/{seed}/../..", work.string(), "the current directory"},
  };
  for (const auto& c : cases) {
    for (const std::string force : {"", " --force"}) {
      const Result result =
          run_command("cd " + quote(work.string()) + " && HOME=" + quote(home.string()) + " " +
                      PINN_TRAIN_BIN + " " + kQuickSeed + " -o " + quote(c.output) + force);
      EXPECT_EQ(result.code, 2) << c.output << force << ": " << result.output;
      EXPECT_TRUE(contains(result.output, "resolves to " + c.resolved + ", " + c.what))
          << c.output << ": " << result.output;
    }
  }
  // validate says the same before anything runs.
  const Result validate =
      pinn_train_in(work, "validate " + source("configs/seed_dx_squared.json") + " -o .");
  EXPECT_EQ(validate.code, 2) << validate.output;
  EXPECT_TRUE(contains(validate.output, "the current directory")) << validate.output;
  EXPECT_EQ(file_text(work / "precious.txt"), "keep\n");
  EXPECT_TRUE(fs::is_empty(home));
}

TEST_F(RunDirectoryTest, ForceReplacesARunDirectoryOfItsOwn) {
  const fs::path run = directory_ / "run";
  ASSERT_EQ(pinn_train(kQuickSeed + " -o " + quote(run.string())).code, 0);
  const Json marker = read_json(run / ".pinn-train-run");
  EXPECT_EQ(marker["format"], "pinn-train-run/1");
  EXPECT_EQ(read_json(run / "summary.json")["run_id"], marker["id"]);

  const Result again = pinn_train(kQuickSeed + " -o " + quote(run.string()) + " --force");
  ASSERT_EQ(again.code, 0) << again.output;
  const Json replaced = read_json(run / ".pinn-train-run");
  EXPECT_NE(replaced["id"], marker["id"]);
  EXPECT_EQ(read_json(run / "summary.json")["run_id"], replaced["id"]);
  EXPECT_EQ(read_json(run / "summary.json")["status"], "completed");
}

TEST_F(RunDirectoryTest, ForceRefusesARunDirectoryHoldingAUsersFileAndNamesIt) {
  const fs::path run = directory_ / "run";
  ASSERT_EQ(pinn_train(kQuickSeed + " -o " + quote(run.string())).code, 0);
  std::ofstream(run / "notes.txt") << "mine\n";
  fs::create_directories(run / "checkpoints" / "best");
  std::ofstream(run / "checkpoints" / "best" / "keep.pt") << "weights\n";
  const std::string summary = file_text(run / "summary.json");

  const Result result = pinn_train(kQuickSeed + " -o " + quote(run.string()) + " --force");
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "did not write")) << result.output;
  EXPECT_TRUE(contains(result.output, "notes.txt")) << result.output;
  EXPECT_TRUE(contains(result.output, "checkpoints/best/")) << result.output;
  EXPECT_EQ(file_text(run / "notes.txt"), "mine\n");
  EXPECT_EQ(file_text(run / "checkpoints" / "best" / "keep.pt"), "weights\n");
  EXPECT_EQ(file_text(run / "summary.json"), summary);  // the run is left as it was
}

TEST_F(RunDirectoryTest, ForceRefusesADirectoryWithoutTheMarkerAndListsWhatItWouldDelete) {
  // It looks like a run (config.json, summary.json) but pinn-train did not make it.
  const fs::path folder = directory_ / "results";
  fs::create_directories(folder);
  std::ofstream(folder / "config.json") << "{}";
  std::ofstream(folder / "summary.json") << "{}";
  std::ofstream(folder / "thesis.tex") << "chapter 1\n";

  const Result result = pinn_train(kQuickSeed + " -o " + quote(folder.string()) + " --force");
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, ".pinn-train-run")) << result.output;
  for (const char* name : {"config.json", "summary.json", "thesis.tex"})
    EXPECT_TRUE(contains(result.output, name)) << result.output;
  EXPECT_EQ(file_text(folder / "thesis.tex"), "chapter 1\n");
  EXPECT_EQ(file_text(folder / "config.json"), "{}");
  EXPECT_FALSE(fs::exists(folder / ".pinn-train-lock"));  // nothing of ours was left there
}

TEST_F(RunDirectoryTest, SweepForceRemovesOnlyTheSweepsOwnFiles) {
  const fs::path sweep = directory_ / "sweep";
  const std::string command =
      "sweep " + kQuickSeed + " --grid seed=1,2 --run local -o " + quote(sweep.string());
  ASSERT_EQ(pinn_train(command).code, 0);
  EXPECT_TRUE(fs::exists(sweep / ".pinn-train-sweep"));
  ASSERT_EQ(pinn_train(command + " --force").code, 0);

  std::ofstream(sweep / "runs" / "run-001" / "analysis.ipynb") << "{}";
  const Result refused = pinn_train(command + " --force");
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "runs/run-001/analysis.ipynb")) << refused.output;
  EXPECT_TRUE(fs::exists(sweep / "runs" / "run-001" / "analysis.ipynb"));
  EXPECT_TRUE(fs::exists(sweep / "runs" / "run-000" / "summary.json"));

  // A folder that only looks like a sweep (a manifest) is not replaced.
  const fs::path other = directory_ / "other";
  fs::create_directories(other);
  std::ofstream(other / "manifest.json") << "{}";
  const Result unmarked =
      pinn_train("sweep " + kQuickSeed + " --grid seed=1,2 --force -o " + quote(other.string()));
  EXPECT_EQ(unmarked.code, 2) << unmarked.output;
  EXPECT_TRUE(contains(unmarked.output, ".pinn-train-sweep")) << unmarked.output;
  EXPECT_EQ(file_text(other / "manifest.json"), "{}");

  const Result here = pinn_train_in(directory_, "sweep " + kQuickSeed + " --grid seed=1 -o .");
  EXPECT_EQ(here.code, 2) << here.output;
  EXPECT_TRUE(contains(here.output, "the current directory")) << here.output;
}

TEST_F(RunDirectoryTest, EvalForceReplacesOnlyAnEarlierOutputOfTheSameEvaluation) {
  const fs::path run = directory_ / "run";
  ASSERT_EQ(pinn_train(kQuickSeed + " -o " + quote(run.string())).code, 0);
  const fs::path points = directory_ / "points.csv";
  std::ofstream(points) << "x,y\n0,0\n1,1\n";
  const std::string eval = "eval " + quote(run.string()) + " -q --points " + quote(points.string());
  const fs::path out = directory_ / "u.csv";
  ASSERT_EQ(pinn_train(eval + " --out " + quote(out.string())).code, 0);
  EXPECT_EQ(pinn_train(eval + " --out " + quote(out.string())).code, 2);  // exists, no --force
  EXPECT_EQ(pinn_train(eval + " --out " + quote(out.string()) + " --force").code, 0);

  struct Case {
    fs::path out;
    std::string says;
  };
  const fs::path data = directory_ / "observations.csv";
  std::ofstream(data) << "x,y,u_measured\n0,0,0.5\n";
  const std::string model = file_text(run / "model.pt");
  const std::vector<Case> cases = {
      {points, "the --points file"},
      {data, "not this evaluation's header 'x,y,u'"},
      {out, "not this evaluation's header 'x,y,u,u_x'"},  // other fields: another evaluation
      {run / "model.pt", "a file of the run directory"},
      {directory_, "is a directory"},
  };
  for (const auto& c : cases) {
    const std::string fields = c.out == out ? " --fields u,u_x" : "";
    const Result result =
        pinn_train(eval + fields + " --out " + quote(c.out.string()) + " --force");
    EXPECT_EQ(result.code, 2) << c.out << ": " << result.output;
    EXPECT_TRUE(contains(result.output, c.says)) << c.out << ": " << result.output;
  }
  EXPECT_EQ(file_text(points), "x,y\n0,0\n1,1\n");
  EXPECT_EQ(file_text(data), "x,y,u_measured\n0,0,0.5\n");
  EXPECT_EQ(file_text(run / "model.pt"), model);
}

// --- one writer at a time ----------------------------------------------------------------------

TEST_F(RunDirectoryTest, ASecondWriterIsRefusedWhileTheFirstRuns) {
  const fs::path run = directory_ / "run";
  auto first = small_heat(run, 200000);  // far longer than the test: stopped by a signal below
  first.insert(first.end(), {"--seed", "11"});
  const fs::path log = directory_ / "first.log";
  const pid_t pid = start_pinn_train(first, log);
  ASSERT_TRUE(wait_for_text(log, "initial loss", pid)) << file_text(log);

  auto second = small_heat(run, 100);
  second.insert(second.end(), {"--seed", "22", "-q"});
  const std::string holder = "PID " + std::to_string(pid);
  for (const std::string extra : {"", " --force", " --resume"}) {
    const Result result = pinn_train(joined(second) + extra);
    EXPECT_EQ(result.code, 2) << extra << ": " << result.output;
    EXPECT_TRUE(contains(result.output, "is being written by " + holder)) << result.output;
  }
  const Result resume = pinn_train("resume " + quote(run.string()));
  EXPECT_EQ(resume.code, 2) << resume.output;
  EXPECT_TRUE(contains(resume.output, holder)) << resume.output;

  kill(pid, SIGTERM);  // the first run checkpoints and stops (exit 6)
  EXPECT_EQ(wait_for_exit(pid), 6) << file_text(log);
  // Every file is the first run's.
  EXPECT_EQ(read_json(run / "config.json")["seed"], 11);
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "interrupted");
  EXPECT_EQ(summary["seed"], 11);
  EXPECT_EQ(summary["run_id"], read_json(run / ".pinn-train-run")["id"]);
  const std::string train_log = file_text(run / "train.log");
  EXPECT_EQ(train_log.find("training heat_1d"), train_log.rfind("training heat_1d")) << train_log;
  EXPECT_FALSE(fs::is_empty(run / "checkpoints"));

  // Once it has ended, the directory is free again.
  const Result replaced = pinn_train(joined(second) + " --force");
  EXPECT_EQ(replaced.code, 0) << replaced.output;
  EXPECT_EQ(read_json(run / "config.json")["seed"], 22);
}

TEST_F(RunDirectoryTest, TheLockOfAKilledProcessIsNoObstacle) {
  const fs::path run = directory_ / "run";
  const fs::path log = directory_ / "killed.log";
  const pid_t pid = start_pinn_train(small_heat(run, 200000), log);
  ASSERT_TRUE(wait_for_text(log, "initial loss", pid)) << file_text(log);
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_for_exit(pid), 128 + SIGKILL);
  ASSERT_TRUE(fs::exists(run / ".pinn-train-lock"));

  const Result replaced = pinn_train(joined(small_heat(run, 100)) + " -q --force");
  EXPECT_EQ(replaced.code, 0) << replaced.output;
  EXPECT_EQ(read_json(run / "summary.json")["status"], "completed");
}

// --- a full disk ---------------------------------------------------------------------------------

class FullDiskTest : public RunDirectoryTest {
 protected:
  // Mounts a tmpfs of `size` at `mount_`; false (the test skips) where that is not allowed.
  bool mount_tmpfs(const std::string& size) {
    mount_ = directory_ / "small";
    fs::create_directories(mount_);
    if (geteuid() != 0) return false;
    mounted_ =
        run_command("mount -t tmpfs -o size=" + size + " tmpfs " + quote(mount_.string())).code ==
        0;
    return mounted_;
  }
  bool grow_tmpfs(const std::string& size) {
    return run_command("mount -o remount,size=" + size + " " + quote(mount_.string())).code == 0;
  }
  void TearDown() override {
    if (mounted_) run_command("umount " + quote(mount_.string()));
    RunDirectoryTest::TearDown();
  }

  fs::path mount_;
  bool mounted_ = false;
};

// Each size runs out at another point: at the first files (16k), at the first checkpoint (64k),
// after two complete checkpoints (256k). None leaves a temporary file or a summary that says the
// run completed.
TEST_F(FullDiskTest, ARunOutOfSpaceExitsFiveAndLeavesNoHalfWrittenFile) {
  if (!mount_tmpfs("16k")) GTEST_SKIP() << "cannot mount a tmpfs here (mount needs root)";
  for (const std::string size : {"16k", "64k", "256k"}) {
    ASSERT_TRUE(grow_tmpfs(size)) << size;
    const fs::path run = mount_ / ("run_" + size);
    const Result result = pinn_train(joined(small_heat(run, 500)) + " -q");
    EXPECT_EQ(result.code, 5) << size << ": " << result.output;
    EXPECT_TRUE(contains(result.output, "No space left on device")) << result.output;
    EXPECT_TRUE(contains(result.output, run.string())) << result.output;  // names the path
    EXPECT_FALSE(contains(result.output, "terminate called")) << result.output;
    EXPECT_TRUE(temporary_files(mount_).empty())
        << size << ": " << ::testing::PrintToString(temporary_files(mount_));
    if (fs::exists(run / "summary.json")) {
      const Json summary = read_json(run / "summary.json");
      EXPECT_EQ(summary["status"], "write_failed") << size;
      EXPECT_TRUE(contains(summary["error"].get<std::string>(), "No space left on device"));
    }
    EXPECT_FALSE(fs::exists(run / "model.pt")) << size;
    remove_directory(run);
  }
}

TEST_F(FullDiskTest, TheNewestCompleteCheckpointSurvivesAndResumes) {
  if (!mount_tmpfs("256k")) GTEST_SKIP() << "cannot mount a tmpfs here (mount needs root)";
  const fs::path run = mount_ / "run";
  const Result result = pinn_train(joined(small_heat(run, 500)) + " -q");
  ASSERT_EQ(result.code, 5) << result.output;
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "write_failed");
  ASSERT_TRUE(summary["checkpoint"].is_string()) << summary.dump();
  const fs::path newest = run / summary["checkpoint"].get<std::string>();
  EXPECT_TRUE(fs::exists(newest));
  EXPECT_TRUE(contains(result.output, "pinn-train resume")) << result.output;

  // The second stage (ssbroyden) checkpoints its dense inverse Hessian: 2241^2 doubles, 40 MB.
  ASSERT_TRUE(grow_tmpfs("256m"));
  const Result resumed = pinn_train("resume " + quote(run.string()) + " -v");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "from " + newest.filename().string())) << resumed.output;
  EXPECT_EQ(read_json(run / "summary.json")["status"], "completed");
  EXPECT_GE(read_json(run / "summary.json")["steps"].get<int>(), 500);
}

}  // namespace
