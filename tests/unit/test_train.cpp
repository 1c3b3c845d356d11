// Unit tests of train/: stage reading, the objective's arithmetic, Adam and L-BFGS progress,
// and L-BFGS stopping on its tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../common/flip_bytes.hpp"
#include "config/reader.hpp"
#include "derivatives/engine.hpp"
#include "derivatives/kernels/tiled_pass.hpp"
#include "problem/problem.hpp"
#include "support.hpp"
#include "train/causal.hpp"
#include "train/checkpoint.hpp"
#include "train/cuda_graph.hpp"
#include "train/loss_weighting.hpp"
#include "train/objective.hpp"
#include "train/optimizers/lbfgs.hpp"
#include "train/trainer.hpp"
#include "util/crc32c.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::train {
namespace {

using config::Document;
using config::Json;
using config::Pointer;
using config::Reader;

struct Fixture {
  Document document;
  problem::Problem problem;
  std::shared_ptr<model::Network> network;
  std::vector<StageSpec> stages;
};

// The fixture of a config's text: its problem, its network (seed 0, float64) and its stages.
std::unique_ptr<Fixture> fixture_from(const std::string& text, int inputs, int outputs) {
  auto f = std::make_unique<Fixture>();
  f->document = Document::from_json(Json::parse(text), "t.json");
  Reader top(f->document, Pointer());
  f->problem = problem::read_problem(top, ".", 0);
  torch::manual_seed(0);
  Reader network = top.object("network");
  f->network = model::make_network(network, inputs, outputs, f->problem.symbols.inputs);
  f->network->to(torch::kFloat64);
  f->stages = read_stages(top);
  return f;
}

// u(x) with u_x = cos(x) on [0, 1] and u(0) = 0: the solution is sin(x).
std::unique_ptr<Fixture> make_fixture(const std::string& training) {
  return fixture_from(R"json({
    "inputs": ["x"], "outputs": ["u"],
    "points": {"inner": {"sampler": "grid", "bounds": {"x": [0, 1]}, "count": 32},
               "origin": {"sampler": "grid", "bounds": {"x": 0}, "count": 1}},
    "losses": [{"name": "ode", "points": "inner", "residual": "u_x - cos(x)"},
               {"name": "start", "points": "origin", "residual": "u", "weight": 10}],
    "network": {"hidden": [16], "activation": "tanh"},
    "training": )json" + training +
                          "}",
                      1, 1);
}

TEST(Stages, ReadDefaultsAndRejectBadOptions) {
  auto f = make_fixture(R"([{"type": "adam", "iterations": 10}, {"type": "lbfgs"}])");
  ASSERT_EQ(f->stages.size(), 2u);
  EXPECT_DOUBLE_EQ(f->stages[0].adam.lr, 1e-3);
  EXPECT_EQ(f->stages[1].iterations, 1000);
  EXPECT_EQ(f->stages[1].lbfgs.line_search, "strong_wolfe");
  EXPECT_EQ(f->document.root()["training"][1]["history"], 100);
  EXPECT_THROW(make_fixture(R"([{"type": "sgd"}])"), InputError);
  EXPECT_THROW(make_fixture(R"([{"type": "adam", "betas": [0.9]}])"), InputError);
  EXPECT_THROW(make_fixture(R"([])"), InputError);
}

// Each type's record says what the trainer and bench need of it; a type without a record is an
// InputError naming the stage (never a fall-through to another optimizer).
TEST(Stages, RecordsDecideWhatDependsOnTheType) {
  auto f = make_fixture(R"([{"type": "lbfgs"}, {"type": "adam", "lr": 0.01}, {"type": "bfgs"}])");
  EXPECT_FALSE(stage_type(f->stages[0]).one_evaluation_per_iteration);
  EXPECT_TRUE(stage_type(f->stages[1]).one_evaluation_per_iteration);
  EXPECT_TRUE(stage_type(f->stages[2]).dense_hessian);
  EXPECT_EQ(f->stages[2].quasi_newton.method, QuasiNewtonMethod::bfgs);
  const StageSpec timed = benchmark_stage(f->stages);
  EXPECT_EQ(timed.type, "adam");
  EXPECT_DOUBLE_EQ(timed.adam.lr, 0.01);
  const StageSpec fallback = benchmark_stage({f->stages[0]});
  EXPECT_EQ(fallback.type, "adam");
  EXPECT_DOUBLE_EQ(fallback.adam.lr, AdamSettings{}.lr);

  StageSpec unknown;
  unknown.type = "sgd";
  unknown.where = "t.json: /training/0";
  auto p = torch::zeros({2}, torch::kFloat64).requires_grad_(true);
  try {
    make_stage(unknown, {p});
    ADD_FAILURE() << "an unknown stage type was made";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("t.json: /training/0"), std::string::npos) << message;
    EXPECT_NE(message.find("unknown stage type 'sgd'"), std::string::npos) << message;
  }
}

// The Adam stage's fused update against torch::optim::Adam on the same gradients: 200 steps of
// a quartic in float64, with and without weight decay, one parameter left without a gradient.
TEST(Stages, AdamMatchesTorchAdam) {
  for (double decay : {0.0, 0.01}) {
    AdamSettings settings;
    settings.lr = 3e-2;
    settings.betas = {0.8, 0.99};
    settings.eps = 1e-7;
    settings.weight_decay = decay;
    torch::manual_seed(5);
    const auto start = torch::randn({3, 4}, torch::kFloat64);
    auto ours = start.clone().requires_grad_(true);
    auto theirs = start.clone().requires_grad_(true);
    auto unused = torch::ones({2}, torch::kFloat64).requires_grad_(true);
    StageSpec spec;
    spec.type = "adam";
    spec.adam = settings;
    auto stage = make_stage(spec, {ours, unused});
    torch::optim::Adam reference(
        {theirs},
        torch::optim::AdamOptions(settings.lr).betas({0.8, 0.99}).eps(1e-7).weight_decay(decay));
    auto loss_of = [](const torch::Tensor& p) { return (p.pow(4) - p * 0.3).sum(); };
    stage->advance(200, [&] {
      if (ours.grad().defined()) ours.mutable_grad().zero_();
      auto loss = loss_of(ours);
      loss.backward();
      return loss.detach();
    });
    for (int i = 0; i < 200; ++i) {
      reference.zero_grad();
      loss_of(theirs).backward();
      reference.step();
    }
    EXPECT_FALSE(torch::equal(ours, start));
    EXPECT_LT((ours - theirs).abs().max().item<double>(), 1e-12) << "weight decay " << decay;
    EXPECT_TRUE(torch::equal(unused, torch::ones({2}, torch::kFloat64)));
  }
}

// A stage's state as the trainer keeps it for a rollback: save()d into bytes, read back on demand.
class StateBytes {
 public:
  explicit StateBytes(const Stage& stage) {
    torch::serialize::OutputArchive archive;
    stage.save(archive);
    std::ostringstream out;
    archive.save_to(out);
    bytes_ = out.str();
  }
  torch::serialize::InputArchive archive() const {
    std::istringstream in(bytes_);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    return archive;
  }

 private:
  std::string bytes_;
};

// A rollback puts back the saved state: Adam then steps as a stage with half the learning rate
// loaded from that state would (and a quarter after a second rollback); L-BFGS as a fresh L-BFGS
// from the saved point.
TEST(Stages, RollBackPutsBackTheStateAndStepsMoreCarefully) {
  auto quadratic = [](torch::Tensor& p) {
    return [&p] {
      if (p.grad().defined()) p.mutable_grad().zero_();
      auto loss = (p.square() * torch::arange(1, 5, torch::kFloat64)).sum();
      loss.backward();
      return loss.detach();
    };
  };
  torch::manual_seed(5);
  const auto start = torch::randn({4}, torch::kFloat64);
  for (const int rollbacks : {1, 2}) {
    auto p = start.clone().requires_grad_(true);
    StageSpec spec;
    spec.type = "adam";
    spec.adam.lr = 0.1;
    auto stage = make_stage(spec, {p});
    stage->advance(5, quadratic(p));
    const StateBytes saved(*stage);
    const auto at_5 = p.detach().clone();
    std::string change;
    for (int r = 0; r < rollbacks; ++r) {
      stage->advance(5, quadratic(p));
      torch::NoGradGuard no_grad;
      p.copy_(at_5);  // the trainer puts the weights back
      auto archive = saved.archive();
      change = stage->roll_back(archive);
    }
    const double lr = 0.1 / std::pow(2.0, rollbacks);
    EXPECT_EQ(change,
              rollbacks == 1 ? "learning rate halved to 0.05" : "learning rate halved to 0.025");
    stage->advance(3, quadratic(p));
    EXPECT_DOUBLE_EQ(stage->learning_rate(), lr);

    auto q = at_5.clone().requires_grad_(true);
    StageSpec smaller = spec;
    smaller.adam.lr = lr;
    auto reference = make_stage(smaller, {q});
    auto archive = saved.archive();
    reference->load(archive);
    reference->advance(3, quadratic(q));
    EXPECT_TRUE(torch::equal(p, q)) << rollbacks << " rollbacks";
  }

  auto p = start.clone().requires_grad_(true);
  StageSpec spec;
  spec.type = "lbfgs";
  spec.lbfgs.tolerance_grad = 0;
  spec.lbfgs.tolerance_change = 0;
  auto stage = make_stage(spec, {p});
  stage->advance(3, quadratic(p));
  const StateBytes saved(*stage);
  const auto at_3 = p.detach().clone();
  stage->advance(3, quadratic(p));
  {
    torch::NoGradGuard no_grad;
    p.copy_(at_3);
  }
  auto archive = saved.archive();
  EXPECT_EQ(stage->roll_back(archive), "curvature history restarted");
  stage->advance(1, quadratic(p));
  auto q = at_3.clone().requires_grad_(true);
  auto fresh = make_stage(spec, {q});
  fresh->advance(1, quadratic(q));
  EXPECT_LT((p - q).abs().max().item<double>(), 1e-15);
  EXPECT_FALSE(torch::equal(p, at_3));
}

// "cuda_graph": on CUDA, three eager steps, then the captured step replayed (bias corrections from
// step counters on the device); elsewhere a warning and the ordinary step. Either way the same
// arithmetic as torch's Adam, step for step, and the step count a checkpoint records.
TEST(Stages, CudaGraphAdamMatchesTorchAdam) {
  const auto device = testing_support::test_device();
  const auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  torch::manual_seed(5);
  const auto start = torch::randn({3, 4}, options);
  auto ours = start.clone().requires_grad_(true);
  auto theirs = start.clone().requires_grad_(true);
  StageSpec spec;
  spec.type = "adam";
  spec.adam.lr = 3e-2;
  spec.cuda_graph = true;
  auto stage = make_stage(spec, {ours});
  torch::optim::Adam reference({theirs}, torch::optim::AdamOptions(3e-2));
  auto loss_of = [](const torch::Tensor& p) { return (p.pow(4) - p * 0.3).sum(); };
  int calls = 0;
  const auto closure = [&] {
    ++calls;
    if (ours.grad().defined()) ours.mutable_grad().zero_();
    auto loss = loss_of(ours);
    loss.backward();
    return loss.detach();
  };
  EXPECT_EQ(stage->advance(50, closure), 50);
  EXPECT_EQ(stage->advance(50, closure), 50);
  for (int i = 0; i < 100; ++i) {
    reference.zero_grad();
    loss_of(theirs).backward();
    reference.step();
  }
  EXPECT_LT((ours - theirs).abs().max().item<double>(), 1e-10) << device;
  // Captured, the closure runs (on the host) for the warm-up and the capture only.
  const bool graphed = device.is_cuda() && CudaGraphRunner::supported();
  EXPECT_EQ(calls, graphed ? CudaGraphRunner::kWarmupCalls + 1 : 100);
  EXPECT_EQ(stage->replays_cuda_graph(), graphed);
  torch::serialize::OutputArchive archive;
  stage->save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  std::istringstream in(bytes.str());
  torch::serialize::InputArchive loaded;
  loaded.load_from(in);
  torch::Tensor steps;
  loaded.read("steps/0", steps, true);
  EXPECT_EQ(steps.item<int64_t>(), 100);
}

TEST(CudaGraphRunner, RunsEagerlyOffCuda) {
  CudaGraphRunner runner("a test");
  int calls = 0;
  for (int i = 0; i < 10; ++i)
    runner.run([&] { ++calls; }, torch::kCPU);
  EXPECT_EQ(calls, 10);
  EXPECT_FALSE(runner.captured());
}

// The store keeps the newest two checkpoints, and skips one that cannot be read.
TEST(CheckpointStore, KeepsThePreviousAndSkipsUnreadableOnes) {
  const auto directory = std::filesystem::temp_directory_path() / "pinn_unit_checkpoints";
  remove_tree(directory);
  CheckpointStore store(directory);
  EXPECT_FALSE(store.load_latest().archive);
  for (int64_t step : {100, 200, 1000}) {
    torch::serialize::OutputArchive archive;
    archive.write("meta", c10::IValue(std::to_string(step)));
    archive.write("weights", torch::full({3}, static_cast<double>(step)), true);
    store.write(archive, step);
  }
  const auto files = store.files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "checkpoint-000000001000.pt");
  EXPECT_EQ(files[1].filename(), "checkpoint-000000000200.pt");
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const auto extension = entry.path().extension();
    EXPECT_TRUE(extension == ".pt" || extension == ".crc32c")
        << "no temporary file is left behind: " << entry.path();
  }
  for (const auto& file : files)
    EXPECT_TRUE(std::filesystem::exists(file.string() + ".crc32c")) << "each has its checksum";

  auto newest = store.load_latest();
  ASSERT_TRUE(newest.archive);
  EXPECT_EQ(newest.path, files[0]);
  std::filesystem::resize_file(files[0], std::filesystem::file_size(files[0]) / 2);
  auto fallback = store.load_latest();
  ASSERT_TRUE(fallback.archive);
  EXPECT_EQ(fallback.path, files[1]);
  torch::Tensor weights;
  fallback.archive->read("weights", weights, true);
  EXPECT_EQ(weights[0].item<double>(), 200.0);
  std::ofstream(files[1], std::ios::trunc) << "not an archive";
  EXPECT_FALSE(store.load_latest().archive);
  remove_tree(directory);
}

// Flipped bytes in the middle of a checkpoint (which LibTorch's reader may still load) are found
// by its CRC-32C; the one before it is used, and the reasons are kept for the error message.
TEST(CheckpointStore, FindsFlippedBytesByTheChecksum) {
  EXPECT_EQ(util::crc32c(0, "123456789", 9), 0xE3069283u);  // the standard check value
  EXPECT_EQ(util::crc32c(util::crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  const auto directory = std::filesystem::temp_directory_path() / "pinn_unit_checkpoint_crc";
  remove_tree(directory);
  CheckpointStore store(directory);
  for (int64_t step : {100, 200}) {
    torch::serialize::OutputArchive archive;
    archive.write("meta", c10::IValue(std::to_string(step)));
    archive.write("weights", torch::full({4096}, static_cast<double>(step)), true);
    store.write(archive, step);
  }
  const auto files = store.files();
  ASSERT_EQ(files.size(), 2u);
  const auto flip = pinn_tests::flip_bytes;
  flip(files[0]);
  auto fallback = store.load_latest();
  ASSERT_TRUE(fallback.archive);
  EXPECT_EQ(fallback.path, files[1]);
  ASSERT_EQ(fallback.rejected.size(), 1u);
  EXPECT_NE(fallback.rejected[0].find("checkpoint-000000000200.pt: damaged: its CRC-32C is"),
            std::string::npos)
      << fallback.rejected[0];
  flip(files[1]);
  const auto none = store.load_latest();
  EXPECT_FALSE(none.archive);
  EXPECT_EQ(none.rejected.size(), 2u);
  remove_tree(directory);
}

TEST(Objective, IsTheWeightedSumOfMeanSquares) {
  auto f = make_fixture(R"([{"type": "adam"}])");
  auto engine = derivatives::make_engine("autograd", *f->network);
  Objective objective(f->problem, *f->network, *engine, {torch::dtype(torch::kFloat64), {}});
  const auto values = objective.evaluate(false);
  // Recompute by hand: u_x - cos(x) on the grid, and 10 * u(0)^2.
  auto x = torch::linspace(0, 1, 32, torch::kFloat64).unsqueeze(1).requires_grad_(true);
  auto u = f->network->forward(x);
  auto ux = torch::autograd::grad({u.sum()}, {x})[0];
  const double ode = (ux.squeeze(1) - torch::cos(x.squeeze(1))).square().mean().item<double>();
  const double start =
      10 * f->network->forward(torch::zeros({1, 1}, torch::kFloat64)).square().item<double>();
  EXPECT_NEAR(values.terms[0].item<double>(), ode, 1e-14);
  EXPECT_NEAR(values.terms[1].item<double>(), start, 1e-14);
  EXPECT_NEAR(values.total.item<double>(), ode + start, 1e-14);
  const auto diagnostics = objective.diagnostics();
  EXPECT_NEAR(diagnostics[1].max_abs_residual, std::sqrt(start / 10), 1e-14);
  EXPECT_EQ(objective.total_points(), 33);
}

// A term weighted "initial_inverse" takes 1 / its loss at step 0; the others keep theirs.
TEST(Objective, InitialInverseWeightIsOneOverTheFirstLoss) {
  auto f = make_fixture(R"([{"type": "adam"}])");
  f->problem.losses[0].weight_initial_inverse = true;
  auto engine = derivatives::make_engine("autograd", *f->network);
  Objective objective(f->problem, *f->network, *engine, {torch::dtype(torch::kFloat64), {}});
  const auto before = objective.evaluate(false);
  const double ode = before.terms[0].item<double>(), start = before.terms[1].item<double>();
  ASSERT_TRUE(objective.set_initial_inverse_weights(before));
  EXPECT_DOUBLE_EQ(objective.initial_scales()[0], 1 / ode);
  EXPECT_EQ(objective.initial_scales()[1], 1.0);
  const auto after = objective.evaluate(false);
  EXPECT_NEAR(after.terms[0].item<double>(), 1.0, 1e-14);
  EXPECT_EQ(after.terms[1].item<double>(), start);
  EXPECT_NEAR(objective.diagnostics()[0].weight, 1 / ode, 1e-14 / ode);
  EXPECT_THROW(objective.set_initial_scales({1.0}), InputError);  // another config's checkpoint
}

// A problem whose terms take every path of the fused loss: several sets and terms per set, a
// summed Laplacian, mixed partials, two outputs, normals (a Neumann term), a trainable parameter
// and a periodic pair (both left to the tensor path; without `tensor_terms`, those two terms are
// left out). With few edge points the sets run through the tiled pass together, with many one
// pass each (fused_loss.cpp's groups_of).
std::unique_ptr<Fixture> make_fused_fixture(const std::string& network, int edge_points,
                                            bool tensor_terms = true) {
  const std::string tensor_losses = R"json(,
      {"name": "scaled", "points": "edge", "residual": "k*u - v"},
      {"name": "periodic", "type": "periodic", "points": "left", "shift": {"x": 1},
       "residual": "u_x"})json";
  return fixture_from(R"json({
    "inputs": ["x", "y"], "outputs": ["u", "v"],
    "constants": {"nu": 0.05}, "parameters": {"k": 0.7},
    "domains": {"square": {"type": "box", "bounds": {"x": [0, 1], "y": [0, 1]}}},
    "points": {
      "inner": {"domain": "square", "region": "interior", "sampler": "sobol", "count": 700},
      "edge": {"domain": "square", "region": "boundary", "sampler": "sobol",
               "count": )json" +
                          std::to_string(edge_points) +
                          R"json(},
      "left": {"domain": "square", "region": "boundary", "parts": ["x_min"], "sampler": "grid",
               "count": 9}},
    "losses": [
      {"name": "pde", "points": "inner", "residual": "lap(u) + u*v_x - nu*u_xy + sin(v)"},
      {"name": "second", "points": "inner", "residual": "v_yy*u_x - exp(-u)", "weight": 3},
      {"name": "flux", "type": "neumann", "points": "edge", "value": "0.3*x"})json" +
                          (tensor_terms ? tensor_losses : "") + R"json(],
    "network": )json" + network +
                          R"json(,
    "training": [{"type": "adam"}]})json",
                      2, 2);
}

TEST(Objective, FusedLossEqualsTheTensorPathAndAutograd) {
  const std::string tanh_mlp = R"({"hidden": [12, 10], "activation": "tanh"})";
  const std::string fourier_sigmoid = R"({"hidden": [8], "activation": "sigmoid",
      "fourier_features": {"count": 3, "scale": 1.5, "trainable": true}})";
  for (const auto& [network, edge_points] : std::vector<std::pair<std::string, int>>{
           {tanh_mlp, 64}, {tanh_mlp, 400}, {fourier_sigmoid, 64}}) {
    auto f = make_fused_fixture(network, edge_points);
    const auto k = torch::full({}, 0.7, torch::kFloat64).requires_grad_(true);
    auto trainable = f->network->parameters();
    trainable.push_back(k);
    // The loss and the gradient of every trainable tensor, for an engine and the fused switch.
    const auto run = [&](const std::string& engine_name, bool fused, size_t& fused_terms) {
      auto engine = derivatives::make_engine(engine_name, *f->network);
      Objective objective(f->problem, *f->network, *engine,
                          {torch::dtype(torch::kFloat64), {k}, fused});
      fused_terms = objective.fused_term_count();
      for (auto& tensor : trainable) {
        if (tensor.grad().defined()) tensor.mutable_grad().zero_();
      }
      const auto values = objective.evaluate(true);
      values.total.backward();
      std::vector<torch::Tensor> result = {values.total.detach().reshape({1}),
                                           torch::stack(values.terms)};
      for (const auto& tensor : trainable)
        result.push_back(tensor.grad().clone().reshape({-1}));
      // Evaluated without training, the loss is the same.
      EXPECT_NEAR(objective.evaluate(false).total.item<double>(), values.total.item<double>(),
                  1e-13 * values.total.item<double>());
      return torch::cat(result);
    };
    size_t fused_terms = 0, tensor_terms = 0, autograd_terms = 0;
    const auto tensor = run("taylor", false, tensor_terms);
    const auto autograd = run("autograd", true, autograd_terms);
    EXPECT_EQ(tensor_terms, 0u);
    EXPECT_EQ(autograd_terms, 0u);
    const double size = autograd.abs().max().item<double>();
    // The fused pass in every kernel variant this CPU runs.
    for (const auto& set : derivatives::tiles::variants()) {
      derivatives::tiles::force_variant(set);
      const auto fused = run("taylor", true, fused_terms);
      EXPECT_EQ(fused_terms, 3u) << network;  // pde, second, flux
      EXPECT_LT((fused - tensor).abs().max().item<double>(), 1e-11 * size) << network << set;
      EXPECT_LT((fused - autograd).abs().max().item<double>(), 1e-11 * size) << network << set;
      EXPECT_GT(fused.narrow(0, 6, fused.size(0) - 6).abs().max().item<double>(), 0);
    }
    derivatives::tiles::measure_variants();
  }
}

// With every term in the fused pass, the closure's gradient comes from the pass directly (new
// gradient tensors, no backward()): the same loss, term values and gradients as through
// autograd, whatever the gradients held before. A trainable embedding (a pass input that needs a
// gradient) and tensor terms take the autograd path.
TEST(Objective, LossAndGradientTakesTheFusedPassDirectlyWhenItHasEveryTerm) {
  const std::string tanh_mlp = R"({"hidden": [12, 10], "activation": "tanh"})";
  const std::string fourier = R"({"hidden": [8], "activation": "tanh",
      "fourier_features": {"count": 3, "scale": 1.5, "trainable": true}})";
  struct Case {
    std::string network;
    int edge_points;
    bool tensor_terms, direct;
  };
  for (const auto& c : std::vector<Case>{{tanh_mlp, 64, false, true},
                                         {tanh_mlp, 400, false, true},
                                         {fourier, 64, false, false},
                                         {tanh_mlp, 64, true, false}}) {
    auto f = make_fused_fixture(c.network, c.edge_points, c.tensor_terms);
    const auto k = torch::full({}, 0.7, torch::kFloat64).requires_grad_(true);
    auto trainable = f->network->parameters();
    trainable.push_back(k);
    auto engine = derivatives::make_engine("taylor", *f->network);
    Objective objective(f->problem, *f->network, *engine, {torch::dtype(torch::kFloat64), {k}});
    const auto gradients = [&] {
      std::vector<torch::Tensor> flat;
      for (const auto& tensor : trainable)
        flat.push_back(tensor.grad().defined() ? tensor.grad().reshape({-1}).clone()
                                               : torch::zeros({tensor.numel()}, torch::kFloat64));
      return torch::cat(flat);
    };
    // Through autograd, from zeroed gradients.
    for (auto& tensor : trainable)
      tensor.mutable_grad() = torch::zeros_like(tensor);
    const auto expected = objective.evaluate(true);
    expected.total.backward();
    const auto expected_gradient = gradients();
    // Through the closure, from gradients that hold something else.
    std::vector<const void*> before;
    for (auto& tensor : trainable) {
      tensor.mutable_grad() = torch::full_like(tensor, 3.0);
      before.push_back(tensor.grad().unsafeGetTensorImpl());
    }
    const auto values = objective.loss_and_gradient(trainable);
    const auto gradient = gradients();
    const std::string name = c.network + std::to_string(c.edge_points);
    EXPECT_FALSE(values.total.requires_grad()) << name;
    EXPECT_NEAR(values.total.item<double>(), expected.total.item<double>(),
                1e-14 * expected.total.item<double>())
        << name;
    ASSERT_EQ(values.terms.size(), expected.terms.size());
    for (size_t t = 0; t < values.terms.size(); ++t)
      EXPECT_NEAR(values.terms[t].item<double>(), expected.terms[t].item<double>(),
                  1e-14 * expected.total.item<double>())
          << name << " term " << t;
    const double size = expected_gradient.abs().max().item<double>();
    EXPECT_GT(size, 0) << name;
    EXPECT_LT((gradient - expected_gradient).abs().max().item<double>(), 1e-13 * size) << name;
    EXPECT_EQ(k.grad().item<double>(), expected_gradient[-1].item<double>()) << name;
    EXPECT_EQ(trainable[0].grad().unsafeGetTensorImpl() != before[0], c.direct) << name;
  }
}

// ---- causal training and adaptive loss weights ----

TEST(Causal, ChunksAndWeightsFollowTheFormula) {
  EXPECT_EQ(chunk_ends(10, 4), (std::vector<int64_t>{2, 5, 7, 10}));
  EXPECT_EQ(chunk_ends(3, 4), (std::vector<int64_t>{0, 1, 2, 3}));
  const auto weights = causal_weights({1.0, 2.0, 3.0}, 0.5);
  ASSERT_EQ(weights.size(), 3u);
  EXPECT_DOUBLE_EQ(weights[0], 1.0);
  EXPECT_DOUBLE_EQ(weights[1], std::exp(-0.5));
  EXPECT_DOUBLE_EQ(weights[2], std::exp(-1.5));
  const auto r = torch::arange(1, 11, torch::kFloat64);  // 1..10 in chunks {1,2} {3,4,5} ...
  const auto means = chunk_mean_squares(r, chunk_ends(10, 4));
  const std::vector<double> expected = {2.5, 50.0 / 3, 42.5, 245.0 / 3};
  for (size_t k = 0; k < expected.size(); ++k)
    EXPECT_NEAR(means[static_cast<int64_t>(k)].item<double>(), expected[k], 1e-12);
  EXPECT_EQ(
      chunk_mean_squares(torch::ones({3}, torch::kFloat64), chunk_ends(3, 4))[0].item<double>(),
      0.0);  // an empty chunk
}

// u(x, t): a residual term in 5 causal chunks by t, a boundary term on x = 0, and a term on t = 0.
std::unique_ptr<Fixture> make_causal_fixture(const std::string& extra = "") {
  return fixture_from(R"json({
    "inputs": ["x", "t"], "outputs": ["u"],
    "domains": {"box": {"type": "box", "bounds": {"x": [0, 1], "t": [0, 1]}}},
    "points": {
      "inner": {"domain": "box", "region": "interior", "sampler": "sobol", "count": 203},
      "left": {"sampler": "grid", "bounds": {"x": 0, "t": [0, 1]}, "count": 17},
      "start": {"sampler": "grid", "bounds": {"x": [0, 1], "t": 0}, "count": 9}},
    "losses": [
      {"name": "pde", "points": "inner", "residual": "u_t + u*u_x - 0.1*u_xx - sin(x)",
       "causal": {"input": "t", "chunks": 5, "epsilon": 3.0}, "weight": 2},
      {"name": "wall", "points": "left", "residual": "u - t"},
      {"name": "initial", "points": "start", "residual": "u - x*x"}],
    "network": {"hidden": [10, 10], "activation": "tanh"},
    "training": [{"type": "adam"}])json" +
                          extra + "}",
                      2, 1);
}

// The causal term is weight · mean_k(w_k L_k) with w_k = exp(-ε Σ_{j<k} L_j) over chunks of equal
// count of the points ordered by t, L_k from residuals computed directly; evaluated for training
// right after, it has the same value and the gradient of that sum with w held fixed, on the
// tensor path, the fused pass and through autograd; a step later, its weights are the previous
// evaluation's.
TEST(Objective, CausalTermFollowsTheFormulaOnEveryPath) {
  auto f = make_causal_fixture();
  const auto trainable = f->network->parameters();
  const auto direct = [&](Objective& objective) {
    auto points = f->problem.point_sets.at("inner").sample.points;
    points = points.index_select(
        0, std::get<1>(torch::sort(points.select(1, 1), c10::optional<bool>(true), 0)));
    const auto r = objective.values_at(points, {0}).residuals[0];
    const auto ends = chunk_ends(r.size(0), 5);
    std::vector<double> means;
    int64_t begin = 0;
    for (int64_t end : ends) {
      means.push_back(r.narrow(0, begin, end - begin).square().mean().item<double>());
      begin = end;
    }
    const auto w = causal_weights(means, 3.0);
    double value = 0;
    for (size_t k = 0; k < 5; ++k)
      value += w[k] * means[k];
    return std::make_pair(2 * value / 5, *std::min_element(w.begin(), w.end()));
  };
  std::vector<torch::Tensor> results;
  for (const auto& [engine_name, fused] : std::vector<std::pair<std::string, bool>>{
           {"autograd", false}, {"taylor", false}, {"taylor", true}}) {
    auto engine = derivatives::make_engine(engine_name, *f->network);
    Objective objective(f->problem, *f->network, *engine,
                        {torch::dtype(torch::kFloat64), {}, fused});
    EXPECT_EQ(objective.fused_term_count(), fused && engine->fused_loss() ? 3u : 0u);
    const auto [expected, min_weight] = direct(objective);
    EXPECT_GT(expected, 0);
    const auto exact = objective.evaluate(false);
    EXPECT_NEAR(exact.terms[0].item<double>(), expected, 1e-12 * expected) << engine_name;
    EXPECT_NEAR(objective.causal_min_weight(0), min_weight, 1e-12) << engine_name;
    EXPECT_LT(min_weight, 1.0);
    EXPECT_TRUE(std::isnan(objective.causal_min_weight(1)));
    // For training, at the same weights: the same value, and the gradient of the fixed-w sum.
    for (auto& tensor : trainable)
      tensor.mutable_grad() = torch::zeros_like(tensor);
    const auto training = objective.evaluate(true);
    EXPECT_NEAR(training.terms[0].item<double>(), expected, 1e-12 * expected) << engine_name;
    training.total.backward();
    std::vector<torch::Tensor> flat = {training.total.detach().reshape({1})};
    for (const auto& tensor : trainable)
      flat.push_back(tensor.grad().reshape({-1}).clone());
    results.push_back(torch::cat(flat));
    // The closure (the fused pass's direct gradient where it has every term) agrees.
    const auto closure = objective.loss_and_gradient(trainable);
    std::vector<torch::Tensor> closure_flat = {closure.total.detach().reshape({1})};
    for (const auto& tensor : trainable)
      closure_flat.push_back(tensor.grad().reshape({-1}).clone());
    EXPECT_LT((torch::cat(closure_flat) - results.back()).abs().max().item<double>(),
              1e-12 * results.back().abs().max().item<double>())
        << engine_name;
    // Weights moved: training weights its chunks by the last evaluation's mean squares.
    const auto previous_min = objective.causal_min_weight(0);
    {
      torch::NoGradGuard no_grad;
      for (auto& tensor : trainable)
        tensor.add_(
            0.05 *
            torch::sin(torch::arange(tensor.numel(), torch::kFloat64)).reshape(tensor.sizes()));
    }
    objective.evaluate(true);
    EXPECT_DOUBLE_EQ(objective.causal_min_weight(0), previous_min) << engine_name;
    objective.evaluate(false);
    EXPECT_NE(objective.causal_min_weight(0), previous_min) << engine_name;
    {
      torch::NoGradGuard no_grad;
      for (auto& tensor : trainable)
        tensor.sub_(
            0.05 *
            torch::sin(torch::arange(tensor.numel(), torch::kFloat64)).reshape(tensor.sizes()));
    }
  }
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_LT((results[i] - results[0]).abs().max().item<double>(),
              1e-11 * results[0].abs().max().item<double>())
        << i;
  }
}

// The grad-norm and NTK targets against a direct computation with autograd: per term, the
// gradient of its mean square, and the mean over its points of each point's squared gradient
// norm; then λ ← 0.9 λ + 0.1 λ̂ reaches the objective's terms.
TEST(LossWeighting, GradNormAndNtkEqualADirectComputation) {
  auto f = make_fixture(R"([{"type": "adam"}])");
  const auto trainable = f->network->parameters();
  // Residuals at points x: u_x - cos(x) (term 0) and u (term 1), through nested autograd.
  const auto residual = [&](size_t term, const torch::Tensor& points) {
    const auto x = points.clone().requires_grad_(true);
    const auto u = f->network->forward(x);
    if (term == 1) return u.reshape({-1});
    const auto ux = torch::autograd::grad({u.sum()}, {x}, {}, true, true)[0];
    return (ux - torch::cos(x)).reshape({-1});
  };
  const auto squared_gradient = [&](const torch::Tensor& value) {
    const auto grads = torch::autograd::grad({value}, trainable, {}, true, false, true);
    double sum = 0;
    for (const auto& g : grads)
      sum += g.defined() ? g.square().sum().item<double>() : 0.0;
    return sum;
  };
  const std::vector<torch::Tensor> sets = {torch::linspace(0, 1, 32, torch::kFloat64).unsqueeze(1),
                                           torch::zeros({1, 1}, torch::kFloat64)};
  std::vector<double> norms, traces;
  for (size_t term = 0; term < 2; ++term) {
    const auto r = residual(term, sets[term]);
    norms.push_back(std::sqrt(squared_gradient(r.square().mean())));
    double trace = 0;
    for (int64_t p = 0; p < r.size(0); ++p)
      trace += squared_gradient(residual(term, sets[term].narrow(0, p, 1))[0]);
    traces.push_back(trace / static_cast<double>(r.size(0)));
  }
  for (const std::string engine_name : {"autograd", "taylor"}) {
    auto engine = derivatives::make_engine(engine_name, *f->network);
    Objective objective(f->problem, *f->network, *engine, {torch::dtype(torch::kFloat64), {}});
    const auto actual_norms = term_gradient_norms(objective, {0, 1}, trainable);
    const auto actual_traces = ntk_traces(objective, {0, 1}, 1000, trainable);
    for (size_t term = 0; term < 2; ++term) {
      EXPECT_NEAR(actual_norms[term], norms[term], 1e-10 * norms[term]) << engine_name;
      EXPECT_NEAR(actual_traces[term], traces[term], 1e-10 * traces[term]) << engine_name;
    }
    const auto before = objective.evaluate(false);
    for (const auto& [method, sizes] : std::vector<std::pair<std::string, std::vector<double>>>{
             {"grad_norm", norms}, {"ntk", traces}}) {
      WeightingSettings settings;
      settings.method = method;
      settings.terms = {0, 1};
      LossWeighting weighting(settings, 2);
      weighting.update(objective, trainable);
      const double mean = (sizes[0] + sizes[1]) / 2;
      for (size_t term = 0; term < 2; ++term) {
        const double expected = 0.9 + 0.1 * mean / sizes[term];
        EXPECT_NEAR(weighting.weights()[term], expected, 1e-10 * expected) << method;
        EXPECT_EQ(objective.adaptive_weights()[term], weighting.weights()[term]);
      }
      const auto after = objective.evaluate(false);
      for (size_t term = 0; term < 2; ++term) {
        EXPECT_NEAR(after.terms[term].item<double>(),
                    weighting.weights()[term] * before.terms[term].item<double>(),
                    1e-12 * after.total.item<double>())
            << method;
      }
      objective.set_adaptive_weights({1.0, 1.0});
    }
  }
}

// "weighting" from the config, and its bad input: an unknown term (did you mean), a bad method.
TEST(LossWeighting, ReadsItsSettingsAndRejectsUnknownTerms) {
  const auto read = [](const std::string& weighting) {
    auto f = make_causal_fixture(R"(, "weighting": )" + weighting);
    Reader top(f->document, Pointer());
    return read_weighting(top, f->problem);
  };
  const auto settings = read(R"({"method": "ntk", "every": 50, "terms": ["wall", "pde"]})");
  ASSERT_TRUE(settings.has_value());
  EXPECT_EQ(settings->method, "ntk");
  EXPECT_EQ(settings->every, 50);
  EXPECT_EQ(settings->terms, (std::vector<size_t>{0, 1}));
  EXPECT_DOUBLE_EQ(settings->momentum, 0.9);
  try {
    read(R"({"terms": ["pde", "wal"]})");
    ADD_FAILURE();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("/weighting/terms/1"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("did you mean 'wall'"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(read(R"({"method": "softadapt"})"), InputError);
  EXPECT_THROW(read(R"({"momentum": 1.0})"), InputError);
}

// A term over a list of sets is one mean over their union: the mean square of its residual over
// all their points together (30 inner points and 2 far ones), not the mean of the sets' means.
TEST(Objective, ListOfSetsIsOneMeanOverTheirUnion) {
  auto f = fixture_from(R"json({
    "inputs": ["x"], "outputs": ["u"],
    "points": {"inner": {"sampler": "grid", "bounds": {"x": [0, 1]}, "count": 30},
               "far": {"sampler": "grid", "bounds": {"x": [2, 3]}, "count": 2}},
    "losses": [{"name": "both", "points": ["inner", "far"], "residual": "u_x - cos(x)"},
               {"name": "again", "points": ["inner", "far"], "residual": "u"}],
    "network": {"hidden": [8], "activation": "tanh"},
    "training": [{"type": "adam"}]})json",
                        1, 1);
  ASSERT_EQ(f->problem.losses[0].points, "inner+far");
  ASSERT_EQ(f->problem.losses[1].points, "inner+far");
  const auto& joined = f->problem.point_sets.at("inner+far");
  EXPECT_EQ(joined.size(), 32);
  EXPECT_EQ(joined.members, (std::vector<std::string>{"inner", "far"}));
  auto engine = derivatives::make_engine("taylor", *f->network);
  Objective objective(f->problem, *f->network, *engine, {torch::dtype(torch::kFloat64), {}});
  const auto values = objective.evaluate(false);
  const auto x = torch::cat({f->problem.point_sets.at("inner").sample.points,
                             f->problem.point_sets.at("far").sample.points})
                     .requires_grad_(true);
  const auto u = f->network->forward(x);
  const auto u_x = torch::autograd::grad({u.sum()}, {x})[0].squeeze(1);
  const double expected = (u_x - torch::cos(x.squeeze(1))).square().mean().item<double>();
  EXPECT_NEAR(values.terms[0].item<double>(), expected, 1e-12 * expected);
  EXPECT_NEAR(values.terms[1].item<double>(), u.square().mean().item<double>(), 1e-14);
}

TEST(Objective, BadListsOfSetsNameTheirPath) {
  const auto error = [](const std::string& points) {
    return testing_support::error_of([&] {
      fixture_from(R"json({"inputs": ["x"], "outputs": ["u"],
        "points": {"inner": {"sampler": "grid", "bounds": {"x": [0, 1]}, "count": 4},
                   "edge": {"sampler": "grid", "bounds": {"x": 0}, "count": 1}},
        "losses": [{"points": )json" +
                       points +
                       R"json(, "residual": "u"}],
        "network": {"hidden": [4]}, "training": [{"type": "adam"}]})json",
                   1, 1);
    });
  };
  std::string message = error("[]");
  EXPECT_NE(message.find("/losses/0/points"), std::string::npos) << message;
  EXPECT_NE(message.find("at least one"), std::string::npos) << message;
  message = error(R"(["inner", "egde"])");
  EXPECT_NE(message.find("/losses/0/points/1"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'edge'"), std::string::npos) << message;
  message = error(R"(["inner", "inner"])");
  EXPECT_NE(message.find("/losses/0/points/1"), std::string::npos) << message;
}

// keep_best: the best log point by the loss (no reference here), whose kept weights give exactly
// the loss recorded for it.
TEST(Trainer, KeptBestWeightsGiveTheRecordedBestLoss) {
  auto f = make_fixture(R"([{"type": "adam", "iterations": 300, "lr": 0.08, "log_every": 10}])");
  auto engine = derivatives::make_engine("autograd", *f->network);
  Objective objective(f->problem, *f->network, *engine, {torch::dtype(torch::kFloat64), {}});
  ReferenceMetrics metrics(f->problem.reference, objective);
  Trainer trainer(objective, f->network->parameters(), metrics, f->stages);
  trainer.keep_best_weights();
  const auto report = trainer.run();
  ASSERT_TRUE(report.best.has_value());
  const auto& best = *report.best;
  double lowest = report.history.front().total;
  int64_t lowest_step = 0;
  for (const auto& row : report.history) {
    if (row.total < lowest) {
      lowest = row.total;
      lowest_step = row.step;
    }
  }
  EXPECT_EQ(best.criterion, "loss");
  EXPECT_EQ(best.step, lowest_step);
  EXPECT_EQ(best.row.total, lowest);
  auto parameters = f->network->parameters();
  ASSERT_EQ(parameters.size(), best.weights.size());
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < parameters.size(); ++i)
      parameters[i].copy_(best.weights[i]);
  }
  EXPECT_NEAR(objective.evaluate(false).total.item<double>(), best.row.total,
              1e-12 * best.row.total);
}

// Trains the fixture's network through its stages in float64 with the named engine.
TrainingReport train_fixture(Fixture& f, const std::string& engine_name) {
  auto engine = derivatives::make_engine(engine_name, *f.network);
  Objective objective(f.problem, *f.network, *engine, {torch::dtype(torch::kFloat64), {}});
  ReferenceMetrics metrics(f.problem.reference, objective);
  Trainer trainer(objective, f.network->parameters(), metrics, f.stages);
  return trainer.run();
}

TEST(Trainer, AdamThenLbfgsSolvesTheOde) {
  auto f = make_fixture(R"([{"type": "adam", "iterations": 200, "lr": 0.01, "log_every": 50},
                           {"type": "lbfgs", "iterations": 300, "log_every": 100}])");
  const auto report = train_fixture(*f, "forward");
  ASSERT_EQ(report.stages.size(), 2u);
  EXPECT_EQ(report.stages[0].iterations, 200);
  EXPECT_GE(report.history.size(), 6u);  // initial + 4 Adam rows + at least one L-BFGS row
  EXPECT_EQ(report.history[4].step, 200);
  EXPECT_LT(report.history.back().total, 1e-3 * report.history.front().total);
  const auto x = torch::linspace(0, 1, 11, torch::kFloat64).unsqueeze(1);
  const double error = (f->network->forward(x) - torch::sin(x)).abs().max().item<double>();
  EXPECT_LT(error, 1e-3);
}

TEST(Trainer, LbfgsStopsEarlyOnItsTolerance) {
  auto f = make_fixture(
      R"([{"type": "lbfgs", "iterations": 5000, "tolerance_grad": 1e-5, "log_every": 100}])");
  const auto report = train_fixture(*f, "autograd");
  EXPECT_TRUE(report.stages[0].converged());
  EXPECT_EQ(report.stages[0].stop, "converged");
  EXPECT_LT(report.stages[0].iterations, 5000);
  EXPECT_EQ(report.steps, report.stages[0].iterations);
  // The line search evaluates at least once per iteration, and the count is reported.
  EXPECT_GE(report.stages[0].evaluations, report.stages[0].iterations);
}

// A loss that stops falling by more than tolerance_change before the gradient is small is a
// stall, and reported as one, not as convergence.
TEST(Trainer, LbfgsWithoutProgressIsReportedAsStalled) {
  auto f = make_fixture(
      R"([{"type": "lbfgs", "iterations": 5000, "tolerance_grad": 0, "tolerance_change": 0.5,
           "log_every": 100}])");
  const auto report = train_fixture(*f, "autograd");
  ASSERT_EQ(report.stages.size(), 1u);
  EXPECT_EQ(report.stages[0].stop, "stalled");
  EXPECT_FALSE(report.stages[0].converged());
  EXPECT_LT(report.stages[0].iterations, 5000);
}

TEST(Trainer, StageReportsReadBackIncludingTheEarlierFormat) {
  StageReport stage;
  stage.type = "lbfgs";
  stage.iterations = 120;
  stage.evaluations = 150;
  stage.stop = "stalled";
  stage.seconds = 1.5;
  stage.final_loss = 2e-6;
  const auto json = to_json(stage);
  EXPECT_EQ(json["stop"], "stalled");
  EXPECT_EQ(json["converged"], false);
  const StageReport back = stage_report_from_json(json);
  EXPECT_EQ(back.stop, "stalled");
  EXPECT_EQ(back.evaluations, 150);
  EXPECT_EQ(back.iterations, 120);
  EXPECT_DOUBLE_EQ(back.final_loss, 2e-6);
  // Checkpoints written before "stop" existed hold two flags.
  nlohmann::json old = {{"type", "adam"},    {"iterations", 10}, {"converged", false},
                        {"timed_out", true}, {"seconds", 1.0},   {"final_loss", 0.5}};
  EXPECT_EQ(stage_report_from_json(old).stop, "max_seconds");
  old["timed_out"] = false;
  old["converged"] = true;
  EXPECT_EQ(stage_report_from_json(old).stop, "converged");
  // A diverged stage's loss survives the round trip (JSON has no NaN).
  stage.final_loss = std::nan("");
  EXPECT_TRUE(std::isnan(stage_report_from_json(to_json(stage)).final_loss));
}

// torch's L-BFGS keeps a curvature pair only when y.s > 1e-10 (an absolute threshold). On a loss
// of order 1e-9 it would never keep one and fall back to steepest descent, which needs thousands
// of iterations on this ill-conditioned quadratic; the stage's loss scaling keeps it quasi-Newton.
// factor * sum(curvature * (p - target)^2) and its gradient, as a stage's closure.
LossAndGradient quadratic(torch::Tensor& p, torch::Tensor curvature, torch::Tensor target,
                          double factor) {
  return [&p, curvature, target, factor] {
    if (p.grad().defined()) p.mutable_grad().zero_();
    auto loss = factor * (curvature * (p - target).square()).sum();
    loss.backward();
    return loss.detach();
  };
}

// An L-BFGS stage that runs until its iterations are spent.
std::unique_ptr<Stage> untiring_lbfgs(torch::Tensor& p) {
  StageSpec spec;
  spec.type = "lbfgs";
  spec.lbfgs.tolerance_grad = 0;
  spec.lbfgs.tolerance_change = 0;
  return make_stage(spec, {p});
}

// --- the flat L-BFGS itself ---------------------------------------------------------------------

// The n-dimensional Rosenbrock function, minimum 0 at (1, ..., 1), times `scale`.
Lbfgs::Objective rosenbrock(double scale) {
  return [scale](const std::vector<double>& x, std::vector<double>& g) {
    double f = 0;
    std::fill(g.begin(), g.end(), 0.0);
    for (size_t i = 0; i + 1 < x.size(); ++i) {
      const double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
      f += 100 * a * a + b * b;
      g[i] += scale * (-400 * a * x[i] - 2 * b);
      g[i + 1] += scale * 200 * a;
    }
    return scale * f;
  };
}

TEST(Lbfgs, SolvesRosenbrockAtAnyScaleOfTheLoss) {
  for (const double scale : {1.0, 1e-12}) {
    LbfgsOptions options;
    options.tolerance_grad = 1e-10 * scale;
    options.tolerance_change = 0;
    Lbfgs lbfgs(options, std::vector<double>(10, -1.0));
    const int done = lbfgs.iterate(1000, rosenbrock(scale));
    EXPECT_LT(done, 200) << scale;
    EXPECT_EQ(lbfgs.status(), Lbfgs::Status::converged) << scale;
    for (const double xi : lbfgs.x())
      EXPECT_NEAR(xi, 1.0, 1e-8) << scale;
    // A strong-Wolfe line search needs few evaluations per iteration.
    EXPECT_LT(lbfgs.evaluations(), 2 * lbfgs.iterations()) << scale;
  }
}

// An ill-conditioned quadratic in 75 dimensions (the recursion's loops run 32 lanes wide, then a
// tail): converged to its minimum, with a history shorter than the dimension that wraps around.
TEST(Lbfgs, SolvesAnIllConditionedQuadraticWithAWrappingHistory) {
  const size_t n = 75;
  const auto objective = [n](const std::vector<double>& x, std::vector<double>& g) {
    double f = 0;
    for (size_t i = 0; i < n; ++i) {
      const double scale = std::pow(10.0, 3.0 * static_cast<double>(i) / (n - 1));
      const double r = x[i] - 1.0 / static_cast<double>(i + 1);
      f += 0.5 * scale * r * r;
      g[i] = scale * r;
    }
    return f;
  };
  LbfgsOptions options;
  options.history = 7;
  options.tolerance_grad = 1e-10;
  options.tolerance_change = 0;
  Lbfgs lbfgs(options, std::vector<double>(n, 0.0));
  lbfgs.iterate(2000, objective);
  EXPECT_EQ(lbfgs.status(), Lbfgs::Status::converged);
  EXPECT_GT(lbfgs.iterations(), 7);
  for (size_t i = 0; i < n; ++i)
    EXPECT_NEAR(lbfgs.x()[i], 1.0 / static_cast<double>(i + 1), 1e-9) << i;
}

// The history keeps the newest pairs, oldest first, and starts over after clear().
TEST(CurvatureHistory, KeepsTheNewestPairsOldestFirst) {
  CurvatureHistory history(3, 2);
  for (int k = 1; k <= 5; ++k) {
    const double v = k;
    history.push({v, -v}, {10 * v, -10 * v}, 1 / v);
  }
  ASSERT_EQ(history.pairs(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const double v = static_cast<double>(i + 3);
    EXPECT_EQ(history.s(i)[0], v);
    EXPECT_EQ(history.s(i)[1], -v);
    EXPECT_EQ(history.y(i)[1], -10 * v);
    EXPECT_EQ(history.rho(i), 1 / v);
  }
  history.clear();
  EXPECT_EQ(history.pairs(), 0u);
  history.push({7, 8}, {9, 10}, 0.5);
  ASSERT_EQ(history.pairs(), 1u);
  EXPECT_EQ(history.s(0)[1], 8);
  EXPECT_EQ(history.y(0)[0], 9);
}

// Iterations in chunks, with the state saved and loaded in between, follow the uninterrupted run
// bit for bit.
TEST(Lbfgs, SavedStateContinuesExactly) {
  LbfgsOptions options;
  options.history = 5;
  Lbfgs straight(options, std::vector<double>(6, -1.0));
  straight.iterate(30, rosenbrock(1));
  Lbfgs first(options, std::vector<double>(6, -1.0));
  first.iterate(12, rosenbrock(1));
  torch::serialize::OutputArchive archive;
  first.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  std::istringstream in(bytes.str());
  torch::serialize::InputArchive loaded;
  loaded.load_from(in);
  Lbfgs second(options, std::vector<double>(6, 0.0));
  second.load(loaded);
  second.iterate(18, rosenbrock(1));
  EXPECT_EQ(second.x(), straight.x());
  EXPECT_EQ(second.iterations(), straight.iterations());
  EXPECT_EQ(second.evaluations(), straight.evaluations());

  Lbfgs other_size(options, std::vector<double>(4, 0.0));
  std::istringstream again(bytes.str());
  torch::serialize::InputArchive reloaded;
  reloaded.load_from(again);
  EXPECT_THROW(other_size.load(reloaded), std::runtime_error);
}

// A loss that is not finite stops it (stalled) instead of walking off; fixed steps (no line
// search) of a small lr still descend a convex quadratic.
TEST(Lbfgs, StallsOnANonFiniteLossAndTakesFixedSteps) {
  Lbfgs broken(LbfgsOptions(), {1.0, 2.0});
  const int done = broken.iterate(10, [](const std::vector<double>&, std::vector<double>& g) {
    std::fill(g.begin(), g.end(), std::nan(""));
    return std::nan("");
  });
  EXPECT_LE(done, 1);
  EXPECT_EQ(broken.status(), Lbfgs::Status::stalled);
  EXPECT_EQ(broken.x(), (std::vector<double>{1.0, 2.0}));

  LbfgsOptions fixed;
  fixed.line_search = false;
  fixed.lr = 0.1;
  Lbfgs lbfgs(fixed, {3.0, -2.0});
  lbfgs.iterate(200, [](const std::vector<double>& x, std::vector<double>& g) {
    g = {2 * x[0], 8 * x[1]};
    return x[0] * x[0] + 4 * x[1] * x[1];
  });
  EXPECT_NEAR(lbfgs.x()[0], 0.0, 1e-6);
  EXPECT_NEAR(lbfgs.x()[1], 0.0, 1e-6);
}

TEST(Stages, LbfgsStaysQuasiNewtonOnTinyLosses) {
  auto p = torch::zeros({10}, torch::kFloat64).requires_grad_(true);
  const auto curvature = torch::logspace(0, 2, 10, 10, torch::kFloat64);  // condition number 100
  const auto closure = quadratic(p, curvature, torch::ones({10}, torch::kFloat64), 1e-9);
  auto stage = untiring_lbfgs(p);
  for (int chunk = 0; chunk < 4; ++chunk)
    stage->advance(10, closure);
  EXPECT_LT((p.detach() - 1).abs().max().item<double>(), 1e-8);
}

// On float32 parameters the L-BFGS stage keeps its state in float64 copies (curvature pairs in
// float32 lose their digits): an ill-conditioned float32 quadratic still converges to float32
// accuracy, the parameters always hold the copies' rounded values, and a stage loaded from a
// checkpoint continues exactly as the saved one does.
TEST(Stages, LbfgsOnFloat32ParametersKeepsFloat64State) {
  auto p = torch::zeros({10}, torch::kFloat32).requires_grad_(true);
  const auto curvature = torch::logspace(0, 3, 10, 10, torch::kFloat32);  // condition 1000
  const auto target = torch::linspace(0.5, 1.5, 10, torch::kFloat32);
  const auto closure = quadratic(p, curvature, target, 1.0);
  auto stage = untiring_lbfgs(p);
  for (int chunk = 0; chunk < 3; ++chunk)
    stage->advance(10, closure);
  EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  EXPECT_LT((p.detach() - target).abs().max().item<double>(), 1e-3);

  torch::serialize::OutputArchive saved;
  stage->save(saved);
  std::ostringstream bytes;
  saved.save_to(bytes);
  const auto at_save = p.detach().clone();
  stage->advance(10, closure);
  const auto continued = p.detach().clone();

  {
    torch::NoGradGuard no_grad;
    p.copy_(at_save + 0.25);  // the loaded stage must restore the saved point itself
  }
  auto loaded = untiring_lbfgs(p);
  torch::serialize::InputArchive archive;
  std::istringstream input(bytes.str());
  archive.load_from(input);
  loaded->load(archive);
  EXPECT_TRUE(p.detach().equal(at_save));
  loaded->advance(10, closure);
  EXPECT_TRUE(p.detach().equal(continued));
}

}  // namespace
}  // namespace pinn::train
