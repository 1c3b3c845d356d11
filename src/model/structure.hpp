// A network's structure as the derivative engines see it: a short program of operations on
// hidden states. Slot 0 holds the (points) input; each operation writes one slot from one or two
// others; the last operation's slot is the output. An engine that propagates input derivatives
// through a network (Taylor mode) follows this program, so it needs to know nothing of the network
// types: a new type describes itself with these operations and runs on every engine.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/activation.hpp"
#include "model/dense.hpp"

namespace pinn::model {

class FeatureMap;
class FourierFeatures;
class Network;
class PeriodicEmbedding;
class TransformedNetwork;

struct Operation {
  enum class Kind {
    features,     // expressions of the inputs in slot a (always the input; model/features)
    periodic,     // slot a's periodic inputs as (cos, sin) pairs, the others kept (model/periodic)
    fourier,      // [cos(2π x Bᵀ), sin(2π x Bᵀ)] of slot a (of its chosen columns)
    linear,       // slot a times the layer's weight, plus its bias
    activation,   // σ of slot a, elementwise
    add,          // slot a + slot b
    subtract,     // slot a - slot b
    multiply,     // slot a ⊙ slot b
    concatenate,  // the columns of the slots in `parts`, side by side
  };
  Kind kind;
  int result;
  int a;
  int b = -1;
  const Dense* layer = nullptr;                 // linear
  const Activation* activation = nullptr;       // activation
  const FourierFeatures* fourier = nullptr;     // fourier
  const PeriodicEmbedding* periodic = nullptr;  // periodic
  const FeatureMap* features = nullptr;         // features
  std::vector<int> parts;                       // concatenate
};

struct Structure {
  std::vector<Operation> operations;
  int slots = 1;
  // Set when the network's outputs are an output transform of another network's (model/transform):
  // the operations are that raw network's.
  const TransformedNetwork* output_transform = nullptr;
  Network* raw = nullptr;  // that raw network
  // Set by a parallel network (model/parallel): output o is branches[o]'s only output, and the
  // operations are theirs side by side.
  std::vector<Network*> branches;

  // Builders: each appends an operation on `from` into a new slot and returns that slot.
  int features(int from, const FeatureMap& features);
  int periodic(int from, const PeriodicEmbedding& embedding);
  int fourier(int from, const FourierFeatures& features);
  int linear(int from, const Dense& layer);
  int activate(int from, const Activation& activation);
  int combine(Operation::Kind kind, int a, int b);
  int concatenate(std::vector<int> parts);
  // Appends `other`'s operations with its input read from slot `input`; returns the slot of its
  // output.
  int append(const Structure& other, int input);

  // The input and output slots.
  static constexpr int kInput = 0;
  int output() const { return operations.empty() ? kInput : operations.back().result; }

  // Whether the program is a plain chain: optional embeddings of the input (features, periodic,
  // then Fourier), then Linear layers each followed by at most one activation, each reading the
  // previous result (an MLP).
  bool is_chain() const;
  // Every activation the program applies.
  std::vector<const Activation*> activations() const;
};

}  // namespace pinn::model
