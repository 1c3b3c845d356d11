// The end-to-end tests' harness: running the pinn-train binary and reading what it wrote.
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pinn_e2e {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

struct Result {
  int code = -1;
  std::string output;  // stdout and stderr together
};

inline Result run_command(const std::string& command) {
  Result result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe))
    result.output += buffer.data();
  const int status = pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string quote(const std::string& text) {
  return "'" + text + "'";
}

inline Result pinn_train(const std::string& arguments) {
  return run_command(std::string(PINN_TRAIN_BIN) + " " + arguments);
}

inline std::string source(const std::string& relative) {
  return std::string(PINN_SOURCE_DIR) + "/" + relative;
}

inline Json read_json(const fs::path& path) {
  return Json::parse(std::ifstream(path));
}

// The names in a CSV header; a name in double quotes may hold commas ("" is one quote).
inline std::vector<std::string> csv_header(const std::string& line) {
  std::vector<std::string> names(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (quoted && line[i] == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      names.back() += line[++i];
    } else if (line[i] == '"') {
      quoted = !quoted;
    } else if (line[i] == ',' && !quoted) {
      names.emplace_back();
    } else {
      names.back() += line[i];
    }
  }
  return names;
}

// Rows of a CSV as maps from column name to value.
inline std::vector<std::map<std::string, double>> read_csv(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> columns = csv_header(line);
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::map<std::string, double> row;
    std::string field;
    for (const auto& name : columns) {
      std::getline(fields, field, ',');
      row[name] = std::strtod(field.c_str(), nullptr);
    }
    rows.push_back(row);
  }
  return rows;
}

// Starts pinn-train with `arguments`, its output going to `log`; returns its process id.
inline pid_t start_pinn_train(const std::vector<std::string>& arguments, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int file = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(file, STDOUT_FILENO);
    dup2(file, STDERR_FILENO);
    std::vector<char*> argv;
    std::string binary = PINN_TRAIN_BIN;
    argv.push_back(binary.data());
    std::vector<std::string> copies = arguments;
    for (auto& argument : copies)
      argv.push_back(argument.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

inline std::string file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Waits until `log` contains `text` (true) or the process `pid` ended or 60 s passed (false).
inline bool wait_for_text(const fs::path& log, const std::string& text, pid_t pid) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (file_text(log).find(text) != std::string::npos) return true;
    if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// The exit code of `pid`, or 128 + the signal that ended it.
inline int wait_for_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Removes a folder and everything in it, symbolic links themselves and not their targets. Not
// std::filesystem::remove_all, which the pip PyTorch's libtorch.so replaces with a crashing copy in
// any program linked with it (src/util/files.hpp).
inline void remove_directory(const fs::path& path) {
  nftw(
      path.c_str(),
      [](const char* entry, const struct stat*, int, struct FTW*) {
        std::remove(entry);
        return 0;
      },
      32, FTW_DEPTH | FTW_PHYS);
}

// A fixture with a fresh folder per test, /tmp/pinn_e2e_<suite>_<test>, removed when the test
// passes (kept for a look when it fails).
class TemporaryDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = fs::temp_directory_path() /
                 (std::string("pinn_e2e_") + info->test_suite_name() + "_" + info->name());
    remove_directory(directory_);
    fs::create_directories(directory_);
    // A kernel cache of the test's own (kernel_tuner.hpp), beside the folder: its runs measure
    // the kernels once and then agree on them, whatever other tests running beside it cache.
    cache_ = directory_.string() + "_cache";
    remove_directory(cache_);
    setenv("XDG_CACHE_HOME", cache_.c_str(), 1);
  }
  void TearDown() override {
    remove_directory(cache_);
    if (!HasFailure()) remove_directory(directory_);
  }

  fs::path directory_;

 private:
  fs::path cache_;
};

}  // namespace pinn_e2e
