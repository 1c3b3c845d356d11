// The pointwise program: compiling a tree into registers, and the forward and adjoint sweeps.
// Each instruction is a loop over the tile's points, so the compiler vectorizes the arithmetic.
#include "expr/pointwise.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace pinn::expr {

namespace {

// The scratch registers of one thread: values and adjoints, one run of n per instruction.
template <typename T>
struct Registers {
  std::vector<T> values, adjoints;
  T* value(size_t i, int64_t n) { return values.data() + i * static_cast<size_t>(n); }
  T* adjoint(size_t i, int64_t n) { return adjoints.data() + i * static_cast<size_t>(n); }
  // The values of operand register `i`, or null for an absent operand (i < 0).
  const T* operand(int i, int64_t n) { return i >= 0 ? value(static_cast<size_t>(i), n) : nullptr; }
};

template <typename T>
Registers<T>& registers_for(size_t count, int64_t n) {
  thread_local Registers<T> registers;
  const size_t size = count * static_cast<size_t>(n);
  if (registers.values.size() < size) {
    registers.values.resize(size);
    registers.adjoints.resize(size);
  }
  return registers;
}

// f(x), and f'(x) given x and f(x), for the language's functions (functions.hpp's table).
template <typename T>
T call_value(PointwiseFunction f, T x) {
  switch (f) {
    case PointwiseFunction::sin:
      return std::sin(x);
    case PointwiseFunction::cos:
      return std::cos(x);
    case PointwiseFunction::tan:
      return std::tan(x);
    case PointwiseFunction::exp:
      return std::exp(x);
    case PointwiseFunction::log:
      return std::log(x);
    case PointwiseFunction::sqrt:
      return std::sqrt(x);
    case PointwiseFunction::abs:
      return std::abs(x);
    case PointwiseFunction::tanh:
      return std::tanh(x);
    case PointwiseFunction::sinh:
      return std::sinh(x);
    case PointwiseFunction::cosh:
      return std::cosh(x);
  }
  return x;
}

template <typename T>
T call_derivative(PointwiseFunction f, T x, T fx) {
  switch (f) {
    case PointwiseFunction::sin:
      return std::cos(x);
    case PointwiseFunction::cos:
      return -std::sin(x);
    case PointwiseFunction::tan:
      return T(1) + fx * fx;
    case PointwiseFunction::exp:
      return fx;
    case PointwiseFunction::log:
      return T(1) / x;
    case PointwiseFunction::sqrt:
      return T(0.5) / fx;
    case PointwiseFunction::abs:
      return static_cast<T>((x > T(0)) - (x < T(0)));  // torch's sign: 0 at 0
    case PointwiseFunction::tanh:
      return T(1) - fx * fx;
    case PointwiseFunction::sinh:
      return std::cosh(x);
    case PointwiseFunction::cosh:
      return std::sinh(x);
  }
  return T(0);
}

using Op = PointwiseProgram::Op;
using Instruction = PointwiseProgram::Instruction;

// out: the instruction's values at the tile's points, from those of its operands a and b.
// a^p as torch::pow computes it: LibTorch takes p = ±0.5 as sqrt and rsqrt, which give NaN for
// a = -inf where std::pow gives +inf or 0 (for other p both agree, -inf^-1.5 = 0 included). A NaN
// must stay a NaN on the fused path too, or the divergence it signals would go unseen.
template <typename T>
T power_constant(T a, T p) {
  if (std::isinf(a) && a < 0 && (p == T(0.5) || p == T(-0.5))) {
    return std::numeric_limits<T>::quiet_NaN();
  }
  return std::pow(a, p);
}

template <typename T>
void run_forward(const Instruction& in, const TileLeaves<T>& leaves, const T* a, const T* b,
                 T* out) {
  const int64_t n = leaves.n;
  switch (in.op) {
    case Op::constant:
      std::fill(out, out + n, static_cast<T>(in.number));
      break;
    case Op::input:
      for (int64_t t = 0; t < n; ++t)
        out[t] = leaves.points[t * leaves.dims + in.slot];
      break;
    case Op::channel: {
      const T* source = leaves.channels[static_cast<size_t>(in.slot)];
      for (int64_t t = 0; t < n; ++t)
        out[t] = source[t * leaves.channel_stride];
      break;
    }
    case Op::field:
      std::copy(leaves.fields[static_cast<size_t>(in.slot)],
                leaves.fields[static_cast<size_t>(in.slot)] + n, out);
      break;
    case Op::negate:
      for (int64_t t = 0; t < n; ++t)
        out[t] = -a[t];
      break;
    case Op::add:
      for (int64_t t = 0; t < n; ++t)
        out[t] = a[t] + b[t];
      break;
    case Op::subtract:
      for (int64_t t = 0; t < n; ++t)
        out[t] = a[t] - b[t];
      break;
    case Op::multiply:
      for (int64_t t = 0; t < n; ++t)
        out[t] = a[t] * b[t];
      break;
    case Op::divide:
      for (int64_t t = 0; t < n; ++t)
        out[t] = a[t] / b[t];
      break;
    case Op::square:
      for (int64_t t = 0; t < n; ++t)
        out[t] = a[t] * a[t];
      break;
    case Op::power_constant:
      for (int64_t t = 0; t < n; ++t)
        out[t] = power_constant(a[t], static_cast<T>(in.number));
      break;
    case Op::power:
      for (int64_t t = 0; t < n; ++t)
        out[t] = std::pow(a[t], b[t]);
      break;
    case Op::call:
      for (int64_t t = 0; t < n; ++t)
        out[t] = call_value(in.function, a[t]);
      break;
  }
}

// One active instruction in the adjoint sweep: its adjoint g and values, its operands' values a,
// b and their adjoints ga, gb (null where an operand is not active, or absent).
template <typename T>
struct AdjointStep {
  const T* g;
  const T* value;
  const T* a;
  const T* b;
  T* ga;
  T* gb;
};

// The chain rule through a power: a^p with a constant p, or a^b.
template <typename T>
void add_power_adjoints(const Instruction& in, const AdjointStep<T>& s, int64_t n) {
  if (in.op == Op::power_constant) {
    const T p = static_cast<T>(in.number);
    for (int64_t t = 0; t < n; ++t)
      s.ga[t] += s.g[t] * p * std::pow(s.a[t], p - T(1));
    return;
  }
  // As torch::pow's backward: the exponent's term is 0 where the base is 0 and the exponent
  // non-negative.
  if (s.ga) {
    for (int64_t t = 0; t < n; ++t)
      s.ga[t] += s.g[t] * s.b[t] * std::pow(s.a[t], s.b[t] - T(1));
  }
  if (s.gb) {
    for (int64_t t = 0; t < n; ++t) {
      const bool zero = s.a[t] == T(0) && s.b[t] >= T(0);
      s.gb[t] += zero ? T(0) : s.g[t] * s.value[t] * std::log(s.a[t]);
    }
  }
}

// Adds the instruction's share of the adjoint to its operands' (channels are the sweep's).
template <typename T>
void add_operand_adjoints(const Instruction& in, const AdjointStep<T>& s, int64_t n) {
  switch (in.op) {
    case Op::negate:
      for (int64_t t = 0; t < n; ++t)
        s.ga[t] -= s.g[t];
      break;
    case Op::add:
    case Op::subtract: {
      const T sign = in.op == Op::add ? T(1) : T(-1);
      if (s.ga) {
        for (int64_t t = 0; t < n; ++t)
          s.ga[t] += s.g[t];
      }
      if (s.gb) {
        for (int64_t t = 0; t < n; ++t)
          s.gb[t] += sign * s.g[t];
      }
      break;
    }
    case Op::multiply:
      if (s.ga) {
        for (int64_t t = 0; t < n; ++t)
          s.ga[t] += s.g[t] * s.b[t];
      }
      if (s.gb) {
        for (int64_t t = 0; t < n; ++t)
          s.gb[t] += s.g[t] * s.a[t];
      }
      break;
    case Op::divide:
      if (s.ga) {
        for (int64_t t = 0; t < n; ++t)
          s.ga[t] += s.g[t] / s.b[t];
      }
      if (s.gb) {
        for (int64_t t = 0; t < n; ++t)
          s.gb[t] -= s.g[t] * s.value[t] / s.b[t];
      }
      break;
    case Op::square:
      for (int64_t t = 0; t < n; ++t)
        s.ga[t] += T(2) * s.g[t] * s.a[t];
      break;
    case Op::power_constant:
    case Op::power:
      add_power_adjoints(in, s, n);
      break;
    case Op::call:
      for (int64_t t = 0; t < n; ++t)
        s.ga[t] += s.g[t] * call_derivative(in.function, s.a[t], s.value[t]);
      break;
    case Op::channel:
    case Op::constant:
    case Op::input:
    case Op::field:
      break;  // channels: the sweep's; the others are never active
  }
}

// ∂(scale Σ r²)/∂ register, from the root (the residual r, the last register) down to the
// channels, whose adjoints are added to `channel_adjoints`.
template <typename T>
void run_adjoint_sweep(const std::vector<Instruction>& code, const TileLeaves<T>& leaves,
                       double scale, const std::vector<T*>& channel_adjoints, Registers<T>& r) {
  const int64_t n = leaves.n;
  for (size_t i = 0; i < code.size(); ++i) {
    if (code[i].active) std::fill(r.adjoint(i, n), r.adjoint(i, n) + n, T(0));
  }
  const size_t root = code.size() - 1;
  const T* residual = r.value(root, n);
  T* seed = r.adjoint(root, n);
  const T twice_scale = static_cast<T>(2 * scale);
  for (int64_t t = 0; t < n; ++t)
    seed[t] = twice_scale * residual[t];
  const auto active_adjoint = [&](int operand) {
    return operand >= 0 && code[static_cast<size_t>(operand)].active
               ? r.adjoint(static_cast<size_t>(operand), n)
               : nullptr;
  };
  for (size_t i = code.size(); i-- > 0;) {
    const Instruction& in = code[i];
    if (!in.active) continue;
    const T* g = r.adjoint(i, n);
    if (in.op == Op::channel) {
      T* target = channel_adjoints[static_cast<size_t>(in.slot)];
      for (int64_t t = 0; t < n; ++t)
        target[t * leaves.channel_stride] += g[t];
      continue;
    }
    const AdjointStep<T> step{g,
                              r.value(i, n),
                              r.operand(in.a, n),
                              r.operand(in.b, n),
                              active_adjoint(in.a),
                              active_adjoint(in.b)};
    add_operand_adjoints(in, step, n);
  }
}

}  // namespace

std::optional<PointwiseProgram> PointwiseProgram::compile(const Node& root) {
  PointwiseProgram program;
  try {
    program.emit(root);
  } catch (const std::invalid_argument&) {
    return std::nullopt;  // a trainable parameter
  }
  return program;
}

int PointwiseProgram::slot_of(const Channel& channel) {
  const auto found = std::find(channels_.begin(), channels_.end(), channel);
  if (found != channels_.end()) return static_cast<int>(found - channels_.begin());
  channels_.push_back(channel);
  return static_cast<int>(channels_.size()) - 1;
}

int PointwiseProgram::slot_of(const std::string& field) {
  const auto found = std::find(fields_.begin(), fields_.end(), field);
  if (found != fields_.end()) return static_cast<int>(found - fields_.begin());
  fields_.push_back(field);
  return static_cast<int>(fields_.size()) - 1;
}

// Emits the instructions of `node` after those of its operands; returns its register.
int PointwiseProgram::emit(const Node& node) {
  Instruction instruction;
  switch (node.kind) {
    case Node::Kind::Number:
      instruction.number = node.number;
      break;
    case Node::Kind::Input:
      instruction.op = Op::input;
      instruction.slot = node.input;
      break;
    case Node::Kind::Channel:
      instruction.op = Op::channel;
      instruction.slot = slot_of(node.channel);
      instruction.active = true;
      break;
    case Node::Kind::Field:
      instruction.op = Op::field;
      instruction.slot = slot_of(node.name);
      break;
    case Node::Kind::Parameter:
      throw std::invalid_argument("trainable parameter");
    case Node::Kind::Negate:
      instruction.op = Op::negate;
      instruction.a = emit(*node.args[0]);
      break;
    case Node::Kind::Call:
      instruction.op = Op::call;
      instruction.function = functions().get(node.function).pointwise;
      instruction.a = emit(*node.args[0]);
      break;
    case Node::Kind::Binary: {
      instruction.a = emit(*node.args[0]);
      const Node& right = *node.args[1];
      if (node.op == '^' && right.kind == Node::Kind::Number) {
        // As expr::evaluate: u^2 is a product, other constant exponents a pow.
        instruction.op = right.number == 2.0 ? Op::square : Op::power_constant;
        instruction.number = right.number;
        break;
      }
      instruction.b = emit(right);
      const char ops[] = {'+', '-', '*', '/'};
      const Op codes[] = {Op::add, Op::subtract, Op::multiply, Op::divide};
      const auto found = std::find(std::begin(ops), std::end(ops), node.op);
      instruction.op = found == std::end(ops) ? Op::power : codes[found - std::begin(ops)];
      break;
    }
  }
  for (int operand : {instruction.a, instruction.b}) {
    if (operand >= 0) instruction.active |= code_[static_cast<size_t>(operand)].active;
  }
  code_.push_back(instruction);
  return static_cast<int>(code_.size()) - 1;
}

template <typename T>
double PointwiseProgram::squares(const TileLeaves<T>& leaves, double scale,
                                 const std::vector<T*>* adjoints) const {
  const int64_t n = leaves.n;
  Registers<T>& r = registers_for<T>(code_.size(), n);
  for (size_t i = 0; i < code_.size(); ++i) {
    const Instruction& in = code_[i];
    run_forward(in, leaves, r.operand(in.a, n), r.operand(in.b, n), r.value(i, n));
  }
  const size_t root = code_.size() - 1;
  const T* residual = r.value(root, n);
  double sum = 0;
  for (int64_t t = 0; t < n; ++t)
    sum += static_cast<double>(residual[t]) * static_cast<double>(residual[t]);
  if (adjoints != nullptr && code_[root].active) {
    run_adjoint_sweep(code_, leaves, scale, *adjoints, r);
  }
  return sum;
}

template double PointwiseProgram::squares<float>(const TileLeaves<float>&, double,
                                                 const std::vector<float*>*) const;
template double PointwiseProgram::squares<double>(const TileLeaves<double>&, double,
                                                  const std::vector<double*>*) const;

}  // namespace pinn::expr
