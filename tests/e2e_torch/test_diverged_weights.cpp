// End-to-end tests of divergence that read the weights pinn-train wrote with LibTorch itself: a
// run that diverges ("on_divergence": "stop", or after its rollbacks) keeps the last finite weights
// in model.pt, the same as its last checkpoint's, and says their step in summary.json; a run that
// rolls back continues at a smaller learning rate and finishes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "../e2e/harness.hpp"

namespace {

using namespace pinn_e2e;

class DivergedWeightsTest : public TemporaryDirectoryTest {};

// The weights in model.pt (its state_dict, in the network's parameter order).
std::vector<torch::Tensor> model_weights(const fs::path& path) {
  const std::string bytes = file_text(path);
  const auto file = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  std::vector<torch::Tensor> weights;
  for (const auto& entry : file.toGenericDict().at("state_dict").toGenericDict())
    weights.push_back(entry.value().toTensor());
  return weights;
}

// 60 ordinary Adam steps (checkpoints at 20, 40, 60), then a learning rate that overflows the
// weights at once: the loss is not finite at the next log point, step 80 (halving 1e250 a few
// times changes nothing).
Json diverging_config() {
  Json config = read_json(source("configs/heat_1d.json"));
  config["network"]["hidden"] = Json::array({8});
  for (auto& set : config["points"])
    set["count"] = 50;
  config["training"] =
      Json::array({{{"type", "adam"}, {"lr", 1e-3}, {"iterations", 60}, {"log_every", 20}},
                   {{"type", "adam"}, {"lr", 1e250}, {"iterations", 100}, {"log_every", 20}}});
  config["checkpoint_every"] = 20;
  return config;
}

void expect_model_holds_the_checkpoint_of_step_60(const fs::path& run) {
  const auto weights = model_weights(run / "model.pt");
  ASSERT_FALSE(weights.empty());
  const fs::path checkpoint = run / "checkpoints" / "checkpoint-000000000060.pt";
  ASSERT_TRUE(fs::exists(checkpoint));
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoint.string());
  for (size_t i = 0; i < weights.size(); ++i) {
    EXPECT_TRUE(torch::isfinite(weights[i]).all().item<bool>()) << i;
    torch::Tensor stored;
    archive.read("trainable/" + std::to_string(i), stored, true);
    EXPECT_TRUE(torch::equal(weights[i], stored)) << "tensor " << i;
  }
  // No checkpoint was written at the non-finite weights.
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "checkpoint-000000000080.pt"));
}

TEST_F(DivergedWeightsTest, StopKeepsTheLastFiniteCheckpointsWeights) {
  Json config = diverging_config();
  config["on_divergence"] = "stop";
  const fs::path path = directory_ / "diverges.json";
  std::ofstream(path) << config.dump(2);
  const fs::path run = directory_ / "run";

  const Result result = pinn_train(quote(path.string()) + " -q -o " + quote(run.string()));
  ASSERT_EQ(result.code, 4) << result.output;
  EXPECT_NE(result.output.find("weights of step 60"), std::string::npos) << result.output;
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["steps"], 80);
  EXPECT_EQ(summary["model_step"], 60);
  EXPECT_FALSE(summary.contains("rollbacks"));
  expect_model_holds_the_checkpoint_of_step_60(run);
}

// Each rollback returns to step 60 (the last finite log point) with half the learning rate; the
// third in a row that diverges again at step 80 is the last: exit 4, the weights of step 60.
TEST_F(DivergedWeightsTest, RollbacksUsedUpEndWithTheLastFiniteWeights) {
  Json config = diverging_config();
  config["max_rollbacks"] = 3;
  const fs::path path = directory_ / "diverges.json";
  std::ofstream(path) << config.dump(2);
  const fs::path run = directory_ / "run";

  const Result result = pinn_train(quote(path.string()) + " -o " + quote(run.string()));
  ASSERT_EQ(result.code, 4) << result.output;
  EXPECT_NE(result.output.find("rolled back to step 60 (1 of at most 3 in a row), learning rate "
                               "halved to 5e+249"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("after 3 rollbacks in a row"), std::string::npos) << result.output;
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["model_step"], 60);
  ASSERT_EQ(summary["rollbacks"].size(), 3u) << summary.dump();
  for (const auto& rollback : summary["rollbacks"]) {
    EXPECT_EQ(rollback["diverged_at"], 80);
    EXPECT_EQ(rollback["back_to"], 60);
  }
  EXPECT_EQ(summary["rollbacks"][2]["change"], "learning rate halved to 1.25e+249");
  // The history holds no row of the diverged attempts but the last (which ended the run).
  const auto history = read_csv(run / "history.csv");
  int rows_at_80 = 0;
  for (const auto& row : history)
    rows_at_80 += row.at("step") == 80;
  EXPECT_EQ(rows_at_80, 1);
  expect_model_holds_the_checkpoint_of_step_60(run);
}

// cosh(u/10) - 1 overflows once |u| > 7100 and its gradient's square (Adam's second moment) far
// sooner: Adam's first steps at lr 1000 move u by thousands. Each rollback halves the rate until
// neither happens; the run then finishes with a finite loss at the rate 1000 / 2^(rollbacks).
TEST_F(DivergedWeightsTest, RollbackContinuesAtASmallerLearningRateAndFinishes) {
  const Json config = Json::parse(R"({
    "inputs": ["x"], "outputs": ["u"],
    "network": {"type": "mlp", "hidden": [8], "activation": "tanh"},
    "points": {"line": {"sampler": "uniform", "bounds": {"x": [0, 1]}, "count": 32}},
    "losses": [{"name": "cosh", "points": "line", "residual": "cosh(u/10) - 1"}],
    "training": [{"type": "adam", "lr": 1000, "iterations": 400, "log_every": 10}],
    "max_rollbacks": 20, "dtype": "float64", "device": "cpu", "seed": 1, "threads": 1})");
  const fs::path path = directory_ / "rolls_back.json";
  std::ofstream(path) << config.dump(2);
  const fs::path run = directory_ / "run";

  const Result result = pinn_train(quote(path.string()) + " -o " + quote(run.string()));
  ASSERT_EQ(result.code, 0) << result.output;
  EXPECT_NE(result.output.find("rolled back to step 0 (1 of at most 20 in a row)"),
            std::string::npos)
      << result.output;
  const Json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_EQ(summary["steps"], 400);
  const auto& rollbacks = summary["rollbacks"];
  ASSERT_GE(rollbacks.size(), 1u);
  for (const auto& rollback : rollbacks)
    EXPECT_LT(rollback["back_to"].get<int>(), rollback["diverged_at"].get<int>());
  const auto history = read_csv(run / "history.csv");
  for (const auto& row : history)
    EXPECT_TRUE(std::isfinite(row.at("total"))) << "step " << row.at("step");
  EXPECT_DOUBLE_EQ(history.back().at("lr"), 1000.0 / std::pow(2.0, rollbacks.size()));
  EXPECT_TRUE(std::isfinite(summary["final_loss"].get<double>()));
}

}  // namespace
