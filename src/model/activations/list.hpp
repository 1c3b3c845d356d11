// Every activation, once. The kind enum, the record declarations and the registry are all made
// from this list (model/activation.hpp, model/activation.cpp); adding an activation is a line
// here and its file model/activations/NAME.cpp, which defines NAME_activation().
#pragma once

#define PINN_ACTIVATIONS(X) \
  X(identity)               \
  X(tanh)                   \
  X(sigmoid)                \
  X(sin)                    \
  X(softplus)               \
  X(silu)                   \
  X(gelu)                   \
  X(relu)
