// Writing checkpoints durably and finding the newest readable one.
#include "train/checkpoint.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "util/errors.hpp"

namespace pinn::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kSuffix = ".pt";

// Flushes a file or a directory to the disk, so that a rename after it cannot be seen before the
// data (a crash then leaves the old checkpoint or the new one, never an empty file).
void sync_path(const fs::path& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY);
  if (descriptor < 0) throw OutputError("cannot open " + path.string() + " to flush it");
  const int status = ::fsync(descriptor);
  ::close(descriptor);
  if (status != 0) throw OutputError("cannot flush " + path.string() + " to the disk");
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
  const fs::path temporary = target.string() + ".tmp";
  try {
    archive.save_to(temporary.string());
  } catch (const c10::Error& e) {
    fs::remove(temporary, error);
    throw OutputError("cannot write " + temporary.string() + ": " + e.what_without_backtrace());
  }
  sync_path(temporary);
  fs::rename(temporary, target, error);
  if (error) throw OutputError("cannot rename " + temporary.string() + ": " + error.message());
  sync_path(directory_);
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
