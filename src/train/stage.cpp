// Adam and L-BFGS stages.
#include "train/stage.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <spdlog/spdlog.h>

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

class LbfgsStage : public Stage {
 public:
  LbfgsStage(const LbfgsSettings& s, bool cuda_graph, std::vector<torch::Tensor> parameters)
      : graphed_(use_cuda_graph(cuda_graph, parameters, "lbfgs")),
        device_(parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device()),
        parameters_(parameters),
        masters_(float64_masters(parameters)),
        optimizer_(masters_, options(s)),
        tolerance_grad_(s.tolerance_grad) {}

  // torch's L-BFGS runs up to max_iter iterations per step() call and keeps its history between
  // calls, so chunks of `count` iterations continue one optimisation. It counts iterations in
  // its state; fewer than asked means it stopped. It also stops when its line search finds no
  // decrease along a direction built from a stale or (in float32) noisy curvature history, long
  // before a tolerance is met: then it restarts from steepest descent with a fresh history.
  // New points: a new objective, so a fresh curvature history and loss scale.
  void restart(bool new_shapes) override {
    optimizer_.state().clear();
    scale_ = 0;
    last_scaled_loss_ = 0;
    if (new_shapes) runner_.reset();
  }

  bool replays_cuda_graph() const override { return runner_.captured(); }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::serialize::OutputArchive optimizer;
    optimizer_.save(optimizer);
    archive.write("lbfgs", optimizer);
    archive.write("scale", torch::tensor({scale_, last_scaled_loss_}, torch::kFloat64), true);
    archive.write("restarts", torch::tensor(static_cast<int64_t>(restarts_)), true);
    if (has_masters()) {
      for (size_t i = 0; i < masters_.size(); ++i)
        archive.write("master_" + std::to_string(i), masters_[i], true);
    }
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::serialize::InputArchive optimizer;
    archive.read("lbfgs", optimizer);
    optimizer_.load(optimizer);
    torch::Tensor scale, restarts;
    archive.read("scale", scale, true);
    archive.read("restarts", restarts, true);
    scale_ = scale[0].item<double>();
    last_scaled_loss_ = scale[1].item<double>();
    restarts_ = static_cast<int>(restarts.item<int64_t>());
    if (has_masters()) {
      // Checkpoints written before the float64 copies existed have none: the copies then start
      // from the weights the checkpoint restored.
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < masters_.size(); ++i) {
        torch::Tensor saved;
        if (archive.try_read("master_" + std::to_string(i), saved, true)) masters_[i].copy_(saved);
      }
      masters_to_parameters();
    }
  }

  int advance(int count, const LossAndGradient& closure) override {
    int done = run(count, closure);
    while (done < count && restarts_ < kMaxRestarts && !gradient_within_tolerance()) {
      optimizer_.state().clear();
      ++restarts_;
      spdlog::debug(
          "lbfgs stopped short of its tolerance after {} of {} iterations; restart {} "
          "from steepest descent",
          done, count, restarts_);
      const int more = run(count - done, closure);
      done += more;
      if (more <= 1) break;  // even steepest descent made no progress: a true stop
    }
    return done;
  }

 private:
  static constexpr int kMaxRestarts = 50;
  // At most one evaluation per iteration plus torch's strong-Wolfe line search's 25.
  static constexpr int kEvaluationsPerIteration = 26;

  bool gradient_within_tolerance() {
    double largest = 0;
    for (const auto& parameter : optimizer_.param_groups()[0].params()) {
      if (parameter.grad().defined()) {
        largest = std::max(largest, parameter.grad().abs().max().item<double>());
      }
    }
    return scale_ > 0 && largest / scale_ <= tolerance_grad_;
  }

  int run(int count, const LossAndGradient& closure) {
    auto& group_options =
        static_cast<torch::optim::LBFGSOptions&>(optimizer_.param_groups()[0].options());
    group_options.max_iter(count);
    // Only iterations end a chunk: an evaluation budget per chunk (torch's default is 1.25 per
    // iteration) ends short chunks whose line searches needed a few more evaluations, and a
    // chunk that ends early reads as a stop and costs the curvature history.
    group_options.max_eval(count * kEvaluationsPerIteration);
    if (scale_ == 0) scaled(closure);  // fixes the scale the tolerance is stated in
    if (scale_ > 0 && last_scaled_loss_ > 0 && last_scaled_loss_ < kRescaleBelow) {
      rescale(1.0 / last_scaled_loss_);
    }
    // tolerance_grad is meant for the gradient of the loss itself; torch's L-BFGS sees the
    // scaled one.
    group_options.tolerance_grad(tolerance_grad_ * scale_);
    const int64_t before = iterations_so_far();
    optimizer_.step([&] { return scaled(closure); });
    // The step ends at its line search's last accepted point, which need not be the last one
    // the closure saw.
    masters_to_parameters();
    define_unused_alphas();
    return static_cast<int>(iterations_so_far() - before);
  }

  // torch's L-BFGS allocates its two-loop coefficients `al` for the whole history, undefined
  // until the history fills, and its serializer cannot write an undefined tensor: a checkpoint
  // within the first `history` iterations would fail. They are overwritten before being read,
  // so zeros stand in.
  void define_unused_alphas() {
    for (auto& entry : optimizer_.state()) {
      auto& state = static_cast<torch::optim::LBFGSParamState&>(*entry.second);
      if (!state.al()) continue;
      auto alphas = *state.al();
      for (auto& alpha : alphas) {
        if (!alpha.defined()) alpha = torch::zeros({}, masters_.front().options());
      }
      state.al(alphas);
    }
  }

  // torch's L-BFGS keeps its curvature pairs, directions and line search in the parameters'
  // dtype. In float32 the differences of nearby gradients lose most of their digits and the
  // line search stops within a few iterations at PINN loss levels, so for parameters below
  // float64 it works on float64 copies (SciPy's L-BFGS-B does the same with float32 functions):
  // the network evaluates in its own dtype at the rounded point.
  static std::vector<torch::Tensor> float64_masters(const std::vector<torch::Tensor>& parameters) {
    std::vector<torch::Tensor> masters;
    for (const auto& parameter : parameters) {
      masters.push_back(parameter.scalar_type() == torch::kFloat64
                            ? parameter
                            : parameter.detach().to(torch::kFloat64));
    }
    return masters;
  }

  bool has_masters() const {
    return !masters_.empty() && !masters_.front().is_same(parameters_.front());
  }

  void masters_to_parameters() {
    if (!has_masters()) return;
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < masters_.size(); ++i)
      parameters_[i].copy_(masters_[i]);
  }

  void gradients_to_masters() {
    if (!has_masters()) return;
    for (size_t i = 0; i < masters_.size(); ++i) {
      const auto& grad = parameters_[i].grad();
      if (!grad.defined()) continue;
      auto& target = masters_[i].mutable_grad();
      if (target.defined()) {
        target.copy_(grad);  // every evaluation: reuse the float64 buffer
      } else {
        target = grad.detach().to(torch::kFloat64);
      }
    }
  }

  // torch's L-BFGS updates its curvature pairs only when y.s > 1e-10, an absolute threshold that
  // small PINN losses (1e-6 and below) never pass, so it would silently degrade to gradient
  // descent. It therefore sees the loss divided by a scale: its value at the start of the stage,
  // renewed whenever it has fallen by kRescaleBelow. The minimiser is the same; tolerance_change
  // is relative to the current scale, tolerance_grad is converted back to the loss's own.
  static constexpr double kRescaleBelow = 1e-2;

  // The closure, replayed from a CUDA graph when asked: its loss and gradients land in the
  // tensors of the capture.
  torch::Tensor evaluate(const LossAndGradient& closure) {
    if (!graphed_) return closure();
    runner_.run([&] { graphed_loss_ = closure(); }, device_);
    return graphed_loss_;
  }

  torch::Tensor scaled(const LossAndGradient& closure) {
    masters_to_parameters();
    const torch::Tensor loss = evaluate(closure).to(torch::kFloat64);
    gradients_to_masters();
    if (scale_ == 0) {
      const double start = loss.item<double>();
      scale_ = std::isfinite(start) && start > 0 ? 1.0 / start : 1.0;
    }
    for (auto& parameter : optimizer_.param_groups()[0].params()) {
      if (parameter.grad().defined()) parameter.mutable_grad().mul_(scale_);
    }
    const torch::Tensor result = loss * scale_;
    last_scaled_loss_ = result.item<double>();
    return result;
  }

  // Multiplies the objective the optimizer sees by `factor`, keeping its memory consistent: the
  // gradient differences y and the previous gradient scale with it, rho = 1/(y.s) and the
  // initial inverse-Hessian diagonal inversely; directions and steps are unchanged.
  void rescale(double factor) {
    for (auto& entry : optimizer_.state()) {
      auto& state = static_cast<torch::optim::LBFGSParamState&>(*entry.second);
      for (const auto& y : state.old_dirs())
        y.mul_(factor);
      for (const auto& rho : state.ro())
        rho.div_(factor);
      if (state.H_diag().defined()) state.H_diag().div_(factor);
      if (state.prev_flat_grad().defined()) state.prev_flat_grad().mul_(factor);
      state.prev_loss(state.prev_loss() * factor);
    }
    scale_ *= factor;
    last_scaled_loss_ *= factor;
  }

  static torch::optim::LBFGSOptions options(const LbfgsSettings& s) {
    torch::optim::LBFGSOptions options(s.lr);
    options.history_size(s.history)
        .tolerance_grad(s.tolerance_grad)
        .tolerance_change(s.tolerance_change);
    if (s.line_search == "strong_wolfe") options.line_search_fn("strong_wolfe");
    return options;
  }

  // The key type of the optimizer state differs between LibTorch 1.13 and 2.x; it has one entry.
  int64_t iterations_so_far() {
    for (auto& entry : optimizer_.state()) {
      return static_cast<torch::optim::LBFGSParamState&>(*entry.second).n_iter();
    }
    return 0;
  }

  bool graphed_;
  torch::Device device_;
  CudaGraphRunner runner_{"the L-BFGS loss and gradient"};
  torch::Tensor graphed_loss_;
  std::vector<torch::Tensor> parameters_;  // the network's (and the problem's) trainables
  std::vector<torch::Tensor> masters_;     // float64 copies of them, or the same tensors
  torch::optim::LBFGS optimizer_;
  double tolerance_grad_;
  int restarts_ = 0;
  double scale_ = 0;  // set from the first loss of the stage
  double last_scaled_loss_ = 0;
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
