// pinn-train's entry point; everything happens in cli/.
#include "cli/app.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

// A training step allocates and frees the same large tensors every time. By default glibc serves
// large blocks with fresh mmap()s and returns freed heap tops to the kernel, so every step pays
// for page faults on zeroed pages (a quarter of the Taylor engine's step time, measured). Keeping
// freed memory in the heap for reuse avoids that; the peak memory is unchanged.
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  return pinn::cli::run_cli(argc, argv);
}
