// Whole-file reads and atomic writes.
#include "util/files.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/errors.hpp"

namespace pinn {

namespace fs = std::filesystem;

std::string read_text_file(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(path, error)) throw InputError(path.string(), "file not found");
  if (fs::is_directory(path, error)) throw InputError(path.string(), "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot be opened for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path.string(), "read failed");
  return text.str();
}

namespace {

// Flushes a file or a folder to the disk: after a rename, so that a crash cannot leave the new
// name without its data. Returns the errno of a failure, 0 on success.
int sync_path(const fs::path& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) return errno;
  const int status = ::fsync(descriptor) == 0 ? 0 : errno;
  ::close(descriptor);
  // Some file systems cannot flush a folder: that is no failure of the write.
  return status == EINVAL || status == EROFS ? 0 : status;
}

}  // namespace

AtomicFile::AtomicFile(fs::path path)
    : path_(std::move(path)), temporary_(path_.string() + ".tmp") {
  descriptor_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (descriptor_ < 0) fail("cannot create " + temporary_.string(), errno);
}

AtomicFile::~AtomicFile() {
  if (descriptor_ >= 0) ::close(descriptor_);
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
}

void AtomicFile::fail(const std::string& what, int cause) {
  if (descriptor_ >= 0) ::close(descriptor_);
  descriptor_ = -1;
  ::unlink(temporary_.c_str());
  temporary_.clear();
  throw OutputError(what + ": " + std::strerror(cause));
}

void AtomicFile::write(const void* data, size_t size) {
  if (descriptor_ < 0) throw OutputError("writing " + path_.string() + " after it was closed");
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(descriptor_, bytes, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail("cannot write " + temporary_.string(), written < 0 ? errno : ENOSPC);
    bytes += written;
    size -= static_cast<size_t>(written);
  }
}

void AtomicFile::commit() {
  if (descriptor_ < 0) throw OutputError("committing " + path_.string() + " after it was closed");
  // Quotas and network file systems may report a full disk only here.
  if (::fsync(descriptor_) != 0) fail("cannot flush " + temporary_.string(), errno);
  const int closed = ::close(descriptor_);
  descriptor_ = -1;
  if (closed != 0) fail("cannot close " + temporary_.string(), errno);
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    fail("cannot rename " + temporary_.string() + " to " + path_.string(), errno);
  }
  temporary_.clear();
  const fs::path folder = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
  if (const int cause = sync_path(folder); cause != 0) {
    throw OutputError("cannot flush " + folder.string() + " after writing " + path_.string() +
                      ": " + std::strerror(cause));
  }
}

void write_file_atomically(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  std::ostringstream text;
  write(text);
  const std::string bytes = text.str();
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

namespace {

// nftw's callback has no user argument: the first failure goes into this thread's slot.
thread_local std::string remove_tree_failure;

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  if (std::remove(path) != 0 && errno != ENOENT) {
    remove_tree_failure = std::string(path) + ": " + std::strerror(errno);
    return 1;  // stops the walk
  }
  return 0;
}

}  // namespace

std::string remove_tree(const fs::path& path) {
  std::error_code error;
  if (!fs::exists(fs::symlink_status(path, error))) return "";
  remove_tree_failure.clear();
  // Depth first (contents before their directory), without following symbolic links.
  if (nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0 &&
      remove_tree_failure.empty()) {
    remove_tree_failure = path.string() + ": " + std::strerror(errno);
  }
  return remove_tree_failure;
}

}  // namespace pinn
