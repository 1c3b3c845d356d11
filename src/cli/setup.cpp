// Reading the whole config into a Setup.
#include "cli/setup.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "derivatives/engine.hpp"
#include "model/activation.hpp"
#include "model/transform.hpp"
#include "util/errors.hpp"
#include "util/logging.hpp"
#include "util/signals.hpp"
#include "util/suggest.hpp"
#include "util/threads.hpp"

namespace pinn::cli {

namespace {

// Every top-level key; checked first so that a typo there is reported as such.
const std::vector<std::string> kTopLevelKeys = {
    "name",      "description",      "inputs",        "outputs",      "constants",  "parameters",
    "domains",   "network",          "transform",     "points",       "losses",     "reference",
    "training",  "evaluate",         "derivatives",   "device",       "dtype",      "seed",
    "output",    "checkpoint_every", "threads",       "tf32",         "fused_loss", "$schema",
    "weighting", "distributed",      "on_divergence", "max_rollbacks"};

config::Document load_document(const RunOptions& options) {
  config::Document document = config::Document::load(options.config_path);
  for (const auto& assignment : options.overrides)
    document.apply_override(assignment);
  for (const auto& [assignment, origin] : options.option_overrides)
    document.apply_override(assignment, origin);
  if (options.seed) document.set(config::Pointer("/seed"), *options.seed, "--seed");
  // The device: --device, else PINN_TRAIN_DEVICE (a job script's or a test run's), else the config.
  if (options.device) {
    document.set(config::Pointer("/device"), *options.device, "--device");
  } else if (const char* device = std::getenv("PINN_TRAIN_DEVICE"); device && *device) {
    document.set(config::Pointer("/device"), std::string(device), "PINN_TRAIN_DEVICE");
  }
  if (options.threads) document.set(config::Pointer("/threads"), *options.threads, "--threads");
  if (options.output) {
    const bool object = document.root().contains("output") && document.root()["output"].is_object();
    document.set(config::Pointer(object ? "/output/directory" : "/output"), *options.output,
                 "--output");
  }
  return document;
}

void warn_about_nonsmooth_network(const Setup& setup) {
  const int order = setup.problem.max_derivative_order();
  if (order > setup.network->smooth_orders()) {
    spdlog::warn(
        "the loss asks for derivatives of order {}, but the network's activation is only "
        "piecewise linear (relu): those derivatives are zero almost everywhere and will not train; "
        "use tanh, sin, silu, gelu or softplus",
        order);
  }
}

// Causal and adaptive weights change between steps on the host, which a captured CUDA graph would
// not see: such runs step without one.
void forgo_cuda_graphs(Setup& setup) {
  const bool causal = std::any_of(setup.problem.losses.begin(), setup.problem.losses.end(),
                                  [](const auto& term) { return term.causal.has_value(); });
  if (!causal && !setup.weighting) return;
  for (auto& stage : setup.stages) {
    if (!stage.cuda_graph) continue;
    spdlog::warn("{}: cuda_graph is not used with {}: their weights change between steps",
                 stage.where, causal ? "causal terms" : "adaptive loss weights");
    stage.cuda_graph = false;
  }
}

// A run across processes: read from the launcher's environment unless "distributed" is "off".
// Each rank takes the GPU of its local rank; what does not work across processes yet is refused.
void read_launch(Setup& setup) {
  const auto launch = distributed::launch_from(distributed::process_environment());
  if (!launch) return;
  if (!setup.settings.distributed.enabled) {
    spdlog::warn("{} started {} processes, but \"distributed\" is \"off\": each trains alone",
                 launch->launcher, launch->world_size);
    return;
  }
  setup.launch = launch;
  const auto refuse = [&](const std::string& pointer, const std::string& what) {
    throw InputError(setup.document.where(config::Pointer(pointer)),
                     what + " does not work in a run across processes yet (" +
                         std::to_string(launch->world_size) + " ranks from " + launch->launcher +
                         "); train it in one process, or set \"distributed\": \"off\"");
  };
  const auto& losses = setup.problem.losses;
  for (size_t t = 0; t < losses.size(); ++t) {
    if (losses[t].causal) refuse("/losses/" + std::to_string(t) + "/causal", "causal training");
  }
  if (setup.weighting && train::draws_points(*setup.weighting)) {
    refuse("/weighting/method", "weighting that draws random points (ntk)");
  }
  for (auto& stage : setup.stages) {
    if (!stage.cuda_graph) continue;
    spdlog::warn("{}: cuda_graph is not used across processes: the step holds collectives",
                 stage.where);
    stage.cuda_graph = false;
  }
}

// A periodic input must be bounded by a domain: the period is checked against its extent there
// (a period other than the extent is allowed, with a warning, e.g. a problem on half a period).
void check_periodic_inputs(const Setup& setup) {
  const auto& network = setup.document.root().at("network");
  if (!network.contains("periodic")) return;
  const auto& inputs = setup.problem.symbols.inputs;
  for (const auto& [input, period] : network.at("periodic").items()) {
    const auto column =
        static_cast<size_t>(std::find(inputs.begin(), inputs.end(), input) - inputs.begin());
    const std::string where = setup.document.where(config::Pointer("/network/periodic") / input);
    bool bounded = false;
    for (const auto& [name, domain] : setup.problem.domains) {
      const auto [low, high] = domain->bounding_box();
      if (column >= low.size() || !std::isfinite(low[column]) || !std::isfinite(high[column])) {
        continue;
      }
      bounded = true;
      const double extent = high[column] - low[column];
      if (std::abs(extent - period.get<double>()) > 1e-12 * extent) {
        spdlog::warn("{}: the period of {} is {}, but domain '{}' spans {} to {} (length {})",
                     where, input, period.get<double>(), name, low[column], high[column], extent);
      }
    }
    if (!bounded) {
      throw InputError(where, "no domain bounds the periodic input '" + input +
                                  "': declare its domain (\"domains\"), whose extent in " + input +
                                  " the period should be");
    }
  }
}

void warn_about_unused_sets(const problem::Problem& problem) {
  for (const auto& [name, set] : problem.point_sets) {
    // A lambda may not capture a structured binding in C++17 (clang refuses; GCC allows it).
    const std::string& set_name = name;
    const auto in_term = [&](const problem::LossTerm& term) {
      const auto& members = problem.point_sets.at(term.points).members;
      return term.points == set_name ||
             std::find(members.begin(), members.end(), set_name) != members.end();
    };
    const bool used = std::any_of(problem.losses.begin(), problem.losses.end(), in_term);
    if (!used && name.find('@') == std::string::npos) {
      spdlog::warn("point set '{}' ({} points) is used by no loss term", name, set.size());
    }
  }
}

}  // namespace

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  const bool available = torch::cuda::is_available();
  if (name == "auto") return available ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (!available) {
    throw DeviceError("device '" + name + "' was requested, but " +
                      (torch::cuda::device_count() == 0 && !available
                           ? std::string("this build of LibTorch has no CUDA or no GPU is visible")
                           : std::string("CUDA is not available")) +
                      "; use --device cpu");
  }
  const torch::Device device(name);
  if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
    throw DeviceError("device '" + name + "' does not exist: " +
                      std::to_string(torch::cuda::device_count()) + " CUDA device(s) visible");
  }
  return device;
}

void read_config(Setup& setup, const std::string& default_name, const std::string& base_directory) {
  config::Reader top(setup.document, config::Pointer());
  for (const auto& key : kTopLevelKeys)
    top.accept(key);
  top.finish();
  // Editors read "$schema" (docs/schema.md); pinn-train only checks that it is a string.
  top.describe("$schema", "the JSON Schema of this file, for editors: docs/pinn-train.schema.json");
  if (top.has("$schema")) top.get<std::string>("$schema");
  top.describe("description", "free text about the problem (not read)");
  if (top.has("description")) top.get<std::string>("description");

  setup.settings = config::read_run_settings(top, default_name, derivatives::engine_names());
  setup.problem = problem::read_problem(top, base_directory, setup.settings.seed);

  torch::manual_seed(static_cast<uint64_t>(setup.settings.seed));
  top.describe("network", "the neural network: its type, layers, activation and initialisation");
  config::Reader network = top.object("network");
  setup.network = model::make_network(network, setup.problem.symbols);
  top.describe("transform",
               "per output, an expression of the raw output N and the inputs that the model "
               "returns instead (hard constraints), e.g. {\"u\": \"x*(1-x)*N\"}");
  setup.model = model::apply_transforms(top, setup.network, setup.problem.symbols);
  top.describe("training", "the optimizer stages, run in order (e.g. adam, then lbfgs)");
  setup.stages = train::read_stages(top);
  setup.weighting = train::read_weighting(top, setup.problem);
  setup.divergence = train::read_divergence_policy(top);
  top.finish();
}

Setup prepare(const RunOptions& options) {
  Setup setup;
  setup.document = load_document(options);
  const std::filesystem::path config_path(options.config_path);
  const std::string base =
      options.base_directory ? *options.base_directory : config_path.parent_path().string();
  read_config(setup, config_path.stem().string(), base.empty() ? "." : base);

  util::use_threads(setup.settings.threads);
  setup.dtype = setup.settings.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  setup.device = resolve_device(setup.settings.device);
  read_launch(setup);
  if (setup.launch && setup.device.is_cuda() && !setup.device.has_index()) {
    // torchrun and srun start a process per GPU: each takes the one of its rank on the node.
    setup.device = torch::Device(
        torch::kCUDA,
        static_cast<c10::DeviceIndex>(setup.launch->local_rank %
                                      std::max<size_t>(torch::cuda::device_count(), 1)));
  }
  // TF32 trades float32 matmul precision (10-bit mantissa products) for tensor-core speed.
  at::globalContext().setFloat32MatmulPrecision(setup.settings.tf32 ? "high" : "highest");
  setup.model->to(setup.device, setup.dtype);
  for (double value : setup.problem.parameter_initial_values) {
    setup.parameters.push_back(
        torch::scalar_tensor(value, torch::dtype(setup.dtype).device(setup.device))
            .requires_grad_(true));
  }
  // A templated run directory ("runs/{name}-lr{training[0].lr}") takes the resolved values.
  const config::Pointer output(setup.document.root().contains("output") &&
                                       setup.document.root()["output"].is_object()
                                   ? "/output/directory"
                                   : "/output");
  setup.output_where = setup.document.where(output);
  if (setup.settings.output.find('{') != std::string::npos) {
    setup.settings.output =
        config::expand_template(setup.settings.output, setup.document.root(), setup.output_where);
    setup.document.root()[output] = setup.settings.output;
  }
  int64_t trainable = 0;
  for (const auto& tensor : trainable_tensors(setup))
    trainable += tensor.numel();
  train::check_stages(setup.stages, trainable);
  warn_about_nonsmooth_network(setup);
  warn_about_unused_sets(setup.problem);
  check_periodic_inputs(setup);
  forgo_cuda_graphs(setup);
  setup.engine = derivatives::make_engine(setup.settings.derivatives, *setup.model);
  // The run reports the engine that ran; the resolved config keeps what the user asked for.
  if (setup.settings.derivatives == "auto") setup.settings.derivatives = setup.engine->name();
  return setup;
}

std::unique_ptr<distributed::Group> join_group(Setup& setup) {
  if (!setup.launch) return std::make_unique<distributed::Group>();
  const auto& launch = *setup.launch;
  spdlog::info("rank {} of {} ({}): meeting the others at {}:{}", launch.rank, launch.world_size,
               launch.launcher, launch.master_address, launch.master_port);
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(setup.settings.distributed.timeout_s * 1000));
  auto group = distributed::Group::connect(launch, setup.device, timeout);
  group->check_weights_every(setup.settings.distributed.check_every);
  util::require_agreement();
  setup.group = group.get();
  // The other ranks train in step with rank 0, which logs and writes the run: they say only
  // what goes wrong.
  if (launch.rank != 0) {
    if (spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
    util::LiveLine::instance().disable();
  }
  return group;
}

std::vector<torch::Tensor> trainable_tensors(const Setup& setup) {
  std::vector<torch::Tensor> tensors = setup.model->parameters();
  tensors.insert(tensors.end(), setup.parameters.begin(), setup.parameters.end());
  return tensors;
}

train::ObjectiveContext objective_context(const Setup& setup) {
  return {torch::TensorOptions().dtype(setup.dtype).device(setup.device), setup.parameters,
          setup.settings.fused_loss, setup.group};
}

}  // namespace pinn::cli
