// libFuzzer harness for the MCP session (broker/mcp/server.{h,cc}; STYLE.md §3.12): the
// layer after the JSON-RPC envelope — lifecycle, version negotiation, the 2026-07-28
// stateless requests (`_meta`), tools/list cursors, tools/call argument validation
// against a schema (schema.h), logging/setLevel, cancellation and responses to
// server-initiated requests. Wired by fuzz/CMakeLists.txt (links kc_broker_mcp).
//
// The input is a sequence of messages, one per line, handed to one Session in order (so
// an initialize can precede the calls it enables). Properties checked on every input (a
// violation aborts, which libFuzzer reports):
//   1. Handle never crashes and never hangs, whatever the messages.
//   2. Every reply and every server-initiated message is one line that ParseMessage
//      accepts, and a reply is a response or an error response (never a request).
//   3. A reply's id is the id of the request it answers, when that request's id could be
//      read.

#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <string_view>

#include "broker/mcp/jsonrpc.h"
#include "broker/mcp/server.h"
#include "broker/mcp/tool_registry.h"

namespace keycell::mcp {
namespace {

void CheckOneLine(const std::string& text) {
  KC_CHECK(text.find('\n') == std::string::npos);
  KC_CHECK(ParseMessage(text).ok());
}

json::Json SchemaOf(const char* text) {
  auto parsed = json::ParseJson(text);
  KC_CHECK(parsed.ok());
  return std::move(*parsed);
}

// One tool whose schema uses most of schema.h's subset, and whose handler logs and
// echoes its arguments as structuredContent.
std::shared_ptr<const ToolRegistry> Registry() {
  auto tools = std::make_shared<ToolRegistry>();
  Tool t;
  t.name = "echo";
  t.title = "Echo";
  t.description = "echoes its arguments";
  t.input_schema = SchemaOf(
      R"({"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":16},)"
      R"("n":{"type":"integer","minimum":0,"maximum":100},"tags":{"type":"array","items":)"
      R"({"type":"string"}},"mode":{"enum":["a","b"]},"flag":{"type":"boolean"},)"
      R"("when":{"type":["integer","null"]}},"required":["name"],"additionalProperties":false})");
  t.output_schema = SchemaOf(R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})");
  t.handler = [](const ToolContext& ctx, const cJSON* arguments) {
    ctx.Log(LogLevel::kInfo, "echo called");
    return ToolResult::Structured(json::Clone(arguments));
  };
  KC_CHECK(tools->Add(std::move(t)).ok());
  return tools;
}

}  // namespace
}  // namespace keycell::mcp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::mcp;  // NOLINT: harness entry point only
  static const std::shared_ptr<const ToolRegistry> tools = Registry();
  Session session(tools, ServerOptions{.version = "fuzz", .instructions = "fuzz"},
                  [](std::string message) { CheckOneLine(message); });
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int messages = 0; !rest.empty() && messages < 64; ++messages) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    std::optional<std::string> reply = session.Handle(line);
    if (!reply) continue;
    CheckOneLine(*reply);
    auto answer = ParseMessage(*reply);
    KC_CHECK(answer->kind == MessageKind::kResponse || answer->kind == MessageKind::kErrorResponse);
    auto asked = ParseMessage(line);
    if (asked.ok() && asked->kind == MessageKind::kRequest) KC_CHECK(answer->id == asked->id);
  }
  return 0;
}
