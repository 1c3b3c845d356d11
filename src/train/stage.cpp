// The stages: Adam, L-BFGS and the dense quasi-Newton methods, one record each in registry().
#include "train/stage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include <spdlog/spdlog.h>

#include "train/lbfgs.hpp"
#include "util/errors.hpp"
#include "util/signals.hpp"

namespace pinn::train {

namespace {

using config::Reader;

// Whether a stage asked for a CUDA graph gets one: on a CUDA device, in a build with a CUDA
// LibTorch; otherwise it says why not, once per stage, and runs without.
bool use_cuda_graph(bool asked, const std::vector<torch::Tensor>& parameters,
                    const std::string& stage) {
  if (!asked) return false;
  if (parameters.empty() || !parameters.front().is_cuda()) {
    spdlog::warn("{}: cuda_graph applies on a CUDA device only; running without it", stage);
    return false;
  }
  if (!CudaGraphRunner::supported()) {
    spdlog::warn("{}: this build's LibTorch cannot capture CUDA graphs; running without them",
                 stage);
    return false;
  }
  return true;
}

// f(L) and f'(L) for the loss L a stage sees.
std::pair<double, double> transformed(LossTransform kind, double loss) {
  switch (kind) {
    case LossTransform::sqrt: {
      const double root = std::sqrt(loss);
      return {root, 0.5 / root};
    }
    case LossTransform::log:
      return {std::log(loss), 1 / loss};
    case LossTransform::mean_square:
      break;
  }
  return {loss, 1.0};
}

// The gradients of f(L) from those of L, in tensor operations (no transfer to the host, so that a
// CUDA graph can hold them).
void transform_gradients(const torch::Tensor& loss, LossTransform kind,
                         const std::vector<torch::Tensor>& parameters) {
  if (kind == LossTransform::mean_square) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor factor =
      kind == LossTransform::sqrt ? 0.5 * torch::rsqrt(loss.detach()) : 1 / loss.detach();
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) parameter.mutable_grad().mul_(factor);
  }
}

// Adam, the update of torch::optim::Adam (not amsgrad) in one loop per parameter: torch's step
// issues about ten tensor operations per parameter, and on a PINN-sized network (a few thousand
// weights in eight tensors) their dispatch costs more than the arithmetic.
class AdamStage : public Stage {
 public:
  AdamStage(const StageSpec& spec, std::vector<torch::Tensor> parameters)
      : settings_(spec.adam),
        objective_(spec.objective),
        graphed_(use_cuda_graph(spec.cuda_graph, parameters, "adam")),
        parameters_(parameters) {
    for (auto& parameter : parameters)
      moments_.push_back(
          {parameter, torch::zeros_like(parameter), torch::zeros_like(parameter), 0, {}});
  }

  // The rate of the last step taken (of the first before any).
  double learning_rate() const override {
    return settings_.schedule.at(settings_.lr, std::max<int64_t>(steps_ - 1, 0));
  }

  // Stops after the current step when a stop is requested (a signal): Adam's steps do not depend
  // on how they are grouped, so a run may stop after any of them.
  int advance(int count, const LossAndGradient& closure) override {
    for (int i = 0; i < count; ++i) {
      lr_ = settings_.schedule.at(settings_.lr, steps_);
      if (graphed_) {
        graphed_step(closure);
      } else {
        transform_gradients(closure(), objective_, parameters());
        torch::NoGradGuard no_grad;
        for (auto& moment : moments_)
          update(moment);
      }
      ++steps_;
      if (util::stop_requested()) return i + 1;
    }
    return count;
  }

  // Resampled points are copied into the captured buffers; new sizes need a new capture.
  void restart(bool new_shapes) override {
    if (new_shapes) runner_.reset();
  }

  bool replays_cuda_graph() const override { return runner_.captured(); }

  void save(torch::serialize::OutputArchive& archive) const override {
    for (size_t i = 0; i < moments_.size(); ++i) {
      const std::string key = std::to_string(i);
      archive.write("first/" + key, moments_[i].first, /*is_buffer=*/true);
      archive.write("second/" + key, moments_[i].second, /*is_buffer=*/true);
      archive.write("steps/" + key, torch::tensor(moments_[i].steps), /*is_buffer=*/true);
    }
    archive.write("stage_steps", torch::tensor(steps_), /*is_buffer=*/true);
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < moments_.size(); ++i) {
      const std::string key = std::to_string(i);
      torch::Tensor steps;
      archive.read("first/" + key, moments_[i].first, /*is_buffer=*/true);
      archive.read("second/" + key, moments_[i].second, /*is_buffer=*/true);
      archive.read("steps/" + key, steps, /*is_buffer=*/true);
      moments_[i].steps = steps.item<int64_t>();
      moments_[i].device_steps = torch::Tensor();
    }
    torch::Tensor steps;
    if (archive.try_read("stage_steps", steps, /*is_buffer=*/true)) {
      steps_ = steps.item<int64_t>();
    } else {  // written before schedules: the steps of the most updated parameter
      steps_ = 0;
      for (const auto& m : moments_)
        steps_ = std::max(steps_, m.steps);
    }
    runner_.reset();
  }

 private:
  struct Moments {
    torch::Tensor parameter, first, second;
    int64_t steps = 0;
    torch::Tensor device_steps;  // with a CUDA graph: `steps` on the device, counted there
  };

  // One step as a CUDA graph can replay it: the bias corrections come from step counters on the
  // device, not from host numbers that a capture would freeze.
  void graphed_step(const LossAndGradient& closure) {
    for (auto& m : moments_) {
      if (!m.device_steps.defined()) {
        m.device_steps = torch::full({}, static_cast<double>(m.steps), m.parameter.options());
      }
    }
    // The rate is read from a device tensor that the graph reads, set before each replay.
    if (!device_lr_.defined()) device_lr_ = torch::zeros({}, moments_.front().parameter.options());
    device_lr_.fill_(lr_);
    runner_.run(
        [&] {
          transform_gradients(closure(), objective_, parameters());
          torch::NoGradGuard no_grad;
          for (auto& m : moments_)
            update_on_device(m);
        },
        moments_.front().parameter.device());
    for (auto& m : moments_) {
      if (m.parameter.grad().defined()) ++m.steps;  // the host's count, for checkpoints
    }
  }

  void update_on_device(Moments& m) {
    const auto grad = m.parameter.grad();
    if (!grad.defined()) return;
    const double beta1 = settings_.betas[0], beta2 = settings_.betas[1];
    m.device_steps.add_(1);
    const torch::Tensor step_size = device_lr_ / (1 - torch::pow(beta1, m.device_steps));
    const torch::Tensor correction2 = (1 - torch::pow(beta2, m.device_steps)).sqrt();
    tensor_update(m, grad, step_size, correction2);
  }

  // Adam's arithmetic as tensor operations (off the CPU), with the bias corrections as host
  // numbers (double) or as device tensors (a CUDA graph's).
  template <typename Correction>
  void tensor_update(Moments& m, const torch::Tensor& grad, const Correction& step_size,
                     const Correction& correction2) {
    const double beta1 = settings_.betas[0], beta2 = settings_.betas[1];
    auto g = settings_.weight_decay != 0 ? grad + settings_.weight_decay * m.parameter : grad;
    m.first.mul_(beta1).add_(g, 1 - beta1);
    m.second.mul_(beta2).addcmul_(g, g, 1 - beta2);
    const auto denominator = (m.second.sqrt() / correction2).add_(settings_.eps);
    m.parameter.sub_(m.first / denominator * step_size);
  }

  void update(Moments& m) {
    const auto grad = m.parameter.grad();
    if (!grad.defined()) return;  // as torch: a parameter without a gradient keeps its state
    ++m.steps;
    const double beta1 = settings_.betas[0], beta2 = settings_.betas[1];
    const double step_size = lr_ / (1 - std::pow(beta1, static_cast<double>(m.steps)));
    const double correction2 = std::sqrt(1 - std::pow(beta2, static_cast<double>(m.steps)));
    if (m.parameter.is_cpu() && grad.is_contiguous() && m.parameter.is_contiguous()) {
      AT_DISPATCH_FLOATING_TYPES(m.parameter.scalar_type(), "adam_update",
                                 [&] { update_loop<scalar_t>(m, grad, step_size, correction2); });
      return;
    }
    tensor_update(m, grad, step_size, correction2);  // elsewhere (CUDA)
  }

  // The arithmetic of torch's step, element by element.
  template <typename T>
  void update_loop(Moments& m, const torch::Tensor& grad, double step_size, double correction2) {
    const T beta1 = static_cast<T>(settings_.betas[0]), beta2 = static_cast<T>(settings_.betas[1]);
    const T keep1 = static_cast<T>(1 - settings_.betas[0]);
    const T keep2 = static_cast<T>(1 - settings_.betas[1]);
    const T decay = static_cast<T>(settings_.weight_decay), eps = static_cast<T>(settings_.eps);
    const T step = static_cast<T>(-step_size), correction = static_cast<T>(correction2);
    T* p = m.parameter.data_ptr<T>();
    T* first = m.first.data_ptr<T>();
    T* second = m.second.data_ptr<T>();
    const T* g = grad.data_ptr<T>();
    const int64_t n = m.parameter.numel();
    for (int64_t i = 0; i < n; ++i) {
      const T gi = decay != T(0) ? g[i] + decay * p[i] : g[i];
      first[i] = first[i] * beta1 + keep1 * gi;
      second[i] = second[i] * beta2 + keep2 * gi * gi;
      const T denominator = std::sqrt(second[i]) / correction + eps;
      p[i] += step * (first[i] / denominator);
    }
  }

  const std::vector<torch::Tensor>& parameters() const { return parameters_; }

  AdamSettings settings_;
  LossTransform objective_;
  bool graphed_;
  CudaGraphRunner runner_{"the Adam step"};
  std::vector<torch::Tensor> parameters_;
  std::vector<Moments> moments_;
  int64_t steps_ = 0;        // steps of this stage: the schedule's clock
  double lr_ = 0;            // the rate of the step running
  torch::Tensor device_lr_;  // with a CUDA graph: lr_ on the device
};

// A stage whose optimizer works on the trainables flattened into one float64 vector: whatever
// the network's dtype, its state and line search work in float64 and the network evaluates at the
// rounded point (SciPy's L-BFGS-B does the same for DeepXDE's float32 models).
class FlatStage : public Stage {
 public:
  FlatStage(const std::string& name, LossTransform objective, bool cuda_graph,
            std::vector<torch::Tensor> parameters)
      : objective_(objective),
        graphed_(use_cuda_graph(cuda_graph, parameters, name)),
        device_(parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device()),
        parameters_(std::move(parameters)) {}

  bool replays_cuda_graph() const override { return runner_.captured(); }

 protected:
  // New sizes need a new capture.
  void forget_capture(bool new_shapes) {
    if (new_shapes) runner_.reset();
  }

  std::vector<double> flatten() const {
    std::vector<double> flat;
    for (const auto& tensor : parameters_) {
      const torch::Tensor values = tensor.detach().to(torch::kCPU, torch::kFloat64).contiguous();
      flat.insert(flat.end(), values.data_ptr<double>(),
                  values.data_ptr<double>() + values.numel());
    }
    return flat;
  }

  // x into the trainables (rounded to their dtype, copied to their device).
  void unflatten(const std::vector<double>& x) {
    torch::NoGradGuard no_grad;
    int64_t offset = 0;
    for (auto& parameter : parameters_) {
      const int64_t n = parameter.numel();
      const torch::Tensor values = torch::from_blob(const_cast<double*>(x.data()) + offset,
                                                    parameter.sizes(), torch::kFloat64);
      parameter.copy_(values);
      offset += n;
    }
  }

  // The stage's objective f(L) at x, replayed from a CUDA graph when asked (its loss and
  // gradients land in the tensors of the capture); its gradient gathered into `gradient` (zero
  // for unused trainables).
  double loss_and_gradient(const std::vector<double>& x, std::vector<double>& gradient,
                           const LossAndGradient& closure) {
    unflatten(x);
    torch::Tensor loss;
    if (graphed_) {
      runner_.run([&] { graphed_loss_ = closure(); }, device_);
      loss = graphed_loss_;
    } else {
      loss = closure();
    }
    const auto [value, factor] = transformed(objective_, loss.item<double>());
    int64_t offset = 0;
    for (const auto& parameter : parameters_) {
      const int64_t n = parameter.numel();
      const torch::Tensor& grad = parameter.grad();
      if (grad.defined()) {
        const torch::Tensor values = grad.detach().to(torch::kCPU, torch::kFloat64).contiguous();
        const double* data = values.data_ptr<double>();
        for (int64_t i = 0; i < n; ++i)
          gradient[static_cast<size_t>(offset + i)] = factor * data[i];
      } else {
        std::fill(gradient.begin() + offset, gradient.begin() + offset + n, 0.0);
      }
      offset += n;
    }
    return value;
  }

  LossTransform objective_;
  bool graphed_;
  torch::Device device_;
  CudaGraphRunner runner_{"the loss and gradient"};
  torch::Tensor graphed_loss_;
  std::vector<torch::Tensor> parameters_;  // the network's (and the problem's) trainables
};

// L-BFGS (train/lbfgs).
class LbfgsStage : public FlatStage {
 public:
  LbfgsStage(const StageSpec& spec, std::vector<torch::Tensor> parameters)
      : FlatStage("lbfgs", spec.objective, spec.cuda_graph, std::move(parameters)),
        lbfgs_options_(options(spec.lbfgs)),
        lbfgs_(lbfgs_options_, flatten()) {}

  // New points: a new objective, so its values and the curvature history are stale.
  void restart(bool new_shapes) override {
    lbfgs_.forget_objective();
    forget_capture(new_shapes);
  }

  std::string stop_reason() const override {
    return lbfgs_.status() == Lbfgs::Status::stalled ? "stalled" : "converged";
  }

  int64_t evaluations() const override { return lbfgs_.evaluations(); }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::serialize::OutputArchive state;
    lbfgs_.save(state);
    archive.write("lbfgs_flat", state);
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::serialize::InputArchive state;
    if (!archive.try_read("lbfgs_flat", state)) {
      // Checkpoints from before this implementation hold LibTorch's L-BFGS state instead.
      spdlog::warn(
          "lbfgs: the checkpoint holds an older L-BFGS state; continuing from its "
          "weights with a fresh curvature history");
      lbfgs_ = Lbfgs(lbfgs_options_, flatten());
      return;
    }
    lbfgs_.load(state);
    unflatten(lbfgs_.x());
  }

  int advance(int count, const LossAndGradient& closure) override {
    const int done =
        lbfgs_.iterate(count, [&](const std::vector<double>& x, std::vector<double>& gradient) {
          return loss_and_gradient(x, gradient, closure);
        });
    // The line search's last evaluation need not be at the point it accepted.
    unflatten(lbfgs_.x());
    return done;
  }

 private:
  static LbfgsOptions options(const LbfgsSettings& s) {
    LbfgsOptions options;
    options.lr = s.lr;
    options.history = s.history;
    options.line_search = s.line_search == "strong_wolfe";
    options.tolerance_grad = s.tolerance_grad;
    options.tolerance_change = s.tolerance_change;
    return options;
  }

  LbfgsOptions lbfgs_options_;
  Lbfgs lbfgs_;
};

// BFGS, self-scaled BFGS and self-scaled Broyden with a dense inverse Hessian
// (train/quasi_newton), kept on the parameters' device.
class QuasiNewtonStage : public FlatStage {
 public:
  QuasiNewtonStage(const StageSpec& spec, std::vector<torch::Tensor> parameters)
      : FlatStage(spec.type, spec.objective, spec.cuda_graph, std::move(parameters)),
        optimizer_(options(spec.quasi_newton), flatten(), device_) {}

  // New points: the loss and gradient at x are evaluated anew; H is kept.
  void restart(bool new_shapes) override {
    optimizer_.forget_objective();
    forget_capture(new_shapes);
  }

  std::string stop_reason() const override {
    return optimizer_.status() == QuasiNewton::Status::stalled ? "stalled" : "converged";
  }

  int64_t evaluations() const override { return optimizer_.evaluations(); }

  nlohmann::json details() const override {
    return {{"hessian_resets", optimizer_.resets()},
            {"skipped_updates", optimizer_.skipped()},
            {"hessian_seconds", optimizer_.hessian_seconds()}};
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::serialize::OutputArchive state;
    optimizer_.save(state);
    archive.write("quasi_newton", state);
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::serialize::InputArchive state;
    archive.read("quasi_newton", state);
    optimizer_.load(state);
    unflatten(optimizer_.x());
  }

  int advance(int count, const LossAndGradient& closure) override {
    const int done =
        optimizer_.iterate(count, [&](const std::vector<double>& x, std::vector<double>& gradient) {
          return loss_and_gradient(x, gradient, closure);
        });
    unflatten(optimizer_.x());
    return done;
  }

 private:
  static QuasiNewtonOptions options(const QuasiNewtonSettings& s) {
    QuasiNewtonOptions options;
    options.method = s.method;
    options.line_search = s.line_search == "strong_wolfe";
    options.restart_every = s.restart_every;
    options.tolerance_grad = s.tolerance_grad;
    return options;
  }

  QuasiNewton optimizer_;
};

void read_adam(Reader& reader, StageSpec& spec) {
  auto& s = spec.adam;
  s.lr = reader.positive("lr", s.lr);
  s.betas = reader.get_or("betas", s.betas);
  if (s.betas.size() != 2 || s.betas[0] < 0 || s.betas[0] >= 1 || s.betas[1] < 0 ||
      s.betas[1] >= 1) {
    reader.fail("betas", "expected [beta1, beta2] with each in [0, 1)");
  }
  s.eps = reader.positive("eps", s.eps);
  s.weight_decay = reader.non_negative("weight_decay", s.weight_decay);
  s.schedule = read_schedule(reader, spec.iterations);
}

void read_lbfgs(Reader& reader, StageSpec& spec) {
  auto& s = spec.lbfgs;
  s.lr = reader.positive("lr", s.lr);
  s.history = reader.positive_int("history", s.history);
  s.line_search = reader.choice("line_search", {"strong_wolfe", "none"}, s.line_search);
  s.tolerance_grad = reader.non_negative("tolerance_grad", s.tolerance_grad);
  s.tolerance_change = reader.non_negative("tolerance_change", s.tolerance_change);
}

void read_quasi_newton(Reader& reader, StageSpec& spec) {
  auto& s = spec.quasi_newton;
  s.line_search = reader.choice("line_search", {"strong_wolfe", "none"}, s.line_search);
  s.restart_every = reader.non_negative_int("restart_every", s.restart_every,
                                            "a number of iterations >= 0 (0: never)");
  s.tolerance_grad = reader.non_negative("tolerance_grad", s.tolerance_grad);
  s.max_parameters = reader.positive_int("max_parameters", s.max_parameters);
}

template <QuasiNewtonMethod method>
void read_dense(Reader& reader, StageSpec& spec) {
  spec.quasi_newton.method = method;
  read_quasi_newton(reader, spec);
}

template <typename StageClass>
std::unique_ptr<Stage> make(const StageSpec& spec, std::vector<torch::Tensor> parameters) {
  return std::make_unique<StageClass>(spec, std::move(parameters));
}

// One record per stage type: how its options are read and its optimizer made.
struct StageType {
  void (*read)(Reader&, StageSpec&);
  std::unique_ptr<Stage> (*make)(const StageSpec&, std::vector<torch::Tensor>);
  bool dense_hessian;  // keeps an n x n matrix: limited by max_parameters
};

const std::map<std::string, StageType>& registry() {
  static const std::map<std::string, StageType> table = {
      {"adam", {read_adam, make<AdamStage>, false}},
      {"lbfgs", {read_lbfgs, make<LbfgsStage>, false}},
      {"bfgs", {read_dense<QuasiNewtonMethod::bfgs>, make<QuasiNewtonStage>, true}},
      {"ssbfgs", {read_dense<QuasiNewtonMethod::ssbfgs>, make<QuasiNewtonStage>, true}},
      {"ssbroyden", {read_dense<QuasiNewtonMethod::ssbroyden>, make<QuasiNewtonStage>, true}},
  };
  return table;
}

LossTransform read_objective(Reader& reader) {
  static const std::map<std::string, LossTransform> names = {
      {"mean_square", LossTransform::mean_square},
      {"sqrt", LossTransform::sqrt},
      {"log", LossTransform::log}};
  std::vector<std::string> choices;
  for (const auto& entry : names)
    choices.push_back(entry.first);
  return names.at(reader.choice("objective", choices, "mean_square"));
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

}  // namespace

double Stage::learning_rate() const {
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> stage_types() {
  std::vector<std::string> names;
  for (const auto& entry : registry())
    names.push_back(entry.first);
  return names;
}

std::vector<StageSpec> read_stages(Reader& top) {
  std::vector<StageSpec> stages;
  auto list = top.objects("training");
  if (list.empty()) top.fail("training", "expected at least one stage, e.g. {\"type\": \"adam\"}");
  for (auto& reader : list) {
    StageSpec spec;
    spec.where = reader.where();
    reader.describe("type", "the stage's optimizer (docs/optimizers.md)");
    spec.type = reader.choice("type", stage_types());
    spec.iterations = reader.positive_int("iterations", spec.iterations);
    spec.log_every = reader.positive_int("log_every", spec.log_every);
    spec.max_seconds = reader.non_negative("max_seconds", spec.max_seconds);
    spec.cuda_graph = reader.get_or("cuda_graph", spec.cuda_graph);
    spec.objective = read_objective(reader);
    registry().at(spec.type).read(reader, spec);
    reader.finish();
    stages.push_back(spec);
  }
  return stages;
}

void check_stages(const std::vector<StageSpec>& stages, int64_t trainable) {
  for (const auto& spec : stages) {
    if (!registry().at(spec.type).dense_hessian || trainable <= spec.quasi_newton.max_parameters) {
      continue;
    }
    const double bytes = 8.0 * static_cast<double>(trainable) * static_cast<double>(trainable);
    throw InputError(spec.where + "/max_parameters",
                     spec.type + " keeps a dense inverse Hessian of " + std::to_string(trainable) +
                         " x " + std::to_string(trainable) + " (" + format_bytes(bytes) +
                         ") for this network's " + std::to_string(trainable) +
                         " trained parameters, above max_parameters (" +
                         std::to_string(spec.quasi_newton.max_parameters) +
                         "); use \"lbfgs\" (memory linear in the parameters) or a smaller network, "
                         "or raise max_parameters");
  }
}

std::unique_ptr<Stage> make_stage(const StageSpec& spec, std::vector<torch::Tensor> parameters) {
  return registry().at(spec.type).make(spec, std::move(parameters));
}

}  // namespace pinn::train
