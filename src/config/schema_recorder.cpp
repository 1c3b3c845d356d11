// Exploring the readers' branches on probe documents, and what each run noted.
#include "config/schema_recorder.hpp"

#include <algorithm>
#include <deque>

#include "util/errors.hpp"

namespace pinn::config {

namespace {

// An alternative that fails this often is not tried again: it fails for what it is, not for
// the rest of the probe it met.
constexpr int kAttempts = 3;
// The failure of a run that no JSON pointer locates (not an InputError of the probe).
const std::string kUnlocated = "?";

// "probe: /losses/0/points: no point set named ..." -> "/losses/0/points".
std::string failure_pointer(const std::string& message, const std::string& source) {
  const std::string prefix = source + ": ";
  if (message.compare(0, prefix.size(), prefix) != 0) return kUnlocated;
  const std::string rest = message.substr(prefix.size());
  if (rest.empty() || rest[0] != '/') return kUnlocated;
  const std::string pointer = rest.substr(0, rest.find(": "));
  return pointer == "/" ? "" : pointer;
}

bool is_under(const std::string& pointer, const std::string& scope) {
  return pointer.compare(0, scope.size(), scope) == 0 &&
         (pointer.size() == scope.size() || pointer[scope.size()] == '/');
}

}  // namespace

KeyNote& ObjectNote::key(const std::string& name) {
  for (auto& entry : keys) {
    if (entry.first == name) return entry.second;
  }
  keys.emplace_back(name, KeyNote{});
  return keys.back().second;
}

const KeyNote* ObjectNote::find(const std::string& name) const {
  for (const auto& entry : keys) {
    if (entry.first == name) return &entry.second;
  }
  return nullptr;
}

std::vector<RunNotes> SchemaRecorder::explore(const Json& probe, const std::string& source,
                                              const std::function<void(Document&)>& read,
                                              int max_runs) {
  std::vector<RunNotes> runs;
  std::deque<std::vector<int>> queue = {{}};
  while (!queue.empty() && static_cast<int>(runs.size()) < max_runs) {
    begin_run(std::move(queue.front()));
    queue.pop_front();
    std::optional<std::string> failure;
    try {
      Document document = Document::from_json(probe, source);
      document.set_recorder(this);
      read(document);
    } catch (const InputError& error) {
      failure = failure_pointer(error.what(), source);
    } catch (const std::exception&) {
      failure = kUnlocated;
    }
    std::vector<std::vector<int>> next;
    learn(failure, next);
    queue.insert(queue.end(), next.begin(), next.end());
    notes_.completed = !failure;
    runs.push_back(std::move(notes_));
  }
  return runs;
}

void SchemaRecorder::begin_run(std::vector<int> script) {
  script_ = std::move(script);
  choices_.clear();
  notes_ = RunNotes();
  placeholders_.clear();
  absent_.clear();
  shaped_.clear();
  expanded_.clear();
  made_up_.clear();
  contexts_.clear();
}

// Learns from a run: which of its choices succeeded (and are preferred from now on), and which
// runs to try next.
void SchemaRecorder::learn(const std::optional<std::string>& failure,
                           std::vector<std::vector<int>>& queue) {
  std::vector<int> taken;
  for (size_t k = 0; k < choices_.size(); ++k) {
    const Choice& choice = choices_[k];
    const bool blamed = blames(failure, k);
    if (blamed) {
      failed_[choice.id].push_back(taken);
    } else {
      succeed(choice, queue);
    }
    queue_alternatives(choice, k >= script_.size(), blamed, taken, queue);
    taken.push_back(choice.taken);
    scheduled_.insert(taken);  // this run took these: no need to run them again
  }
}

// A choice failed when the run failed inside what it chose (or at the object it was made in);
// an unlocated failure blames the last choice.
bool SchemaRecorder::blames(const std::optional<std::string>& failure, size_t k) const {
  if (!failure) return false;
  if (*failure == kUnlocated) return k + 1 == choices_.size();
  return is_under(*failure, choices_[k].scope) || *failure == choices_[k].object;
}

// The alternative taken succeeded: it is preferred from now on, and tried again where it had
// not been tried when that branch failed.
void SchemaRecorder::succeed(const Choice& choice, std::vector<std::vector<int>>& queue) {
  preferred_[choice.id] = choice.taken;
  if (!succeeded_.insert({choice.id, choice.taken}).second) return;
  for (const auto& earlier : failed_[choice.id])
    schedule(earlier, choice.taken, queue);
}

// The other alternatives of a free choice are queued once (again, up to kAttempts, while they
// fail), each after the same earlier choices. A blamed choice is also retried with alternatives
// that succeeded elsewhere: what was learned came from other branches, this one may need another.
void SchemaRecorder::queue_alternatives(const Choice& choice, bool free, bool blamed,
                                        const std::vector<int>& before,
                                        std::vector<std::vector<int>>& queue) {
  if (free) ++attempts_[{choice.id, choice.taken}];
  for (int other = 0; other < choice.count; ++other) {
    const auto alternative = std::make_pair(choice.id, other);
    const bool untried =
        free && !succeeded_.count(alternative) && attempts_[alternative] < kAttempts;
    const bool repair = blamed && succeeded_.count(alternative);
    if (other == choice.taken || !(untried || repair)) continue;
    if (schedule(before, other, queue) && untried) ++attempts_[alternative];
  }
}

bool SchemaRecorder::schedule(const std::vector<int>& before, int alternative,
                              std::vector<std::vector<int>>& queue) {
  std::vector<int> script = before;
  script.push_back(alternative);
  if (!scheduled_.insert(script).second) return false;
  queue.push_back(std::move(script));
  return true;
}

std::string SchemaRecorder::pattern(const Json& root, const Pointer& pointer) const {
  std::string result;
  Pointer at;
  const Json* node = &root;
  for (const auto& token : pointer_tokens(pointer)) {
    const bool element = node && node->is_array();
    at /= token;
    result += "/" + (element || made_up_.count(at.to_string()) ? std::string("*") : token);
    node = root.contains(at) ? &root.at(at) : nullptr;
  }
  return result;
}

int SchemaRecorder::choose(const Json& root, const Pointer& object, const Pointer& scope,
                           const std::string& what, int count, int initial) {
  Choice choice;
  choice.object = object.to_string();
  // The first decisions at an object (whether a key is there, a "type") are its variant: a
  // later branch there is explored in each.
  std::string& context = contexts_[choice.object];
  choice.id = pattern(root, object) + " {" + context + "} " + what;
  choice.scope = scope.to_string();
  choice.count = count;
  if (choices_.size() < script_.size()) {
    choice.taken = script_[choices_.size()];
  } else {
    const auto preferred = preferred_.find(choice.id);
    choice.taken = preferred != preferred_.end() ? preferred->second : initial;
  }
  choice.taken = std::clamp(choice.taken, 0, count - 1);
  const bool decision = what.rfind("has ", 0) == 0 || what.rfind("choice ", 0) == 0;
  if (decision && std::count(context.begin(), context.end(), ';') < 2)
    context += what + "=" + std::to_string(choice.taken) + ";";
  choices_.push_back(choice);
  return choice.taken;
}

bool SchemaRecorder::probe_presence(Json& root, const Pointer& object, const std::string& key) {
  const Pointer value = object / key;
  const std::string text = value.to_string();
  if (absent_.count(text)) return false;
  if (choose(root, object, value, "has " + key, 2) == 0) {
    absent_.insert(text);
    return false;
  }
  root.at(object)[key] = nullptr;
  placeholders_.insert(text);
  return true;
}

void SchemaRecorder::probe_shape(Json& root, const Pointer& value) {
  const std::string text = value.to_string();
  if (!placeholders_.count(text) || !shaped_.insert(text).second) return;
  switch (choose(root, value.parent_pointer(), value, "shape " + value.back(), 5)) {
    case 1:
      root.at(value) = Json::object();
      break;
    case 2:
      root.at(value) = values_.number;
      break;
    case 3:
      root.at(value) = "";  // a string, still a placeholder: a choice() read fills it in
      break;
    case 4:
      root.at(value) = Json::array();  // a list, still a placeholder: its getter fills it in
      break;
    default:
      break;  // null: neither an object, a number, a string nor a list
  }
}

void SchemaRecorder::probe_keys(Json& root, const Pointer& object) {
  Json& node = root.at(object);
  if (!expanded_.insert(object.to_string()).second || !node.is_object() || !node.empty() ||
      values_.key_lists.empty()) {
    return;
  }
  const int alternative =
      choose(root, object, object, "keys", static_cast<int>(values_.key_lists.size()));
  for (const auto& name : values_.key_lists[static_cast<size_t>(alternative)]) {
    node[name] = nullptr;
    placeholders_.insert((object / name).to_string());
    made_up_.insert((object / name).to_string());
  }
}

bool SchemaRecorder::needs_value(const Json& root, const Pointer& value, bool required) const {
  return placeholders_.count(value.to_string()) || (required && !root.contains(value));
}

Json SchemaRecorder::make_value(const Json& root, const Pointer& value, ValueKind kind) {
  settle(value);
  const auto pick_from = [&](const auto& list, const std::string& what) {
    using Value = typename std::decay_t<decltype(list)>::value_type;
    if (list.empty()) return Json(Value{});
    const int index = choose(root, value.parent_pointer(), value, what + " " + value.back(),
                             static_cast<int>(list.size()));
    return Json(list[static_cast<size_t>(index)]);
  };
  switch (kind) {
    case ValueKind::number:
      return values_.number;
    case ValueKind::integer:
      return values_.integer;
    case ValueKind::boolean:
      return values_.boolean;
    case ValueKind::numbers:
      return values_.numbers;
    case ValueKind::integers:
      return values_.integers;
    case ValueKind::string:
      return pick_from(values_.strings, "string");
    case ValueKind::strings:
      return pick_from(values_.string_lists, "strings");
    case ValueKind::object:
      return Json::object();
    case ValueKind::objects:
      return Json::array({Json::object()});
    case ValueKind::any:
      break;
  }
  return pick_from(values_.values, "value");
}

}  // namespace pinn::config
