// flock on a lock file whose text names the holder.
#include "util/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "util/errors.hpp"
#include "util/timestamp.hpp"

namespace pinn {

namespace {

std::string read_descriptor(int descriptor) {
  std::string text;
  char buffer[512];
  ssize_t count = 0;
  off_t offset = 0;
  while ((count = ::pread(descriptor, buffer, sizeof buffer, offset)) > 0) {
    text.append(buffer, static_cast<size_t>(count));
    offset += count;
  }
  return text;
}

// The holder as the lock file names it; the holder writes its line only once it has the lock,
// so a lock taken an instant ago may not say yet.
std::string describe_holder(const std::string& text) {
  try {
    const auto holder = nlohmann::json::parse(text);
    return "PID " + std::to_string(holder.at("pid").get<long>()) + " on host " +
           holder.at("host").get<std::string>() + " (since " +
           holder.at("since").get<std::string>() + ")";
  } catch (const nlohmann::json::exception&) {
    return "another process (it has not written its PID yet)";
  }
}

// Records this process as the holder. A full disk may refuse even these few bytes: the lock
// holds all the same, and a refused second writer then reads no PID.
void write_holder(int descriptor) {
  const std::string line =
      nlohmann::json{
          {"pid", static_cast<long>(::getpid())}, {"host", host_name()}, {"since", utc_timestamp()}}
          .dump() +
      "\n";
  if (::ftruncate(descriptor, 0) != 0) return;
  if (::pwrite(descriptor, line.data(), line.size(), 0) < 0) return;
}

}  // namespace

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

FileLock::Attempt FileLock::try_lock(const std::filesystem::path& path, bool create) {
  const int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
  const int descriptor = ::open(path.c_str(), flags, 0644);
  if (descriptor < 0) {
    if (errno == ENOENT && !create) return {};
    throw OutputError("cannot open the lock file " + path.string() + ": " + std::strerror(errno));
  }
  if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) {
    const int cause = errno;
    const std::string holder = describe_holder(read_descriptor(descriptor));
    ::close(descriptor);
    if (cause == EWOULDBLOCK) return {nullptr, holder};
    throw OutputError("cannot lock " + path.string() + ": " + std::strerror(cause));
  }
  write_holder(descriptor);
  return {std::unique_ptr<FileLock>(new FileLock(descriptor)), ""};
}

FileLock::~FileLock() {
  ::close(descriptor_);  // releases the lock
}

}  // namespace pinn
