// CRC-32C (Castagnoli, the polynomial of iSCSI and ext4's metadata): a checksum of a file's bytes
// that catches any burst of flipped bytes up to 32 bits and nearly all others; what checkpoints and
// model.pt carry beside them so that a damaged one is found before it is loaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace pinn::util {

// The checksum of `size` bytes at `data` continuing `crc` (0 for the first block).
uint32_t crc32c(uint32_t crc, const void* data, size_t size);

struct FileChecksum {
  uint32_t crc = 0;
  uint64_t size = 0;
};

// The checksum of a whole file; nullopt when it cannot be read.
std::optional<FileChecksum> crc32c_of_file(const std::filesystem::path& path);

// The checksum file beside `file`: "<file>.crc32c", one line "crc32c 1a2b3c4d size 1234".
std::filesystem::path checksum_file(const std::filesystem::path& file);
// Writes it atomically (util/files.hpp); OutputError when it cannot.
void write_checksum_file(const std::filesystem::path& file, const FileChecksum& sum);
// What is wrong with the bytes of `file` by its checksum file: "" when they match, or when there is
// no checksum file (a file written before checksums); otherwise the reason, e.g. "damaged: its
// CRC-32C is 1a2b3c4d, its checksum file says 5e6f7a8b".
std::string checksum_damage(const std::filesystem::path& file);

}  // namespace pinn::util
