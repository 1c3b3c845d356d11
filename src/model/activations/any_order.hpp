// The smooth_orders of an activation none of whose derivatives vanishes identically.
#pragma once

namespace pinn::model {

constexpr int kAnyOrder = 1 << 20;

}  // namespace pinn::model
