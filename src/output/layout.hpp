// What pinn-train writes into a directory of its own (a run directory, a sweep directory), as
// name patterns: --force removes exactly what a layout accounts for, and refuses a directory that
// holds anything else, so that no file a user put there is ever deleted.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pinn {
class FileLock;
}

namespace pinn::output {

// The lock file of every directory of a layout with a marker (util/file_lock.hpp).
inline constexpr const char* kLockFile = ".pinn-train-lock";

struct Layout {
  std::string kind;    // in messages: "run directory"
  std::string marker;  // the file pinn-train writes first into such a directory; empty: none
  // fnmatch(3) patterns of the files written here; each one's temporary "<name>.tmp" too.
  std::vector<std::string> files;
  // Patterns of the folders written here, with the layout of their contents.
  std::vector<std::pair<std::string, const Layout*>> folders;
};

// The run directory: config.json, model.pt, ..., checkpoints/, plots/.
const Layout& run_layout();
// The sweep directory: manifest.json, configs/, logs/, runs/<id>/ (run directories).
const Layout& sweep_layout();

// The entries under `directory` that `layout` does not account for, relative to `directory`:
// files of other names, folders where files belong, symbolic links where folders belong, and
// nested directories (of a layout with a marker) that lack their marker. Sorted.
std::vector<std::string> foreign_entries(const std::filesystem::path& directory,
                                         const Layout& layout);

// The folders under `directory` (itself included) whose layout has a marker: the directories
// that hold a lock of their own (a sweep's runs).
std::vector<std::filesystem::path> marked_directories(const std::filesystem::path& directory,
                                                      const Layout& layout);

// Removes what `layout` accounts for under `directory`, except the top-level names in `keep`
// (the lock file its holder keeps). Call it only once foreign_entries is empty. Returns the first
// failure's message, empty on success.
std::string remove_owned(const std::filesystem::path& directory, const Layout& layout,
                         const std::vector<std::string>& keep);

// Whether `name` is one of the files `layout` accounts for in its top folder.
bool accounts_for_file(const Layout& layout, const std::string& name);

// Makes `path` an empty directory of `layout` that this process holds: takes its lock (an
// InputError naming the holder when another process writes it), and when it holds anything,
// clears it if `force` allows and it is a marked directory holding only what `layout` accounts
// for (an InputError listing the rest otherwise). The marked directories inside it (a sweep's
// runs) must be free too. The caller writes the marker; the lock is held while it is kept.
std::shared_ptr<FileLock> claim_directory(const std::filesystem::path& path, const Layout& layout,
                                          bool force);

// The lock of an existing directory of ours, or an InputError naming whoever holds it.
std::shared_ptr<FileLock> lock_directory(const std::filesystem::path& path, const Layout& layout);

// "a, b and 3 more": the first few of `names` for a message.
std::string list_some(const std::vector<std::string>& names, size_t shown = 8);

}  // namespace pinn::output
