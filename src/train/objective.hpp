// The objective: the weighted sum of the loss terms, weight * mean(residual^2), each weight the
// configured one times an adaptive one (train/loss_weighting; 1 unless set). A causal term
// (problem::CausalWeighting) is instead the weighted mean of its chunks' mean squares; its set's
// points are kept ordered by the causal input. Channels are computed once per point set and
// step, shared by every term on that set.
//
// Causal weights and the fused loss: the fused pass computes the loss and its gradient in one go,
// so the chunk weights must be known before it. An evaluation for training therefore weights the
// chunks by the mean squares of the evaluation before it (at most one optimizer step earlier; the
// paper computes them at the same weights, a difference of one step's change of L_k); its value is
// the loss with those weights, consistent with its gradient. An evaluation without gradient (the
// history, the diagnostics) weights its chunks by its own mean squares, as the paper does. It owns
// the point sets on the device and changes them when asked: resampling, residual-based refinement
// and residual-based adaptive distribution (RAD).
#pragma once

#include <torch/torch.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "derivatives/engine.hpp"
#include "derivatives/fused_loss.hpp"
#include "distributed/group.hpp"
#include "expr/pointwise.hpp"
#include "model/network.hpp"
#include "problem/problem.hpp"

namespace pinn::train {

struct LossValues {
  torch::Tensor total;               // scalar, differentiable when computed for training
  std::vector<torch::Tensor> terms;  // weighted term values, detached, in problem order
};

struct TermDiagnostics {
  std::string name;
  double loss = 0;         // its share of the loss: weight * mean(r^2), or its causal form
  double mean_square = 0;  // mean(r^2)
  double weight = 1;       // the configured weight (for "initial_inverse", 1 / the loss at step 0)
  double adaptive_weight = 1;
  double causal_min_weight = std::numeric_limits<double>::quiet_NaN();  // NaN: not causal
  double max_abs_residual = 0;
  double mean_abs_residual = 0;
};

// What the terms read besides the network: the device, dtype and the trainable parameters.
struct ObjectiveContext {
  torch::TensorOptions options;
  std::vector<torch::Tensor> parameters;  // one scalar per problem parameter
  // Pointwise terms inside the taylor engine's tiled pass where it runs (derivatives/fused_loss).
  bool fused_loss = true;
  // The ranks of a run across processes (none: one process). Each holds its share of every
  // point set; the losses, gradients and statistics are reduced over all of them.
  distributed::Group* group = nullptr;
};

class Objective {
 public:
  // Point sets are moved to the context's device and dtype once, here.
  Objective(const problem::Problem& problem, model::Network& network, derivatives::Engine& engine,
            ObjectiveContext context);

  // The loss over all ranks; when `for_training`, this rank's part of it instead (its share of
  // each term's mean), differentiable for the weights: loss_and_gradient sums the parts.
  LossValues evaluate(bool for_training);
  // The loss (detached), with its gradient in the .grad of `trainable` (the network's parameters
  // and the problem's): from the fused pass directly when it computes every term, else zeroed
  // and back-propagated from evaluate(true). Across ranks, the gradients, the loss and the
  // pending stop requests are summed in one collective, so that every optimizer takes the same
  // decisions on every rank.
  LossValues loss_and_gradient(const std::vector<torch::Tensor>& trainable);
  // Residual statistics per term at the current weights.
  std::vector<TermDiagnostics> diagnostics();

  // The adaptive weights (one per term; each multiplies the term's configured weight).
  void set_adaptive_weights(std::vector<double> weights);
  const std::vector<double>& adaptive_weights() const { return adaptive_; }
  // The factors of the terms weighted "initial_inverse" (1 / their loss at step 0; 1 for the
  // others), which multiply the configured weight: set once at step 0 from `values` (the loss
  // evaluated there) and restored from checkpoints. Returns whether any term has one.
  bool set_initial_inverse_weights(const LossValues& values);
  void set_initial_scales(std::vector<double> scales);
  const std::vector<double>& initial_scales() const { return initial_scale_; }
  // Each term's loss without its configured and adaptive weights, differentiable for the network
  // and the problem's parameters: one evaluation on the tensor path (for per-term gradients).
  // Across ranks, this rank's part of it (the ranks' parts sum to the term).
  std::vector<torch::Tensor> unweighted_term_losses();
  // Term t's residual at up to `count` of its points drawn at random (the default generator),
  // differentiable: for per-point gradients.
  torch::Tensor sampled_residual(size_t term, int64_t count);
  // The smallest chunk weight of causal term t in the latest evaluation (NaN for other terms).
  double causal_min_weight(size_t term) const;
  // The terms that are causal, in order.
  std::vector<size_t> causal_terms() const;
  // Points over all ranks.
  int64_t total_points() const;
  distributed::Group& group() const;
  // How many terms the fused loss evaluates (derivatives/fused_loss): 0 when it does not apply.
  size_t fused_term_count() const;

  // The network's outputs (N x outputs, detached) at `points` (N x d, any device and dtype) and
  // the residuals of the given terms there (each of shape N): terms that read no per-point
  // fields, as measured at reference points. One evaluation of the channels gives both.
  struct PointValues {
    torch::Tensor outputs;
    std::vector<torch::Tensor> residuals;
  };
  PointValues values_at(const torch::Tensor& points, const std::vector<size_t>& terms);

  // The first step after `step` at which some set is resampled or refined (or -1 if none).
  int64_t next_point_update(int64_t step) const;
  // Resamples and refines the sets due at `step`; returns a description of what changed.
  // Resampled points are copied into the set's tensors (a captured CUDA graph reads them there).
  std::string update_points(int64_t step);
  // Whether the last update_points changed the size of a set (a refinement).
  bool sizes_changed() const { return sizes_changed_; }

  // The point sets as they are now (resampled or refined) and how often each was drawn, for
  // checkpoints; load_points checks that the sets are the ones this objective has.
  void save_points(torch::serialize::OutputArchive& archive) const;
  void load_points(torch::serialize::InputArchive& archive);

  const problem::Problem& problem() const { return *problem_; }
  model::Network& network() const { return *network_; }
  const ObjectiveContext& context() const { return context_; }

 private:
  struct SetWork {
    std::string name;
    const problem::PointSet* source;  // the configuration: resampling and refinement
    torch::Tensor points;
    std::map<std::string, torch::Tensor> fields;
    // Across ranks: the whole set (points and fields hold this rank's share of it); undefined in
    // a run of one process, where the share is the whole.
    torch::Tensor whole_points;
    std::map<std::string, torch::Tensor> whole_fields;
    distributed::Share share;
    std::set<expr::Channel> channels;
    std::vector<size_t> terms;                // terms evaluated on this set
    std::vector<size_t> partner_terms;        // periodic terms whose partner is this set
    std::vector<size_t> fused_terms;          // terms evaluated by the fused loss
    std::set<expr::Channel> tensor_channels;  // what the other terms (and partners) read
    uint64_t draws = 1;                       // how many times the set was drawn
    int causal_input = -1;                    // the input its points are ordered by, if any
  };
  // A causal term's chunk statistics from the latest evaluation.
  struct CausalState {
    std::vector<double> chunk_means;  // empty: not evaluated yet
    std::vector<double> weights;      // the weights that evaluation used
  };
  // Makes `sample` (the whole set) the set's points; this rank keeps its share. `order`: sort a
  // causal set's points (a checkpoint's are sorted already).
  void place(SetWork& set, const problem::Sample& sample, bool order = true);
  // The whole set, as a sample on the objective's device.
  problem::Sample whole(const SetWork& set) const;
  // Sums the values over the ranks; the statistics (means weighted by the ranks' shares, maxima).
  void reduce(LossValues& values) const;
  void reduce(std::vector<TermDiagnostics>& terms) const;
  // Sums the gradients of `trainable`, the values and the pending stop requests over the ranks.
  void reduce_gradient(const std::vector<torch::Tensor>& trainable, LossValues& values) const;
  // Orders a causal term's set by its causal input (points and fields alike).
  void order_points(SetWork& set) const;
  const SetWork& set_of(size_t term) const;
  // The sets with fused terms, as the fused loss takes them; `order` receives their terms in
  // the order it returns their values. A causal term's chunks are weighted by its latest weights.
  std::vector<derivatives::FusedSet> fused_sets(std::vector<size_t>& order) const;
  // The configured weight times the adaptive one.
  double weight_of(size_t term) const;
  // Causal term t's mean_k(w_k L_k) for chunk mean squares `means` L, with w = `weights`, or
  // L's own when empty; `state` receives L and w.
  double causal_value(size_t term, const std::vector<double>& means,
                      const std::vector<double>& weights, CausalState& state) const;
  // The chunk weights an evaluation for training uses: the latest ones' mean squares'.
  std::vector<double> training_chunk_weights(size_t term) const;
  bool causal_state_missing() const;
  // Causal term t's mean_k(w_k L_k) on the tensor path (differentiable), w as causal_value's.
  torch::Tensor causal_mean(size_t term, const torch::Tensor& residual,
                            const std::vector<double>& weights, CausalState& state) const;
  // The causal terms' chunk means from a fused pass into their states; without `for_training`
  // their values become the ones with their own weights. Whether there was any.
  bool take_chunk_means(const std::vector<size_t>& order, const derivatives::FusedValues& fused,
                        bool for_training, LossValues& values);
  // Residual tensors of every term, in problem order; with `skip_fused`, of the terms that the
  // fused loss does not evaluate (the others stay undefined).
  std::vector<torch::Tensor> residuals(bool for_training, bool skip_fused = false);
  // Which terms the fused loss evaluates, per set.
  void plan_fused_terms();
  void refine(SetWork& set);
  void redistribute(SetWork& set);
  // The squared residual of the set's terms at each candidate point, summed over its terms.
  torch::Tensor score_candidates(const SetWork& set, const problem::Sample& candidates);

  const problem::Problem* problem_;
  model::Network* network_;
  derivatives::Engine* engine_;
  ObjectiveContext context_;
  std::vector<SetWork> sets_;
  std::vector<std::optional<expr::PointwiseProgram>> programs_;  // per term, when fusable
  bool sizes_changed_ = false;
  bool direct_gradient_ = true;        // loss_and_gradient may try the fused pass's direct gradient
  std::vector<double> adaptive_;       // per term
  std::vector<double> initial_scale_;  // per term: 1, or 1 / its loss at step 0
  std::vector<CausalState> causal_;    // per term (empty states for the others)
};

}  // namespace pinn::train
