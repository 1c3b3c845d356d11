// Channel: one input-derivative of one network output, e.g. u, u_x or u_xy. The vocabulary shared
// by expressions (which ask for channels) and derivative engines (which compute them).
#pragma once

#include <string>
#include <vector>

namespace pinn::expr {

struct Channel {
  int output = 0;        // index into the problem's outputs
  std::vector<int> wrt;  // input indices, sorted ascending; empty for the value itself

  int order() const { return static_cast<int>(wrt.size()); }
  bool operator<(const Channel& other) const {
    return output != other.output ? output < other.output : wrt < other.wrt;
  }
  bool operator==(const Channel& other) const { return output == other.output && wrt == other.wrt; }
};

// A channel differentiated once more along input `input` (kept sorted: partials commute).
Channel differentiate(Channel channel, int input);

// "u", "u_x", "u_xy" when every input name is a single character, else "d(u,x1,x2)".
std::string channel_name(const Channel& channel, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs);

}  // namespace pinn::expr
