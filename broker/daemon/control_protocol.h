#pragma once
// The CLI ↔ keycelld control protocol, on the daemon's Unix socket.
//
// Frames are common/ipc framing (u32 length, at most one fd on the first byte); the
// payload is JSON:
//   request   {"op": "<name>", "args": {...}}      + optional fd (PIN source, secret
//                                                    pipe, .env directory, run pipe)
//   response  {"ok": true, "result": <any>}
//             {"ok": false, "error": {"code": "<code>", "message": "<text>", "exit": N}}
// No secret ever travels in JSON: PINs and values go through fds handed straight to
// the enclave. docs/control-protocol.md lists the operations.

#include <string>
#include <string_view>

#include "broker/json/json.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::daemon {

inline constexpr size_t kMaxControlJsonBytes = 4 << 20;  // a list of 10,000 credentials fits

// The `proxy` op's bodies. A request body, and a response body returned inline, travel
// base64-encoded in this JSON, so they must leave room within kMaxControlJsonBytes
// (4/3 growth plus headers); a response body written into the caller's pipe instead
// (the CLI's way) may be larger.
inline constexpr size_t kMaxProxyInlineBodyBytes = 2 << 20;
inline constexpr size_t kMaxProxyPipedBodyBytes = 16 << 20;
static_assert(kMaxProxyInlineBodyBytes / 3 * 4 + 4 + (1 << 20) <= kMaxControlJsonBytes,
              "an inline proxy body must fit a control message with 1 MiB to spare");

// CLI exit codes; also carried in error responses so every failure maps to one.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitUsage = 2,
  kExitBadPin = 3,
  kExitNotInitialised = 4,
  kExitEnclaveUnavailable = 5,
  kExitLocked = 6,
  kExitNotFound = 7,
  kExitExists = 8,
  kExitInvalid = 9,
  kExitTooLarge = 10,
  kExitPolicyDenied = 11,
  kExitDaemonUnavailable = 12,
  kExitConflict = 13,
  kExitNeedsAction = 14,  // `health`: something is stale, expiring or expired
  kExitRateLimited = 15,  // too many attempts (unlock); the message says when to retry
  kExitUpstream = 16,     // `proxy`: the upstream was unreachable, timed out or broke the protocol
  kExitHttpError = 22,    // `proxy`: the upstream answered 4xx/5xx (as curl --fail)
};

struct ControlError {
  std::string code;     // stable machine name: locked, not_found, exists, ...
  std::string message;  // one line for humans; never a secret
  int exit_code = kExitFailure;
};

// The error a Status becomes on the wire. `message` overrides the default text.
ControlError ErrorFromStatus(const Status& st, std::string message = "");

struct ControlRequest {
  std::string op;
  json::Json args;  // always an object
  UniqueFd fd;
};

// Receives and validates one request. Errors: as ipc::RecvFrame, kInvalidArgument
// (payload is not {"op": string, "args": object}).
Result<ControlRequest> RecvControlRequest(int sock, int timeout_ms);
Status SendControlRequest(int sock, std::string_view op, const cJSON* args, int fd, int timeout_ms);

Status SendOk(int sock, const cJSON* result, int timeout_ms);
Status SendError(int sock, const ControlError& error, int timeout_ms);

// Standard base64 (RFC 4648 §4, padded) for the bytes the protocol carries in JSON: the
// `proxy` op's bodies. Decode errors: kInvalidArgument (not base64).
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

// Receives a response: the result on success; on an error response, *error is filled
// and Status(kInternal, "control: error response") returned.
Result<json::Json> RecvControlResponse(int sock, int timeout_ms, ControlError* error);

}  // namespace keycell::broker::daemon
