// Writing checkpoints durably and finding the newest readable one.
#include "train/checkpoint.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

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
  util::write_checksum_file(target, sum);
  file.commit();
  const auto all = files();
  for (size_t i = static_cast<size_t>(keep_); i < all.size(); ++i) {
    fs::remove(all[i], error);
    fs::remove(util::checksum_file(all[i]), error);
  }
  for (const auto& entry : fs::directory_iterator(directory_, error)) {
    const std::string entry_name = entry.path().filename().string();
    const bool sidecar =
        entry_name.size() > 7 && entry_name.compare(entry_name.size() - 7, 7, ".crc32c") == 0;
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
    std::string problem = util::checksum_damage(path);
    if (problem.empty()) {
      try {
        archive->load_from(path.string());
        c10::IValue meta;
        // Without a checksum (written before them), damage may still show in the state's text.
        if (archive->try_read("meta", meta) && meta.isString() &&
            nlohmann::json::accept(meta.toStringRef())) {
          loaded.path = path;
          loaded.archive = std::move(archive);
          return loaded;
        }
        problem = "it holds no readable trainer state";
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
