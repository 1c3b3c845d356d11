// The measured choice of kernel variants (derivatives/kernels/kernel_tuner.hpp): the fastest is
// kept, a shape is measured once per process, picks are cached per CPU model and variant list,
// forcing and measuring anew work, a damaged cache costs a measurement and nothing else.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "derivatives/kernels/kernel_tuner.hpp"
#include "derivatives/kernels/tiled_pass.hpp"

namespace pinn::derivatives::kernels {
namespace {

namespace fs = std::filesystem;

// Variants that take `micros[v]` microseconds per call (busy-waiting, so that the timing sees it),
// counting their calls.
struct FakeVariants {
  std::vector<int> micros;
  std::vector<int> calls = std::vector<int>(micros.size(), 0);

  void operator()(size_t v) {
    ++calls[v];
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros[v]);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
  int total() const {
    int sum = 0;
    for (const int c : calls)
      sum += c;
    return sum;
  }
};

// XDG_CACHE_HOME pointed at a fresh folder for the test, restored after.
class KernelTunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("pinn_kernel_tuner_" + std::to_string(getpid()));
    fs::remove_all(folder_);
    if (const char* old = std::getenv("XDG_CACHE_HOME")) saved_ = old;
    setenv("XDG_CACHE_HOME", folder_.c_str(), 1);
  }
  void TearDown() override {
    if (saved_) {
      setenv("XDG_CACHE_HOME", saved_->c_str(), 1);
    } else {
      unsetenv("XDG_CACHE_HOME");
    }
    fs::remove_all(folder_);
  }
  fs::path cache_file() const { return folder_ / "pinn-train" / "kernels.json"; }

  fs::path folder_;
  std::optional<std::string> saved_;
};

TEST_F(KernelTunerTest, MeasuresOnceKeepsTheFastestAndCachesIt) {
  ASSERT_EQ(kernel_cache_file(), cache_file());
  FakeVariants fake{{300, 100, 200}};
  KernelTuner tuner({"slow", "fast", "middle"});
  EXPECT_EQ(tuner.choose("shape A", 1000, std::ref(fake)), 1u);
  EXPECT_GT(fake.calls[0], 1);  // a warm-up call and at least one per round
  const auto choices = tuner.choices();
  ASSERT_EQ(choices.size(), 1u);
  EXPECT_EQ(choices[0].variant, "fast");
  EXPECT_EQ(choices[0].reason, "measured");
  EXPECT_EQ(choices[0].points, 1000);
  ASSERT_EQ(choices[0].times.size(), 3u);
  EXPECT_GE(choices[0].times[0].ms, 0.3);
  EXPECT_LT(choices[0].times[1].ms, choices[0].times[2].ms);
  EXPECT_LT(choices[0].times[2].ms, choices[0].times[0].ms);

  // The same shape again in this process: no measurement.
  const int calls = fake.total();
  EXPECT_EQ(tuner.choose("shape A", 1000, std::ref(fake)), 1u);
  EXPECT_EQ(fake.total(), calls);
  EXPECT_EQ(tuner.choices().size(), 1u);
  EXPECT_EQ(tuner.choices()[0].calls, 2);  // the work each pick did: cpu_kernels names the most

  // The cache holds it for this CPU and this list of variants.
  std::ifstream in(cache_file());
  const auto cache = nlohmann::json::parse(in);
  const std::string key = cpu_model() + " | slow,fast,middle | shape A";
  ASSERT_TRUE(cache["entries"].contains(key)) << cache.dump(1);
  EXPECT_EQ(cache["entries"][key]["variant"], "fast");
  EXPECT_GT(cache["entries"][key]["ms"]["slow"].get<double>(), 0.25);

  // Another process (a new tuner) takes the cached pick without measuring, even where the cached
  // pick is no longer the fastest.
  FakeVariants changed{{100, 300, 200}};
  KernelTuner later({"slow", "fast", "middle"});
  EXPECT_EQ(later.choose("shape A", 1000, std::ref(changed)), 1u);
  EXPECT_EQ(changed.total(), 0);
  EXPECT_EQ(later.choices()[0].reason, "cached");
  EXPECT_TRUE(later.choices()[0].times.empty());

  // Another list of variants: the cache's picks do not hold.
  KernelTuner other({"slow", "fast", "middle", "new"});
  FakeVariants four{{300, 300, 300, 100}};
  EXPECT_EQ(other.choose("shape A", 1000, std::ref(four)), 3u);
  EXPECT_EQ(other.choices()[0].reason, "measured");

  // Measuring anew overwrites the entry.
  KernelTuner again({"slow", "fast", "middle"});
  again.remeasure();
  EXPECT_EQ(again.choose("shape A", 1000, std::ref(changed)), 0u);
  EXPECT_EQ(again.choices()[0].reason, "measured");
  std::ifstream reread(cache_file());
  EXPECT_EQ(nlohmann::json::parse(reread)["entries"][key]["variant"], "slow");
}

TEST_F(KernelTunerTest, ForcedAndSingleVariantsAreNotMeasured) {
  FakeVariants fake{{300, 100}};
  KernelTuner tuner({"a", "b"});
  tuner.force(0);
  EXPECT_EQ(tuner.forced(), 0u);
  EXPECT_EQ(tuner.choose("shape", 10, std::ref(fake)), 0u);
  EXPECT_EQ(fake.total(), 0);
  EXPECT_EQ(tuner.choices()[0].reason, "forced");
  tuner.force(std::nullopt);
  EXPECT_TRUE(tuner.choices().empty());  // forgotten with the regime they were made under
  EXPECT_EQ(tuner.choose("shape", 10, std::ref(fake)), 1u);

  // Only the candidates are timed; one candidate alone is not timed at all.
  FakeVariants three{{100, 300, 200}};
  KernelTuner some({"a", "b", "c"});
  EXPECT_EQ(some.choose("two", 10, std::ref(three), {1, 2}), 2u);
  EXPECT_EQ(three.calls[0], 0);
  EXPECT_EQ(some.choices()[0].times.size(), 2u);
  EXPECT_EQ(some.choose("one", 10, std::ref(three), {1}), 1u);
  EXPECT_EQ(some.choices()[1].reason, "only one");

  FakeVariants one{{50}};
  KernelTuner single({"only"});
  EXPECT_EQ(single.choose("shape", 10, std::ref(one)), 0u);
  EXPECT_EQ(one.total(), 0);
  EXPECT_EQ(single.choices()[0].reason, "only one");
}

// A cache that is not one (damaged, or another program's) costs a measurement; the run goes on
// and writes a good cache over it. An unwritable cache folder is no error either.
TEST_F(KernelTunerTest, DamagedOrUnwritableCachesCostAMeasurementOnly) {
  fs::create_directories(cache_file().parent_path());
  for (const std::string text : {"{\"entries\": [1, 2", "[]", "{\"entries\": {\"x\": 3}}", ""}) {
    std::ofstream(cache_file()) << text;
    FakeVariants fake{{200, 100}};
    KernelTuner tuner({"a", "b"});
    EXPECT_EQ(tuner.choose("shape", 10, std::ref(fake)), 1u) << text;
    EXPECT_EQ(tuner.choices()[0].reason, "measured") << text;
    std::ifstream in(cache_file());
    EXPECT_TRUE(nlohmann::json::parse(in)["entries"].is_object()) << text;
  }
  fs::remove_all(folder_);
  std::ofstream(folder_.string()) << "a file where the cache folder should be";
  FakeVariants fake{{200, 100}};
  KernelTuner tuner({"a", "b"});
  EXPECT_EQ(tuner.choose("shape", 10, std::ref(fake)), 1u);
  fs::remove(folder_);
}

TEST(KernelTuner, CpuModelNamesTheCpu) {
  const std::string model = cpu_model();
  EXPECT_FALSE(model.empty());
#if defined(__x86_64__)
  EXPECT_NE(model.find("family"), std::string::npos) << model;
#endif
}

}  // namespace
}  // namespace pinn::derivatives::kernels

namespace pinn::derivatives::tiles {
namespace {

// The tiled pass's variants: every build this CPU runs times three tile sizes, the default
// first; a build's name alone forces its default tile size; an unknown name is refused.
TEST(TiledPassVariants, NamedForcedAndRefused) {
  const auto names = variants();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.size() % 3, 0u);
  EXPECT_NE(names.front().find("/256k"), std::string::npos) << names.front();
  const auto previous = forced_variant();
  force_variant(names.back());
  EXPECT_EQ(forced_variant(), names.back());
  EXPECT_EQ(kernels_in_use(), names.back());
  const std::string build = names.back().substr(0, names.back().find('/'));
  force_variant(build);
  EXPECT_EQ(forced_variant(), build + "/256k");
  EXPECT_THROW(force_variant("sse9"), std::invalid_argument);
  try {
    force_variant(names.front() + "x");  // a typo: the error names the variant meant
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean '" + names.front() + "'"), std::string::npos)
        << e.what();
  }
  if (previous) {
    force_variant(*previous);
  } else {
    measure_variants();
    EXPECT_EQ(forced_variant(), std::nullopt);
  }
}

}  // namespace
}  // namespace pinn::derivatives::tiles
