// Points XDG_CACHE_HOME at a folder of the test process's own for its whole life (removed after):
// the Taylor engine caches its measured kernel picks there (derivatives/kernels/kernel_tuner.hpp),
// and a test must neither read the user's cache nor write into it. Included by one file of each
// GoogleTest binary, which registers it before the tests start.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace pinn_testing {

class PrivateKernelCache : public ::testing::Environment {
 public:
  void SetUp() override {
    folder_ =
        std::filesystem::temp_directory_path() / ("pinn_test_cache_" + std::to_string(getpid()));
    setenv("XDG_CACHE_HOME", folder_.c_str(), 1);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(folder_, ignored);
  }

 private:
  std::filesystem::path folder_;
};

inline const bool kPrivateKernelCache =
    (::testing::AddGlobalTestEnvironment(new PrivateKernelCache), true);

}  // namespace pinn_testing
