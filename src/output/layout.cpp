// The layouts of pinn-train's directories and the walks over them.
#include "output/layout.hpp"

#include <fnmatch.h>

#include <algorithm>

#include "util/errors.hpp"
#include "util/file_lock.hpp"
#include "util/files.hpp"

namespace pinn::output {

namespace fs = std::filesystem;

namespace {

bool matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), FNM_PERIOD) == 0;
}

bool is_owned_file(const Layout& layout, const std::string& name) {
  return std::any_of(layout.files.begin(), layout.files.end(), [&](const std::string& pattern) {
    return matches(pattern, name) || matches(pattern + ".tmp", name);
  });
}

const Layout* folder_layout(const Layout& layout, const std::string& name) {
  for (const auto& [pattern, contents] : layout.folders) {
    if (matches(pattern, name)) return contents;
  }
  return nullptr;
}

std::vector<fs::directory_entry> entries_of(const fs::path& directory) {
  std::vector<fs::directory_entry> entries;
  std::error_code error;
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error))
    entries.push_back(*it);
  return entries;
}

void collect_foreign(const fs::path& directory, const Layout& layout, const fs::path& prefix,
                     std::vector<std::string>& foreign) {
  for (const auto& entry : entries_of(directory)) {
    const std::string name = entry.path().filename().string();
    const fs::path relative = prefix / name;
    std::error_code error;
    const auto status = entry.symlink_status(error);
    const bool folder = fs::is_directory(status);
    const Layout* contents = folder ? folder_layout(layout, name) : nullptr;
    if (contents == nullptr) {
      // A file of ours (a symbolic link by that name too: removing it leaves its target alone).
      if (!folder && is_owned_file(layout, name)) continue;
      foreign.push_back(relative.string() + (folder ? "/" : ""));
      continue;
    }
    if (!contents->marker.empty() && !fs::exists(entry.path() / contents->marker, error)) {
      foreign.push_back(relative.string() + "/ (a " + contents->kind + " without its " +
                        contents->marker + ")");
      continue;
    }
    collect_foreign(entry.path(), *contents, relative, foreign);
  }
}

void collect_marked(const fs::path& directory, const Layout& layout,
                    std::vector<fs::path>& marked) {
  if (!layout.marker.empty()) marked.push_back(directory);
  for (const auto& entry : entries_of(directory)) {
    std::error_code error;
    if (!fs::is_directory(entry.symlink_status(error))) continue;
    if (const Layout* contents = folder_layout(layout, entry.path().filename().string()))
      collect_marked(entry.path(), *contents, marked);
  }
}

Layout make_run_layout() {
  static const Layout checkpoints{
      "checkpoint folder", "", {"checkpoint-*.pt", "checkpoint-*.pt.crc32c"}, {}};
  static const Layout plots{"plot folder", "", {"*.png"}, {}};
  return {"run directory",
          ".pinn-train-run",
          {".pinn-train-run", ".pinn-train-lock", "config.json", "source.json", "summary.json",
           "history.csv", "model.pt", "model.pt.crc32c", "model_best.pt", "model_best.pt.crc32c",
           "train.log", "plots.log", "reference.csv", "predictions_*.csv"},
          {{"checkpoints", &checkpoints}, {"plots", &plots}}};
}

Layout make_sweep_layout() {
  static const Layout configs{"sweep's config folder", "", {"*.json"}, {}};
  static const Layout logs{"sweep's log folder", "", {"*.log", "*.out"}, {}};
  static const Layout runs{"sweep's run folder", "", {}, {{"run-*", &run_layout()}}};
  return {"sweep directory",
          ".pinn-train-sweep",
          {".pinn-train-sweep", ".pinn-train-lock", "manifest.json", "configs.txt", "sweep.sbatch",
           "results.csv"},
          {{"configs", &configs}, {"logs", &logs}, {"runs", &runs}}};
}

}  // namespace

const Layout& run_layout() {
  static const Layout layout = make_run_layout();
  return layout;
}

const Layout& sweep_layout() {
  static const Layout layout = make_sweep_layout();
  return layout;
}

std::vector<std::string> foreign_entries(const fs::path& directory, const Layout& layout) {
  std::vector<std::string> foreign;
  collect_foreign(directory, layout, "", foreign);
  std::sort(foreign.begin(), foreign.end());
  return foreign;
}

std::vector<fs::path> marked_directories(const fs::path& directory, const Layout& layout) {
  std::vector<fs::path> marked;
  collect_marked(directory, layout, marked);
  return marked;
}

std::string remove_owned(const fs::path& directory, const Layout& layout,
                         const std::vector<std::string>& keep) {
  for (const auto& entry : entries_of(directory)) {
    const std::string name = entry.path().filename().string();
    if (std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    // The marker goes last: a process killed half-way leaves a directory still known as ours.
    if (name == layout.marker) continue;
    std::error_code error;
    const bool folder = fs::is_directory(entry.symlink_status(error));
    const bool owned =
        folder ? folder_layout(layout, name) != nullptr : is_owned_file(layout, name);
    if (!owned) continue;  // never reached after an empty foreign_entries; kept all the same
    if (std::string failure = remove_tree(entry.path()); !failure.empty()) return failure;
  }
  if (layout.marker.empty() || std::find(keep.begin(), keep.end(), layout.marker) != keep.end()) {
    return "";
  }
  return remove_tree(directory / layout.marker);
}

bool accounts_for_file(const Layout& layout, const std::string& name) {
  return is_owned_file(layout, name);
}

std::shared_ptr<FileLock> lock_directory(const fs::path& path, const Layout& layout) {
  auto attempt = FileLock::try_lock(path / kLockFile, true);
  if (!attempt.lock) {
    throw InputError(path.string(), "the " + layout.kind + " is being written by " +
                                        attempt.holder +
                                        "; wait for it to end or choose another --output");
  }
  return std::move(attempt.lock);
}

namespace {

// Refuses to clear `path` unless pinn-train made it and it holds only pinn-train's files.
void check_replaceable(const fs::path& path, const Layout& layout) {
  std::error_code error;
  if (!fs::exists(path / layout.marker, error)) {
    std::vector<std::string> entries;
    for (const auto& entry : entries_of(path))
      entries.push_back(entry.path().filename().string());
    std::sort(entries.begin(), entries.end());
    throw InputError(path.string(), "--force replaces only a " + layout.kind +
                                        " that pinn-train made (one holding " + layout.marker +
                                        "), and this one has none: it would have to delete " +
                                        list_some(entries, 20) +
                                        ". Choose another --output, or remove it yourself");
  }
  const auto foreign = foreign_entries(path, layout);
  if (!foreign.empty()) {
    throw InputError(path.string(), "--force would delete files pinn-train did not write: " +
                                        list_some(foreign, 20) + ". Move them out of the " +
                                        layout.kind + ", or choose another --output");
  }
}

}  // namespace

std::shared_ptr<FileLock> claim_directory(const fs::path& path, const Layout& layout, bool force) {
  std::error_code error;
  std::shared_ptr<FileLock> lock;
  if (fs::exists(path, error)) {
    if (!fs::is_directory(path, error)) {
      throw InputError(path.string(), "exists and is not a directory; choose another --output");
    }
    // A lock file means a directory of ours that another process may be writing: ask it first.
    // Without one, no lock file is made before the directory is known to be ours.
    if (fs::exists(path / kLockFile, error)) lock = lock_directory(path, layout);
    // Our lock and a marker still under its temporary name: a process killed while it made the
    // directory, which is as good as empty.
    const auto entries = entries_of(path);
    const bool empty = std::all_of(entries.begin(), entries.end(), [&](const auto& entry) {
      const auto name = entry.path().filename();
      return name == kLockFile || (!layout.marker.empty() && name == layout.marker + ".tmp");
    });
    if (!empty) {
      if (!force) {
        throw InputError(path.string(), "the " + layout.kind +
                                            " already exists; pass --force to replace it, or "
                                            "choose another with --output");
      }
      check_replaceable(path, layout);
      if (!lock) lock = lock_directory(path, layout);
      std::vector<std::shared_ptr<FileLock>> inner;
      for (const auto& directory : marked_directories(path, layout)) {
        if (directory != path) inner.push_back(lock_directory(directory, run_layout()));
      }
      if (const std::string failure = remove_owned(path, layout, {kLockFile}); !failure.empty())
        throw OutputError("cannot remove " + failure);
    }
  }
  fs::create_directories(path, error);
  if (error) throw OutputError("cannot create " + path.string() + ": " + error.message());
  return lock ? lock : lock_directory(path, layout);
}

std::string list_some(const std::vector<std::string>& names, size_t shown) {
  std::string text;
  for (size_t i = 0; i < names.size() && i < shown; ++i)
    text += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > shown) text += " and " + std::to_string(names.size() - shown) + " more";
  return text;
}

}  // namespace pinn::output
