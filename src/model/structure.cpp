// Building and inspecting network structures.
#include "model/structure.hpp"

namespace pinn::model {

namespace {

Operation operation(Operation::Kind kind, int result, int a, int b = -1) {
  Operation op{kind, result, a, b, nullptr, nullptr, nullptr, nullptr};
  return op;
}

}  // namespace

int Structure::periodic(int from, const PeriodicEmbedding& embedding) {
  Operation op = operation(Operation::Kind::periodic, slots++, from);
  op.periodic = &embedding;
  operations.push_back(op);
  return op.result;
}

int Structure::fourier(int from, const FourierFeatures& features) {
  Operation op = operation(Operation::Kind::fourier, slots++, from);
  op.fourier = &features;
  operations.push_back(op);
  return op.result;
}

int Structure::linear(int from, const Dense& layer) {
  Operation op = operation(Operation::Kind::linear, slots++, from);
  op.layer = &layer;
  operations.push_back(op);
  return op.result;
}

int Structure::activate(int from, const Activation& activation) {
  Operation op = operation(Operation::Kind::activation, slots++, from);
  op.activation = &activation;
  operations.push_back(op);
  return op.result;
}

int Structure::combine(Operation::Kind kind, int a, int b) {
  operations.push_back(operation(kind, slots++, a, b));
  return operations.back().result;
}

bool Structure::is_chain() const {
  int previous = kInput;
  for (size_t i = 0; i < operations.size(); ++i) {
    const Operation& op = operations[i];
    if (op.a != previous) return false;
    const bool first = i == 0;
    const bool after_linear = !first && operations[i - 1].kind == Operation::Kind::linear;
    // A Fourier embedding comes first, or right after the periodic one.
    const bool after_embeddings =
        first || (i == 1 && operations[0].kind == Operation::Kind::periodic);
    switch (op.kind) {
      case Operation::Kind::periodic:
        if (!first) return false;
        break;
      case Operation::Kind::fourier:
        if (!after_embeddings) return false;
        break;
      case Operation::Kind::linear:
        break;
      case Operation::Kind::activation:
        if (!after_linear) return false;
        break;
      default:
        return false;
    }
    previous = op.result;
  }
  return !operations.empty();
}

std::vector<const Activation*> Structure::activations() const {
  std::vector<const Activation*> result;
  for (const auto& op : operations) {
    if (op.kind == Operation::Kind::activation) result.push_back(op.activation);
  }
  return result;
}

}  // namespace pinn::model
