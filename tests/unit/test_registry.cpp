// The registry template: adding, finding, making, and the error for an unknown name.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "util/registry.hpp"

namespace pinn {
namespace {

TEST(Registry, ListsNamesSortedAndMakesByName) {
  const Registry<std::function<int(int)>> doubling("operation",
                                                   {
                                                       {"twice", [](int x) { return 2 * x; }},
                                                       {"thrice", [](int x) { return 3 * x; }},
                                                   });
  EXPECT_EQ(doubling.names(), (std::vector<std::string>{"thrice", "twice"}));
  EXPECT_TRUE(doubling.contains("twice"));
  EXPECT_EQ(doubling.find("once"), nullptr);
  EXPECT_EQ(doubling.make("thrice", "/op", 7), 21);
}

TEST(Registry, UnknownNameIsAnInputErrorWithWhereAndSuggestion) {
  const Registry<int> numbers("network type", {{"mlp", 1}, {"resnet", 2}});
  try {
    numbers.get("mpl", "a.json: /network/type");
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("a.json: /network/type"), std::string::npos) << message;
    EXPECT_NE(message.find("unknown network type 'mpl'"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'mlp'"), std::string::npos) << message;
    EXPECT_NE(message.find("'resnet'"), std::string::npos) << message;
  }
}

TEST(Registry, RegisteringANameTwiceIsAProgrammingError) {
  Registry<int> numbers("thing");
  numbers.add("a", 1);
  EXPECT_THROW(numbers.add("a", 2), std::logic_error);
  EXPECT_EQ(numbers.get("a"), 1);
}

}  // namespace
}  // namespace pinn
