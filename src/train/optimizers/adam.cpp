// The Adam stage: its reader and its fused update.
#include "train/optimizers/adam.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "train/cuda_graph.hpp"
#include "train/stage.hpp"
#include "util/signals.hpp"

namespace pinn::train {

namespace {

using config::Reader;

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
    return lr_scale_ * settings_.schedule.at(settings_.lr, std::max<int64_t>(steps_ - 1, 0));
  }

  // Stops after the current step when a stop is requested (a signal): Adam's steps do not depend
  // on how they are grouped, so a run may stop after any of them.
  int advance(int count, const LossAndGradient& closure) override {
    for (int i = 0; i < count; ++i) {
      lr_ = lr_scale_ * settings_.schedule.at(settings_.lr, steps_);
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
    archive.write("lr_scale", torch::tensor(lr_scale_), /*is_buffer=*/true);
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
    torch::Tensor scale;
    lr_scale_ = archive.try_read("lr_scale", scale, /*is_buffer=*/true) ? scale.item<double>() : 1;
    runner_.reset();
  }

  std::string non_finite_state() const override {
    torch::NoGradGuard no_grad;
    for (const auto& moment : moments_) {
      if (!torch::isfinite(moment.first).all().item<bool>() ||
          !torch::isfinite(moment.second).all().item<bool>()) {
        return "adam's moments overflowed (a gradient above about 1e154)";
      }
    }
    return "";
  }

  std::string roll_back(torch::serialize::InputArchive& snapshot) override {
    const double halved = lr_scale_ / 2;
    load(snapshot);
    lr_scale_ = halved;
    std::ostringstream text;
    text << "learning rate halved to " << std::setprecision(3) << learning_rate();
    return text.str();
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
  double lr_scale_ = 1;      // 1/2 per rollback after a divergence (Stage::roll_back)
  torch::Tensor device_lr_;  // with a CUDA graph: lr_ on the device
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

std::unique_ptr<Stage> make_adam(const StageSpec& spec, std::vector<torch::Tensor> parameters) {
  return std::make_unique<AdamStage>(spec, std::move(parameters));
}

}  // namespace

StageType adam_stage_type() {
  return {read_adam, make_adam, /*dense_hessian=*/false, /*one_evaluation_per_iteration=*/true};
}

}  // namespace pinn::train
