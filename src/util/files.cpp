// Whole-file reads and atomic writes.
#include "util/files.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/errors.hpp"

namespace pinn {

namespace fs = std::filesystem;

namespace {

// What an open()/read() failure means for a file the user named.
std::string reading_failure(const fs::path& path, int cause) {
  switch (cause) {
    case ENOENT:
      return "file not found";
    case ENAMETOOLONG:
      return "the name is too long for the file system (" + std::to_string(path.string().size()) +
             " characters)";
    case EACCES:
      return "permission denied";
    case ENOTDIR:
      return "a folder on its path is not a folder";
    default:
      return std::string("cannot be read: ") + std::strerror(cause);
  }
}

std::string not_a_regular_file(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory, not a file";
  if (S_ISFIFO(mode)) return "is a pipe (FIFO), not a file";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "is a device, not a file";
  if (S_ISSOCK(mode)) return "is a socket, not a file";
  return "is not a regular file";
}

}  // namespace

std::string read_text_file(const fs::path& path) {
  const std::string name = path.string();
  if (name.empty()) throw InputError("the file name is empty");
  if (name.find('\0') != std::string::npos) {
    throw InputError(name.substr(0, name.find('\0')), "the file name contains a NUL byte");
  }
  // Non-blocking, so that opening a FIFO returns at once; only regular files are read (a device
  // such as /dev/zero would never end).
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (descriptor < 0) throw InputError(name, reading_failure(path, errno));
  struct stat status {};
  if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
    const int cause = errno;
    ::close(descriptor);
    throw InputError(name, S_ISREG(status.st_mode) || status.st_mode == 0
                               ? reading_failure(path, cause)
                               : not_a_regular_file(status.st_mode));
  }
  std::string text;
  text.reserve(static_cast<size_t>(status.st_size));
  char buffer[1 << 16];
  while (true) {
    const ssize_t count = ::read(descriptor, buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      const int cause = errno;
      ::close(descriptor);
      throw InputError(name, reading_failure(path, cause));
    }
    if (count == 0) break;
    text.append(buffer, static_cast<size_t>(count));
  }
  ::close(descriptor);
  return text;
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
