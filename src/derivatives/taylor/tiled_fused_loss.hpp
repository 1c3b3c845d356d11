// The fused loss of an MLP on the tiled pass: each tile's last layer holds the channels the terms
// read; the terms' compiled programs (expr::PointwiseProgram) evaluate their residuals there and
// seed the tile's backward pass with the squares' gradient while the tile is still in the cache.
#pragma once

#include <memory>

#include "derivatives/fused_loss.hpp"
#include "derivatives/taylor/stacked_mlp.hpp"

namespace pinn::derivatives::taylor {

// `layers` must run on the tiled kernels (MlpKernels::tiled) and outlive the loss.
std::unique_ptr<FusedLoss> make_tiled_fused_loss(const MlpLayers& layers);

}  // namespace pinn::derivatives::taylor
