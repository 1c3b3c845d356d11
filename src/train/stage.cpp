// Adam and L-BFGS stages.
#include "train/stage.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <spdlog/spdlog.h>

#include "train/lbfgs.hpp"
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

// Adam, the update of torch::optim::Adam (not amsgrad) in one loop per parameter: torch's step
// issues about ten tensor operations per parameter, and on a PINN-sized network (a few thousand
// weights in eight tensors) their dispatch costs more than the arithmetic.
class AdamStage : public Stage {
 public:
  AdamStage(const AdamSettings& s, bool cuda_graph, std::vector<torch::Tensor> parameters)
      : settings_(s), graphed_(use_cuda_graph(cuda_graph, parameters, "adam")) {
    for (auto& parameter : parameters)
      moments_.push_back(
          {parameter, torch::zeros_like(parameter), torch::zeros_like(parameter), 0, {}});
  }

  // Stops after the current step when a stop is requested (a signal): Adam's steps do not depend
  // on how they are grouped, so a run may stop after any of them.
  int advance(int count, const LossAndGradient& closure) override {
    for (int i = 0; i < count; ++i) {
      if (graphed_) {
        graphed_step(closure);
      } else {
        closure();
        torch::NoGradGuard no_grad;
        for (auto& moment : moments_)
          update(moment);
      }
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
    runner_.run(
        [&] {
          closure();
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
    const torch::Tensor step_size = settings_.lr / (1 - torch::pow(beta1, m.device_steps));
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
    const double step_size = settings_.lr / (1 - std::pow(beta1, static_cast<double>(m.steps)));
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

  AdamSettings settings_;
  bool graphed_;
  CudaGraphRunner runner_{"the Adam step"};
  std::vector<Moments> moments_;
};

// L-BFGS (train/lbfgs) on the trainables flattened into one float64 vector: whatever the
// network's dtype, the curvature history and line search work in float64 and the network
// evaluates at the rounded point (SciPy's L-BFGS-B does the same for DeepXDE's float32 models).
class LbfgsStage : public Stage {
 public:
  LbfgsStage(const LbfgsSettings& s, bool cuda_graph, std::vector<torch::Tensor> parameters)
      : graphed_(use_cuda_graph(cuda_graph, parameters, "lbfgs")),
        device_(parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device()),
        parameters_(std::move(parameters)),
        lbfgs_options_(options(s)),
        lbfgs_(lbfgs_options_, flatten(parameters_)) {}

  // New points: a new objective, so its values and the curvature history are stale.
  void restart(bool new_shapes) override {
    lbfgs_.forget_objective();
    if (new_shapes) runner_.reset();
  }

  bool replays_cuda_graph() const override { return runner_.captured(); }

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
      lbfgs_ = Lbfgs(lbfgs_options_, flatten(parameters_));
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

  static std::vector<double> flatten(const std::vector<torch::Tensor>& tensors) {
    std::vector<double> flat;
    for (const auto& tensor : tensors) {
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

  // The closure at x, replayed from a CUDA graph when asked (its loss and gradients land in the
  // tensors of the capture); the gradient gathered into `gradient` (zero for unused trainables).
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
    int64_t offset = 0;
    for (const auto& parameter : parameters_) {
      const int64_t n = parameter.numel();
      const torch::Tensor& grad = parameter.grad();
      if (grad.defined()) {
        const torch::Tensor values = grad.detach().to(torch::kCPU, torch::kFloat64).contiguous();
        std::copy(values.data_ptr<double>(), values.data_ptr<double>() + n,
                  gradient.begin() + offset);
      } else {
        std::fill(gradient.begin() + offset, gradient.begin() + offset + n, 0.0);
      }
      offset += n;
    }
    return loss.item<double>();
  }

  bool graphed_;
  torch::Device device_;
  CudaGraphRunner runner_{"the L-BFGS loss and gradient"};
  torch::Tensor graphed_loss_;
  std::vector<torch::Tensor> parameters_;  // the network's (and the problem's) trainables
  LbfgsOptions lbfgs_options_;
  Lbfgs lbfgs_;
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
}

void read_lbfgs(Reader& reader, StageSpec& spec) {
  auto& s = spec.lbfgs;
  s.lr = reader.positive("lr", s.lr);
  s.history = reader.positive_int("history", s.history);
  s.line_search = reader.choice("line_search", {"strong_wolfe", "none"}, s.line_search);
  s.tolerance_grad = reader.non_negative("tolerance_grad", s.tolerance_grad);
  s.tolerance_change = reader.non_negative("tolerance_change", s.tolerance_change);
}

const std::map<std::string, void (*)(Reader&, StageSpec&)>& readers() {
  static const std::map<std::string, void (*)(Reader&, StageSpec&)> table = {{"adam", read_adam},
                                                                             {"lbfgs", read_lbfgs}};
  return table;
}

}  // namespace

std::vector<std::string> stage_types() {
  std::vector<std::string> names;
  for (const auto& entry : readers())
    names.push_back(entry.first);
  return names;
}

std::vector<StageSpec> read_stages(Reader& top) {
  std::vector<StageSpec> stages;
  auto list = top.objects("training");
  if (list.empty()) top.fail("training", "expected at least one stage, e.g. {\"type\": \"adam\"}");
  for (auto& reader : list) {
    StageSpec spec;
    spec.type = reader.choice("type", stage_types());
    spec.iterations = reader.positive_int("iterations", spec.iterations);
    spec.log_every = reader.positive_int("log_every", spec.log_every);
    spec.max_seconds = reader.non_negative("max_seconds", spec.max_seconds);
    spec.cuda_graph = reader.get_or("cuda_graph", spec.cuda_graph);
    readers().at(spec.type)(reader, spec);
    reader.finish();
    stages.push_back(spec);
  }
  return stages;
}

std::unique_ptr<Stage> make_stage(const StageSpec& spec, std::vector<torch::Tensor> parameters) {
  if (spec.type == "adam") {
    return std::make_unique<AdamStage>(spec.adam, spec.cuda_graph, std::move(parameters));
  }
  return std::make_unique<LbfgsStage>(spec.lbfgs, spec.cuda_graph, std::move(parameters));
}

}  // namespace pinn::train
