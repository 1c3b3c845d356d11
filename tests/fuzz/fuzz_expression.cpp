// libFuzzer target: the expression parser (src/expr/parse.cpp) on arbitrary text, then everything
// that later walks a parsed tree: printing, channel collection, evaluation on tensors and the fused
// loss's pointwise program (forward and adjoint sweeps, in float and double).
//
// Correct outcomes: a tree, or a ParseError (or InputError) for bad text. Anything else escaping
// (std::logic_error, c10::Error, ...), a crash, a sanitizer report or a timeout is a finding; so is
// a tree that breaks these properties (pinn::fuzz::fail names which):
//   - every channel is well formed (channel.hpp: indices in range, sorted, a summed Laplacian
//     only of an underived output: the engines ignore `wrt` beside a `laplacian`);
//   - evaluate() gives one value per point;
//   - the pointwise program computes what evaluate() does: the same sum of squares and, through
//     its adjoint sweep, the same gradients as autograd (where all of them are finite; within
//     1e-6 relative, or within rounding of the largest intermediate value where terms cancel).
// Built and run by scripts/fuzz.sh (tests/fuzz/CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "expr/expression.hpp"
#include "expr/pointwise.hpp"
#include "fuzz_support.hpp"
#include "util/errors.hpp"

namespace {

using namespace pinn::expr;

// Every kind of name the language resolves: inputs (one letter, so u_xy subscripts work), outputs,
// a constant, a trainable parameter and a field (a boundary normal, so dn() works).
const Symbols& symbols() {
  static const Symbols s{{"x", "y", "t"}, {"u", "v"}, {{"nu", 0.01}}, {"lambda"}, {"n_x"}};
  return s;
}

constexpr int64_t kPoints = 4;
constexpr int64_t kDims = 3;

// The values every path reads: input i of point p, channel k (in the order of the set the tree's
// channels are collected into) at point p, the normal n_x at point p. Distinct per point and per
// channel, so that a mixed-up index shows.
double input_value(int64_t p, int64_t i) {
  return 0.25 + 0.125 * static_cast<double>(p * kDims + i);
}
double channel_value(size_t k, int64_t p) {
  return 0.5 + 0.125 * static_cast<double>(k) + 0.03 * p;
}
double field_value(int64_t p) {
  return -0.6 - 0.1 * static_cast<double>(p);
}

// Every channel is one derivative of one output: indices in range, inputs sorted, a summed
// Laplacian (over sorted inputs) only of an underived output (channel.hpp).
void check_channel(const Channel& channel, const Symbols& s) {
  const auto fail = [&](const std::string& why) {
    std::string wrt, laplacian;
    for (int i : channel.wrt)
      wrt += std::to_string(i) + " ";
    for (int i : channel.laplacian)
      laplacian += std::to_string(i) + " ";
    pinn::fuzz::fail("malformed channel (output " + std::to_string(channel.output) + ", wrt [ " +
                     wrt + "], laplacian [ " + laplacian + "]): " + why);
  };
  if (channel.output < 0 || channel.output >= static_cast<int>(s.outputs.size())) fail("output");
  for (int i : channel.wrt) {
    if (i < 0 || i >= static_cast<int>(s.inputs.size())) fail("input index out of range");
  }
  for (int i : channel.laplacian) {
    if (i < 0 || i >= static_cast<int>(s.inputs.size())) fail("input index out of range");
  }
  if (!std::is_sorted(channel.wrt.begin(), channel.wrt.end())) fail("wrt not sorted");
  if (!channel.laplacian.empty() && !channel.wrt.empty()) {
    fail("a summed Laplacian with further derivatives (wrt must then be empty)");
  }
  // lap(u, x, x) sums u_xx twice (2 u_xx, as every engine computes it): repeats are allowed.
  if (!std::is_sorted(channel.laplacian.begin(), channel.laplacian.end())) {
    fail("laplacian inputs not sorted");
  }
}

bool close(double a, double b) {
  return std::abs(a - b) <= 1e-6 * std::max({1.0, std::abs(a), std::abs(b)});
}

// The largest finite |value| of any subtree at any point: rounding errors (LibTorch's vectorized
// functions and libm differ by an ulp or so) scale with it where terms cancel. Computed only
// after a mismatch, to tell such noise from a real difference.
double largest_intermediate(const Node& root, const EvalContext& context) {
  double largest = 1.0;
  std::vector<const Node*> stack{&root};
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    const torch::Tensor values = evaluate(*node, context).detach().abs();
    const torch::Tensor finite = values.masked_select(torch::isfinite(values));
    if (finite.numel() > 0) largest = std::max(largest, finite.max().item<double>());
    for (const auto& argument : node->args)
      stack.push_back(argument.get());
  }
  return largest;
}

bool within_rounding(double a, double b, const Node& root, const EvalContext& context) {
  const double largest = largest_intermediate(root, context);
  return std::abs(a - b) <= 1e-9 * static_cast<double>(kPoints) * largest * largest;
}

bool verbose() {
  static const bool on = std::getenv("PINN_FUZZ_VERBOSE") != nullptr;
  return on;
}

void exercise(const Node& root) {
  const Symbols& s = symbols();
  const std::string text = to_string(root, s);
  if (verbose()) std::fprintf(stderr, "parsed: %s\n", text.c_str());

  std::set<Channel> channel_set;
  collect_channels(root, channel_set);
  const std::vector<Channel> channels(channel_set.begin(), channel_set.end());
  for (const auto& channel : channels) {
    if (verbose())
      std::fprintf(stderr, "channel: %s\n", channel_name(channel, s.inputs, s.outputs).c_str());
    check_channel(channel, s);
  }

  // Evaluation on tensors, with autograd through the channels (what the loss differentiates).
  torch::Tensor inputs = torch::empty({kPoints, kDims}, torch::kFloat64);
  for (int64_t p = 0; p < kPoints; ++p) {
    for (int64_t i = 0; i < kDims; ++i)
      inputs[p][i] = input_value(p, i);
  }
  std::map<Channel, torch::Tensor> channel_values;
  for (size_t k = 0; k < channels.size(); ++k) {
    torch::Tensor values = torch::empty({kPoints}, torch::kFloat64);
    for (int64_t p = 0; p < kPoints; ++p)
      values[p] = channel_value(k, p);
    channel_values[channels[k]] = values.requires_grad_(true);
  }
  torch::Tensor normal = torch::empty({kPoints}, torch::kFloat64);
  for (int64_t p = 0; p < kPoints; ++p)
    normal[p] = field_value(p);
  const std::map<std::string, torch::Tensor> fields{{"n_x", normal}};
  const std::vector<torch::Tensor> parameters{torch::scalar_tensor(0.75, torch::kFloat64)};
  const EvalContext context{inputs, &channel_values, &fields, &parameters};
  const torch::Tensor value = evaluate(root, context);
  if (value.dim() != 1 || value.size(0) != kPoints) {
    pinn::fuzz::fail("evaluate() returned a tensor of shape " + c10::str(value.sizes()) +
                     ", expected [" + std::to_string(kPoints) + "]");
  }
  const double tensor_squares = value.square().sum().item<double>();

  // The pointwise program (absent when the tree reads the trainable parameter), in double
  // against the tensors, and in float.
  const auto program = PointwiseProgram::compile(root);
  if (!program) return;
  const auto slot_index = [&](const Channel& channel) {
    const auto found = std::find(channels.begin(), channels.end(), channel);
    if (found == channels.end()) pinn::fuzz::fail("the program reads a channel the tree does not");
    return static_cast<size_t>(found - channels.begin());
  };
  constexpr double kScale = 0.5;
  auto run = [&](auto zero, std::vector<std::vector<double>>* gradients) {
    using T = decltype(zero);
    std::vector<T> points(kPoints * kDims);
    for (int64_t p = 0; p < kPoints; ++p) {
      for (int64_t i = 0; i < kDims; ++i)
        points[static_cast<size_t>(p * kDims + i)] = static_cast<T>(input_value(p, i));
    }
    std::vector<std::vector<T>> storage, adjoint_storage;
    TileLeaves<T> leaves;
    leaves.n = kPoints;
    leaves.points = points.data();
    leaves.dims = kDims;
    for (const auto& channel : program->channels()) {
      std::vector<T> values(kPoints);
      for (int64_t p = 0; p < kPoints; ++p)
        values[static_cast<size_t>(p)] = static_cast<T>(channel_value(slot_index(channel), p));
      storage.push_back(values);
      adjoint_storage.emplace_back(kPoints, T(0));
    }
    for (const auto& field : program->fields()) {
      if (field != "n_x") pinn::fuzz::fail("the program reads an unknown field '" + field + "'");
      std::vector<T> values(kPoints);
      for (int64_t p = 0; p < kPoints; ++p)
        values[static_cast<size_t>(p)] = static_cast<T>(field_value(p));
      storage.push_back(values);
    }
    for (size_t c = 0; c < program->channels().size(); ++c)
      leaves.channels.push_back(storage[c].data());
    for (size_t f = 0; f < program->fields().size(); ++f)
      leaves.fields.push_back(storage[program->channels().size() + f].data());
    std::vector<T*> adjoints;
    for (auto& a : adjoint_storage)
      adjoints.push_back(a.data());
    const double plain = program->template squares<T>(leaves, kScale, nullptr);
    const double with_adjoints = program->template squares<T>(leaves, kScale, &adjoints);
    if (!(plain == with_adjoints || (std::isnan(plain) && std::isnan(with_adjoints)))) {
      pinn::fuzz::fail("squares() differs with and without adjoints");
    }
    if (gradients != nullptr) {
      for (auto& a : adjoint_storage)
        gradients->emplace_back(a.begin(), a.end());
    }
    return plain;
  };
  std::vector<std::vector<double>> program_gradients;
  const double program_squares = run(0.0, &program_gradients);
  (void)run(0.0f, nullptr);

  // The program and the tensors compute the same function; where everything is finite, the same
  // values and the same gradients (the program's adjoint sweep against autograd).
  if (!std::isfinite(tensor_squares) || !std::isfinite(program_squares)) {
    // The same special values too: an infinite residual where the tensors' is NaN (or finite)
    // trains differently (a NaN stops the run, exit 4).
    if (std::isfinite(tensor_squares) != std::isfinite(program_squares) ||
        std::isnan(tensor_squares) != std::isnan(program_squares)) {
      pinn::fuzz::fail("sum of squares: tensors " + std::to_string(tensor_squares) +
                       ", pointwise program " + std::to_string(program_squares));
    }
    return;
  }
  if (verbose()) {
    std::fprintf(stderr, "sum of squares: tensors %.17g, pointwise program %.17g\n", tensor_squares,
                 program_squares);
  }
  if (!close(tensor_squares, program_squares) &&
      !within_rounding(tensor_squares, program_squares, root, context)) {
    pinn::fuzz::fail("sum of squares: tensors " + c10::str(tensor_squares) +
                     ", pointwise program " + c10::str(program_squares));
  }
  if (channels.empty() || !value.requires_grad()) return;
  std::vector<torch::Tensor> leaves;
  for (const auto& channel : program->channels())
    leaves.push_back(channel_values.at(channel));
  const auto grads = torch::autograd::grad({(kScale * value.square().sum())}, leaves,
                                           /*grad_outputs=*/{}, /*retain_graph=*/false,
                                           /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t c = 0; c < leaves.size(); ++c) {
    for (int64_t p = 0; p < kPoints; ++p) {
      const double expected = grads[c].defined() ? grads[c][p].item<double>() : 0.0;
      const double actual = program_gradients[c][static_cast<size_t>(p)];
      if (!std::isfinite(expected) || !std::isfinite(actual)) continue;
      if (!close(expected, actual) && !within_rounding(expected, actual, root, context)) {
        pinn::fuzz::fail("gradient of channel slot " + std::to_string(c) + " at point " +
                         std::to_string(p) + ": autograd " + c10::str(expected) +
                         ", pointwise adjoint " + c10::str(actual));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pinn::fuzz::initialize_process();
  // Lazily created LibTorch state (thread pools, the default generator), so that it is not taken
  // for a leak of the first input.
  try {
    exercise(*parse("sin(u_x)*lambda + dn(u) - lap(v) + d(u,x,t) + dir(u,[1,0,x]) + exp(y)^2",
                    symbols()));
  } catch (const std::exception& error) {
    pinn::fuzz::fail(std::string("warm-up failed: ") + error.what());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  pinn::fuzz::run_guarded([&] {
    NodePtr root;
    try {
      root = parse(text, symbols());
    } catch (const ParseError&) {
      return;  // bad text, reported with its column: the correct outcome
    } catch (const pinn::InputError&) {
      return;
    }
    exercise(*root);
  });
  return 0;
}
