// Unit tests of config/: JSON loading errors, overrides, typed getters, defaults, unknown keys.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include "support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/document.hpp"
#include "config/reader.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/suggest.hpp"
#include "util/threads.hpp"

namespace pinn::config {
namespace {

using testing_support::error_of;

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path.string();
}

TEST(Threads, AskedCountOrEveryUsableCpu) {
  const int before = at::get_num_threads();
  ASSERT_GE(util::usable_cpus(), 1);
  util::use_threads(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    util::use_threads(0);
    EXPECT_EQ(at::get_num_threads(), util::usable_cpus());
  }
  at::set_num_threads(before);
}

// A tree with nested folders, a file and a symbolic link out of it: all of it goes, the link's
// target stays, and a path that is not there is no error.
TEST(Files, RemoveTreeRemovesContentsNotLinkTargets) {
  namespace fs = std::filesystem;
  const fs::path root =
      fs::temp_directory_path() / ("pinn_remove_tree_" + std::to_string(::getpid()));
  const fs::path outside = root.string() + "_outside.txt";
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "file.txt") << "x";
  std::ofstream(outside) << "keep";
  fs::create_symlink(outside, root / "a" / "link");
  EXPECT_EQ(remove_tree(root), "");
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(outside));
  EXPECT_EQ(remove_tree(root), "");
  EXPECT_EQ(remove_tree(outside), "");
  EXPECT_FALSE(fs::exists(outside));
}

TEST(Suggest, EditDistanceAndClosestMatch) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
  EXPECT_EQ(edit_distance("", "abc"), 3);
  EXPECT_EQ(edit_distance("tahn", "tanh"), 1);
  EXPECT_EQ(closest_match("trainig", {"training", "points", "losses"}), "training");
  EXPECT_EQ(closest_match("zzz", {"training", "points"}), "");
  EXPECT_EQ(did_you_mean("lr", {"lr2", "betas"}), " (did you mean 'lr2'?)");
  EXPECT_EQ(quoted_list({"a", "b", "c"}), "'a', 'b' or 'c'");
}

TEST(Document, InvalidJsonNamesLineAndColumn) {
  const auto path = write_temp("pinn_bad.json", "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  const std::string message = error_of([&] { Document::load(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("line 3, column 8"), std::string::npos) << message;
}

TEST(Document, MissingFileAndNonObject) {
  EXPECT_NE(error_of([] { Document::load("/nonexistent/x.json"); }).find("file not found"),
            std::string::npos);
  const auto path = write_temp("pinn_list.json", "[1, 2]");
  EXPECT_NE(error_of([&] { Document::load(path); }).find("expected a JSON object"),
            std::string::npos);
}

TEST(Document, CommentsAreAllowed) {
  const auto path = write_temp("pinn_comments.json", "{ // a comment\n \"a\": 1 /* more */ }");
  EXPECT_EQ(Document::load(path).root()["a"], 1);
}

TEST(Document, DottedPaths) {
  EXPECT_EQ(parse_dotted_path("training[0].lr").to_string(), "/training/0/lr");
  EXPECT_EQ(parse_dotted_path("network.hidden").to_string(), "/network/hidden");
  EXPECT_EQ(parse_dotted_path("losses[2]").to_string(), "/losses/2");
  EXPECT_THROW(parse_dotted_path("a..b"), InputError);
  EXPECT_THROW(parse_dotted_path("a[x]"), InputError);
}

TEST(Document, OverridesParseJsonAndRecordTheirOrigin) {
  auto document = Document::from_json(
      Json::parse(R"({"training": [{"lr": 1}], "network": {"hidden": [2]}})"), "c.json");
  document.apply_override("training[0].lr=1e-4");
  document.apply_override("network.hidden=[64,64]");
  document.apply_override("network.activation=tanh");
  EXPECT_DOUBLE_EQ(document.root()["training"][0]["lr"].get<double>(), 1e-4);
  EXPECT_EQ(document.root()["network"]["hidden"], Json::parse("[64,64]"));
  EXPECT_EQ(document.root()["network"]["activation"], "tanh");
  EXPECT_EQ(document.where(Pointer("/training/0/lr")), "--set training[0].lr=1e-4: /training/0/lr");
  EXPECT_EQ(document.where(Pointer("/training/0")), "c.json: /training/0");
  // A parent that does not exist is reported, not created.
  EXPECT_NE(error_of([&] { document.apply_override("netwrk.hidden=[1]"); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { document.apply_override("training[5]={}"); }).find("outside the list"),
            std::string::npos);
  EXPECT_NE(error_of([&] { document.apply_override("nonsense"); }).find("KEY=VALUE"),
            std::string::npos);
}

class ReaderTest : public ::testing::Test {
 protected:
  Document document = Document::from_json(
      Json::parse(R"({"count": 10, "rate": 0.5, "name": "x", "list": [1, 2.5], "flag": true,
                      "sub": {"a": 1}, "big": 1e4, "frac": 2.5, "neg": -3})"),
      "f.json");
  Reader reader{document, Pointer()};
};

TEST_F(ReaderTest, TypedGetters) {
  EXPECT_EQ(reader.get<int>("count"), 10);
  EXPECT_EQ(reader.get<int>("big"), 10000);  // 1e4 is an integer value
  EXPECT_DOUBLE_EQ(reader.get<double>("rate"), 0.5);
  EXPECT_EQ(reader.get<std::string>("name"), "x");
  EXPECT_EQ(reader.get<std::vector<double>>("list"), (std::vector<double>{1, 2.5}));
  EXPECT_TRUE(reader.get<bool>("flag"));
}

TEST_F(ReaderTest, WrongTypesNameThePathAndWhatWasFound) {
  EXPECT_EQ(error_of([&] { reader.get<int>("name"); }),
            "f.json: /name: expected an integer, found a string (\"x\")");
  EXPECT_EQ(error_of([&] { reader.get<int>("frac"); }),
            "f.json: /frac: expected an integer, found a number (2.5)");
  EXPECT_EQ(error_of([&] { reader.get<std::vector<int>>("list"); }),
            "f.json: /list/1: expected an integer, found a number (2.5)");
  EXPECT_EQ(error_of([&] { reader.positive_int("neg"); }),
            "f.json: /neg: expected a positive integer, found -3");
  EXPECT_NE(error_of([&] { reader.get<double>("missing"); }).find("required key 'missing'"),
            std::string::npos);
}

TEST_F(ReaderTest, DefaultsAreWrittenBack) {
  EXPECT_DOUBLE_EQ(reader.get_or("lr", 1e-3), 1e-3);
  EXPECT_DOUBLE_EQ(document.root()["lr"].get<double>(), 1e-3);
  EXPECT_EQ(reader.choice("kind", {"a", "b"}, "b"), "b");
  EXPECT_EQ(document.root()["kind"], "b");
}

TEST_F(ReaderTest, ChoicesSuggestTheClosest) {
  EXPECT_EQ(error_of([&] {
              reader.choice("name", {"xy", "abc"});
            }),
            "f.json: /name: expected one of 'xy' or 'abc', found 'x' (did you mean 'xy'?)");
}

TEST_F(ReaderTest, UnknownKeysAreRejectedWithASuggestion) {
  reader.get<int>("count");
  reader.get<double>("rate");
  const std::string message = error_of([&] { reader.finish(); });
  EXPECT_NE(message.find("unknown key 'name'"), std::string::npos) << message;
  Document typo = Document::from_json(Json::parse(R"({"cont": 1})"), "t.json");
  Reader typo_reader(typo, Pointer());
  typo_reader.get_or("count", 3);
  EXPECT_NE(error_of([&] { typo_reader.finish(); }).find("did you mean 'count'?"),
            std::string::npos);
}

TEST_F(ReaderTest, MissingRequiredKeyPointsAtATypo) {
  Document typo = Document::from_json(Json::parse(R"({"residul": "u"})"), "t.json");
  Reader typo_reader(typo, Pointer());
  EXPECT_NE(error_of([&] { typo_reader.get<std::string>("residual"); }).find("found 'residul'"),
            std::string::npos);
}

TEST_F(ReaderTest, SubObjects) {
  Reader sub = reader.object("sub");
  EXPECT_EQ(sub.get<int>("a"), 1);
  EXPECT_EQ(sub.where("a"), "f.json: /sub/a");
  EXPECT_NE(error_of([&] { reader.object("name"); }).find("expected an object"), std::string::npos);
}

}  // namespace
}  // namespace pinn::config
