// Unit tests of config/: JSON loading errors, overrides, typed getters, defaults, unknown keys.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include "support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

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
  // A value part of which an override set names both.
  EXPECT_EQ(document.where(Pointer("/training/0")),
            "c.json (with --set training[0].lr=1e-4): /training/0");
  // A parent that does not exist is reported, not created.
  EXPECT_NE(error_of([&] { document.apply_override("netwrk.hidden=[1]"); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { document.apply_override("training[5]={}"); }).find("outside the list"),
            std::string::npos);
  EXPECT_NE(error_of([&] { document.apply_override("nonsense"); }).find("KEY=VALUE"),
            std::string::npos);
}

TEST(Document, NumbersOutOfRangeNameTheirLineAndColumn) {
  const auto path = write_temp("pinn_range.json", "{\n  \"a\": 1,\n  \"lr\": -1e999\n}\n");
  const std::string message = error_of([&] { Document::load(path); });
  EXPECT_NE(
      message.find(path + ": /lr: the number -1e999 at line 3, column 9 is outside the range"),
      std::string::npos)
      << message;
  // 400 digits: an integer too large even for a double.
  const auto digits = write_temp("pinn_digits.json", "{\"n\": 1" + std::string(400, '0') + "}");
  EXPECT_NE(error_of([&] { Document::load(digits); }).find("line 1, column 7"), std::string::npos);
  auto document = Document::from_json(Json::parse(R"({"training": [{"lr": 1}]})"), "c.json");
  const std::string set = error_of([&] { document.apply_override("training[0].lr=1e999"); });
  EXPECT_NE(set.find("--set training[0].lr=1e999: /training/0/lr: the number 1e999 is outside"),
            std::string::npos)
      << set;
}

TEST(Document, DeeplyNestedValuesAreRefusedWithoutRecursion) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const auto path = write_temp("pinn_deep.json", "{\"a\": {\"b\": " + deep + "}}");
  const std::string message = error_of([&] { Document::load(path); });
  EXPECT_NE(message.find(": a value at line 1, column 75"), std::string::npos) << message;
  EXPECT_NE(message.find("is nested more than 64 levels deep"), std::string::npos) << message;
  auto document = Document::from_json(Json::parse(R"({"network": {}})"), "c.json");
  EXPECT_NE(error_of([&] {
              document.apply_override("network.hidden=" + deep);
            }).find("nested more than 64 levels"),
            std::string::npos);
}

TEST(Document, HugeListIndicesAreRefusedNotConverted) {
  auto document = Document::from_json(Json::parse(R"({"training": [{"lr": 1}]})"), "c.json");
  for (const std::string assignment :
       {"training[99999999999999999999].lr=1", "training[99999999999999999999]=1"}) {
    const std::string message = error_of([&] { document.apply_override(assignment); });
    EXPECT_NE(message.find("too large"), std::string::npos) << message;
  }
  EXPECT_NE(
      error_of([&] { document.apply_override("training.99999999999=1"); }).find("outside the list"),
      std::string::npos);
}

TEST(Files, WhatIsNotARegularFileIsRefusedWithoutReadingIt) {
  const auto folder = std::filesystem::temp_directory_path() / "pinn_files_test";
  std::filesystem::create_directories(folder);
  const auto fifo = folder / "fifo";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A FIFO nobody writes would block a plain open; /dev/zero would never end.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {fifo.string(), "is a pipe (FIFO), not a file"},
      {"/dev/zero", "is a device, not a file"},
      {folder.string(), "is a directory, not a file"},
      {"/" + std::string(5000, 'a') + ".json", "the name is too long"},
      {std::string("a\0b", 3), "contains a NUL byte"},
      {(folder / "missing.json").string(), "file not found"}};
  for (const auto& [path, expected] : cases) {
    const std::string message = error_of([&] { read_text_file(path); });
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
  std::filesystem::remove(fifo);
}

TEST(Limits, ListsOfObjectsAndThreadsAreBounded) {
  Json list = Json::array();
  for (int i = 0; i < 1001; ++i)
    list.push_back(Json::object());
  auto document = Document::from_json(Json{{"training", list}}, "c.json");
  Reader top(document, Pointer());
  EXPECT_NE(error_of([&] {
              top.objects("training");
            }).find("c.json: /training: expected at most 1000 entries, found 1001"),
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
