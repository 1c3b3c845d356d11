// Helpers shared by the unit tests: the device to test on, the message of an expected InputError,
// every derivative channel up to an order, and the small networks the engine tests share.
#pragma once

#include <torch/torch.h>

#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "expr/channel.hpp"
#include "model/network.hpp"
#include "util/errors.hpp"

namespace pinn::testing_support {

// The device the tests run on: PINN_TRAIN_DEVICE (e.g. cuda on the GPU machine), else the CPU.
inline torch::Device test_device() {
  const char* name = std::getenv("PINN_TRAIN_DEVICE");
  return name && *name && std::string(name) != "auto" ? torch::Device(name) : torch::kCPU;
}

// The message of the InputError that `f` throws, or "no error".
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

// Every channel of every output up to `max_order` over `inputs` inputs.
inline std::set<expr::Channel> all_channels(int outputs, int inputs, int max_order) {
  std::set<expr::Channel> channels;
  std::vector<expr::Channel> frontier;
  for (int o = 0; o < outputs; ++o)
    frontier.push_back({o, {}});
  for (int order = 0; order <= max_order; ++order) {
    std::vector<expr::Channel> next;
    for (const auto& c : frontier) {
      channels.insert(c);
      for (int i = 0; i < inputs; ++i)
        next.push_back(expr::differentiate(c, i));
    }
    frontier = next;
  }
  return channels;
}

// A small ResNet (2 inputs, 2 outputs, two blocks of width 6, silu) and modified MLP (2 inputs,
// 2 outputs, tanh): the non-MLP network types the engine tests compare.
inline model::ResNetOptions small_resnet(std::optional<model::FourierOptions> fourier = {}) {
  model::ResNetOptions options;
  options.inputs = 2;
  options.outputs = 2;
  options.width = 6;
  options.blocks = 2;
  options.activation = "silu";
  options.fourier = fourier;
  return options;
}

inline model::ModifiedMlpOptions small_modified_mlp(
    std::vector<int> hidden, std::optional<model::FourierOptions> fourier = {}) {
  model::ModifiedMlpOptions options;
  options.inputs = 2;
  options.outputs = 2;
  options.hidden = std::move(hidden);
  options.fourier = fourier;
  return options;
}

}  // namespace pinn::testing_support
