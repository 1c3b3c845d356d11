// A table-driven CRC-32C, one byte at a time (checkpoints are read once per resume).
#include "util/crc32c.hpp"

#include <array>
#include <cstdio>
#include <fstream>
#include <vector>

#include "util/files.hpp"

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

namespace {

std::string hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

}  // namespace

std::filesystem::path checksum_file(const std::filesystem::path& file) {
  return file.string() + ".crc32c";
}

void write_checksum_file(const std::filesystem::path& file, const FileChecksum& sum) {
  write_text_atomically(checksum_file(file),
                        "crc32c " + hex(sum.crc) + " size " + std::to_string(sum.size) + "\n");
}

std::string checksum_damage(const std::filesystem::path& file) {
  std::error_code error;
  const std::filesystem::path sidecar = checksum_file(file);
  if (!std::filesystem::exists(sidecar, error)) return "";
  std::string expected_crc;
  unsigned long long expected_size = 0;
  {
    std::FILE* stream = std::fopen(sidecar.c_str(), "r");
    char crc[16] = {0};
    const int read =
        stream != nullptr ? std::fscanf(stream, "crc32c %8s size %llu", crc, &expected_size) : 0;
    if (stream != nullptr) std::fclose(stream);
    if (read != 2) return "its checksum file " + sidecar.filename().string() + " is unreadable";
    expected_crc = crc;
  }
  const auto actual = crc32c_of_file(file);
  if (!actual) return "it cannot be read";
  if (actual->size != expected_size) {
    return "damaged: " + std::to_string(actual->size) + " bytes, its checksum file says " +
           std::to_string(expected_size);
  }
  if (hex(actual->crc) != expected_crc) {
    return "damaged: its CRC-32C is " + hex(actual->crc) + ", its checksum file says " +
           expected_crc;
  }
  return "";
}

}  // namespace pinn::util
