// proxy: one proxied call for `keycell proxy`, through the same ProxyService as
// /v1/proxy. The enclave injects the credential and redacts the response; nothing here
// ever holds the credential's value. The call may act as a pxr_ token (or kc_ key) given
// in the args, authenticated here like RestApi::Admit does, so its binding, its agent's
// scopes, its expiry and its revocation apply.
//
// Not audited by Dispatch (the op table's audit action is null): CallBuffered appends
// the call's own "proxy" record, so a record here would count every call twice.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "broker/daemon/proxy_service.h"
#include "broker/daemon/vault.h"
#include "broker/proxy/proxy_errors.h"
#include "broker/proxy/proxy_request.h"
#include "broker/proxy/target_url.h"

namespace keycell::broker::daemon {
namespace {

// How long a write of the response body into the caller's pipe may stall: the CLI
// reads it while it waits for the reply, so only a client that stopped reading waits.
constexpr int kBodyPipeStallMs = 30 * 1000;

struct ExitOf {
  http::ErrorCode code;
  int exit_code;
};

// A failed call's CLI exit code; the control error code is the HTTP one (bad_gateway...).
constexpr ExitOf kExitOf[] = {
    {http::ErrorCode::kBadRequest, kExitUsage},
    {http::ErrorCode::kUnauthorized, kExitPolicyDenied},
    {http::ErrorCode::kForbidden, kExitPolicyDenied},
    {http::ErrorCode::kNotFound, kExitNotFound},
    {http::ErrorCode::kPayloadTooLarge, kExitTooLarge},
    {http::ErrorCode::kHeadersTooLarge, kExitTooLarge},
    {http::ErrorCode::kLocked, kExitLocked},
    {http::ErrorCode::kRateLimited, kExitRateLimited},
    {http::ErrorCode::kBadGateway, kExitUpstream},
    {http::ErrorCode::kGatewayTimeout, kExitUpstream},
    {http::ErrorCode::kServiceUnavailable, kExitEnclaveUnavailable},
};

// The proxy's messages name its HTTP headers; here the same value came as an argument.
std::string ForCli(std::string_view message) {
  std::string out(message);
  for (const auto& [from, to] :
       {std::pair<std::string_view, std::string_view>{"X-Target-Url", "the URL"},
        {"X-Target-Method", "the method"},
        {"X-Credential-Name header", "a credential name"},
        {"X-Credential-Name", "the credential name"}}) {
    for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
      out.replace(at, from.size(), to);
  }
  return out;
}

OpResult ProxyFail(http::ErrorCode code, std::string_view message) {
  int exit_code = kExitFailure;
  for (const ExitOf& e : kExitOf)
    if (e.code == code) exit_code = e.exit_code;
  return Fail(http::GetErrorInfo(code).code, ForCli(message), exit_code);
}

OpResult BadRequest(std::string_view message) {
  return ProxyFail(http::ErrorCode::kBadRequest, message);
}

// A string for the reply: upstream bytes are not always UTF-8 (obs-text in a header),
// and a JSON string must be; such bytes become '?'.
json::Json JsonText(std::string_view s) {
  if (auto j = json::MakeString(s); j.ok()) return std::move(*j);
  std::string ascii(s);
  for (char& c : ascii)
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\0') c = '?';
  auto j = json::MakeString(ascii);
  return j.ok() ? std::move(*j) : json::MakeNull();
}

// args.headers: [[name, value], ...] → the fields to forward (FilterForwardHeaders).
Result<std::vector<http::HeaderField>> HeadersArg(const cJSON* args, std::string* why) {
  std::vector<http::HeaderField> fields;
  const cJSON* list = json::GetMember(args, "headers");
  if (list == nullptr) return fields;
  *why = "headers must be [[name, value], ...] of strings";
  if (json::TypeOf(list) != json::Type::kArray)
    return Status(Err::kInvalidArgument, "proxy: headers");
  for (const cJSON* pair : json::Children(list)) {
    if (json::TypeOf(pair) != json::Type::kArray || json::ChildCount(pair) != 2)
      return Status(Err::kInvalidArgument, "proxy: headers");
    std::vector<std::string_view> both;
    for (const cJSON* item : json::Children(pair))
      if (auto text = json::AsString(item)) both.push_back(*text);
    if (both.size() != 2) return Status(Err::kInvalidArgument, "proxy: headers");
    fields.push_back({std::string(both[0]), std::string(both[1])});
  }
  why->clear();
  return proxy::FilterForwardHeaders(fields);
}

// Writes the whole body into the caller's pipe, bounded by kBodyPipeStallMs per stall.
Status WriteBody(int fd, std::string_view body) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return Status(Err::kUpstreamIo, "proxy: body fd", errno);
  size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = write(fd, body.data() + done, body.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return Status(Err::kUpstreamIo, "proxy: body fd", errno);
    pollfd p{fd, POLLOUT, 0};
    const int ready = poll(&p, 1, kBodyPipeStallMs);
    if (ready == 0) return Status(Err::kTimeout, "proxy: the caller stopped reading the body");
    if (ready < 0 && errno != EINTR) return Status(Err::kUpstreamIo, "proxy: poll body fd", errno);
  }
  return Status::Ok();
}

// The call and request body the args describe for `as`; nullopt after a refusal
// (bad_request and friends) described in *refused.
std::optional<proxy::ProxyCall> ReadCall(const cJSON* args, const identity::Principal& as,
                                         std::string* body, OpResult* refused) {
  auto fail = [&](OpResult r) {
    *refused = std::move(r);
    return std::nullopt;
  };
  proxy::ProxyCall call;
  if (const cJSON* c = json::GetMember(args, "credential")) {
    auto name = json::AsString(c);
    if (!name || !proxy::IsValidCredentialName(*name))
      return fail(BadRequest(proxy::kWhereBadCredentialName));
    call.credential_name = std::string(*name);
  }
  if (!call.credential_name && as.credential.empty())
    return fail(BadRequest("proxy: a credential name is required (or a token bound to one)"));
  auto url = json::GetString(args, "url");
  if (!url) return fail(BadRequest("proxy: a url is required"));
  auto target = proxy::ParseTargetUrl(*url);
  if (!target.ok()) return fail(BadRequest(target.status().where()));
  call.target = std::move(*target);
  const cJSON* m = json::GetMember(args, "method");
  if (m != nullptr && !json::AsString(m)) return fail(BadRequest(proxy::kWhereMethodNotAllowed));
  auto method =
      proxy::ResolveMethod(http::Method::kGet, m != nullptr ? json::AsString(m) : std::nullopt);
  if (!method.ok()) return fail(BadRequest(method.status().where()));
  call.method = *method;
  std::string why;
  auto headers = HeadersArg(args, &why);
  if (!headers.ok()) {
    if (!why.empty()) return fail(BadRequest(why));
    const proxy::ProxyHttpError e = proxy::HttpErrorFor(headers.status());
    return fail(ProxyFail(e.code, e.message));
  }
  call.headers = std::move(*headers);
  if (const cJSON* b = json::GetMember(args, "body_base64")) {
    auto text = json::AsString(b);
    auto decoded =
        text ? Base64Decode(*text) : Result<std::string>(Status(Err::kInvalidArgument, "body"));
    if (!decoded.ok()) return fail(BadRequest("proxy: body_base64 is not a base64 string"));
    if (decoded->size() > kMaxProxyInlineBodyBytes)
      return fail(
          ProxyFail(http::ErrorCode::kPayloadTooLarge, "proxy: the request body is over 2 MiB"));
    *body = std::move(*decoded);
  }
  return call;
}

// {status, reason, headers, body_bytes} with the body written into `fd`, or with
// body_base64 when there is no fd.
OpResult Reply(const BufferedResponse& r, const UniqueFd& fd) {
  json::Json out = json::MakeObject();
  (void)json::SetInt(out.get(), "status", r.status);
  (void)json::Set(out.get(), "reason", JsonText(r.reason));
  json::Json fields = json::MakeArray();
  for (const auto& [name, value] : r.headers) {
    json::Json pair = json::MakeArray();
    (void)json::Append(pair.get(), JsonText(name));
    (void)json::Append(pair.get(), JsonText(value));
    (void)json::Append(fields.get(), std::move(pair));
  }
  (void)json::Set(out.get(), "headers", std::move(fields));
  if (!fd) {
    (void)json::SetString(out.get(), "body_base64", Base64Encode(r.body));
    return Ok(std::move(out));
  }
  // The upstream call has happened (and is audited); only the delivery failed.
  if (Status st = WriteBody(fd.get(), r.body); !st.ok())
    return Fail("internal_error",
                std::string("could not hand over the response body: ") + st.where(), kExitFailure);
  (void)json::SetInt(out.get(), "body_bytes", static_cast<int64_t>(r.body.size()));
  return Ok(std::move(out));
}

}  // namespace

// Shared by the `proxy` and `mcp` control ops (vault.h).
std::optional<identity::Principal> Vault::AuthenticateToken(std::string_view token,
                                                         OpResult* refused) {
  auto who = identity_.AuthenticateBearer(token);
  if (who.ok()) return std::move(*who);
  const char* reason = nullptr;
  switch (identity::RefusalOf(who.status())) {
    case identity::AuthRefusal::kMalformed:
      reason = "malformed token or key";
      break;
    case identity::AuthRefusal::kUnknown:
      reason = "unknown token or key";
      break;
    case identity::AuthRefusal::kExpired:
      reason = "token or key expired";
      break;
    case identity::AuthRefusal::kRevoked:
      reason = "token or key revoked";
      break;
    default:
      *refused = Fail(who.status());  // the registry failed, not the token
      return std::nullopt;
  }
  const bool ours =
      token.rfind(identity::kTokenPrefix, 0) == 0 || token.rfind(identity::kApiKeyPrefix, 0) == 0;
  AuditAuthFailure("control", reason, ours ? token.substr(0, identity::kShownPrefixChars) : "?");
  *refused = ProxyFail(http::ErrorCode::kUnauthorized, reason);
  return std::nullopt;
}

OpResult Vault::OpProxy(const identity::Principal& who, const cJSON* args, UniqueFd fd) {
  OpResult refused;
  std::optional<identity::Principal> as = who;
  if (auto token = json::GetString(args, "token"))
    as = AuthenticateToken(*token, &refused);
  if (!as) return refused;
  std::string body;
  std::optional<proxy::ProxyCall> call = ReadCall(args, *as, &body, &refused);
  if (!call) return refused;
  ProxyService* const service = proxy_.load();
  if (service == nullptr)
    return ProxyFail(http::ErrorCode::kServiceUnavailable, "proxy: not running");

  // With a pipe the body goes there and may be larger; inline it must fit the reply.
  const size_t cap = fd ? kMaxProxyPipedBodyBytes : kMaxProxyInlineBodyBytes;
  ProxyFailure failure;
  std::optional<BufferedResponse> r = service->CallBuffered(*as, *call, body, cap, &failure);
  AuditFacts facts{call->credential_name.value_or(as->credential), std::nullopt,
                   ""};  // the log line's
  if (r) return WithAudit(Reply(*r, fd), std::move(facts));
  // CallBuffered's own cap (its message speaks of "a buffered call"): say which one.
  if (failure.code == http::ErrorCode::kPayloadTooLarge &&
      failure.message.find("buffered") != std::string::npos)
    failure.message =
        fd ? "proxy: the response body is over 16 MiB" : "proxy: the response body is over 2 MiB";
  return WithAudit(ProxyFail(failure.code, failure.message), std::move(facts));
}

}  // namespace keycell::broker::daemon
