#include "broker/mcp/jsonrpc.h"

#include <utility>

namespace keycell::mcp {
namespace {

using json::Type;

constexpr char kVersion[] = "2.0";

// Records a refusal for the caller (when it asked) and turns it into a Status whose
// detail is the JSON-RPC code.
Status Fail(ParseFailure* failure, Err err, int code, const char* message,
            const std::optional<Id>& id) {
  if (failure != nullptr) {
    failure->code = code;
    failure->message = message;
    failure->id = id;
  }
  return Status(err, message, code);
}

// What the "id" member holds. kBadType covers every value that is not a string or a
// safe integer: objects, arrays, bools, fractions, and integers a double cannot keep.
enum class IdState { kAbsent, kNull, kValid, kBadType };

IdState ReadId(const cJSON* member, Id* out) {
  switch (json::TypeOf(member)) {
    case Type::kInvalid:
      return IdState::kAbsent;
    case Type::kNull:
      return IdState::kNull;
    case Type::kString:
      *out = std::string(*json::AsString(member));
      return IdState::kValid;
    case Type::kNumber:
      if (const std::optional<int64_t> n = json::AsInt(member)) {
        *out = *n;
        return IdState::kValid;
      }
      return IdState::kBadType;
    default:
      return IdState::kBadType;
  }
}

struct Refuser {
  ParseFailure* failure;
  std::optional<Id> id;  // set once the id is known to be readable
  Status Invalid(const char* message) const {
    return Fail(failure, Err::kBadFrame, kInvalidRequest, message, id);
  }
};

bool IsContainer(const cJSON* item) {
  const Type t = json::TypeOf(item);
  return t == Type::kObject || t == Type::kArray;
}

// A request or notification: "method" is present.
Status ReadCall(const cJSON* root, IdState id_state, const Refuser& refuse, Message* m) {
  const std::optional<std::string_view> method = json::GetString(root, "method");
  if (!method) return refuse.Invalid("method is not a string");
  // A message that is both a call and an answer could be routed either way.
  if (json::GetMember(root, "result") != nullptr || json::GetMember(root, "error") != nullptr) {
    return refuse.Invalid("method together with result or error");
  }
  if (id_state == IdState::kNull) return refuse.Invalid("null id in a request");
  const cJSON* params = json::GetMember(root, "params");
  if (params != nullptr && !IsContainer(params)) {
    return refuse.Invalid("params is not an object or array");
  }
  m->kind = id_state == IdState::kValid ? MessageKind::kRequest : MessageKind::kNotification;
  m->method = std::string(*method);
  m->params = json::Clone(params);
  return Status::Ok();
}

Status ReadErrorObject(const cJSON* error, const Refuser& refuse, ErrorObject* out) {
  if (json::TypeOf(error) != Type::kObject) return refuse.Invalid("error is not an object");
  const std::optional<int64_t> code = json::GetInt(error, "code");
  if (!code) return refuse.Invalid("error.code is not an integer");
  const std::optional<std::string_view> message = json::GetString(error, "message");
  if (!message) return refuse.Invalid("error.message is not a string");
  out->code = *code;
  out->message = std::string(*message);
  out->data = json::Clone(json::GetMember(error, "data"));
  return Status::Ok();
}

// A response or error response: "result" or "error" is present, "method" is not.
Status ReadAnswer(const cJSON* root, IdState id_state, const Refuser& refuse, Message* m) {
  const cJSON* result = json::GetMember(root, "result");
  const cJSON* error = json::GetMember(root, "error");
  if (result != nullptr && error != nullptr) return refuse.Invalid("both result and error");
  if (result == nullptr && error == nullptr) {
    return refuse.Invalid("none of method, result or error");
  }
  if (id_state == IdState::kAbsent) return refuse.Invalid("response without an id");
  if (result != nullptr) {
    // Only an error response may carry a null id (the request's id was unreadable).
    if (id_state == IdState::kNull) return refuse.Invalid("null id in a result response");
    m->kind = MessageKind::kResponse;
    m->result = json::Clone(result);
    return Status::Ok();
  }
  m->kind = MessageKind::kErrorResponse;
  if (id_state == IdState::kNull) m->id.reset();
  return ReadErrorObject(error, refuse, &m->error);
}

Result<json::Json> MakeId(const Id& id) {
  if (const int64_t* n = std::get_if<int64_t>(&id)) return json::MakeInt(*n);
  return json::MakeString(std::get<std::string>(id));
}

json::Json Envelope() {
  json::Json obj = json::MakeObject();
  KC_CHECK(json::SetString(obj.get(), "jsonrpc", kVersion).ok());
  return obj;
}

Result<std::string> TryResponse(const Id& id, const cJSON* result) {
  json::Json obj = Envelope();
  KC_ASSIGN_OR_RETURN(json::Json id_json, MakeId(id));
  KC_RETURN_IF_ERROR(json::Set(obj.get(), "id", std::move(id_json)));
  KC_RETURN_IF_ERROR(
      json::Set(obj.get(), "result", result != nullptr ? json::Clone(result) : json::MakeNull()));
  return json::Print(obj.get());
}

// Shared by requests (id set) and notifications (id nullopt).
Result<std::string> TryCall(const std::optional<Id>& id, std::string_view method,
                            const cJSON* params) {
  if (params != nullptr && !IsContainer(params)) {
    return Status(Err::kInvalidArgument, "params is not an object or array");
  }
  json::Json obj = Envelope();
  if (id) {
    KC_ASSIGN_OR_RETURN(json::Json id_json, MakeId(*id));
    KC_RETURN_IF_ERROR(json::Set(obj.get(), "id", std::move(id_json)));
  }
  KC_RETURN_IF_ERROR(json::SetString(obj.get(), "method", method));
  if (params != nullptr) KC_RETURN_IF_ERROR(json::Set(obj.get(), "params", json::Clone(params)));
  return json::Print(obj.get());
}

bool SameTree(const cJSON* a, const cJSON* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return json::Equal(a, b);
}

}  // namespace

Result<Message> ParseMessage(std::string_view text, ParseFailure* failure) {
  // Before parsing: the cap bounds cJSON's allocations, not just ours.
  if (text.size() > kMaxMessageBytes) {
    return Fail(failure, Err::kTooLarge, kInvalidRequest, "message larger than 4 MiB",
                std::nullopt);
  }
  auto parsed = json::ParseJson(text, kMaxMessageBytes);
  if (!parsed.ok()) {
    const Err err = parsed.status().code() == Err::kTooLarge ? Err::kTooLarge : Err::kBadFrame;
    return Fail(failure, err, kParseError, "parse error", std::nullopt);
  }
  const cJSON* root = parsed->get();
  Refuser refuse{failure, std::nullopt};
  if (json::TypeOf(root) == Type::kArray) return refuse.Invalid("batch requests are not supported");
  if (json::TypeOf(root) != Type::kObject) return refuse.Invalid("message is not an object");

  Message m;
  Id id;
  const IdState id_state = ReadId(json::GetMember(root, "id"), &id);
  if (id_state == IdState::kValid) {
    refuse.id = id;  // from here on, a refusal can be answered to the right request
    m.id = std::move(id);
  }
  const std::optional<std::string_view> version = json::GetString(root, "jsonrpc");
  if (!version || *version != kVersion) return refuse.Invalid("jsonrpc is not \"2.0\"");
  if (id_state == IdState::kBadType) return refuse.Invalid("id is not a string or a safe integer");

  const Status st = json::GetMember(root, "method") != nullptr
                        ? ReadCall(root, id_state, refuse, &m)
                        : ReadAnswer(root, id_state, refuse, &m);
  if (!st.ok()) return st;
  return m;
}

std::string SerializeResponse(const Id& id, const cJSON* result) {
  auto printed = TryResponse(id, result);
  if (printed.ok()) return std::move(printed).value();
  const bool id_ok = MakeId(id).ok();
  return SerializeError(id_ok ? std::optional<Id>(id) : std::nullopt, kInternalError,
                        "internal error: result cannot be serialized");
}

std::string SerializeError(const std::optional<Id>& id, int64_t code, std::string_view message,
                           const cJSON* data) {
  json::Json obj = Envelope();
  auto id_json = id ? MakeId(*id) : Result<json::Json>(json::MakeNull());
  KC_CHECK(json::Set(obj.get(), "id", id_json.ok() ? std::move(id_json).value() : json::MakeNull())
               .ok());
  json::Json error = json::MakeObject();
  if (!json::SetInt(error.get(), "code", code).ok()) {
    KC_CHECK(json::SetInt(error.get(), "code", kInternalError).ok());
  }
  if (!json::SetString(error.get(), "message", message).ok()) {
    KC_CHECK(json::SetString(error.get(), "message", "error message not valid UTF-8").ok());
  }
  if (data != nullptr) KC_CHECK(json::Set(error.get(), "data", json::Clone(data)).ok());
  KC_CHECK(json::Set(obj.get(), "error", std::move(error)).ok());
  auto printed = json::Print(obj.get());
  if (printed.ok()) return std::move(printed).value();
  // Everything else above was built through json.h and is shallow; only `data` can fail.
  KC_CHECK(data != nullptr);
  return SerializeError(id, code, message, nullptr);
}

Result<std::string> SerializeNotification(std::string_view method, const cJSON* params) {
  return TryCall(std::nullopt, method, params);
}

Result<std::string> SerializeRequest(const Id& id, std::string_view method, const cJSON* params) {
  return TryCall(id, method, params);
}

Result<std::string> SerializeMessage(const Message& m) {
  switch (m.kind) {
    case MessageKind::kRequest:
      if (!m.id) return Status(Err::kInvalidArgument, "request without an id");
      return SerializeRequest(*m.id, m.method, m.params.get());
    case MessageKind::kNotification:
      return SerializeNotification(m.method, m.params.get());
    case MessageKind::kResponse:
      if (!m.id) return Status(Err::kInvalidArgument, "response without an id");
      return SerializeResponse(*m.id, m.result.get());
    case MessageKind::kErrorResponse:
      return SerializeError(m.id, m.error.code, m.error.message, m.error.data.get());
  }
  return Status(Err::kInvalidArgument, "unknown message kind");
}

bool SameMessage(const Message& a, const Message& b) {
  if (a.kind != b.kind || a.id != b.id) return false;
  switch (a.kind) {
    case MessageKind::kRequest:
    case MessageKind::kNotification:
      return a.method == b.method && SameTree(a.params.get(), b.params.get());
    case MessageKind::kResponse:
      return SameTree(a.result.get(), b.result.get());
    case MessageKind::kErrorResponse:
      return a.error.code == b.error.code && a.error.message == b.error.message &&
             SameTree(a.error.data.get(), b.error.data.get());
  }
  return false;
}

}  // namespace keycell::mcp
