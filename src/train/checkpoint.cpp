// Writing checkpoints durably and finding the newest readable one.
#include "train/checkpoint.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "util/crc32c.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kSuffix = ".pt";

constexpr const char* kChecksumSuffix = ".crc32c";

fs::path checksum_path(const fs::path& checkpoint) {
  return checkpoint.string() + kChecksumSuffix;
}

std::string hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

// What is wrong with the bytes of `checkpoint` by its checksum file ("" when they match, or for a
// checkpoint written before checksums, which has none).
std::string damage(const fs::path& checkpoint) {
  std::error_code error;
  const fs::path sidecar = checksum_path(checkpoint);
  if (!fs::exists(sidecar, error)) return "";
  std::string expected_crc;
  unsigned long long expected_size = 0;
  {
    std::FILE* file = std::fopen(sidecar.c_str(), "r");
    char crc[16] = {0};
    const int read =
        file != nullptr ? std::fscanf(file, "crc32c %8s size %llu", crc, &expected_size) : 0;
    if (file != nullptr) std::fclose(file);
    if (read != 2) return "its checksum file " + sidecar.filename().string() + " is unreadable";
    expected_crc = crc;
  }
  const auto actual = util::crc32c_of_file(checkpoint);
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

bool is_checkpoint(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.rfind(kPrefix, 0) == 0 && name.size() > 3 &&
         name.compare(name.size() - 3, 3, kSuffix) == 0;
}

}  // namespace

CheckpointStore::CheckpointStore(fs::path directory, int keep)
    : directory_(std::move(directory)), keep_(std::max(keep, 1)) {}

void CheckpointStore::write(torch::serialize::OutputArchive& archive, int64_t step) const {
  std::error_code error;
  fs::create_directories(directory_, error);
  if (error) throw OutputError("cannot create " + directory_.string() + ": " + error.message());
  char name[64];
  std::snprintf(name, sizeof name, "%s%012lld%s", kPrefix, static_cast<long long>(step), kSuffix);
  const fs::path target = directory_ / name;
  // LibTorch's writer must never see a failure: it throws, and throws again from its destructor
  // (a terminate). The first failure is kept and raised once the archive is done.
  AtomicFile file(target);
  std::optional<OutputError> failure;
  util::FileChecksum sum;
  archive.save_to([&](const void* data, size_t size) -> size_t {
    sum.crc = util::crc32c(sum.crc, data, size);
    sum.size += size;
    if (!failure) {
      try {
        file.write(data, size);
      } catch (const OutputError& e) {
        failure = e;
      }
    }
    return size;
  });
  if (failure) throw *failure;
  // The checksum first: a checkpoint never stands without it (a checksum left without its
  // checkpoint by a crash in between is removed below, next time).
  write_text_atomically(checksum_path(target),
                        "crc32c " + hex(sum.crc) + " size " + std::to_string(sum.size) + "\n");
  file.commit();
  const auto all = files();
  for (size_t i = static_cast<size_t>(keep_); i < all.size(); ++i) {
    fs::remove(all[i], error);
    fs::remove(checksum_path(all[i]), error);
  }
  for (const auto& entry : fs::directory_iterator(directory_, error)) {
    const std::string entry_name = entry.path().filename().string();
    const bool sidecar =
        entry_name.size() > 7 && entry_name.compare(entry_name.size() - 7, 7, kChecksumSuffix) == 0;
    if (sidecar && !fs::exists(directory_ / entry_name.substr(0, entry_name.size() - 7))) {
      fs::remove(entry.path(), error);
    }
  }
}

std::vector<fs::path> CheckpointStore::files() const {
  std::vector<fs::path> found;
  std::error_code error;
  if (!fs::is_directory(directory_, error)) return found;
  for (const auto& entry : fs::directory_iterator(directory_, error)) {
    if (entry.is_regular_file() && is_checkpoint(entry.path())) found.push_back(entry.path());
  }
  // Fixed-width step numbers: the names sort as the steps do.
  std::sort(found.begin(), found.end(), std::greater<>());
  return found;
}

CheckpointStore::Loaded CheckpointStore::load_latest() const {
  Loaded loaded;
  for (const auto& path : files()) {
    auto archive = std::make_unique<torch::serialize::InputArchive>();
    std::string problem = damage(path);
    if (problem.empty()) {
      try {
        archive->load_from(path.string());
        c10::IValue meta;
        if (archive->try_read("meta", meta) && meta.isString()) {
          loaded.path = path;
          loaded.archive = std::move(archive);
          return loaded;
        }
        problem = "it holds no trainer state";
      } catch (const c10::Error& e) {
        problem = e.what_without_backtrace();
      }
    }
    spdlog::warn("checkpoint {} cannot be used ({}); trying the one before it", path.string(),
                 problem);
    loaded.rejected.push_back(path.filename().string() + ": " + problem);
  }
  return loaded;
}

}  // namespace pinn::train
