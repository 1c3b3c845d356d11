// The tiled pass's entry points. A variant is one build of the pass (an instruction set and its
// product blocks, tiled_pass_builds.hpp) with one tile size; the first call of each shape measures
// the variants this CPU runs and keeps the fastest (kernel_tuner.hpp), unless PINN_TRAIN_KERNELS
// forces one. Measured on an AVX-512 Xeon and an AMD EPYC (Zen 4), no one variant wins everywhere:
// docs/performance.md.
#include "derivatives/kernels/tiled_pass.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "derivatives/kernels/kernel_tuner.hpp"
#include "derivatives/kernels/tiled_pass_builds.hpp"
#include "util/suggest.hpp"

namespace pinn::derivatives::tiles {

namespace {

// Tile sizes in KiB: a tile's buffers should stay in the L2 cache (1 or 2 MiB a core on the CPUs
// measured), whose useful share differs from one CPU to the next. The middle one is the default.
constexpr int64_t kTileKiB[] = {256, 128, 512};

struct Variant {
  const PassFunctions* build;
  Schedule schedule;
  std::string name;  // "avx512/256k", or "avx512/256k/serial" for one thread
};

// Every build this CPU runs times every tile size, on all threads or on the calling one alone
// (serial: for calls too small to share), the default (the widest build, 256 KiB, all threads)
// first.
std::vector<Variant> runnable_variants() {
  std::vector<Variant> variants;
  for (const bool serial : {false, true}) {
    for (const PassFunctions* build : {avx512_pass(), avx512_narrow_pass(), avx2_pass()}) {
      if (build == nullptr || !build->supported()) continue;
      for (const int64_t kib : kTileKiB) {
        variants.push_back({build,
                            {kib * 1024, serial},
                            std::string(build->name) + "/" + std::to_string(kib) + "k" +
                                (serial ? "/serial" : "")});
      }
    }
  }
  return variants;
}

const std::vector<Variant>& all_variants() {
  static const std::vector<Variant> variants = runnable_variants();
  return variants;
}

// The variants worth timing for a call: with one thread the serial ones are the others again.
std::vector<size_t> candidates() {
  std::vector<size_t> indices;
  const auto& variants = all_variants();
  for (size_t v = 0; v < variants.size(); ++v) {
    if (!variants[v].schedule.one_thread || at::get_num_threads() > 1) indices.push_back(v);
  }
  return indices;
}

std::vector<std::string> variant_names() {
  std::vector<std::string> names;
  for (const auto& variant : all_variants())
    names.push_back(variant.name);
  return names;
}

// A variant by its name, or by its build's name alone (that build with the default tile size).
std::optional<size_t> find_variant(const std::string& name) {
  const auto& variants = all_variants();
  for (size_t v = 0; v < variants.size(); ++v) {
    if (variants[v].name == name) return v;
  }
  for (size_t v = 0; v < variants.size(); ++v) {
    if (name == variants[v].build->name) return v;  // the first of a build has the default tile
  }
  return std::nullopt;
}

// PINN_TRAIN_KERNELS: a variant's or a build's name forces it, "measure" measures every shape
// again instead of reading the cache, anything else is warned about.
bool configure_from_environment(kernels::KernelTuner& tuner) {
  const char* wanted = std::getenv("PINN_TRAIN_KERNELS");
  if (wanted == nullptr || *wanted == '\0') return false;
  if (std::string(wanted) == "measure") {
    tuner.remeasure();
  } else if (const auto index = find_variant(wanted)) {
    tuner.force(index);
  } else {
    spdlog::warn(
        "PINN_TRAIN_KERNELS={}: not a kernel variant this CPU runs{} ({}, a build's name "
        "alone, or measure); measuring them instead",
        wanted, did_you_mean(wanted, variant_names()), quoted_list(variant_names()));
  }
  return true;
}

kernels::KernelTuner& tuner() {
  static kernels::KernelTuner instance(variant_names());
  static const bool configured = configure_from_environment(instance);
  (void)configured;
  return instance;
}

// The points rounded up to a power of two: a shape's pick holds for point counts near its own.
int64_t points_bucket(int64_t points) {
  int64_t bucket = 64;
  while (bucket < points)
    bucket *= 2;
  return bucket;
}

int64_t point_count(const Network& network, const at::Tensor& input) {
  return network.embedded ? input.size(1) : input.size(0);
}

// What decides a call's speed: the pass, the numbers' type, the layers, the channels and their
// rules, the points (to a power of two) and the threads.
std::string call_shape(const char* pass, const Network& network, const at::Tensor& input) {
  std::string shape = std::string(pass) + " " + std::string(c10::toString(input.scalar_type()));
  shape += " " + std::to_string(input.size(-1));
  for (const Layer& layer : network.layers)
    shape += "-" + std::to_string(layer.weight.size(0));
  const model::ActivationKind hidden = network.layers.front().activation;
  shape += hidden == model::ActivationKind::tanh      ? " tanh"
           : hidden == model::ActivationKind::sigmoid ? " sigmoid"
                                                      : " identity";
  if (network.embedded) shape += " embedded";
  shape += " channels=" + std::to_string(network.program->channels) +
           " terms=" + std::to_string(network.program->terms.size());
  shape += " points<=" + std::to_string(points_bucket(point_count(network, input)));
  return shape + " threads=" + std::to_string(at::get_num_threads());
}

// Runs `call(variant)` with the variant chosen for this shape; when the choice is measured, every
// variant runs the call a few times first, then the chosen one once more for the result.
template <typename Result, typename Call>
Result run_chosen(const char* pass, const Network& network, const at::Tensor& input,
                  const Call& call) {
  const auto& variants = all_variants();
  const size_t chosen = tuner().choose(
      call_shape(pass, network, input), point_count(network, input),
      [&](size_t v) { (void)call(variants[v]); }, candidates());
  return call(variants[chosen]);
}

}  // namespace

std::vector<std::string> variants() {
  return variant_names();
}

void force_variant(const std::string& name) {
  const auto index = find_variant(name);
  if (!index) {
    throw std::invalid_argument("the tiled pass has no kernel variant '" + name +
                                "' that this CPU runs" + did_you_mean(name, variant_names()) +
                                " (it runs " + quoted_list(variant_names()) + ")");
  }
  tuner().force(index);
}

void measure_variants() {
  tuner().force(std::nullopt);
}

std::optional<std::string> forced_variant() {
  const auto forced = tuner().forced();
  if (!forced) return std::nullopt;
  return all_variants()[*forced].name;
}

std::vector<kernels::KernelChoice> kernel_choices() {
  return tuner().choices();
}

std::string kernels_in_use() {
  const auto choices = kernel_choices();
  const auto work = [](const kernels::KernelChoice& choice) {
    return choice.points * choice.calls;
  };
  const auto largest =
      std::max_element(choices.begin(), choices.end(),
                       [&](const auto& a, const auto& b) { return work(a) < work(b); });
  if (largest != choices.end()) return largest->variant;
  if (const auto forced = forced_variant()) return *forced;
  return "chosen on first use";
}

at::Tensor forward(const Network& network, const at::Tensor& input) {
  return run_chosen<at::Tensor>("forward", network, input, [&](const Variant& variant) {
    return variant.build->forward(network, input, variant.schedule);
  });
}

Gradients backward(const Network& network, const at::Tensor& input, const at::Tensor& grad,
                   bool input_gradient) {
  const char* pass = input_gradient ? "backward+input" : "backward";
  return run_chosen<Gradients>(pass, network, input, [&](const Variant& variant) {
    return variant.build->backward(network, input, grad, input_gradient, variant.schedule);
  });
}

FusedResult fused(const Network& network, const at::Tensor& input, const TileLoss& loss,
                  bool gradient, bool input_gradient) {
  const char* pass = !gradient ? "fused-loss" : input_gradient ? "fused+input" : "fused";
  return run_chosen<FusedResult>(pass, network, input, [&](const Variant& variant) {
    return variant.build->fused(network, input, loss, gradient, input_gradient, variant.schedule);
  });
}

bool supports_activation(model::ActivationKind kind) {
  using Kind = model::ActivationKind;
  return kind == Kind::tanh || kind == Kind::sigmoid || kind == Kind::identity;
}

}  // namespace pinn::derivatives::tiles
