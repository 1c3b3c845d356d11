// Channel: one input-derivative of one network output, e.g. u, u_x or u_xy. The vocabulary shared
// by expressions (which ask for channels) and derivative engines (which compute them).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pinn::expr {

struct Channel {
  int output = 0;        // index into the problem's outputs
  std::vector<int> wrt;  // input indices, sorted ascending; empty for the value itself
  // When not empty, the channel is the summed Laplacian Σ_{i in laplacian} ∂²/∂x_i² of the
  // output (wrt then empty): one channel rather than one per input, which an engine may propagate
  // as such (taylor) or sum from its terms (Engine::compute, laplacian_terms).
  std::vector<int> laplacian;

  Channel() = default;
  Channel(int output_index, std::vector<int> inputs, std::vector<int> laplacian_inputs = {})
      : output(output_index), wrt(std::move(inputs)), laplacian(std::move(laplacian_inputs)) {}

  int order() const { return static_cast<int>(wrt.size()) + (laplacian.empty() ? 0 : 2); }
  bool operator<(const Channel& other) const {
    if (output != other.output) return output < other.output;
    return wrt != other.wrt ? wrt < other.wrt : laplacian < other.laplacian;
  }
  bool operator==(const Channel& other) const {
    return output == other.output && wrt == other.wrt && laplacian == other.laplacian;
  }
};

// A channel differentiated once more along input `input` (kept sorted: partials commute).
Channel differentiate(Channel channel, int input);

// The terms ∂²/∂x_i² of a summed Laplacian channel (itself for any other channel).
std::vector<Channel> laplacian_terms(const Channel& channel);

// "u", "u_x", "u_xy" when every input name is a single character, else "d(u,x1,x2)"; a summed
// Laplacian is "lap(u,x,y)".
std::string channel_name(const Channel& channel, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs);

}  // namespace pinn::expr
