// The end-to-end tests' harness: running the pinn-train binary and reading what it wrote.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
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

// A fixture with a fresh folder per test, /tmp/pinn_e2e_<suite>_<test>, removed when the test
// passes (kept for a look when it fails).
class TemporaryDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = fs::temp_directory_path() /
                 (std::string("pinn_e2e_") + info->test_suite_name() + "_" + info->name());
    fs::remove_all(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(directory_);
  }

  fs::path directory_;
};

}  // namespace pinn_e2e
