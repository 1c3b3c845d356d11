// Whole-file reads and atomic writes.
#include "util/files.hpp"

#include <ftw.h>

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

void write_file_atomically(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw OutputError("cannot write " + temporary.string());
    write(out);
    out.flush();
    if (!out) {
      out.close();
      fs::remove(temporary);
      throw OutputError("writing " + temporary.string() + " failed (disk full?)");
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    fs::remove(temporary);
    throw OutputError("cannot rename " + temporary.string() + " to " + path.string() + ": " +
                      error.message());
  }
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
