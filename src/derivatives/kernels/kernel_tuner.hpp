// Kernel variants chosen by measurement, as OpenBLAS and FFTW choose theirs per CPU and cuDNN by
// a benchmark: the first call of a given shape times every variant on that very call for a few
// milliseconds each and keeps the fastest; later calls of the shape take it at once. Picks are
// cached per CPU model in a small JSON file under the user's cache folder, so a later run on the
// same machine (a resumed one among them) takes the same kernels without measuring again.
//
// Variants compute the same numbers up to rounding (the tests hold each one to autograd), so the
// choice changes speed only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pinn::derivatives::kernels {

struct VariantTime {
  std::string variant;
  double ms = 0;  // the fastest round's time per call
};

// Which variant runs one shape of call, and why.
struct KernelChoice {
  std::string call;  // the shape: pass, dtype, layer widths, channels, points, threads
  int64_t points = 0;
  int64_t calls = 0;  // how many calls of the shape ran it so far
  std::string variant;
  std::string reason;              // "measured", "cached", "forced" or "only one"
  std::vector<VariantTime> times;  // each variant's time, when measured in this process
};

// The CPU's brand string with its family, model and stepping ("AMD EPYC (family 25, model 17,
// stepping 1)"); the cache's picks hold for that CPU only.
std::string cpu_model();

// The cache file: $XDG_CACHE_HOME/pinn-train/kernels.json, else ~/.cache/pinn-train/kernels.json;
// none when neither variable is set.
std::optional<std::filesystem::path> kernel_cache_file();

class KernelTuner {
 public:
  // `variants`: their names, the default first. A cached pick holds only for the same CPU model
  // and the same list of variants.
  explicit KernelTuner(std::vector<std::string> variants);

  const std::vector<std::string>& variants() const { return variants_; }

  // Every call from now on runs `variant` (an index into variants()); nullopt: measure again.
  void force(std::optional<size_t> variant);
  std::optional<size_t> forced() const;
  // Ignore cached picks: measure each shape again and overwrite its cache entry
  // (PINN_TRAIN_KERNELS=measure).
  void remeasure();

  // The variant for a call of shape `call` over `points` points: forced, picked before in this
  // process, cached, or measured now by calling `run(v)` for each candidate v (every variant
  // when `candidates` is empty) in interleaved rounds.
  size_t choose(const std::string& call, int64_t points, const std::function<void(size_t)>& run,
                std::vector<size_t> candidates = {});

  // Every choice made so far in this process, in the order made.
  std::vector<KernelChoice> choices() const;

 private:
  // Seconds per call of each variant (infinity for those not among the candidates).
  std::vector<double> measure(const std::function<void(size_t)>& run,
                              const std::vector<size_t>& candidates) const;
  std::optional<size_t> cached(const std::string& key);
  void store(const std::string& key, const KernelChoice& choice) const;
  std::string cache_key(const std::string& call) const;
  size_t record(KernelChoice choice);

  std::vector<std::string> variants_;
  std::optional<size_t> forced_;
  bool remeasure_ = false;
  mutable std::mutex mutex_;
  std::map<std::string, size_t> picked_;  // call -> index into choices_
  std::vector<KernelChoice> choices_;
};

}  // namespace pinn::derivatives::kernels
