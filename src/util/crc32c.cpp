// A table-driven CRC-32C, one byte at a time (checkpoints are read once per resume).
#include "util/crc32c.hpp"

#include <array>
#include <fstream>
#include <vector>

namespace pinn::util {

namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // 0x1EDC6F41, bit-reversed

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t value = byte;
    for (int bit = 0; bit < 8; ++bit)
      value = (value >> 1) ^ ((value & 1u) != 0 ? kPolynomial : 0u);
    table[byte] = value;
  }
  return table;
}

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = make_table();
  const auto* bytes = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = (crc >> 8) ^ table[(crc ^ bytes[i]) & 0xFFu];
  return ~crc;
}

std::optional<FileChecksum> crc32c_of_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  FileChecksum sum;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<size_t>(in.gcount());
    sum.crc = crc32c(sum.crc, buffer.data(), got);
    sum.size += got;
  }
  if (in.bad()) return std::nullopt;
  return sum;
}

}  // namespace pinn::util
