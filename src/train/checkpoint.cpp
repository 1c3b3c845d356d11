// Writing checkpoints durably and finding the newest readable one.
#include "train/checkpoint.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <optional>

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
  archive.save_to([&](const void* data, size_t size) -> size_t {
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
  file.commit();
  const auto all = files();
  for (size_t i = static_cast<size_t>(keep_); i < all.size(); ++i)
    fs::remove(all[i], error);
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
  for (const auto& path : files()) {
    auto archive = std::make_unique<torch::serialize::InputArchive>();
    std::string problem;
    try {
      archive->load_from(path.string());
      c10::IValue meta;
      if (archive->try_read("meta", meta) && meta.isString()) return {path, std::move(archive)};
      problem = "it holds no trainer state";
    } catch (const c10::Error& e) {
      problem = e.what_without_backtrace();
    }
    spdlog::warn("checkpoint {} cannot be read ({}); trying the one before it", path.string(),
                 problem);
  }
  return {};
}

}  // namespace pinn::train
