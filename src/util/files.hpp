// File helpers: whole-file reads with clear errors, and atomic writes (temporary name, then
// rename) so that no half-written file ever looks complete.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace pinn {

// Reads a whole file; throws InputError naming the file when it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

// A file written under "<path>.tmp" and, by commit(), flushed to the disk and renamed over
// `path`: a reader sees the old file or the whole new one, never part of one. Every failure
// (a full disk, a quota, an I/O error) is an OutputError naming the file and the cause; an
// uncommitted file's temporary is removed when the object goes.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void commit();
  const std::filesystem::path& temporary() const { return temporary_; }

 private:
  [[noreturn]] void fail(const std::string& what, int cause);
  std::filesystem::path path_, temporary_;
  int descriptor_ = -1;
};

// Writes through `write` into "<path>.tmp", flushes it to the disk, then renames over `path`.
// Throws OutputError when any step fails; the temporary file is removed on failure.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write);

void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// Removes a file or a whole directory tree (symbolic links themselves, not their targets); a
// missing path is no error. Returns the first failure's message, empty on success.
//
// Not std::filesystem::remove_all: the pip PyTorch's libtorch.so (2.11) exports its own copy of
// that symbol, which wins at load time and crashes (a call through a null pointer) in any program
// linked with it.
std::string remove_tree(const std::filesystem::path& path);

}  // namespace pinn
