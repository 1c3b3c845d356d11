// Schema recording: what the getters note (kinds, defaults, choices, bounds, descriptions), the
// branches the recorder explores, how notes become a JSON Schema, and the schema of the whole
// config: every registered type of every family is one of its variants.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>

#include "cli/schema.hpp"
#include "config/json_schema.hpp"
#include "config/reader.hpp"
#include "config/schema_recorder.hpp"
#include "geometry/domain.hpp"
#include "model/network.hpp"
#include "problem/loss_terms.hpp"
#include "problem/point_set.hpp"
#include "train/lr_schedule.hpp"
#include "train/stage.hpp"

namespace pinn::config {
namespace {

using ReadFunction = std::function<void(Reader&)>;

// Every run of `read` (on the root object of `probe`) that the recorder explores.
std::vector<RunNotes> record(const ReadFunction& read, ProbeValues values = {},
                             const Json& probe = Json::object()) {
  SchemaRecorder recorder(std::move(values));
  return recorder.explore(
      probe, "probe.json",
      [&](Document& document) {
        Reader reader(document, Pointer());
        read(reader);
      },
      1000);
}

TEST(SchemaRecording, GettersNoteKindDefaultChoicesBoundsAndDescription) {
  const auto runs = record([](Reader& reader) {
    reader.describe("lr", "the learning rate");
    reader.positive("lr", 1e-3);
    reader.positive_int("iterations", 1000);
    reader.get_or("hidden", std::vector<int>{32, 32});
    reader.choice("activation", {"tanh", "sin"}, "tanh");
    reader.get<std::string>("residual");
    reader.non_negative("weight", 1.0);
    reader.finish();
  });
  ASSERT_EQ(runs.size(), 1u);  // nothing to branch on: one run
  EXPECT_TRUE(runs[0].completed);
  const ObjectNote& root = runs[0].objects.at("");
  EXPECT_TRUE(root.finished);
  EXPECT_EQ(root.descriptions.at("lr"), "the learning rate");

  const KeyNote& lr = *root.find("lr");
  EXPECT_EQ(lr.kind, ValueKind::number);
  EXPECT_EQ(*lr.fallback, 1e-3);
  EXPECT_EQ(*lr.minimum, 0);
  EXPECT_TRUE(lr.exclusive_minimum);
  EXPECT_FALSE(lr.required);

  const KeyNote& iterations = *root.find("iterations");
  EXPECT_EQ(iterations.kind, ValueKind::integer);
  EXPECT_EQ(*iterations.fallback, 1000);
  EXPECT_EQ(*iterations.minimum, 1);
  EXPECT_FALSE(iterations.exclusive_minimum);

  EXPECT_EQ(root.find("hidden")->kind, ValueKind::integers);
  EXPECT_EQ(*root.find("hidden")->fallback, Json::parse("[32, 32]"));

  const KeyNote& activation = *root.find("activation");
  EXPECT_EQ(activation.kind, ValueKind::string);
  EXPECT_EQ(activation.choices, (std::vector<std::string>{"tanh", "sin"}));
  EXPECT_EQ(*activation.fallback, "tanh");

  const KeyNote& residual = *root.find("residual");
  EXPECT_EQ(residual.kind, ValueKind::string);
  EXPECT_TRUE(residual.required);
  EXPECT_FALSE(residual.fallback);

  EXPECT_EQ(*root.find("weight")->minimum, 0);
  EXPECT_EQ(root.find("unknown"), nullptr);
}

TEST(SchemaRecording, ReadingWithoutARecorderIsUnchanged) {
  Document document = Document::from_json(Json::parse(R"({"a": 1})"), "f.json");
  EXPECT_EQ(document.recorder(), nullptr);
  Reader reader(document, Pointer());
  EXPECT_FALSE(reader.has("b"));  // no branch, no placeholder
  EXPECT_EQ(reader.keys(), (std::vector<std::string>{"a"}));
  reader.describe("a", "ignored");
  EXPECT_EQ(reader.get<int>("a"), 1);
  EXPECT_EQ(document.root(), Json::parse(R"({"a": 1})"));
}

// A reader with a "type" and an optional object: each type and both answers of has() are run.
void read_typed(Reader& reader) {
  reader.describe("type", "what it is");
  const std::string type = reader.choice("type", {"a", "b"});
  if (type == "a") {
    reader.get<int>("only_a");
  } else {
    reader.get<double>("only_b");
  }
  if (reader.has("extra")) {
    Reader extra = reader.object("extra");
    extra.get_or("x", true);
    extra.finish();
  }
  reader.finish();
}

TEST(SchemaRecording, EveryTypeAndBothAnswersOfHasAreExplored) {
  const auto runs = record(read_typed);
  std::set<std::string> variants;
  bool with_extra = false, without_extra = false;
  for (const auto& run : runs) {
    EXPECT_TRUE(run.completed);
    const ObjectNote& root = run.objects.at("");
    EXPECT_EQ(root.variant_key, "type");
    variants.insert(root.variant);
    (root.find("extra") ? with_extra : without_extra) = true;
  }
  EXPECT_EQ(variants, (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(with_extra);
  EXPECT_TRUE(without_extra);
}

TEST(SchemaRecording, VariantsBecomeBranchesWithTheirOwnKeys) {
  const Json schema = json_schema({record(read_typed)});
  ASSERT_EQ(schema["anyOf"].size(), 2u) << schema.dump(1);
  const Json& a = schema["anyOf"][0];
  EXPECT_EQ(a["properties"]["type"]["const"], "a");
  EXPECT_EQ(a["properties"]["type"]["description"], "what it is");
  EXPECT_EQ(a["properties"]["only_a"]["type"], "integer");
  EXPECT_FALSE(a["properties"].contains("only_b"));
  EXPECT_EQ(a["properties"]["extra"]["properties"]["x"],
            Json::parse(R"({"type": "boolean", "default": true})"));
  EXPECT_EQ(a["required"], Json::parse(R"(["type", "only_a"])"));  // extra was asked of: optional
  EXPECT_EQ(a["additionalProperties"], false);
  EXPECT_EQ(schema["anyOf"][1]["properties"]["only_b"]["type"], "number");
}

TEST(SchemaRecording, RefusedAlternativesAreLearnedAndOthersTried) {
  // Only the second name is accepted: the recorder finds it and finishes the object.
  ProbeValues values;
  values.strings = {"bad", "good"};
  const auto runs = record(
      [](Reader& reader) {
        if (reader.get<std::string>("set") != "good") reader.fail("set", "no such set");
        reader.get_or("count", 3);
        reader.finish();
      },
      values);
  const bool finished = std::any_of(runs.begin(), runs.end(), [](const RunNotes& run) {
    return run.completed && run.objects.at("").find("count");
  });
  EXPECT_TRUE(finished);
  EXPECT_FALSE(
      std::all_of(runs.begin(), runs.end(), [](const RunNotes& run) { return run.completed; }));
}

// The keys of a map are the probe's names; two probes name them differently, so they are
// entries of the map, not keys of their own. A default that differs between the probes came
// from the probe.
TEST(SchemaRecording, MapEntriesAndProbeDefaultsAreTold) {
  const auto read = [](const std::string& name) {
    return [name](Reader& reader) {
      Reader map = reader.object("constants");
      for (const auto& key : map.keys())
        map.get<double>(key);
      map.finish();
      reader.get_or("name", name);
      reader.get_or("seed", 0);
      reader.finish();
    };
  };
  ProbeValues first, second;
  first.key_lists = {{"k"}};
  second.key_lists = {{"m"}};
  const Json schema =
      json_schema({record(read("probe_a"), first), record(read("probe_b"), second)});
  const Json& constants = schema["properties"]["constants"];
  EXPECT_TRUE(constants["properties"].empty()) << constants.dump();
  EXPECT_EQ(constants["additionalProperties"], Json::parse(R"({"type": "number"})"));
  EXPECT_EQ(schema["properties"]["name"], Json::parse(R"({"type": "string"})"));
  EXPECT_EQ(schema["properties"]["seed"]["default"], 0);
}

// ---- the config's schema ----------------------------------------------------------------------

class ConfigSchema : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = new Json(cli::config_schema()); }
  static void TearDownTestSuite() { delete schema_; }

  // `schema`, or the definition it refers to.
  static const Json& resolved(const Json& schema) {
    if (!schema.contains("$ref")) return schema;
    const std::string name = schema["$ref"].get<std::string>().substr(sizeof("#/definitions/") - 1);
    return (*schema_)["definitions"].at(name);
  }

  // The values of `key` that name the branches of `object` (an object schema with anyOf).
  static std::set<std::string> variants(const Json& object, const std::string& key) {
    std::set<std::string> names;
    for (const auto& branch : resolved(object).at("anyOf")) {
      const Json& value = branch["properties"].value(key, Json::object());
      if (value.contains("const")) names.insert(value["const"].get<std::string>());
    }
    return names;
  }
  static std::set<std::string> set_of(const std::vector<std::string>& names) {
    return {names.begin(), names.end()};
  }

  static Json* schema_;
};

Json* ConfigSchema::schema_ = nullptr;

TEST_F(ConfigSchema, EveryRegisteredTypeIsAVariant) {
  const Json& properties = (*schema_)["properties"];
  EXPECT_EQ(variants(properties["domains"]["additionalProperties"], "type"),
            set_of(geometry::domain_types()));
  EXPECT_EQ(variants(properties["network"], "type"), set_of(model::network_types()));
  EXPECT_EQ(variants(properties["losses"]["items"], "type"), set_of(problem::loss_term_types()));
  EXPECT_EQ(variants(properties["points"]["additionalProperties"], "sampler"),
            set_of(problem::sampler_names()));
  // A reference's and an evaluation's points are point sets too (or a set's name).
  const Json point_set = properties["points"]["additionalProperties"];
  EXPECT_EQ(properties["reference"]["properties"]["points"]["anyOf"][1], point_set);
  EXPECT_EQ(properties["evaluate"]["items"]["properties"]["points"]["anyOf"][1], point_set);
  const Json& stages = properties["training"]["items"];
  EXPECT_EQ(variants(stages, "type"), set_of(train::stage_types()));
  for (const auto& stage : stages["anyOf"]) {
    if (stage["properties"]["type"]["const"] != "adam") continue;
    EXPECT_EQ(variants(stage["properties"]["lr_schedule"], "type"),
              set_of(train::schedule_types()));
  }
}

TEST_F(ConfigSchema, TopLevelKeysAndEachFamilysTypeAreDescribed) {
  const Json& properties = (*schema_)["properties"];
  for (const auto& [key, value] : properties.items())
    EXPECT_TRUE(value.contains("description")) << key;
  const auto described = [](const Json& object, const std::string& key) {
    for (const auto& branch : object.at("anyOf"))
      EXPECT_TRUE(branch["properties"][key].contains("description")) << branch.dump();
  };
  described(properties["domains"]["additionalProperties"], "type");
  described(properties["network"], "type");
  described(properties["losses"]["items"], "type");
  described(properties["training"]["items"], "type");
}

TEST_F(ConfigSchema, KeysHaveTheirTypesDefaultsAndChoices) {
  const Json& properties = (*schema_)["properties"];
  EXPECT_EQ((*schema_)["$schema"], "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ((*schema_)["additionalProperties"], false);
  EXPECT_EQ(properties["dtype"]["enum"], Json::parse(R"(["float32", "float64"])"));
  EXPECT_EQ(properties["dtype"]["default"], "float32");
  EXPECT_EQ(properties["seed"]["type"], "integer");
  EXPECT_EQ(properties["inputs"]["items"]["type"], "string");
  EXPECT_EQ(properties["$schema"]["type"], "string");
  // Defaults drawn from the config itself are not the schema's.
  EXPECT_FALSE(properties["name"].contains("default"));
  EXPECT_FALSE(properties["output"].contains("default"));
  for (const char* key : {"inputs", "outputs", "network", "points", "losses", "training"}) {
    const auto& required = (*schema_)["required"];
    EXPECT_NE(std::find(required.begin(), required.end(), key), required.end()) << key;
  }
  for (const auto& stage : properties["training"]["items"]["anyOf"]) {
    EXPECT_EQ(stage["properties"]["iterations"],
              Json::parse(R"({"type": "integer", "minimum": 1.0, "default": 1000})"));
    EXPECT_EQ(stage["additionalProperties"], false);
  }
}

// Only variants whose probe the readers refuse for reasons a schema cannot state stay open to
// other keys; a new one here means the probes (src/cli/schema.cpp) miss something.
TEST_F(ConfigSchema, OnlyKnownVariantsAcceptOtherKeys) {
  std::set<std::string> open;
  std::function<void(const Json&, const std::string&)> walk = [&](const Json& node,
                                                                  const std::string& path) {
    if (node.is_object()) {
      const bool object = node.contains("type") && node["type"] == "object";
      if (object && node.contains("properties") && !node.contains("additionalProperties")) {
        std::string variant;
        for (const auto& [key, value] : node["properties"].items()) {
          if (value.contains("const"))
            variant = "(" + key + "=" + value["const"].get<std::string>() + ")";
        }
        open.insert(path + variant);
      }
      for (const auto& [key, value] : node.items())
        walk(value, path + "/" + key);
    } else if (node.is_array()) {
      for (const auto& value : node)
        walk(value, path);
    }
  };
  walk(*schema_, "");
  EXPECT_EQ(open, (std::set<std::string>{"/properties/losses/items/anyOf(type=periodic)"}));
}

}  // namespace
}  // namespace pinn::config
