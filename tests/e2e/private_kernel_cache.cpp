// This test binary's kernel cache is its own (see the header).
#include "../common/private_kernel_cache.hpp"
