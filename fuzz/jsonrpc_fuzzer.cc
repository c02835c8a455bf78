// libFuzzer harness for the MCP server's JSON-RPC 2.0 message layer
// (broker/mcp/jsonrpc.{h,cc}; STYLE.md §3.12). Wired by fuzz/CMakeLists.txt (links
// kc_broker_mcp; with KEYCELL_FUZZ=OFF, replay_main.cc replays the corpus).
//
// Properties checked on every input (a violation aborts, which libFuzzer reports):
//   1. ParseMessage never crashes, whatever the bytes; a refusal carries one of the
//      JSON-RPC codes it documents, in both the Status detail and the ParseFailure.
//   2. Whatever it accepts serializes (SerializeMessage) to one line with no raw newline,
//      the text parses again, the two messages are SameMessage-equal, and serializing is
//      a fixed point. (A reprint longer than kMaxMessageBytes is exempt from re-parsing:
//      escapes can grow a message near the cap; libFuzzer inputs never get there.)
//   3. The error answer the server would send for a refusal is itself a valid message.

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>

#include "broker/mcp/jsonrpc.h"

namespace keycell::mcp {
namespace {

void CheckRefusal(const Status& st, const ParseFailure& failure) {
  KC_CHECK(failure.code == kParseError || failure.code == kInvalidRequest);
  KC_CHECK(st.detail() == failure.code);
  KC_CHECK(failure.code == kInvalidRequest || !failure.id.has_value());
  const std::string answer = SerializeError(failure.id, failure.code, failure.message);
  KC_CHECK(answer.find('\n') == std::string::npos);
  auto back = ParseMessage(answer);
  KC_CHECK(back.ok() && back->kind == MessageKind::kErrorResponse);
  KC_CHECK(back->id == failure.id && back->error.code == failure.code);
}

void CheckRoundTrip(const Message& first) {
  auto out = SerializeMessage(first);
  KC_CHECK(out.ok());
  KC_CHECK(out->find('\n') == std::string::npos && out->find('\r') == std::string::npos);
  if (out->size() > kMaxMessageBytes) return;
  auto second = ParseMessage(*out);
  KC_CHECK(second.ok());
  KC_CHECK(SameMessage(first, *second));
  auto again = SerializeMessage(*second);
  KC_CHECK(again.ok() && *again == *out);
}

}  // namespace
}  // namespace keycell::mcp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::mcp;  // NOLINT: harness entry point only
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseFailure failure;
  auto parsed = ParseMessage(text, &failure);
  if (parsed.ok()) {
    CheckRoundTrip(*parsed);
  } else {
    CheckRefusal(parsed.status(), failure);
  }
  return 0;
}
