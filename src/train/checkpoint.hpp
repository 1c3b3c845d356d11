// Checkpoint files: RUN_DIR/checkpoints/checkpoint-<step>.pt, each one torch archive holding what
// the trainer needs to continue exactly where it stopped (see Trainer::save). A checkpoint is
// written under a temporary name, fsynced and renamed, and the previous one is removed only once
// the new one is complete; a checkpoint that cannot be read is reported and the one before it
// is used. Beside each, checkpoint-<step>.pt.crc32c holds the CRC-32C and size of its bytes,
// written before the checkpoint itself: a checkpoint whose bytes no longer match (a damaged disk,
// a partial copy) is found before it is loaded.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace pinn::train {

class CheckpointStore {
 public:
  explicit CheckpointStore(std::filesystem::path directory, int keep = 2);

  const std::filesystem::path& directory() const { return directory_; }
  // Writes `archive` as the checkpoint of `step`, then removes all but the newest `keep`.
  // Throws OutputError when it cannot be written.
  void write(torch::serialize::OutputArchive& archive, int64_t step) const;
  // The checkpoint files, newest first.
  std::vector<std::filesystem::path> files() const;

  struct Loaded {
    std::filesystem::path path;
    std::unique_ptr<torch::serialize::InputArchive> archive;
    std::vector<std::string> rejected;  // "<file>: <why>" for each newer one that failed
  };
  // The newest checkpoint that can be read (unreadable ones are logged as warnings and skipped);
  // an empty Loaded when there is none.
  Loaded load_latest() const;

 private:
  std::filesystem::path directory_;
  int keep_;
};

}  // namespace pinn::train
