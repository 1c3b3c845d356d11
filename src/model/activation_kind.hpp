// The activations' kinds as an enum, made from model/activations/list.hpp; a light header for the
// CPU kernels, which switch on the kind (model/activation.hpp has the records).
#pragma once

#include "model/activations/list.hpp"

namespace pinn::model {

enum class ActivationKind {
#define PINN_ACTIVATION_KIND(name) name,
  PINN_ACTIVATIONS(PINN_ACTIVATION_KIND)
#undef PINN_ACTIVATION_KIND
};

}  // namespace pinn::model
