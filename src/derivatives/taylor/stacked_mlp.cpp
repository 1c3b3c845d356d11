// The stacked MLP passes, forward and hand-written backward, and the tiled pass's setup.
#include "derivatives/taylor/stacked_mlp.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "derivatives/kernels/faa_di_bruno.hpp"
#include "derivatives/taylor/channel_algebra.hpp"
#include "derivatives/taylor/plan.hpp"
#include "model/network.hpp"
#include "model/periodic.hpp"

namespace pinn::derivatives::taylor {

namespace {

using torch::Tensor;

// The layers' current parameters (read at each call: an optimizer or a checkpoint may replace a
// module's tensors) with their activations.
struct LayerStack {
  std::vector<Tensor> weights, biases;
  std::vector<const model::Activation*> activations;
};

LayerStack stack_of(const MlpLayers& layers) {
  LayerStack stack;
  for (const auto* layer : layers.linears) {
    stack.weights.push_back(layer->weight());
    stack.biases.push_back(layer->bias());
  }
  stack.activations = layers.activations;
  return stack;
}

// The activations as kinds, which an autograd Function keeps for its backward pass.
std::vector<int64_t> kinds_of(const std::vector<const model::Activation*>& activations) {
  std::vector<int64_t> kinds;
  for (const auto* activation : activations)
    kinds.push_back(static_cast<int64_t>(activation->kind));
  return kinds;
}

std::vector<const model::Activation*> activations_of(const std::vector<int64_t>& kinds) {
  std::vector<const model::Activation*> activations;
  for (int64_t kind : kinds)
    activations.push_back(&model::activation(static_cast<model::ActivationKind>(kind)));
  return activations;
}

// ---- one layer's activation on stacked channels, with tensor ops or the CPU loops ----

// Faà di Bruno on stacked channels.
Tensor activate_stacked(const Plan& plan, const std::vector<Tensor>& d, const Tensor& z) {
  const int64_t count = z.size(0);
  Tensor h = torch::empty_like(z);
  h.select(0, 0).copy_(d[0]);
  if (count == 1) return h;
  Tensor rest = h.narrow(0, 1, count - 1);
  if (d[1].defined()) {
    torch::mul_out(rest, z.narrow(0, 1, count - 1), d[1].unsqueeze(0));
  } else {
    rest.zero_();
  }
  for (int64_t c = 1; c < count; ++c) {
    Tensor target = h.select(0, c);
    for (const auto& [order, terms] : plan.terms[static_cast<size_t>(c)]) {
      const Tensor& derivative = d[static_cast<size_t>(order)];
      if (!derivative.defined()) continue;
      Tensor inner;
      for (const Term& term : terms) {
        Tensor product;
        for (size_t f : term.factors) {
          const Tensor factor = z.select(0, static_cast<int64_t>(f));
          product = product.defined() ? product * factor : factor;
        }
        if (inner.defined()) {
          inner.add_(product, term.coefficient);
        } else {
          inner = product * term.coefficient;
        }
      }
      target.addcmul_(derivative, inner);
    }
  }
  return h;
}

// dZ_f += Σ over `terms` of channel c: G_c σ^(m) ∂S/∂Z_f (every factor f), and dZ_0 their
// σ^(m+1) parts.
void add_term_adjoints(const std::vector<Term>& terms, size_t m, const std::vector<Tensor>& d,
                       const Tensor& z, const Tensor& gc, Tensor& dz0, Tensor& dz) {
  const Tensor weighted = d[m].defined() ? gc * d[m] : Tensor();
  for (const Term& term : terms) {
    if (m + 1 < d.size() && d[m + 1].defined()) {
      Tensor product = gc;
      for (size_t f : term.factors)
        product = product * z.select(0, static_cast<int64_t>(f));
      dz0.addcmul_(product, d[m + 1], term.coefficient);
    }
    if (!weighted.defined()) continue;
    for (size_t i = 0; i < term.factors.size(); ++i) {
      if (i > 0 && term.factors[i] == term.factors[i - 1]) continue;
      const size_t f = term.factors[i];
      const auto [multiplicity, others] = product_without<Tensor>(
          term, f, [&](size_t k) { return z.select(0, static_cast<int64_t>(k)); });
      dz.select(0, static_cast<int64_t>(f))
          .addcmul_(weighted, others, multiplicity * term.coefficient);
    }
  }
}

// The adjoint of activate_stacked: dZ from G, both C x N x width.
Tensor activation_backward_stacked(const Plan& plan, const std::vector<Tensor>& d, const Tensor& z,
                                   const Tensor& g) {
  const int64_t count = z.size(0);
  Tensor dz = d[1].defined() ? torch::empty_like(z) : torch::zeros_like(z);
  Tensor dz0 = dz.select(0, 0);
  if (d[1].defined()) {
    torch::mul_out(dz, g, d[1].unsqueeze(0));  // every channel's first-order term (and G_0 σ')
    if (count > 1 && d[2].defined()) {
      dz0.addcmul_(d[2], (g.narrow(0, 1, count - 1) * z.narrow(0, 1, count - 1)).sum(0));
    }
  }
  for (int64_t c = 1; c < count; ++c) {
    const Tensor gc = g.select(0, c);
    for (const auto& [order, terms] : plan.terms[static_cast<size_t>(c)])
      add_term_adjoints(terms, static_cast<size_t>(order), d, z, gc, dz0, dz);
  }
  return dz;
}

// σ^(m)(z0) for m = 0..orders-1 as the layer passes take them: with the CPU loops and value
// polynomials, σ(z0) (`value` when defined) and the polynomials; else a table.
kernels::Derivatives derivatives_of(const model::Activation& activation, MlpKernels kernels,
                                    const Tensor& z0, int64_t orders,
                                    const Tensor& value = Tensor()) {
  kernels::Derivatives d;
  if (activation.has_value_polynomials() && kernels != MlpKernels::tensor_ops) {
    d.polynomials = activation.value_polynomials(static_cast<int>(orders - 1));
    d.value = value.defined() ? value : activation.apply(z0);
    return d;
  }
  auto list = activation.derivatives(z0, static_cast<int>(orders - 1));
  for (auto& derivative : list) {
    if (!derivative.defined()) derivative = torch::zeros_like(z0);
  }
  d.table = torch::stack(list, 0);
  return d;
}

Tensor activate_layer(const CompiledPlan& compiled, MlpKernels kernels,
                      const kernels::Derivatives& d, const Tensor& z) {
  if (kernels == MlpKernels::tensor_ops) {
    return activate_stacked(compiled.plan, d.table.unbind(0), z);
  }
  Tensor h = at::empty_like(z);
  kernels::faa_di_bruno(compiled.program, d, z, h);
  return h;
}

Tensor activate_layer_adjoint(const CompiledPlan& compiled, MlpKernels kernels,
                              const kernels::Derivatives& d, const Tensor& z, const Tensor& g) {
  if (kernels == MlpKernels::tensor_ops) {
    return activation_backward_stacked(compiled.plan, d.table.unbind(0), z, g);
  }
  Tensor dz = at::empty_like(z);
  kernels::faa_di_bruno_adjoint(compiled.program, d, z, g.contiguous(), dz);
  return dz;
}

// ---- the layers ----

// The first Linear layer on the points: the value channel x Wᵀ + b, the first-order channels the
// columns of W (∂x/∂x_i = e_i), the higher ones zero.
Tensor first_layer(const Plan& plan, const Tensor& points, const Tensor& weight,
                   const Tensor& bias) {
  const int64_t n = points.size(0), width = weight.size(0);
  Tensor z = at::empty({static_cast<int64_t>(plan.channels()), n, width}, points.options());
  Tensor z0 = z.select(0, 0);
  at::addmm_out(z0, bias, points, weight.t());
  for (size_t c = 1; c < plan.channels(); ++c) {
    Tensor zc = z.select(0, static_cast<int64_t>(c));
    if (plan.first_order_input(c) >= 0) {
      zc.copy_(weight.select(1, plan.first_order_input(c)).unsqueeze(0).expand({n, width}));
    } else {
      zc.zero_();
    }
  }
  return z;
}

// A Linear layer on stacked channels.
Tensor stacked_layer(const Tensor& h, const Tensor& weight, const Tensor& bias) {
  const int64_t count = h.size(0), n = h.size(1);
  Tensor z = torch::mm(h.reshape({count * n, h.size(2)}), weight.t()).view({count, n, -1});
  z.select(0, 0).add_(bias);
  return z;
}

// Each layer's Z and H, C x N x width; `input` is the points (C0 = 1) or, with `embedded`, the
// embedded channels (C x N x features).
struct StackedPass {
  std::vector<Tensor> z, h;
};

StackedPass run_stacked(const CompiledPlan& compiled, MlpKernels kernels, const LayerStack& stack,
                        const Tensor& input, bool embedded) {
  const int64_t orders = compiled.plan.orders();
  StackedPass pass;
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    const Tensor z =
        l == 0 && !embedded
            ? first_layer(compiled.plan, input, stack.weights[0], stack.biases[0])
            : stacked_layer(l == 0 ? input : pass.h.back(), stack.weights[l], stack.biases[l]);
    const model::Activation& activation = *stack.activations[l];
    pass.z.push_back(z);
    pass.h.push_back(
        activation.is_identity()
            ? z
            : activate_layer(compiled, kernels,
                             derivatives_of(activation, kernels, z.select(0, 0), orders), z));
  }
  return pass;
}

// The input of the first Linear layer, stacked: the embedded channels with an embedding, else the
// points themselves.
Tensor stacked_input(const Plan& plan, const MlpLayers& layers, const Tensor& points) {
  if (!layers.embedded()) return points;
  Channels channels = input_channels(plan, points);
  if (layers.features != nullptr) channels = embed(plan, *layers.features, channels);
  if (layers.periodic != nullptr) channels = embed(plan, *layers.periodic, channels);
  if (layers.fourier != nullptr) channels = embed(plan, *layers.fourier, channels);
  return stack_channels(channels, points.size(0));
}

// The tiled pass's view of the network.
tiles::Network tiled_network(const CompiledPlan& compiled, const LayerStack& stack, bool embedded) {
  const int64_t orders = compiled.plan.orders();
  tiles::Network network;
  network.program = &compiled.program;
  network.embedded = embedded;
  for (size_t c = 0; c < compiled.plan.channels(); ++c)
    network.first_order_input.push_back(compiled.plan.first_order_input(c));
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    const model::Activation& activation = *stack.activations[l];
    tiles::Layer layer{
        stack.weights[l].contiguous(), stack.biases[l].contiguous(), activation.kind, {}, {}};
    if (!activation.is_identity()) {
      layer.forward.polynomials = activation.value_polynomials(static_cast<int>(orders - 1));
      layer.backward.polynomials = activation.value_polynomials(static_cast<int>(orders));
    }
    network.layers.push_back(std::move(layer));
  }
  return network;
}

// One N x outputs tensor per channel of C x N x outputs.
torch::autograd::variable_list unstack(const Tensor& channels) {
  torch::autograd::variable_list outputs;
  for (int64_t c = 0; c < channels.size(0); ++c)
    outputs.push_back(channels.select(0, c).clone());
  return outputs;
}

// The MLP as one autograd Function. Inputs: the points (or embedded channels), then weight and
// bias of every layer; outputs: one N x outputs tensor per channel of the plan, in its order.
// Saved: on the tiled kernels the inputs (the pass recomputes its layers in the backward pass);
// else the input, the weights, each layer's Z, and H of every layer but the last.
class TaylorMlp : public torch::autograd::Function<TaylorMlp> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const std::vector<int64_t>& key,
                                                const std::vector<int64_t>& kinds, int64_t kernels,
                                                bool embedded, at::TensorList inputs) {
    const CompiledPlan& compiled = compiled_plan(key);
    const auto mode = static_cast<MlpKernels>(kernels);
    const LayerStack stack = stack_of_inputs(inputs, kinds);
    ctx->saved_data["key"] = key;
    ctx->saved_data["kinds"] = kinds;
    ctx->saved_data["kernels"] = kernels;
    ctx->saved_data["embedded"] = embedded;
    ctx->set_materialize_grads(false);
    if (mode == MlpKernels::tiled) {
      ctx->save_for_backward(std::vector<Tensor>(inputs.begin(), inputs.end()));
      return unstack(
          tiles::forward(tiled_network(compiled, stack, embedded), inputs[0].contiguous()));
    }
    const StackedPass pass = run_stacked(compiled, mode, stack, inputs[0], embedded);
    std::vector<Tensor> saved = {inputs[0]};
    saved.insert(saved.end(), stack.weights.begin(), stack.weights.end());
    saved.insert(saved.end(), pass.z.begin(), pass.z.end());
    saved.insert(saved.end(), pass.h.begin(), pass.h.end() - 1);
    ctx->save_for_backward(saved);
    return unstack(pass.h.back());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // The plan is cached (a reference into the cache); the key is held in a named vector so that
    // GCC 13's -Wdangling-reference does not take the reference for one into the temporary.
    const std::vector<int64_t> key = ctx->saved_data["key"].toIntVector();
    const std::vector<int64_t> kinds = ctx->saved_data["kinds"].toIntVector();
    const CompiledPlan& compiled = compiled_plan(key);
    const auto saved = ctx->get_saved_variables();
    const auto mode = static_cast<MlpKernels>(ctx->saved_data["kernels"].toInt());
    torch::autograd::variable_list result =
        mode == MlpKernels::tiled ? tiled_backward(ctx, compiled, kinds, saved, grads)
                                  : stacked_backward(ctx, compiled, mode, kinds, saved, grads);
    // No gradients for the key, the kinds, the kernels and the flag that precede the tensors.
    result.insert(result.begin(), 4, Tensor());
    return result;
  }

 private:
  static LayerStack stack_of_inputs(at::TensorList inputs, const std::vector<int64_t>& kinds) {
    LayerStack stack;
    for (size_t i = 1; i + 1 < inputs.size(); i += 2) {
      stack.weights.push_back(inputs[i]);
      stack.biases.push_back(inputs[i + 1]);
    }
    stack.activations = activations_of(kinds);
    return stack;
  }

  // The gradients of the input and every layer's weight and bias, from the saved Z's and H's.
  static torch::autograd::variable_list stacked_backward(
      torch::autograd::AutogradContext* ctx, const CompiledPlan& compiled, MlpKernels mode,
      const std::vector<int64_t>& kinds, const torch::autograd::variable_list& saved,
      const torch::autograd::variable_list& grads) {
    const size_t layers = saved.size() / 3;  // 1 + L weights + L Z's + (L - 1) H's
    const auto activations = activations_of(kinds);
    const bool embedded = ctx->saved_data["embedded"].toBool();
    const auto weight_of = [&](size_t l) { return saved[1 + l]; };
    const auto z_of = [&](size_t l) { return saved[1 + layers + l]; };
    const auto h_of = [&](size_t l) { return saved[1 + 2 * layers + l]; };
    const Tensor& input = saved[0];
    const int64_t orders = compiled.plan.orders() + 1;

    std::vector<Tensor> g_list(grads.begin(), grads.end());
    for (auto& grad : g_list) {
      if (!grad.defined()) grad = torch::zeros_like(z_of(layers - 1).select(0, 0));
    }
    Tensor g = torch::stack(g_list, 0);
    torch::autograd::variable_list result(1 + 2 * layers);
    for (size_t l = layers; l-- > 0;) {
      const Tensor& z = z_of(l);
      const model::Activation& activation = *activations[l];
      const Tensor value = l + 1 < layers ? h_of(l).select(0, 0) : Tensor();
      const Tensor dz =
          activation.is_identity()
              ? g.contiguous()
              : activate_layer_adjoint(
                    compiled, mode, derivatives_of(activation, mode, z.select(0, 0), orders, value),
                    z, g);
      const Tensor& weight = weight_of(l);
      const int64_t count = dz.size(0), n = dz.size(1);
      const Tensor dz0 = dz.select(0, 0);
      result[2 + 2 * l] = dz0.sum(0);
      if (l == 0 && !embedded) {
        result[1] = first_layer_weight_gradient(compiled.plan, dz, input);
        if (ctx->needs_input_grad(0)) result[0] = torch::mm(dz0, weight);
        break;
      }
      const Tensor dz_flat = dz.view({count * n, dz.size(2)});
      const Tensor& a = l == 0 ? input : h_of(l - 1);
      result[1 + 2 * l] = torch::mm(dz_flat.t(), a.reshape({count * n, a.size(2)}));
      if (l > 0 || ctx->needs_input_grad(0)) {
        g = torch::mm(dz_flat, weight).view({count, n, weight.size(1)});
      }
      if (l == 0 && ctx->needs_input_grad(0)) result[0] = g;  // to the embedding
    }
    return result;
  }

  // The first layer on the points: dW = dZ_0ᵀ x + Σ over first-order channels e_i of Σ_n dZ_c.
  static Tensor first_layer_weight_gradient(const Plan& plan, const Tensor& dz,
                                            const Tensor& input) {
    Tensor dweight = torch::mm(dz.select(0, 0).t(), input);
    for (size_t c = 1; c < plan.multisets.size(); ++c) {
      const auto& multiset = plan.multisets[c];
      if (multiset.size() == 1) {
        dweight.select(1, multiset[0]).add_(dz.select(0, static_cast<int64_t>(c)).sum(0));
      }
    }
    return dweight;
  }

  // The backward pass of the tiled forward pass; `saved` holds the input and every layer's weight
  // and bias, in the order of the Function's inputs.
  static torch::autograd::variable_list tiled_backward(
      torch::autograd::AutogradContext* ctx, const CompiledPlan& compiled,
      const std::vector<int64_t>& kinds, const torch::autograd::variable_list& saved,
      const torch::autograd::variable_list& grads) {
    const LayerStack stack = stack_of_inputs(saved, kinds);
    const Tensor& input = saved[0];
    const bool embedded = ctx->saved_data["embedded"].toBool();
    const tiles::Network network = tiled_network(compiled, stack, embedded);
    const int64_t n = embedded ? input.size(1) : input.size(0);
    const Tensor zero = torch::zeros({n, stack.weights.back().size(0)}, input.options());
    std::vector<Tensor> g_list;
    for (const auto& grad : grads)
      g_list.push_back(grad.defined() ? grad : zero);
    const tiles::Gradients gradients = tiles::backward(
        network, input.contiguous(), torch::stack(g_list, 0), ctx->needs_input_grad(0));
    torch::autograd::variable_list result;
    result.push_back(gradients.input);
    for (size_t l = 0; l < gradients.weights.size(); ++l) {
      result.push_back(gradients.weights[l]);
      result.push_back(gradients.biases[l]);
    }
    return result;
  }
};

}  // namespace

MlpLayers mlp_layers(const model::Structure& chain) {
  TORCH_CHECK(chain.is_chain(), "taylor: the stacked passes take a chain of layers");
  MlpLayers layers;
  for (const auto& op : chain.operations) {
    switch (op.kind) {
      case model::Operation::Kind::features:
        layers.features = op.features;
        break;
      case model::Operation::Kind::periodic:
        layers.periodic = op.periodic;
        break;
      case model::Operation::Kind::fourier:
        layers.fourier = op.fourier;
        break;
      case model::Operation::Kind::linear:
        layers.linears.push_back(op.layer);
        layers.activations.push_back(&model::activation(model::ActivationKind::identity));
        break;
      case model::Operation::Kind::activation:
        layers.activations.back() = op.activation;
        break;
      default:
        break;
    }
  }
  return layers;
}

MlpKernels mlp_kernels_for(const MlpLayers& layers, const torch::TensorOptions& options) {
  static const bool cpu_has_loops = kernels::available();
  if (!options.device().is_cpu() || !cpu_has_loops) return MlpKernels::tensor_ops;
  const auto dtype = options.dtype();
  const bool tiled_dtype = dtype == torch::kFloat32 || dtype == torch::kFloat64;
  const bool tiled_activations =
      std::all_of(layers.activations.begin(), layers.activations.end(),
                  [](const model::Activation* a) { return tiles::supports_activation(a->kind); });
  return tiled_dtype && tiled_activations ? MlpKernels::tiled : MlpKernels::cpu_loops;
}

ChannelMap propagate_mlp(const MlpLayers& layers, MlpKernels kernels, const Tensor& points,
                         const std::set<expr::Channel>& channels, bool create_graph) {
  const auto key = plan_key(channels);
  const CompiledPlan& compiled = compiled_plan(key);
  const LayerStack stack = stack_of(layers);
  const bool embedded = layers.embedded();
  if (!create_graph) {
    const torch::NoGradGuard no_grad;
    const Tensor input = stacked_input(compiled.plan, layers, points);
    const Tensor output =
        kernels == MlpKernels::tiled
            ? tiles::forward(tiled_network(compiled, stack, embedded), input.contiguous())
            : run_stacked(compiled, kernels, stack, input, embedded).h.back();
    return channel_map(compiled.plan, output.unbind(0), channels);
  }
  // The embedding is ordinary autograd ops: gradients reach a trainable B (and the points)
  // through the gradient TaylorMlp returns for its input.
  const Tensor input = stacked_input(compiled.plan, layers, points);
  torch::autograd::variable_list inputs = {input};
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    inputs.push_back(stack.weights[l]);
    inputs.push_back(stack.biases[l]);
  }
  const auto outputs =
      TaylorMlp::apply(key, kinds_of(stack.activations), static_cast<int64_t>(kernels), embedded,
                       at::TensorList(inputs));
  return channel_map(compiled.plan, outputs, channels);
}

TiledSetup tiled_setup(const MlpLayers& layers, const Tensor& points,
                       const std::set<expr::Channel>& channels) {
  const CompiledPlan& compiled = compiled_plan(plan_key(channels));
  const LayerStack stack = stack_of(layers);
  TiledSetup setup;
  setup.input = stacked_input(compiled.plan, layers, points);
  setup.network = tiled_network(compiled, stack, layers.embedded());
  for (size_t l = 0; l < stack.weights.size(); ++l) {
    setup.parameters.push_back(stack.weights[l]);
    setup.parameters.push_back(stack.biases[l]);
  }
  setup.layers = layers.linears;
  for (const auto& channel : channels) {
    const auto c = static_cast<int64_t>(compiled.plan.position(channel));
    setup.slots[channel] = {c, channel.output};
  }
  return setup;
}

}  // namespace pinn::derivatives::taylor
