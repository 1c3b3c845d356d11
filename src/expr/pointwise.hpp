// A residual expression compiled for the fused loss: a straight-line program over arrays of
// points (one register per tree node), evaluated together with its reverse-mode adjoint on a tile
// of points at a time, without LibTorch. The Taylor engine's tiled pass calls it between a tile's
// forward and backward passes, so the loss costs no tensor operation and no autograd node. It
// serves every expression that reads no trainable parameter (their gradients are the tensor
// path's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "expr/expression.hpp"
#include "expr/functions.hpp"

namespace pinn::expr {

// What a tile supplies to a program: per slot, where its values are.
template <typename T>
struct TileLeaves {
  int64_t n = 0;              // points in the tile
  const T* points = nullptr;  // n x dims, row-major: the inputs x, y, ...
  int64_t dims = 0;
  // Channel slot k of point t is channels[k][t * channel_stride].
  std::vector<const T*> channels;
  int64_t channel_stride = 1;
  std::vector<const T*> fields;  // field slot k: n contiguous values
};

class PointwiseProgram {
 public:
  // The program for `root`, or nullopt when it reads a trainable parameter.
  static std::optional<PointwiseProgram> compile(const Node& root);

  // The channels and fields the program reads, in slot order (each once).
  const std::vector<Channel>& channels() const { return channels_; }
  const std::vector<std::string>& fields() const { return fields_; }

  // Σ_t r(t)² over the tile. With `adjoints` (one per channel slot, laid out like the channels),
  // also adds scale · 2 r(t) · ∂r/∂channel at point t to each: the gradient of scale · Σ r².
  template <typename T>
  double squares(const TileLeaves<T>& leaves, double scale, const std::vector<T*>* adjoints) const;

  // The instruction set (pointwise.cpp's sweeps run it): register i holds the values of code_[i]
  // at the tile's points.
  enum class Op {
    constant,
    input,
    channel,
    field,
    negate,
    add,
    subtract,
    multiply,
    divide,
    square,
    power_constant,
    power,
    call
  };
  struct Instruction {
    Op op = Op::constant;
    int a = -1, b = -1;  // operand registers
    int slot = -1;       // input index, channel slot or field slot
    double number = 0;   // constant value, or the exponent of power_constant
    PointwiseFunction function = PointwiseFunction::sin;
    bool active = false;  // depends on a channel: its adjoint is needed
  };

 private:
  int emit(const Node& node);
  int slot_of(const Channel& channel);
  int slot_of(const std::string& field);

  std::vector<Instruction> code_;  // register i is written by code_[i]
  std::vector<Channel> channels_;
  std::vector<std::string> fields_;
};

}  // namespace pinn::expr
