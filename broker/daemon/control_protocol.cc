#include "broker/daemon/control_protocol.h"

#include <mbedtls/base64.h>

#include "common/ipc/framing.h"

namespace keycell::broker::daemon {
namespace {

struct ErrMapping {
  Err err;
  const char* code;
  int exit_code;
  const char* message;
};

constexpr ErrMapping kErrMap[] = {
    {Err::kLocked, "locked", kExitLocked, "the vault is locked (run: keycell unlock)"},
    {Err::kBadPin, "bad_pin", kExitBadPin, "wrong PIN"},
    {Err::kPinLocked, "pin_locked", kExitBadPin, "too many wrong PINs: the token refuses further attempts"},
    {Err::kUnknownKey, "not_found", kExitNotFound, "no such credential"},
    {Err::kInvalidArgument, "invalid_argument", kExitInvalid, "invalid input"},
    {Err::kTooLarge, "too_large", kExitTooLarge, "too large"},
    {Err::kPolicyDenied, "policy_denied", kExitPolicyDenied, "refused by the credential's sealed policy"},
    {Err::kTampered, "tampered", kExitFailure, "a sealed record failed authentication"},
    {Err::kUnavailable, "enclave_unavailable", kExitEnclaveUnavailable,
     "the enclave restarted during the command; the vault is locked"},
    {Err::kTimeout, "timeout", kExitFailure, "timed out"},
    {Err::kToken, "token", kExitFailure, "the PKCS#11 token reported an error"},
};

Result<json::Json> ParseObject(const ipc::Frame& frame) {
  const std::string_view text(reinterpret_cast<const char*>(frame.payload.data()), frame.payload.size());
  KC_ASSIGN_OR_RETURN(json::Json doc, json::ParseJson(text, kMaxControlJsonBytes));
  if (json::TypeOf(doc.get()) != json::Type::kObject)
    return Status(Err::kInvalidArgument, "control: payload is not an object");
  return doc;
}

Status SendJson(int sock, const cJSON* doc, int fd, int timeout_ms) {
  KC_ASSIGN_OR_RETURN(const std::string text, json::Print(doc, false));
  const ByteView parts[] = {AsBytes(text)};
  return ipc::SendFrame(sock, parts, fd, timeout_ms);
}

}  // namespace

ControlError ErrorFromStatus(const Status& st, std::string message) {
  for (const ErrMapping& m : kErrMap) {
    if (m.err != st.code()) continue;
    // Input errors name what is wrong (the `where` literals are written for people).
    if (message.empty() && (m.err == Err::kInvalidArgument || m.err == Err::kTooLarge ||
                            m.err == Err::kPolicyDenied))
      message = std::string(m.message) + ": " + st.where();
    return {m.code, message.empty() ? m.message : std::move(message), m.exit_code};
  }
  return {"internal", message.empty() ? std::string("internal error: ") + st.where() : std::move(message),
          kExitFailure};
}

std::string Base64Encode(std::string_view bytes) {
  size_t need = 0;
  (void)mbedtls_base64_encode(nullptr, 0, &need, nullptr, bytes.size());  // size with the NUL
  std::string out(need, '\0');
  size_t written = 0;
  if (mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written,
                            reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) != 0)
    return "";  // unreachable: the buffer has the size asked for
  out.resize(written);
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  const auto* src = reinterpret_cast<const unsigned char*>(text.data());
  size_t need = 0;
  const int probe = mbedtls_base64_decode(nullptr, 0, &need, src, text.size());
  if (probe == MBEDTLS_ERR_BASE64_INVALID_CHARACTER) return Status(Err::kInvalidArgument, "base64: not base64");
  std::string out(need, '\0');
  size_t written = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written, src, text.size()) != 0)
    return Status(Err::kInvalidArgument, "base64: not base64");
  out.resize(written);
  return out;
}

Result<ControlRequest> RecvControlRequest(int sock, int timeout_ms) {
  KC_ASSIGN_OR_RETURN(ipc::Frame frame, ipc::RecvFrame(sock, timeout_ms));
  KC_ASSIGN_OR_RETURN(json::Json doc, ParseObject(frame));
  const auto op = json::GetString(doc.get(), "op");
  const cJSON* args = json::GetObject(doc.get(), "args");
  if (!op || op->empty() || args == nullptr)
    return Status(Err::kInvalidArgument, "control: request needs op and args");
  ControlRequest req;
  req.op = std::string(*op);
  req.args = json::Clone(args);
  req.fd = std::move(frame.fd);
  return req;
}

Status SendControlRequest(int sock, std::string_view op, const cJSON* args, int fd, int timeout_ms) {
  json::Json doc = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(doc.get(), "op", op));
  KC_RETURN_IF_ERROR(json::Set(doc.get(), "args", args != nullptr ? json::Clone(args) : json::MakeObject()));
  return SendJson(sock, doc.get(), fd, timeout_ms);
}

Status SendOk(int sock, const cJSON* result, int timeout_ms) {
  json::Json doc = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetBool(doc.get(), "ok", true));
  KC_RETURN_IF_ERROR(json::Set(doc.get(), "result", result != nullptr ? json::Clone(result) : json::MakeNull()));
  return SendJson(sock, doc.get(), -1, timeout_ms);
}

Status SendError(int sock, const ControlError& error, int timeout_ms) {
  json::Json doc = json::MakeObject();
  json::Json err = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(err.get(), "code", error.code));
  KC_RETURN_IF_ERROR(json::SetString(err.get(), "message", error.message));
  KC_RETURN_IF_ERROR(json::SetInt(err.get(), "exit", error.exit_code));
  KC_RETURN_IF_ERROR(json::SetBool(doc.get(), "ok", false));
  KC_RETURN_IF_ERROR(json::Set(doc.get(), "error", std::move(err)));
  return SendJson(sock, doc.get(), -1, timeout_ms);
}

Result<json::Json> RecvControlResponse(int sock, int timeout_ms, ControlError* error) {
  KC_ASSIGN_OR_RETURN(ipc::Frame frame, ipc::RecvFrame(sock, timeout_ms));
  if (frame.fd) return Status(Err::kBadFrame, "control: unexpected fd in response");
  KC_ASSIGN_OR_RETURN(json::Json doc, ParseObject(frame));
  if (json::GetBool(doc.get(), "ok").value_or(false)) {
    const cJSON* result = json::GetMember(doc.get(), "result");
    return result != nullptr ? json::Clone(result) : json::MakeNull();
  }
  const cJSON* err = json::GetObject(doc.get(), "error");
  error->code = std::string(json::GetString(err, "code").value_or("internal"));
  error->message = std::string(json::GetString(err, "message").value_or("unknown error"));
  error->exit_code = static_cast<int>(json::GetInt(err, "exit").value_or(kExitFailure));
  return Status(Err::kInternal, "control: error response");
}

}  // namespace keycell::broker::daemon
