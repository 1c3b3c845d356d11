// Advisory locks (flock) on a lock file: a directory pinn-train writes holds one for the life of
// the process. The kernel releases it when the process ends, however it ends, so a lock left by a
// killed process is no obstacle; the file itself stays and names its last holder.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace pinn {

class FileLock {
 public:
  struct Attempt {
    std::unique_ptr<FileLock> lock;  // null when another process holds it
    std::string holder;              // then who: "PID 123 on host node7 (since ...)"
  };
  // Takes the lock on `path` without waiting. With `create` a missing lock file is made; without
  // it a missing file is an unheld lock that cannot be taken (lock stays null, holder empty).
  // Throws OutputError when the file cannot be opened for another reason than its absence.
  static Attempt try_lock(const std::filesystem::path& path, bool create);

  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int descriptor) : descriptor_(descriptor) {}
  int descriptor_;
};

// This machine's host name ("unknown" when it has none).
std::string host_name();

}  // namespace pinn
