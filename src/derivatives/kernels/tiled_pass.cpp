// The tiled pass's entry points: the instruction set is chosen once (the widest this CPU runs, or
// PINN_TRAIN_KERNELS), then every call goes to that build of the pass (tiled_pass_impl.hpp).
#include "derivatives/kernels/tiled_pass.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "derivatives/kernels/tiled_pass_builds.hpp"
#include "util/suggest.hpp"

namespace pinn::derivatives::tiles {

namespace {

// Widest first.
std::vector<const PassFunctions*> runnable_passes() {
  std::vector<const PassFunctions*> passes;
  for (const PassFunctions* pass : {avx512_pass(), avx2_pass()}) {
    if (pass != nullptr && pass->supported()) passes.push_back(pass);
  }
  return passes;
}

const PassFunctions* find_pass(const std::string& name) {
  for (const PassFunctions* pass : runnable_passes()) {
    if (name == pass->name) return pass;
  }
  return nullptr;
}

const PassFunctions* default_pass() {
  const auto passes = runnable_passes();
  if (const char* wanted = std::getenv("PINN_TRAIN_KERNELS"); wanted && *wanted) {
    if (const PassFunctions* pass = find_pass(wanted)) return pass;
    spdlog::warn("PINN_TRAIN_KERNELS={}: not an instruction set this CPU runs ({}); using {}",
                 wanted, quoted_list(instruction_sets()), passes.front()->name);
  }
  return passes.front();
}

std::atomic<const PassFunctions*>& selected() {
  static std::atomic<const PassFunctions*> pass{default_pass()};
  return pass;
}

const PassFunctions& current() {
  return *selected().load();
}

}  // namespace

std::vector<std::string> instruction_sets() {
  std::vector<std::string> names;
  for (const PassFunctions* pass : runnable_passes())
    names.emplace_back(pass->name);
  return names;
}

std::string instruction_set() {
  return current().name;
}

void use_instruction_set(const std::string& name) {
  const PassFunctions* pass = find_pass(name);
  if (pass == nullptr) {
    throw std::invalid_argument("the tiled pass is not built for instruction set '" + name +
                                "' or this CPU cannot run it (it runs " +
                                quoted_list(instruction_sets()) + ")");
  }
  selected().store(pass);
}

at::Tensor forward(const Network& network, const at::Tensor& input) {
  return current().forward(network, input);
}

Gradients backward(const Network& network, const at::Tensor& input, const at::Tensor& grad,
                   bool input_gradient) {
  return current().backward(network, input, grad, input_gradient);
}

FusedResult fused(const Network& network, const at::Tensor& input, const TileLoss& loss,
                  bool gradient, bool input_gradient) {
  return current().fused(network, input, loss, gradient, input_gradient);
}

bool supports_activation(model::ActivationKind kind) {
  using Kind = model::ActivationKind;
  return kind == Kind::tanh || kind == Kind::sigmoid || kind == Kind::identity;
}

}  // namespace pinn::derivatives::tiles
