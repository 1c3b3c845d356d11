// End-to-end tests of the config's JSON Schema: `pinn-train schema` prints it without a config;
// configs declare it in "$schema", which validate, --set, training and sweeps accept and which the
// configs pinn-train writes (a run's config.json, a sweep's configs) carry relative to their own
// folder. (tests/schema/check_schema.py validates configs against it with python3-jsonschema.)
#include <gtest/gtest.h>

#include "harness.hpp"

namespace {

using namespace pinn_e2e;

const std::string kReference = "../docs/pinn-train.schema.json";

class SchemaTest : public TemporaryDirectoryTest {
 protected:
  // Where "$schema" of the config written at `config` points, as an absolute normal path.
  static fs::path schema_of(const fs::path& config) {
    const std::string reference = read_json(config).at("$schema");
    return fs::weakly_canonical(config.parent_path() / reference);
  }
  static fs::path committed_schema() {
    return fs::weakly_canonical(source("docs/pinn-train.schema.json"));
  }
};

TEST_F(SchemaTest, SchemaCommandPrintsDraft7JsonWithoutAConfig) {
  const Result result = run_command(std::string(PINN_TRAIN_BIN) + " schema 2>/dev/null");
  ASSERT_EQ(result.code, 0) << result.output;
  const Json schema = Json::parse(result.output);
  EXPECT_EQ(schema["$schema"], "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ(schema["type"], "object");
  EXPECT_TRUE(schema["properties"].contains("training"));
  EXPECT_EQ(pinn_train("--help").output.find("schema") == std::string::npos, false);
}

TEST_F(SchemaTest, EveryExampleConfigDeclaresTheCommittedSchema) {
  for (const auto& entry : fs::directory_iterator(source("configs"))) {
    if (entry.path().extension() != ".json") continue;
    EXPECT_EQ(read_json(entry.path()).value("$schema", ""), kReference) << entry.path();
    EXPECT_EQ(schema_of(entry.path()), committed_schema()) << entry.path();
  }
}

TEST_F(SchemaTest, RunsAndSweepsAcceptItAndWriteItRelativeToTheirFolder) {
  const std::string config = quote(source("configs/seed_dx_squared.json"));
  // validate and --set (which may even change it: any string)
  EXPECT_EQ(pinn_train("validate " + config + " -q").code, 0);
  EXPECT_EQ(pinn_train("validate " + config + " -q --set '$schema=other.json'").code, 0);

  const fs::path run = directory_ / "deep" / "run";
  const Result trained =
      pinn_train(config + " -q --set training[0].iterations=2 --output " + quote(run.string()));
  ASSERT_EQ(trained.code, 0) << trained.output;
  EXPECT_EQ(schema_of(run / "config.json"), committed_schema());
  // The run's config is a config: resume reads it back.
  EXPECT_EQ(pinn_train("validate " + quote((run / "config.json").string()) + " -q --data-dir " +
                       quote(source("configs")))
                .code,
            0);

  const fs::path sweep = directory_ / "sweep";
  const Result swept =
      pinn_train("sweep " + config + " -q --grid seed=1,2 --output " + quote(sweep.string()));
  ASSERT_EQ(swept.code, 0) << swept.output;
  EXPECT_EQ(schema_of(sweep / "configs" / "run-001.json"), committed_schema());
}

TEST_F(SchemaTest, ANonStringSchemaIsRefusedWithItsPath) {
  Json config = read_json(source("configs/seed_dx_squared.json"));
  config["$schema"] = 3;
  const fs::path path = directory_ / "config.json";
  std::ofstream(path) << config.dump(2);
  const Result result = pinn_train("validate " + quote(path.string()));
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_NE(result.output.find("config.json: /$schema: expected a string"), std::string::npos)
      << result.output;
}

}  // namespace
