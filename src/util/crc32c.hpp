// CRC-32C (Castagnoli, the polynomial of iSCSI and ext4's metadata): a checksum of a file's bytes
// that catches any burst of flipped bytes up to 32 bits and nearly all others; what checkpoints
// carry beside them so that a damaged one is found before it is loaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace pinn::util {

// The checksum of `size` bytes at `data` continuing `crc` (0 for the first block).
uint32_t crc32c(uint32_t crc, const void* data, size_t size);

struct FileChecksum {
  uint32_t crc = 0;
  uint64_t size = 0;
};

// The checksum of a whole file; nullopt when it cannot be read.
std::optional<FileChecksum> crc32c_of_file(const std::filesystem::path& path);

}  // namespace pinn::util
