#include "derivatives/kernels/kernel_tuner.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <utility>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif

namespace pinn::derivatives::kernels {

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Timing: a warm-up call per variant (first touches of its workspace), then up to kRounds rounds,
// the variants' order rotating from round to round so that a drift of the machine's speed spreads
// over all of them; in each round a variant runs for at least kRoundSeconds (and at least once),
// and its fastest round counts. A VM's speed jumps by tens of percent from one millisecond to the
// next, so after kPruneAfter rounds the variants slower than kContender times the fastest so far
// drop out, and the rounds left go to the close ones: the picks then land within 3 % of the
// fastest (scripts/bench/kernel_variants.py). The margin is wide and the first rounds several
// because a VM can stall for tens of milliseconds: a contender slowed in its first rounds must not
// drop out for good. A 1 ms call costs a contender about 25 ms, one dropped about 7 ms.
constexpr int kRounds = 12, kPruneAfter = 3;
constexpr double kContender = 1.25;
constexpr double kRoundSeconds = 2e-3;
constexpr int kMaxCallsPerRound = 64;
// A cache file with more entries than this is started afresh (shapes pile up over many configs).
constexpr size_t kMaxCacheEntries = 4096;

std::string trimmed(std::string text) {
  const auto first = text.find_first_not_of(' ');
  const auto last = text.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
}

std::string now_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

// The cache's JSON, or an empty object when it is missing or unreadable (a damaged cache costs a
// measurement, never a run).
Json read_cache(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Json::object();
  Json cache = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!cache.is_object() || !cache.contains("entries") || !cache["entries"].is_object()) {
    spdlog::debug("kernel cache {}: not a cache file; measuring anew", file.string());
    return Json::object();
  }
  return cache;
}

}  // namespace

std::string cpu_model() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  std::string brand;
  if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) && eax >= 0x80000004u) {
    for (unsigned leaf = 0x80000002u; leaf <= 0x80000004u; ++leaf) {
      unsigned regs[4] = {0, 0, 0, 0};
      __get_cpuid(leaf, &regs[0], &regs[1], &regs[2], &regs[3]);
      brand.append(reinterpret_cast<const char*>(regs), sizeof regs);
    }
    brand = trimmed(brand.c_str());  // NUL-padded
  }
  if (brand.empty()) brand = "unknown x86-64 CPU";
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    const unsigned base_family = (eax >> 8) & 0xF, base_model = (eax >> 4) & 0xF;
    const unsigned family = base_family == 0xF ? base_family + ((eax >> 20) & 0xFF) : base_family;
    const unsigned model = base_family == 0x6 || base_family == 0xF
                               ? base_model + (((eax >> 16) & 0xF) << 4)
                               : base_model;
    std::ostringstream text;
    text << brand << " (family " << family << ", model " << model << ", stepping " << (eax & 0xF)
         << ")";
    return text.str();
  }
  return brand;
#else
  return "unknown CPU";
#endif
}

std::optional<std::filesystem::path> kernel_cache_file() {
  std::filesystem::path folder;
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache) {
    folder = cache;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    folder = std::filesystem::path(home) / ".cache";
  } else {
    return std::nullopt;
  }
  return folder / "pinn-train" / "kernels.json";
}

KernelTuner::KernelTuner(std::vector<std::string> variants) : variants_(std::move(variants)) {}

void KernelTuner::force(std::optional<size_t> variant) {
  const std::lock_guard<std::mutex> lock(mutex_);
  forced_ = variant;
  // Choices made under another regime no longer describe what runs.
  picked_.clear();
  choices_.clear();
}

std::optional<size_t> KernelTuner::forced() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return forced_;
}

void KernelTuner::remeasure() {
  const std::lock_guard<std::mutex> lock(mutex_);
  remeasure_ = true;
}

std::vector<KernelChoice> KernelTuner::choices() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return choices_;
}

size_t KernelTuner::record(KernelChoice choice) {
  const auto found = std::find(variants_.begin(), variants_.end(), choice.variant);
  const auto index = static_cast<size_t>(found - variants_.begin());
  picked_[choice.call] = choices_.size();
  choices_.push_back(std::move(choice));
  return index;
}

// The choice is made under the lock: a second thread with the same shape waits for the first
// one's measurement instead of timing against it.
size_t KernelTuner::choose(const std::string& call, int64_t points,
                           const std::function<void(size_t)>& run, std::vector<size_t> candidates) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (const auto found = picked_.find(call); found != picked_.end()) {
    KernelChoice& choice = choices_[found->second];
    ++choice.calls;
    const std::string& name = choice.variant;
    return static_cast<size_t>(std::find(variants_.begin(), variants_.end(), name) -
                               variants_.begin());
  }
  KernelChoice choice{call, points, 1, "", "", {}};
  if (forced_) {
    choice.variant = variants_[*forced_];
    choice.reason = "forced";
    return record(std::move(choice));
  }
  if (candidates.empty()) {
    for (size_t v = 0; v < variants_.size(); ++v)
      candidates.push_back(v);
  }
  if (candidates.size() == 1) {
    choice.variant = variants_[candidates.front()];
    choice.reason = "only one";
    return record(std::move(choice));
  }
  const std::string key = cache_key(call);
  if (!remeasure_) {
    if (const auto index = cached(key)) {
      choice.variant = variants_[*index];
      choice.reason = "cached";
      return record(std::move(choice));
    }
  }
  const std::vector<double> seconds = measure(run, candidates);
  const auto best =
      static_cast<size_t>(std::min_element(seconds.begin(), seconds.end()) - seconds.begin());
  choice.variant = variants_[best];
  choice.reason = "measured";
  for (const size_t v : candidates)
    choice.times.push_back({variants_[v], seconds[v] * 1e3});
  spdlog::debug("kernels for {}: {} ({:.3f} ms per call, the fastest of {})", call, choice.variant,
                seconds[best] * 1e3, candidates.size());
  store(key, choice);
  return record(std::move(choice));
}

std::vector<double> KernelTuner::measure(const std::function<void(size_t)>& run,
                                         const std::vector<size_t>& candidates) const {
  const size_t count = variants_.size();
  std::vector<bool> contending(count, false);
  for (const size_t v : candidates) {
    run(v);
    contending[v] = true;
  }
  std::vector<double> best(count, std::numeric_limits<double>::infinity());
  for (int round = 0; round < kRounds; ++round) {
    if (round == kPruneAfter) {
      const double fastest = *std::min_element(best.begin(), best.end());
      for (size_t v = 0; v < count; ++v)
        contending[v] = contending[v] && best[v] <= kContender * fastest;
    }
    for (size_t i = 0; i < count; ++i) {
      const size_t v = (i + static_cast<size_t>(round)) % count;
      if (!contending[v]) continue;
      const auto start = Clock::now();
      int calls = 0;
      double elapsed = 0;
      do {
        run(v);
        ++calls;
        elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      } while (elapsed < kRoundSeconds && calls < kMaxCallsPerRound);
      best[v] = std::min(best[v], elapsed / calls);
    }
  }
  return best;
}

std::string KernelTuner::cache_key(const std::string& call) const {
  std::string key = cpu_model() + " | ";
  for (size_t v = 0; v < variants_.size(); ++v)
    key += (v ? "," : "") + variants_[v];
  return key + " | " + call;
}

std::optional<size_t> KernelTuner::cached(const std::string& key) {
  const auto file = kernel_cache_file();
  if (!file) return std::nullopt;
  const Json cache = read_cache(*file);
  if (!cache.contains("entries")) return std::nullopt;
  const auto& entries = cache["entries"];
  const auto entry = entries.find(key);
  if (entry == entries.end() || !entry->is_object() || !entry->contains("variant") ||
      !(*entry)["variant"].is_string()) {
    return std::nullopt;
  }
  const auto name = (*entry)["variant"].get<std::string>();
  const auto found = std::find(variants_.begin(), variants_.end(), name);
  if (found == variants_.end()) return std::nullopt;
  return static_cast<size_t>(found - variants_.begin());
}

// Read again, merged, written under a name of this process's own and renamed over the file: two
// runs measuring at once each leave a whole file, the later one's. An entry already there stays
// (unless measuring anew was asked for), so every run that reads it takes the same kernels.
void KernelTuner::store(const std::string& key, const KernelChoice& choice) const {
  const auto file = kernel_cache_file();
  if (!file) return;
  std::error_code error;
  std::filesystem::create_directories(file->parent_path(), error);
  Json cache = read_cache(*file);
  if (!cache.contains("entries") || cache["entries"].size() >= kMaxCacheEntries) {
    cache = Json::object();
    cache["entries"] = Json::object();
  }
  cache["about"] =
      "pinn-train's measured choices of CPU kernels (Taylor engine, tiled pass); safe to delete";
  if (cache["entries"].contains(key) && !remeasure_) return;
  Json times = Json::object();
  for (const auto& time : choice.times)
    times[time.variant] = time.ms;
  cache["entries"][key] = {{"variant", choice.variant}, {"ms", times}, {"measured", now_utc()}};
  const auto temporary =
      file->parent_path() / (file->filename().string() + "." + std::to_string(getpid()) + ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << cache.dump(1) << '\n';
    out.flush();
    if (!out) {
      spdlog::debug("kernel cache {}: cannot write it; the pick holds for this run only",
                    file->string());
      std::filesystem::remove(temporary, error);
      return;
    }
  }
  std::filesystem::rename(temporary, *file, error);
  if (error) {
    spdlog::debug("kernel cache {}: {}", file->string(), error.message());
    std::filesystem::remove(temporary, error);
  }
}

}  // namespace pinn::derivatives::kernels
