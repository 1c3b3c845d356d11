// Building and inspecting network structures.
#include "model/structure.hpp"

namespace pinn::model {

namespace {

Operation operation(Operation::Kind kind, int result, int a, int b = -1) {
  Operation op{kind, result, a, b, nullptr, nullptr, nullptr, nullptr, nullptr, {}};
  return op;
}

}  // namespace

int Structure::features(int from, const FeatureMap& features) {
  Operation op = operation(Operation::Kind::features, slots++, from);
  op.features = &features;
  operations.push_back(op);
  return op.result;
}

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

int Structure::concatenate(std::vector<int> parts) {
  Operation op = operation(Operation::Kind::concatenate, slots++, parts.front());
  op.parts = std::move(parts);
  operations.push_back(op);
  return op.result;
}

int Structure::append(const Structure& other, int input) {
  // The other's slot 0 becomes `input`, its slot s > 0 the slot s - 1 + slots.
  const int offset = slots - 1;
  const auto remap = [&](int slot) { return slot == kInput ? input : slot + offset; };
  for (Operation op : other.operations) {
    op.result = remap(op.result);
    op.a = remap(op.a);
    if (op.b >= 0) op.b = remap(op.b);
    for (int& part : op.parts)
      part = remap(part);
    operations.push_back(op);
  }
  slots += other.slots - 1;
  return other.operations.empty() ? input : remap(other.output());
}

bool Structure::is_chain() const {
  using Kind = Operation::Kind;
  int previous = kInput;
  size_t i = 0;
  // The embeddings of the input come first, each at most once, in this order.
  for (Kind embedding : {Kind::features, Kind::periodic, Kind::fourier}) {
    if (i < operations.size() && operations[i].kind == embedding && operations[i].a == previous) {
      previous = operations[i++].result;
    }
  }
  bool after_linear = false, any_linear = false;
  for (; i < operations.size(); ++i) {
    const Operation& op = operations[i];
    if (op.a != previous) return false;
    if (op.kind == Kind::linear) {
      after_linear = any_linear = true;
    } else if (op.kind == Kind::activation && after_linear) {
      after_linear = false;  // at most one activation per layer
    } else {
      return false;
    }
    previous = op.result;
  }
  return any_linear;
}

std::vector<const Activation*> Structure::activations() const {
  std::vector<const Activation*> result;
  for (const auto& op : operations) {
    if (op.kind == Operation::Kind::activation) result.push_back(op.activation);
  }
  return result;
}

}  // namespace pinn::model
