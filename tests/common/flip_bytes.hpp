// Damage shared by the unit and end-to-end tests of checksummed files (checkpoints, model.pt).
#pragma once

#include <filesystem>
#include <fstream>
#include <vector>

namespace pinn_tests {

// Inverts 64 bytes in the middle of `file`, as a bad disk or a careless copy might.
inline void flip_bytes(const std::filesystem::path& file) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(file) / 2);
  std::vector<char> bytes(64);
  stream.seekg(middle);
  stream.read(bytes.data(), 64);
  for (auto& byte : bytes)
    byte = static_cast<char>(~byte);
  stream.seekp(middle);
  stream.write(bytes.data(), 64);
}

}  // namespace pinn_tests
