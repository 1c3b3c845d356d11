// Usable memory: /proc/meminfo's MemTotal and the cgroup v2 (or v1) limit.
#include "util/memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "util/errors.hpp"

namespace pinn::util {

namespace {

// A cgroup limit file's value in bytes; 0 when absent or unlimited ("max").
double cgroup_limit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

double usable_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  double bytes = pages > 0 && page_size > 0 ? static_cast<double>(pages) * page_size : 0;
  for (const char* limit :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    const double cgroup = cgroup_limit(limit);
    if (cgroup > 0 && (bytes == 0 || cgroup < bytes)) bytes = cgroup;
  }
  return bytes;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 6) {
    bytes /= 1000;
    ++unit;
  }
  char text[48];
  std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

void check_fits_in_memory(double bytes, const std::string& what, const std::string& where) {
  const double usable = usable_memory_bytes();
  if (usable <= 0 || bytes <= usable) return;
  throw InputError(where, what + " would take about " + format_bytes(bytes) + ", more than the " +
                              format_bytes(usable) + " of memory this machine has");
}

}  // namespace pinn::util
