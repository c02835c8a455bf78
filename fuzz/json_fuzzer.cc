// libFuzzer harness for the JSON reader and the config loader (STYLE.md §3.12). Not
// built from this folder: fuzz/CMakeLists.txt wires it (links kc_json and
// kc_broker_config; with KEYCELL_FUZZ=OFF, replay_main.cc replays the corpus). Seeds
// worth keeping: deep_nesting.json, mcp_initialize.json, tool_call.json, a full
// config.json, big integers, \ud83d\ude00 escapes, duplicate keys.
//
// Properties checked on every input (a violation aborts, which libFuzzer reports):
//   1. ParseJson never crashes, whatever the bytes.
//   2. Whatever it accepts prints (compact and pretty), the printed text parses again,
//      the two trees are equal (cJSON_Compare) and printing is a fixed point:
//      Print(Parse(Print(t))) == Print(t). So the id an MCP reply echoes is the id sent.
//   3. Clone gives an equal tree; the getters walk every node without crashing.
//   4. LoadConfigFromText on the same bytes never crashes, never touches the
//      filesystem (MapEnvironment), succeeds only on blank text or a JSON object that
//      ParseJson accepts, and whatever it accepts describes without crashing.

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>

#include "broker/config/config.h"
#include "broker/json/json.h"

namespace keycell::json {
namespace {

// Touches every node through the read API; the results are irrelevant, crashes are not.
void Walk(const cJSON* item, size_t* nodes) {
  ++*nodes;
  (void)AsString(item);
  (void)AsInt(item);
  (void)AsBool(item);
  (void)TypeName(TypeOf(item));
  for (const cJSON* child : Children(item)) {
    const std::string key(KeyOf(child));
    if (TypeOf(item) == Type::kObject) KC_CHECK(GetMember(item, key.c_str()) == child);
    Walk(child, nodes);  // depth bounded by kMaxJsonDepth
  }
}

void CheckRoundTrip(const cJSON* root) {
  for (const bool pretty : {false, true}) {
    auto printed = Print(root, pretty);
    KC_CHECK(printed.ok());
    // Pretty output can be larger than the input cap; the depth limit still applies.
    auto again = ParseJson(*printed, SIZE_MAX);
    KC_CHECK(again.ok());
    KC_CHECK(Equal(root, again->get()));
    auto reprinted = Print(again->get(), pretty);
    KC_CHECK(reprinted.ok() && *reprinted == *printed);
  }
  const Json copy = Clone(root);
  KC_CHECK(Equal(root, copy.get()));
  size_t nodes = 0;
  Walk(root, &nodes);
}

void CheckConfig(std::string_view text, bool json_ok, bool json_object) {
  static const broker::MapEnvironment env(broker::MapEnvironment::Vars{{"HOME", "/home/fuzz"}},
                                          "/opt/keycell/bin", 1000);
  std::string why;
  auto config = broker::LoadConfigFromText(text, "fuzz.json", env, &why);
  const bool blank = text.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (!config.ok()) {
    KC_CHECK(!why.empty());  // every refusal explains itself
    return;
  }
  KC_CHECK(blank || (json_ok && json_object));
  (void)broker::DescribeConfig(*config);
}

}  // namespace
}  // namespace keycell::json

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::json;  // NOLINT: harness entry point only
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseJson(text);
  bool is_object = false;
  if (parsed.ok()) {
    KC_CHECK(parsed->get() != nullptr);
    CheckRoundTrip(parsed->get());
    is_object = TypeOf(parsed->get()) == Type::kObject;
  }
  // The config loader caps its input lower (kMaxConfigBytes) than ParseJson's default.
  const bool json_ok = parsed.ok() && size <= keycell::broker::kMaxConfigBytes;
  CheckConfig(text, json_ok, is_object);
  return 0;
}
