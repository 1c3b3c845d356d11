// End-to-end test that reads the weights pinn-train wrote with LibTorch itself: a run that
// diverges keeps the last finite weights in model.pt, the same as its last checkpoint's, and says
// their step in summary.json.
#include <gtest/gtest.h>
#include <torch/torch.h>

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

TEST_F(DivergedWeightsTest, ModelHoldsTheLastFiniteCheckpointsWeights) {
  // 60 ordinary Adam steps (checkpoints at 20, 40, 60), then a learning rate that overflows the
  // weights at once: the loss is not finite at the next log point, step 80.
  Json config = read_json(source("configs/heat_1d.json"));
  config["network"]["hidden"] = Json::array({8});
  for (auto& set : config["points"])
    set["count"] = 50;
  config["training"] =
      Json::array({{{"type", "adam"}, {"lr", 1e-3}, {"iterations", 60}, {"log_every", 20}},
                   {{"type", "adam"}, {"lr", 1e250}, {"iterations", 100}, {"log_every", 20}}});
  config["checkpoint_every"] = 20;
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

}  // namespace
