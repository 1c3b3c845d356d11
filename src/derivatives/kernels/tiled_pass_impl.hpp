// The tiled pass itself (see tiled_pass.hpp), written once and compiled once per instruction
// set: tiled_pass_avx2.cpp and tiled_pass_avx512.cpp include it inside their target regions,
// with PINN_KERNEL_ISA naming the namespace of their instantiations (small_gemm.hpp says why).
// In a tile of n points, a layer's stacked channels are one (C·n) x ld row-major block, ld the
// layer's width rounded up to whole 32-byte vectors: channel c's rows start at c·n·ld. Internal:
// include it only from those two files, after the standard and LibTorch headers.
#pragma once

#include "derivatives/kernels/faa_di_bruno_blocks.hpp"
#include "derivatives/kernels/small_gemm.hpp"
#include "derivatives/kernels/tiled_pass.hpp"
#include "derivatives/kernels/tiled_pass_builds.hpp"

#if defined(PINN_KERNELS_AVX2) && defined(PINN_HAVE_LIBMVEC)
// glibc's vector math library (libmvec, glibc 2.35 and later): tanh and exp per register width.
extern "C" {
__m256d _ZGVdN4v_expm1(__m256d);
__m256 _ZGVdN8v_tanhf(__m256);
__m256d _ZGVdN4v_exp(__m256d);
__m256 _ZGVdN8v_expf(__m256);
#ifdef PINN_KERNELS_AVX512
__m512d _ZGVeN8v_expm1(__m512d);
__m512 _ZGVeN16v_tanhf(__m512);
__m512d _ZGVeN8v_exp(__m512d);
__m512 _ZGVeN16v_expf(__m512);
#endif
}
#endif

namespace pinn::derivatives::tiles {
inline namespace PINN_KERNEL_ISA {

namespace {

using namespace kernels::blocks;  // NOLINT: the Faà di Bruno blocks this pass drives
using kernels::gemm::gemm_nn;
using kernels::gemm::gemm_nt_narrow;
using kernels::gemm::gemm_tn_add;

// A tile's buffers (every layer's Z and H, and the backward pass's scratch) should stay within the
// L2 cache together: the schedule's tile_bytes of them (a variant's tile size, tiled_pass.cpp), in
// tiles of kMinRows to kMaxRows points.
constexpr int64_t kMinRows = 8, kMaxRows = 1024;
// Layers with at most this many outputs (a network's output layer, mostly) take dot products
// rather than the register-blocked product (see gemm_nt_narrow).
constexpr int64_t kNarrowOutputs = 4;

using Kind = model::ActivationKind;  // identity, tanh or sigmoid (supports_activation)

// ---- σ(z) on a run of values ----

#if defined(PINN_KERNELS_AVX2) && defined(PINN_HAVE_LIBMVEC)
// tanh and exp on one register: glibc's vector math library (libmvec), accurate to a few ulp.
//
// float64 tanh as sign(x) · -e / (2 + e) with e = expm1(-2|x|): libmvec's expm1 takes less than
// half the time of its tanh (0.83 against 1.81 ns per value on an AMD EPYC, Zen 4; tanh was 13 %
// of the float64 Burgers step), and nothing cancels (e in (-1, 0]), so the result stays within
// 4 units of 2^-53 of the exact value (measured on 16 million values from 1e-15 to 4e4, against
// long double tanhl; libmvec's tanh: 1.6). float32
// keeps tanhf: there the two ways cost the same.
template <typename T>
struct VectorMath;

#ifdef PINN_KERNELS_AVX512
template <>
struct VectorMath<float> {
  static __m512 tanh(__m512 x) { return _ZGVeN16v_tanhf(x); }
  static __m512 exp(__m512 x) { return _ZGVeN16v_expf(x); }
};
template <>
struct VectorMath<double> {
  static __m512d tanh(__m512d x) {
    const __m512d sign = _mm512_set1_pd(-0.0);
    const __m512d e =
        _ZGVeN8v_expm1(_mm512_mul_pd(_mm512_set1_pd(-2.0), _mm512_andnot_pd(sign, x)));
    const __m512d magnitude =
        _mm512_div_pd(_mm512_sub_pd(_mm512_setzero_pd(), e), _mm512_add_pd(_mm512_set1_pd(2.0), e));
    return _mm512_or_pd(magnitude, _mm512_and_pd(sign, x));
  }
  static __m512d exp(__m512d x) { return _ZGVeN8v_exp(x); }
};
#else
template <>
struct VectorMath<float> {
  static __m256 tanh(__m256 x) { return _ZGVdN8v_tanhf(x); }
  static __m256 exp(__m256 x) { return _ZGVdN8v_expf(x); }
};
template <>
struct VectorMath<double> {
  static __m256d tanh(__m256d x) {
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d e =
        _ZGVdN4v_expm1(_mm256_mul_pd(_mm256_set1_pd(-2.0), _mm256_andnot_pd(sign, x)));
    const __m256d magnitude =
        _mm256_div_pd(_mm256_sub_pd(_mm256_setzero_pd(), e), _mm256_add_pd(_mm256_set1_pd(2.0), e));
    return _mm256_or_pd(magnitude, _mm256_and_pd(sign, x));
  }
  static __m256d exp(__m256d x) { return _ZGVdN4v_exp(x); }
};
#endif

// out[j] = f(z[j]) on whole registers, the last one masked (its idle lanes read zeros).
template <typename T, typename Vector>
void map_values(const T* z, T* out, int64_t n, const Vector& vector) {
  using S = kernels::gemm::Simd<T>;
  int64_t j = 0;
  for (; j + S::kLanes <= n; j += S::kLanes)
    S::store(out + j, vector(S::load(z + j)));
  if (j < n) {
    const auto mask = S::mask(static_cast<int>(n - j));
    S::store(out + j, mask, vector(S::load(z + j, mask)));
  }
}

template <typename T>
void tanh_values(const T* z, T* out, int64_t n) {
  map_values(z, out, n, [](auto x) { return VectorMath<T>::tanh(x); });
}

// σ(z) = 1 / (1 + e^-z): e^-z overflows to inf for very negative z, and σ to 0, as it should.
template <typename T>
void sigmoid_values(const T* z, T* out, int64_t n) {
  using S = kernels::gemm::Simd<T>;
  const auto one = S::broadcast(T(1));
  map_values(z, out, n, [&](auto x) {
    return S::div(one, S::add(one, VectorMath<T>::exp(S::sub(S::zero(), x))));
  });
}
#else
template <typename T>
void tanh_values(const T* z, T* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    out[j] = std::tanh(z[j]);
}

template <typename T>
void sigmoid_values(const T* z, T* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    out[j] = T(1) / (T(1) + std::exp(-z[j]));
}
#endif

template <typename T>
void activation_values(Kind kind, const T* z, T* out, int64_t n) {
  if (kind == Kind::tanh) {
    tanh_values(z, out, n);
  } else {
    sigmoid_values(z, out, n);
  }
}

// out[o] = Σ_{t<n} rows[t·ld + o] for o < ld: a register of columns at a time, summed down the
// rows in the register (a plain loop keeps `out` in memory: the compiler cannot rule out that it
// aliases the rows).
template <typename T>
void sum_rows(const T* rows, int64_t n, int64_t ld, T* out) {
  int64_t o = 0;
#ifdef PINN_KERNELS_AVX2
  using S = kernels::gemm::Simd<T>;
  for (; o + S::kLanes <= ld; o += S::kLanes) {
    auto sum = S::zero();
    for (int64_t t = 0; t < n; ++t)
      sum = S::add(sum, S::load(rows + t * ld + o));
    S::store(out + o, sum);
  }
  if (o < ld) {
    const auto mask = S::mask(static_cast<int>(ld - o));
    auto sum = S::zero();
    for (int64_t t = 0; t < n; ++t)
      sum = S::add(sum, S::load(rows + t * ld + o, mask));
    S::store(out + o, mask, sum);
    o = ld;
  }
#endif
  for (; o < ld; ++o) {
    T sum = 0;
    for (int64_t t = 0; t < n; ++t)
      sum += rows[t * ld + o];
    out[o] = sum;
  }
}

// ---- the pass: the network's numbers as raw pointers, and one thread's tile buffers ----
//
// A layer's channels in a tile keep their rows `ld` apart, the width rounded up to whole vectors:
// the products then never need masked loads and stores (microcoded, and slow, on some CPUs). The
// padding columns hold zeros throughout: the padded weights are zero there, so Z, H, their
// gradients and the weight gradients' padding stay zero (or are dropped).

#ifdef PINN_KERNELS_AVX2
constexpr int64_t kVectorBytes = 32;
#else
constexpr int64_t kVectorBytes = 8;
#endif

template <typename T>
int64_t padded(int64_t width) {
  constexpr int64_t lanes = kVectorBytes / static_cast<int64_t>(sizeof(T));
  return (width + lanes - 1) / lanes * lanes;
}

// `weight` (rows x columns, contiguous) copied into a zero matrix with `ld` columns, transposed
// first if asked: plain loops, as LibTorch's transpose-and-copy costs more than the copy itself on
// these small matrices (it runs every step).
template <typename T>
std::vector<T> padded_copy(const at::Tensor& weight, bool transpose, int64_t ld) {
  const int64_t rows = weight.size(0), columns = weight.size(1);
  const T* data = weight.data_ptr<T>();
  const int64_t out_rows = transpose ? columns : rows, out_columns = transpose ? rows : columns;
  std::vector<T> result(static_cast<size_t>(out_rows * ld), T(0));
  for (int64_t r = 0; r < out_rows; ++r) {
    T* row = result.data() + r * ld;
    for (int64_t c = 0; c < out_columns; ++c)
      row[c] = transpose ? data[c * columns + r] : data[r * columns + c];
  }
  return result;
}

template <typename T>
struct Pass {
  const Network& network;
  const kernels::FaaDiBrunoProgram& program;
  const BlockPlan plan;  // what the block loops need of the program (see faa_di_bruno_blocks.hpp)
  int64_t channels, points, inputs, rows;
  std::vector<int64_t> widths, lds;              // each layer's outputs, and its padded row length
  std::vector<std::vector<T>> weight, weight_t;  // W (out x ld of in), Wᵀ (in x ld), zero-padded
  std::vector<std::vector<T>> bias;              // zero-padded to the layer's ld
  std::vector<Kind> kinds;
  bool one_thread;  // every tile on the calling thread (the schedule)
  const T* input;

  Pass(const Network& net, const at::Tensor& in, const Schedule& schedule)
      : network(net),
        program(*net.program),
        plan(*net.program),
        channels(net.program->channels),
        points(net.embedded ? in.size(1) : in.size(0)),
        inputs(in.size(-1)),
        one_thread(schedule.one_thread),
        input(in.data_ptr<T>()) {
    for (size_t l = 0; l < net.layers.size(); ++l) {
      const Layer& layer = net.layers[l];
      widths.push_back(layer.weight.size(0));
      lds.push_back(padded<T>(widths.back()));
      // The first layer reads the caller's input, whose rows are `inputs` long.
      weight.push_back(padded_copy<T>(layer.weight, false, l == 0 ? inputs : lds[l - 1]));
      weight_t.push_back(padded_copy<T>(layer.weight, true, lds.back()));
      const T* b = layer.bias.data_ptr<T>();
      bias.emplace_back(b, b + widths.back());
      bias.back().resize(static_cast<size_t>(lds.back()), T(0));
      kinds.push_back(layer.activation);
    }
    // No more rows than there are points (rounded up to whole vectors): small point sets, like
    // boundary conditions, then allocate small buffers.
    const int64_t needed = (points + kMinRows - 1) / kMinRows * kMinRows;
    rows = std::min(std::clamp(schedule.tile_bytes / bytes_per_row(), kMinRows, kMaxRows),
                    std::max(needed, kMinRows));
  }

  size_t layers() const { return widths.size(); }
  int64_t in_width(size_t l) const { return l == 0 ? inputs : widths[l - 1]; }
  int64_t in_ld(size_t l) const { return l == 0 ? inputs : lds[l - 1]; }
  int64_t max_ld() const {
    return std::max(padded<T>(inputs), *std::max_element(lds.begin(), lds.end()));
  }
  int64_t tiles() const { return (points + rows - 1) / rows; }

  // Z and H of every layer, σ's values, and three gradient buffers, per point.
  int64_t bytes_per_row() const {
    int64_t elements = 3 * channels * max_ld();
    for (int64_t ld : lds)
      elements += 2 * channels * ld + ld;
    return elements * static_cast<int64_t>(sizeof(T));
  }
};

// A workspace buffer, left uninitialized: every pass writes what it reads (the products write
// their whole padded rows, the seed is zeroed by the pass), and the workspace is made per call,
// where zero-filling its few hundred KiB per thread is a measurable part of a small step.
template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t size) : data_(new T[size]) {}
  T* data() { return data_.get(); }

 private:
  std::unique_ptr<T[]> data_;
};

template <typename T>
struct Workspace {
  std::vector<Scratch<T>> z, h;  // per layer, C x rows x ld; h unused for the identity
  Scratch<T> value, g, g_next, dz;
  BlockDerivatives<T> derivatives;

  explicit Workspace(const Pass<T>& pass)
      : value(static_cast<size_t>(pass.rows * pass.max_ld())),
        g(gradient_size(pass)),
        g_next(gradient_size(pass)),
        dz(gradient_size(pass)) {
    for (size_t l = 0; l < pass.layers(); ++l) {
      const size_t size = channel_size(pass, pass.lds[l]);
      z.emplace_back(size);
      h.emplace_back(pass.kinds[l] == Kind::identity ? 0 : size);
    }
  }

  static size_t channel_size(const Pass<T>& pass, int64_t ld) {
    return static_cast<size_t>(pass.channels * pass.rows * ld);
  }
  static size_t gradient_size(const Pass<T>& pass) { return channel_size(pass, pass.max_ld()); }

  T* out(const Pass<T>& pass, size_t l) {
    return pass.kinds[l] == Kind::identity ? z[l].data() : h[l].data();
  }
};

// The first Linear layer on the points of a tile: the value channel x Wᵀ (+ b, added by the
// caller), the first-order channels the columns of W (∂x/∂x_i = e_i), the higher ones zero.
template <typename T>
void first_layer(const Pass<T>& pass, int64_t t0, int64_t n, T* z) {
  const int64_t ld = pass.lds[0], d = pass.inputs;
  gemm_nn(n, ld, d, pass.input + t0 * d, d, pass.weight_t[0].data(), ld, z, ld);
  for (int64_t c = 1; c < pass.channels; ++c) {
    T* zc = z + c * n * ld;
    const int64_t i = pass.network.first_order_input[static_cast<size_t>(c)];
    for (int64_t t = 0; t < n; ++t) {
      if (i < 0) {
        std::fill(zc + t * ld, zc + (t + 1) * ld, T(0));
      } else {
        std::copy(&pass.weight_t[0][i * ld], &pass.weight_t[0][(i + 1) * ld], zc + t * ld);
      }
    }
  }
}

// Z = A Wᵀ (+ b on the value channel) for layer l of a tile, A its input channels.
template <typename T>
void linear(const Pass<T>& pass, Workspace<T>& ws, size_t l, int64_t t0, int64_t n) {
  const int64_t ld = pass.lds[l], in = pass.in_width(l), in_ld = pass.in_ld(l);
  T* z = ws.z[l].data();
  const T* wt = pass.weight_t[l].data();
  if (l == 0 && !pass.network.embedded) {
    first_layer(pass, t0, n, z);
  } else if (l == 0) {
    for (int64_t c = 0; c < pass.channels; ++c) {
      gemm_nn(n, ld, in, pass.input + (c * pass.points + t0) * in, in, wt, ld, z + c * n * ld, ld);
    }
  } else if (pass.widths[l] <= kNarrowOutputs) {
    gemm_nt_narrow(pass.channels * n, pass.widths[l], in_ld, ws.out(pass, l - 1), in_ld,
                   pass.weight[l].data(), in_ld, z, ld, ld);
  } else {
    gemm_nn(pass.channels * n, ld, in, ws.out(pass, l - 1), in_ld, wt, ld, z, ld);
  }
  const T* bias = pass.bias[l].data();  // whole padded rows: the loop needs no remainder
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t o = 0; o < ld; ++o)
      z[t * ld + o] += bias[o];
  }
}

// Every layer of a tile of n points starting at point t0, Z and H kept in `ws`.
template <typename T>
void forward_tile(const Pass<T>& pass, Workspace<T>& ws, int64_t t0, int64_t n) {
  for (size_t l = 0; l < pass.layers(); ++l) {
    linear(pass, ws, l, t0, n);
    if (pass.kinds[l] == Kind::identity) continue;
    const int64_t elements = n * pass.lds[l];
    const Slices<const T> z{ws.z[l].data(), elements};
    const Slices<T> h{ws.h[l].data(), elements};
    activation_values(pass.kinds[l], z.base, ws.value.data(), elements);
    const kernels::Derivatives& rules = pass.network.layers[l].forward;
    for (int64_t begin = 0; begin < elements; begin += kBlock) {
      const int64_t length = std::min(kBlock, elements - begin);
      ws.derivatives.load(rules, {nullptr, 0}, ws.value.data(), begin, length,
                          pass.plan.forward_orders);
      forward_block(pass.program, pass.plan, ws.derivatives, z, h, begin, length);
    }
  }
}

// One thread's share of the parameter gradients; weights with padded rows (`ld` of the input).
template <typename T>
struct Sums {
  std::vector<std::vector<T>> weights, biases;
  explicit Sums(const Pass<T>& pass) {
    for (size_t l = 0; l < pass.layers(); ++l) {
      weights.emplace_back(static_cast<size_t>(pass.widths[l] * pass.in_ld(l)), T(0));
      biases.emplace_back(static_cast<size_t>(pass.widths[l]), T(0));
    }
  }
};

// dW and the gradient of the input (when `input_grad` is set) for the first layer; `column` is
// scratch for one padded row.
template <typename T>
void first_layer_adjoint(const Pass<T>& pass, const T* dz, int64_t t0, int64_t n, Sums<T>& sums,
                         T* input_grad, T* column) {
  const int64_t width = pass.widths[0], ld = pass.lds[0], in = pass.inputs;
  T* dw = sums.weights[0].data();
  const T* w = pass.weight[0].data();
  if (pass.network.embedded) {
    for (int64_t c = 0; c < pass.channels; ++c) {
      const int64_t offset = (c * pass.points + t0) * in;
      gemm_tn_add(n, width, in, dz + c * n * ld, ld, pass.input + offset, in, dw, in);
      if (input_grad) gemm_nn(n, in, width, dz + c * n * ld, ld, w, in, input_grad + offset, in);
    }
    return;
  }
  gemm_tn_add(n, width, in, dz, ld, pass.input + t0 * in, in, dw, in);
  // ∂x/∂x_i = e_i: a first-order channel's dZ summed over the points is column i of dW. Summed
  // along the contiguous rows first (vectorized), then added to the column once per tile.
  for (int64_t c = 1; c < pass.channels; ++c) {
    const int64_t i = pass.network.first_order_input[static_cast<size_t>(c)];
    if (i < 0) continue;
    sum_rows(dz + c * n * ld, n, ld, column);
    for (int64_t o = 0; o < width; ++o)
      dw[o * in + i] += column[o];
  }
  if (input_grad) gemm_nn(n, in, width, dz, ld, w, in, input_grad + t0 * in, in);
}

// Every layer of a tile in reverse, from the output gradient in ws.g (C x n x ld of the last
// layer) and the tile's forward pass in `ws`.
template <typename T>
void adjoint_layers(const Pass<T>& pass, Workspace<T>& ws, int64_t t0, int64_t n, Sums<T>& sums,
                    T* input_grad) {
  for (size_t l = pass.layers(); l-- > 0;) {
    const int64_t width = pass.widths[l], ld = pass.lds[l];
    const T* dz = ws.g.data();
    if (pass.kinds[l] != Kind::identity) {
      const int64_t elements = n * ld;
      const Slices<const T> z{ws.z[l].data(), elements}, g{ws.g.data(), elements};
      const Slices<T> out{ws.dz.data(), elements};
      const T* value = ws.h[l].data();  // σ(Z_0): the value channel of H
      const kernels::Derivatives& rules = pass.network.layers[l].backward;
      for (int64_t begin = 0; begin < elements; begin += kBlock) {
        const int64_t length = std::min(kBlock, elements - begin);
        ws.derivatives.load(rules, {nullptr, 0}, value, begin, length, pass.plan.adjoint_orders);
        adjoint_block(pass.program, pass.plan, ws.derivatives, z, g, out, begin, length);
      }
      dz = ws.dz.data();
    }
    // The bias gradient: the rows summed whole (padded, vectorized), then added once.
    T* row_sum = ws.value.data();
    sum_rows(dz, n, ld, row_sum);
    T* db = sums.biases[l].data();
    for (int64_t o = 0; o < width; ++o)
      db[o] += row_sum[o];
    if (l == 0) {
      first_layer_adjoint(pass, dz, t0, n, sums, input_grad, ws.value.data());
      break;
    }
    const int64_t rows = pass.channels * n, in_ld = pass.in_ld(l);
    gemm_tn_add(rows, width, in_ld, dz, ld, ws.out(pass, l - 1), in_ld, sums.weights[l].data(),
                in_ld);
    gemm_nn(rows, in_ld, width, dz, ld, pass.weight[l].data(), in_ld, ws.g_next.data(), in_ld);
    std::swap(ws.g, ws.g_next);
  }
}

// The backward pass of one tile: recompute its forward pass, then every layer in reverse.
template <typename T>
void backward_tile(const Pass<T>& pass, Workspace<T>& ws, int64_t t0, int64_t n, const T* grad,
                   Sums<T>& sums, T* input_grad) {
  forward_tile(pass, ws, t0, n);
  const int64_t outputs = pass.widths.back(), out_ld = pass.lds.back();
  for (int64_t c = 0; c < pass.channels; ++c) {
    for (int64_t t = 0; t < n; ++t) {
      const T* row = grad + (c * pass.points + t0 + t) * outputs;
      T* target = ws.g.data() + (c * n + t) * out_ld;
      std::copy(row, row + outputs, target);
      std::fill(target + outputs, target + out_ld, T(0));
    }
  }
  adjoint_layers(pass, ws, t0, n, sums, input_grad);
}

// Runs `work(workspace, chunk, first_tile, last_tile)` over the tiles in one chunk per thread
// (fixed for a given thread count, so that sums per chunk add up in the same order every time),
// or in one chunk on the calling thread where the schedule says so: a small call loses more to
// waking the other threads and waiting for them than they save.
template <typename T, typename Work>
int64_t for_each_chunk(const Pass<T>& pass, const Work& work) {
  const int64_t tiles = pass.tiles();
  const int64_t threads = pass.one_thread ? 1 : at::get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(tiles, threads));
  if (chunks == 1) {
    Workspace<T> ws(pass);
    work(ws, 0, 0, tiles);
    return 1;
  }
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    Workspace<T> ws(pass);
    for (int64_t chunk = first; chunk < last; ++chunk)
      work(ws, chunk, chunk * tiles / chunks, (chunk + 1) * tiles / chunks);
  });
  return chunks;
}

template <typename T>
at::Tensor forward_typed(const Network& network, const at::Tensor& input,
                         const Schedule& schedule) {
  const Pass<T> pass(network, input, schedule);
  const int64_t outputs = pass.widths.back(), out_ld = pass.lds.back();
  at::Tensor result = at::empty({pass.channels, pass.points, outputs}, input.options());
  T* out = result.data_ptr<T>();
  for_each_chunk(pass, [&](Workspace<T>& ws, int64_t, int64_t first, int64_t last) {
    for (int64_t tile = first; tile < last; ++tile) {
      const int64_t t0 = tile * pass.rows, n = std::min(pass.rows, pass.points - t0);
      forward_tile(pass, ws, t0, n);
      const T* h = ws.out(pass, pass.layers() - 1);
      for (int64_t c = 0; c < pass.channels; ++c) {
        for (int64_t t = 0; t < n; ++t) {
          const T* row = h + (c * n + t) * out_ld;
          std::copy(row, row + outputs, out + (c * pass.points + t0 + t) * outputs);
        }
      }
    }
  });
  return result;
}

// The chunks' parameter gradients summed in chunk order, as tensors shaped like the parameters.
// A tensor shaped like `like` whose storage is `buffer` from `offset` on: no operator call (this
// runs every step, where LibTorch's dispatch costs more than the copy).
template <typename T>
at::Tensor tensor_in(const std::shared_ptr<std::vector<T>>& buffer, size_t offset,
                     const at::Tensor& like) {
  return at::from_blob(
      buffer->data() + offset, like.sizes(), [buffer](void*) {}, like.options());
}

template <typename T>
Gradients sum_chunks(const Pass<T>& pass, const Network& network,
                     const std::vector<std::unique_ptr<Sums<T>>>& sums, int64_t chunks) {
  size_t total = 0;
  for (const auto& layer : network.layers)
    total += static_cast<size_t>(layer.weight.numel() + layer.bias.numel());
  auto buffer = std::make_shared<std::vector<T>>(total, T(0));
  Gradients result;
  size_t offset = 0;
  for (size_t l = 0; l < pass.layers(); ++l) {
    const Layer& layer = network.layers[l];
    const int64_t in = pass.in_width(l), in_ld = pass.in_ld(l);
    T* w = buffer->data() + offset;
    T* b = w + layer.weight.numel();
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      const Sums<T>& part = *sums[static_cast<size_t>(chunk)];
      for (int64_t o = 0; o < pass.widths[l]; ++o) {
        for (int64_t i = 0; i < in; ++i)
          w[o * in + i] += part.weights[l][static_cast<size_t>(o * in_ld + i)];
        b[o] += part.biases[l][static_cast<size_t>(o)];
      }
    }
    result.weights.push_back(tensor_in(buffer, offset, layer.weight));
    offset += static_cast<size_t>(layer.weight.numel());
    result.biases.push_back(tensor_in(buffer, offset, layer.bias));
    offset += static_cast<size_t>(layer.bias.numel());
  }
  return result;
}

template <typename T>
Gradients backward_typed(const Network& network, const at::Tensor& input, const at::Tensor& grad,
                         bool input_gradient, const Schedule& schedule) {
  const Pass<T> pass(network, input, schedule);
  at::Tensor input_grad = input_gradient ? at::zeros_like(input) : at::Tensor();
  const T* g = grad.data_ptr<T>();
  // One entry per chunk: for_each_chunk makes at least one, even for no points.
  std::vector<std::unique_ptr<Sums<T>>> sums(
      static_cast<size_t>(std::max<int64_t>(1, pass.tiles())));
  const int64_t chunks =
      for_each_chunk(pass, [&](Workspace<T>& ws, int64_t chunk, int64_t first, int64_t last) {
        auto local = std::make_unique<Sums<T>>(pass);
        for (int64_t tile = first; tile < last; ++tile) {
          const int64_t t0 = tile * pass.rows, n = std::min(pass.rows, pass.points - t0);
          backward_tile(pass, ws, t0, n, g, *local,
                        input_gradient ? input_grad.data_ptr<T>() : nullptr);
        }
        sums[static_cast<size_t>(chunk)] = std::move(local);
      });
  Gradients result = sum_chunks(pass, network, sums, chunks);
  result.input = input_grad;
  return result;
}

template <typename T>
FusedResult fused_typed(const Network& network, const at::Tensor& input, const TileLoss& loss,
                        bool gradient, bool input_gradient, const Schedule& schedule) {
  const Pass<T> pass(network, input, schedule);
  at::Tensor input_grad = gradient && input_gradient ? at::zeros_like(input) : at::Tensor();
  const auto terms = static_cast<size_t>(loss.terms());
  const auto slots = static_cast<size_t>(std::max<int64_t>(1, pass.tiles()));
  std::vector<std::unique_ptr<Sums<T>>> sums(slots);
  std::vector<std::vector<double>> loss_sums(slots, std::vector<double>(terms, 0.0));
  const int64_t out_ld = pass.lds.back();
  const int64_t chunks =
      for_each_chunk(pass, [&](Workspace<T>& ws, int64_t chunk, int64_t first, int64_t last) {
        auto local = gradient ? std::make_unique<Sums<T>>(pass) : nullptr;
        for (int64_t tile = first; tile < last; ++tile) {
          const int64_t t0 = tile * pass.rows, n = std::min(pass.rows, pass.points - t0);
          forward_tile(pass, ws, t0, n);
          T* seed = gradient ? ws.g.data() : nullptr;
          if (seed) std::fill(seed, seed + pass.channels * n * out_ld, T(0));
          loss.tile(t0, n, ws.out(pass, pass.layers() - 1), out_ld, seed,
                    loss_sums[static_cast<size_t>(chunk)].data());
          if (gradient) {
            adjoint_layers(pass, ws, t0, n, *local,
                           input_grad.defined() ? input_grad.data_ptr<T>() : nullptr);
          }
        }
        sums[static_cast<size_t>(chunk)] = std::move(local);
      });
  FusedResult result;
  result.terms.assign(terms, 0.0);
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    for (size_t k = 0; k < terms; ++k)
      result.terms[k] += loss_sums[static_cast<size_t>(chunk)][k];
  }
  if (gradient) {
    result.gradients = sum_chunks(pass, network, sums, chunks);
    result.gradients.input = input_grad;
  }
  return result;
}

// The entry points of this instruction set's pass, for tiled_pass.cpp to choose from.
at::Tensor forward_pass(const Network& network, const at::Tensor& input, const Schedule& schedule) {
  at::Tensor result;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "tiled_pass_forward",
                             [&] { result = forward_typed<scalar_t>(network, input, schedule); });
  return result;
}

Gradients backward_pass(const Network& network, const at::Tensor& input, const at::Tensor& grad,
                        bool input_gradient, const Schedule& schedule) {
  Gradients result;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "tiled_pass_backward", [&] {
    result = backward_typed<scalar_t>(network, input, grad, input_gradient, schedule);
  });
  return result;
}

FusedResult fused_pass(const Network& network, const at::Tensor& input, const TileLoss& loss,
                       bool gradient, bool input_gradient, const Schedule& schedule) {
  FusedResult result;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "tiled_pass_fused", [&] {
    result = fused_typed<scalar_t>(network, input, loss, gradient, input_gradient, schedule);
  });
  return result;
}

}  // namespace
}  // namespace PINN_KERNEL_ISA
}  // namespace pinn::derivatives::tiles
