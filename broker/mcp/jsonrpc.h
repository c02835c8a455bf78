#pragma once
// The JSON-RPC 2.0 message layer of the MCP server (https://www.jsonrpc.org/specification).
// Untrusted input: every byte an MCP client sends reaches ParseMessage first, so it
// validates the whole envelope before anything routes on it. Nothing here reads or
// writes a transport; the stdio and HTTP transports hand it one message at a time and
// send what the Serialize* functions return.
//
// One message per call. MCP does not use JSON-RPC batches, so a top-level array is
// refused with kInvalidRequest (the spec's answer to a batch a server does not support).
//
// Ids are kept exactly: a string id is copied byte for byte (ParseJson has already
// refused invalid UTF-8 and NULs), an integer id as an int64_t. Integer ids must lie
// within +/-json::kMaxSafeInteger (2^53 - 1): cJSON stores numbers as doubles, so a
// larger one could only be echoed as a rounded neighbour, which the client would not
// match to its request. Such ids, fractional ids (1.5) and ids of any other type
// (object, array, bool) are refused with kInvalidRequest. An integral number written
// with an exponent or fraction (1e2, 100.0) reads as the integer 100 and echoes as 100.
//
// Threads: all functions are thread-safe on distinct messages. None blocks (except
// ParseJson's internal mutex, see broker/json/json.h).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "broker/json/json.h"
#include "common/result.h"

namespace keycell::mcp {

// The JSON-RPC 2.0 error codes this layer and the server answer with.
inline constexpr int kParseError = -32700;      // not JSON
inline constexpr int kInvalidRequest = -32600;  // JSON, but not a valid message
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

// Largest message ParseMessage accepts, checked before any parsing.
inline constexpr size_t kMaxMessageBytes = size_t{4} << 20;  // 4 MiB

// A request id: a string or an integer (see the top of this file for the range).
using Id = std::variant<int64_t, std::string>;

enum class MessageKind {
  kRequest,        // method + id: the peer expects an answer with the same id
  kNotification,   // method, no id: never answered
  kResponse,       // result + id
  kErrorResponse,  // error + id (the id may be null)
};

struct ErrorObject {
  int64_t code = 0;
  std::string message;
  json::Json data;  // empty when absent
};

// One parsed message. Which members are meaningful depends on `kind`:
//   kRequest:       id (set), method, params
//   kNotification:  method, params (id is nullopt)
//   kResponse:      id (set), result (never empty; may be JSON null)
//   kErrorResponse: id (nullopt = JSON null), error
// params is an object or an array, or empty when the member was absent. The Json
// members are deep copies owned by the Message (no pointer into the parsed text).
struct Message {
  MessageKind kind = MessageKind::kNotification;
  std::optional<Id> id;
  std::string method;
  json::Json params;
  json::Json result;
  ErrorObject error;
};

// Why ParseMessage refused a text, with what the server needs to answer it: the
// JSON-RPC code, a message for the error object, and the request's id when one could
// be read (JSON-RPC: answer with a null id only when the id could not be detected).
struct ParseFailure {
  int code = kInvalidRequest;
  const char* message = "";  // a string literal; never contains input bytes
  std::optional<Id> id;
};

// Parses and validates one JSON-RPC 2.0 message. On error the Status is
// Err::kTooLarge (over kMaxMessageBytes, or nested deeper than json::kMaxJsonDepth) or
// Err::kBadFrame (everything else); its where() is the message literal and its detail()
// the JSON-RPC code. When `failure` is non-null it is filled on error (and left alone on
// success). Codes:
//   kParseError:     not a JSON text (syntax, invalid UTF-8, NUL, duplicate keys,
//                    nesting too deep: see ParseJson);
//   kInvalidRequest: over the size cap; a batch (array); not an object; "jsonrpc"
//                    missing or not exactly "2.0"; "method" not a string; an id of a
//                    wrong type or range; a null id outside an error response; both
//                    "result" and "error", or a method together with either; none of
//                    method/result/error; "params" not an object or array; an error
//                    member that is not {code: integer, message: string[, data]}.
// Unknown top-level members are ignored, as most JSON-RPC peers do.
Result<Message> ParseMessage(std::string_view text, ParseFailure* failure = nullptr);

// Serializers. Output is compact JSON on one line with no raw newline (a "\n" inside a
// string prints as the two-byte escape), so each result is a valid newline-delimited
// stdio frame once the transport appends '\n'. Whatever they return ParseMessage
// accepts, and the message read back is SameMessage-equal to the one described.
// The const cJSON* arguments are borrowed and copied; null means absent (result: JSON
// null; data and params: member omitted).

// {"jsonrpc":"2.0","id":id,"result":result}. Never fails: a response must always be
// sendable. If `result` cannot be printed (a tree not built through json.h, nesting
// deeper than json::kMaxJsonDepth - 1) or `id` is an out-of-range integer, it returns a
// kInternalError error response instead (with a null id in the latter case).
std::string SerializeResponse(const Id& id, const cJSON* result);

// {"jsonrpc":"2.0","id":id-or-null,"error":{"code":..,"message":..[,"data":..]}}. Never
// fails: unprintable `data` is dropped, a `message` that is not clean UTF-8 (or holds a
// NUL) is replaced by a generic one, an out-of-range integer id becomes null.
std::string SerializeError(const std::optional<Id>& id, int64_t code, std::string_view message,
                           const cJSON* data = nullptr);

// {"jsonrpc":"2.0","method":..[,"params":..]}. Err::kInvalidArgument when `method` is not
// clean UTF-8, params is neither an object nor an array, or the tree cannot be printed.
Result<std::string> SerializeNotification(std::string_view method, const cJSON* params);

// {"jsonrpc":"2.0","id":..,"method":..[,"params":..]}. Same errors as
// SerializeNotification, plus an out-of-range integer id.
Result<std::string> SerializeRequest(const Id& id, std::string_view method, const cJSON* params);

// Serializes any parsed Message with the function matching its kind (used by the fuzz
// harness and tests for the round-trip property). Errors as the functions above.
Result<std::string> SerializeMessage(const Message& m);

// Structural equality of the members meaningful for each kind (json::Equal on the
// trees; two absent trees are equal).
bool SameMessage(const Message& a, const Message& b);

}  // namespace keycell::mcp
