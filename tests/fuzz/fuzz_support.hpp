// Shared by the fuzz targets: quiet, single-threaded processes, and any exception that is not the
// expected outcome reported as a finding (libFuzzer saves the input when the process aborts).
#pragma once

#include <cxxabi.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

namespace pinn::fuzz {

[[noreturn]] inline void fail(const std::string& message) {
  std::fprintf(stderr, "\n==pinn-fuzz== FINDING: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// The demangled type of the exception being handled.
inline std::string current_exception_type() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return "(unknown)";
  int status = 0;
  char* name = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::string result = status == 0 && name != nullptr ? name : type->name();
  std::free(name);
  return result;
}

// Runs `body`, which handles the outcomes that are correct for bad input itself; whatever else
// escapes is a finding.
template <typename Body>
void run_guarded(Body&& body) {
  try {
    body();
  } catch (const std::exception& error) {
    fail("an exception of type " + current_exception_type() + " escaped: " + error.what());
  } catch (...) {
    fail("an exception of type " + current_exception_type() + " escaped");
  }
}

inline void initialize_process() {
  spdlog::set_level(spdlog::level::off);
  at::set_num_threads(1);
  // What the run would otherwise read from the environment: a device, or a launch across
  // processes (torchrun's or Slurm's variables, when the fuzzer itself runs in a Slurm job).
  for (const char* name : {"PINN_TRAIN_DEVICE", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                           "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"}) {
    ::unsetenv(name);
  }
}

}  // namespace pinn::fuzz
