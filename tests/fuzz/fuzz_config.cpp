// libFuzzer target: the config reader on arbitrary bytes, as `pinn-train validate CONFIG --set ...`
// sees them: Document::load (JSON with comments, from_json), apply_override of each --set, then
// validate_command itself (every reader: settings, problem, domains, point sets, loss terms and
// their expressions, reference, evaluation sets, network, transforms, stages, weighting; the
// output location check), which builds everything a run needs without training.
//
// Input format: the config's JSON text. Lines that start with "//--set " (JSON comments, which the
// loader ignores) each add the rest of the line as a --set override, in order, e.g.
//   {"inputs": ["x"], ...}
//   //--set training[0].lr=1e-4
//
// Correct outcomes: the config is valid, or an InputError (or, for a "device" that this machine
// does not have, a DeviceError). Anything else escaping, a crash, a sanitizer report or a timeout
// is a finding.
//
// Sizes are not what this target explores: the memory the config asks for is checked against the
// machine's (util/memory.hpp), far more than a fuzzer's 4 GB. So LibTorch's CPU allocations here
// draw on a budget (PINN_FUZZ_TORCH_MB, default 512 MB live); an input that exceeds it is dropped
// as too large, not reported. --threads 1 is forced (a config's "threads" would start that many).
// PINN_FUZZ_VERBOSE=1 prints each input's outcome (valid, or the error's message).
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "config/document.hpp"
#include "fuzz_support.hpp"
#include "util/errors.hpp"

#ifndef PINN_FUZZ_CONFIG_DIR
#define PINN_FUZZ_CONFIG_DIR "configs"
#endif

namespace {

namespace fs = std::filesystem;

// ---- LibTorch's CPU allocations, on a budget ----

struct BudgetExceeded {  // not a std::exception: no handler in src/ turns it into another error
  size_t bytes;
};

std::atomic<size_t> g_live_bytes{0};
size_t g_budget_bytes = size_t{512} << 20;
constexpr size_t kHeader = 64;  // keeps alloc_cpu's 64-byte alignment; holds the block's size

void release(void* data) {
  if (data == nullptr) return;
  char* block = static_cast<char*>(data) - kHeader;
  g_live_bytes -= *reinterpret_cast<size_t*>(block);
  c10::free_cpu(block);
}

class BudgetAllocator final : public at::Allocator {
 public:
  at::DataPtr allocate(size_t bytes) const override {
    if (bytes > g_budget_bytes || g_live_bytes.load() > g_budget_bytes - bytes) {
      throw BudgetExceeded{bytes};
    }
    char* block = static_cast<char*>(c10::alloc_cpu(bytes + kHeader));
    *reinterpret_cast<size_t*>(block) = bytes;
    g_live_bytes += bytes;
    void* data = block + kHeader;
    return {data, data, &release, at::Device(at::DeviceType::CPU)};
  }
  at::DeleterFnPtr raw_deleter() const override { return &release; }
};

BudgetAllocator g_allocator;

// ---- the input ----

fs::path g_config_path;  // this process's copy of the input: <work>/<pid>/config.json
std::string g_data_directory = PINN_FUZZ_CONFIG_DIR;  // where configs' data paths start

std::vector<std::string> overrides_in(const std::string& text) {
  static const std::string kPrefix = "//--set ";
  std::vector<std::string> overrides;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.compare(start, kPrefix.size(), kPrefix) == 0 && end - start >= kPrefix.size()) {
      std::string line = text.substr(start + kPrefix.size(), end - start - kPrefix.size());
      if (!line.empty() && line.back() == '\r') line.pop_back();
      overrides.push_back(line);
    }
    start = end + 1;
  }
  return overrides;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {  // the folder went away (a cleanup): make it again
    std::error_code ignored;
    fs::create_directories(path.parent_path(), ignored);
    out.open(path, std::ios::binary | std::ios::trunc);
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) pinn::fuzz::fail("cannot write " + path.string());
}

// The document layer alone (cheap): load, overrides, templates in every string.
void read_document(const pinn::cli::RunOptions& options) {
  auto document = pinn::config::Document::load(options.config_path);
  for (const auto& assignment : options.overrides)
    document.apply_override(assignment);
  std::vector<const pinn::config::Json*> stack{&document.root()};
  while (!stack.empty()) {
    const pinn::config::Json* value = stack.back();
    stack.pop_back();
    if (value->is_string()) {
      const auto& text = value->get_ref<const std::string&>();
      if (text.find('{') != std::string::npos) {
        try {
          (void)pinn::config::expand_template(text, document.root(), "fuzz");
        } catch (const pinn::InputError&) {
        }
      }
    }
    if (value->is_structured()) {
      for (const auto& element : *value)
        stack.push_back(&element);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pinn::fuzz::initialize_process();
  if (const char* mb = std::getenv("PINN_FUZZ_TORCH_MB"); mb && std::atoll(mb) > 0) {
    g_budget_bytes = static_cast<size_t>(std::atoll(mb)) << 20;
  }
  c10::SetCPUAllocator(&g_allocator, /*priority=*/100);
  if (const char* directory = std::getenv("PINN_FUZZ_CONFIG_DIR"); directory && *directory) {
    g_data_directory = directory;
  }
  const char* work = std::getenv("PINN_FUZZ_WORK_DIR");
  const fs::path folder = fs::path(work && *work ? work : fs::temp_directory_path().string()) /
                          ("pinn-fuzz-config-" + std::to_string(::getpid()));
  fs::create_directories(folder);
  g_config_path = folder / "config.json";
  // Lazily created LibTorch state, so that it is not taken for a leak of the first input.
  (void)torch::rand({4, 2}, torch::kFloat64).sum().item<double>();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  write_file(g_config_path, text);
  pinn::cli::RunOptions options;
  options.config_path = g_config_path.string();
  options.overrides = overrides_in(text);
  options.base_directory = g_data_directory;
  options.threads = 1;
  pinn::fuzz::run_guarded([&] {
    static const bool verbose = std::getenv("PINN_FUZZ_VERBOSE") != nullptr;
    try {
      read_document(options);
      pinn::cli::validate_command(options);
      if (verbose) std::fprintf(stderr, "valid\n");
    } catch (const pinn::InputError& error) {
      // the correct outcome for a bad config: exit 2 with a message
      if (verbose) std::fprintf(stderr, "InputError: %s\n", error.what());
    } catch (const pinn::DeviceError& error) {
      // "device": "cuda" without a GPU: exit 3, as documented
      if (verbose) std::fprintf(stderr, "DeviceError: %s\n", error.what());
    } catch (const BudgetExceeded& error) {
      // larger than this target explores (see the top of this file)
      if (verbose) std::fprintf(stderr, "over the budget: %zu bytes\n", error.bytes);
    }
  });
  return 0;
}
