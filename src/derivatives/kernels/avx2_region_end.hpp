// Closes the region avx2_region_begin.hpp opened: what follows runs on any CPU.
#ifdef PINN_KERNELS_AVX2
#pragma GCC pop_options
#endif
