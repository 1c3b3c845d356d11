// File helpers: whole-file reads with clear errors, and atomic writes (temporary name, then
// rename) so that no half-written file ever looks complete.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace pinn {

// Reads a whole file; throws InputError naming the file when it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

// Writes through `write` into "<path>.tmp", flushes, then renames over `path`.
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
