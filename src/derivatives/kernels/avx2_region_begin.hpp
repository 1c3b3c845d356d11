// Opens the AVX2 and FMA target region of a kernel file: what follows, up to
// avx2_region_end.hpp, is compiled for AVX2 and FMA (plain code off x86-64 GCC), with
// PINN_KERNELS_AVX2 defined inside, and PINN_KERNEL_ISA naming the namespace of its template
// instantiations (see small_gemm.hpp). Included once per file, before the kernel headers; the
// file must check the CPU (kernels::available) before calling into the region.
#if defined(__GNUC__) && defined(__x86_64__)
#define PINN_KERNELS_AVX2 1
#define PINN_KERNEL_ISA avx2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#else
#define PINN_KERNEL_ISA generic
#endif
