#include "broker/daemon/proxy_service.h"

#include <string.h>

#include <utility>

#include "broker/audit/record.h"
#include "broker/daemon/log.h"
#include "broker/daemon/policy_spec.h"
#include "broker/http/errors.h"
#include "broker/identity/authz.h"
#include "broker/proxy/proxy_errors.h"
#include "broker/proxy/upstream_connect.h"
#include "broker/webhooks/event.h"
#include "enclave/policy.h"

namespace keycell::broker::daemon {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kWhereNoCredentialName[] = "proxy: X-Credential-Name header is required with an API key";
constexpr char kWhereTokenOtherCredential[] = "proxy: this token is bound to another credential";
constexpr char kWhereUnknownCredential[] = "proxy: no such credential";
constexpr char kWhereLocked[] = "proxy: the vault is locked (run keycell unlock)";
constexpr char kWhereHostNotAllowed[] = "proxy: host not allowed by the credential's policy";
constexpr char kWhereHttpNotAllowed[] = "proxy: plain http not allowed for this host";
constexpr char kWhereIpNeedsTls[] = "proxy: IP address targets need TLS name verification";
constexpr char kWhereBadPolicy[] = "proxy: the credential's stored policy is unreadable";
constexpr char kWhereResponseTooLarge[] = "proxy: response too large for a buffered call";

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Response header fields the broker sets itself or that describe the hop from the
// upstream (RFC 9110 §7.6.1), never relayed.
bool IsHopHeader(std::string_view name) {
  static constexpr std::string_view kHop[] = {"connection", "keep-alive",       "proxy-connection",
                                              "te",         "trailer",          "transfer-encoding",
                                              "upgrade",    "content-length",   "proxy-authenticate"};
  for (std::string_view h : kHop)
    if (http::EqualsIgnoreCase(name, h)) return true;
  return false;
}

// Connects when the enclave asks: one DNS lookup, the address policy, a connect to the
// address that was checked (proxy::ResolveAndConnect).
class ConnectingIo : public ProxyExchangeIo {
 public:
  ConnectingIo(const proxy::TargetUrl& target, proxy::AddressPolicy policy, std::chrono::milliseconds timeout)
      : target_(target), policy_(policy), timeout_(timeout) {}
  Result<UniqueFd> Connect() override {
    return proxy::ResolveAndConnect(target_.host, target_.port, policy_, Clock::now() + timeout_);
  }

 private:
  const proxy::TargetUrl& target_;
  const proxy::AddressPolicy policy_;
  const std::chrono::milliseconds timeout_;
};

// Streams the exchange to an HTTP client: request body from it, response to it.
class HttpRelayIo final : public ConnectingIo {
 public:
  HttpRelayIo(const proxy::TargetUrl& target, proxy::AddressPolicy policy, std::chrono::milliseconds timeout,
              http::Request& req, http::ResponseWriter& res)
      : ConnectingIo(target, policy, timeout), req_(req), res_(res) {}

  Result<size_t> ReadBody(uint8_t* buf, size_t n) override {
    return req_.body().Read(reinterpret_cast<char*>(buf), n);
  }

  Status OnHead(const ProxyResponseHead& head) override {
    status_ = head.status;
    for (const ProxyHeader& h : head.headers)
      if (!IsHopHeader(h.name)) (void)res_.SetHeader(h.name, h.value);  // a field it refuses is dropped
    if (!head.no_body) {
      streaming_ = true;
      return res_.BeginChunked(head.status);
    }
    if (req_.method() == http::Method::kHead && head.has_content_length) {
      KC_RETURN_IF_ERROR(res_.BeginFixed(head.status, head.content_length));
      return res_.Finish();
    }
    return res_.Send(head.status, "", "");
  }

  Status OnBody(ByteView bytes) override { return res_.Write(AsChars(bytes)); }

  Status Done() { return streaming_ ? res_.Finish() : Status::Ok(); }
  int status() const { return status_; }

 private:
  http::Request& req_;
  http::ResponseWriter& res_;
  int status_ = 0;
  bool streaming_ = false;
};

// Collects the response in memory (CLI, MCP), up to a bound.
class BufferIo final : public ConnectingIo {
 public:
  BufferIo(const proxy::TargetUrl& target, proxy::AddressPolicy policy, std::chrono::milliseconds timeout,
           std::string_view body, size_t max_response)
      : ConnectingIo(target, policy, timeout), body_(body), max_response_(max_response) {}

  Result<size_t> ReadBody(uint8_t* buf, size_t n) override {
    const size_t k = std::min(n, body_.size() - pos_);
    memcpy(buf, body_.data() + pos_, k);
    pos_ += k;
    return k;
  }

  Status OnHead(const ProxyResponseHead& head) override {
    out_.status = head.status;
    out_.reason = std::string(head.reason);
    // The body is collected de-chunked and redacted, so the upstream's framing fields
    // (Transfer-Encoding, Content-Length) would describe other bytes: dropped, as on the
    // HTTP relay.
    for (const ProxyHeader& h : head.headers)
      if (!IsHopHeader(h.name)) out_.headers.emplace_back(h.name, h.value);
    return Status::Ok();
  }

  Status OnBody(ByteView bytes) override {
    if (out_.body.size() + bytes.size() > max_response_) return Status(Err::kTooLarge, kWhereResponseTooLarge);
    out_.body.append(AsChars(bytes));
    return Status::Ok();
  }

  BufferedResponse& response() { return out_; }

 private:
  std::string_view body_;
  size_t pos_ = 0;
  size_t max_response_;
  BufferedResponse out_;
};

// Whether the policy names `host` itself (not through a wildcard): only then may the
// call reach private, loopback or link-local addresses.
bool NamesHostExactly(const keycell_ipc_Policy& p, std::string_view host) {
  for (pb_size_t i = 0; i < p.allowed_hosts_count; ++i)
    if (host == p.allowed_hosts[i].host) return true;
  return false;
}

ProxyFailure Failure(http::ErrorCode code, std::string_view message) {
  return ProxyFailure{code, std::string(message)};
}

}  // namespace

ProxyFailure ProxyFailureFor(const Status& st) {
  const std::string_view where = st.where();
  // The enclave's response parser and TLS client: the upstream misbehaved or is
  // unreachable, whatever the code (a response too large, an encoding we cannot redact).
  if (StartsWith(where, "http response:") || StartsWith(where, "tls:")) {
    if (st.code() == Err::kTimeout) return Failure(http::ErrorCode::kGatewayTimeout, where);
    return Failure(http::ErrorCode::kBadGateway, where);
  }
  switch (st.code()) {
    case Err::kInvalidArgument:
      return Failure(http::ErrorCode::kBadRequest, where);
    case Err::kPolicyDenied:
      return Failure(http::ErrorCode::kForbidden, where);
    case Err::kUnknownKey:
      return Failure(http::ErrorCode::kNotFound, where);
    case Err::kTooLarge:
      return Failure(where == proxy::kWhereTooManyHeaders ? http::ErrorCode::kHeadersTooLarge
                                                          : http::ErrorCode::kPayloadTooLarge,
                     where);
    case Err::kLocked:
      return Failure(http::ErrorCode::kLocked, kWhereLocked);
    case Err::kTimeout:
      return Failure(http::ErrorCode::kGatewayTimeout, where);
    case Err::kUpstreamIo:
      return Failure(where == proxy::kWhereSocket ? http::ErrorCode::kServiceUnavailable
                                                  : http::ErrorCode::kBadGateway,
                     where);
    case Err::kUnavailable:
      // DNS failures are the upstream's; a channel or enclave failure is ours.
      return Failure(where == proxy::kWhereDnsFailed ? http::ErrorCode::kBadGateway
                                                     : http::ErrorCode::kServiceUnavailable,
                     where);
    case Err::kBadFrame:
      return Failure(http::ErrorCode::kBadGateway, where);
    default:
      return Failure(http::ErrorCode::kInternal, where);
  }
}

struct ProxyService::Prepared {
  std::string credential;
  store::SealedVersion sealed;
  proxy::TargetUrl target;
  std::string method;
  std::vector<http::HeaderField> headers;
  proxy::AddressPolicy address_policy;
};

std::optional<ProxyService::Prepared> ProxyService::Prepare(const identity::Principal& who,
                                                            const proxy::ProxyCall& call, ProxyFailure* failure) {
  auto fail = [&](http::ErrorCode code, std::string_view message) {
    *failure = Failure(code, message);
    return std::nullopt;
  };
  Prepared p;
  // Which credential: a pxr_ token is bound to exactly one; an API key must name it.
  if (!who.credential.empty()) {
    if (call.credential_name && *call.credential_name != who.credential)
      return fail(http::ErrorCode::kForbidden, kWhereTokenOtherCredential);
    p.credential = who.credential;
  } else if (call.credential_name) {
    p.credential = *call.credential_name;
  } else {
    return fail(http::ErrorCode::kBadRequest, kWhereNoCredentialName);
  }
  if (Status st = identity::Authorize(who, identity::Action::kUse, p.credential); !st.ok())
    return fail(http::ErrorCode::kForbidden, st.where());
  if (!vault_.enclave().unlocked()) return fail(http::ErrorCode::kLocked, kWhereLocked);
  auto sealed = vault_.store().GetCurrent(p.credential);
  if (!sealed.ok()) {
    if (sealed.status().code() == Err::kUnknownKey) return fail(http::ErrorCode::kNotFound, kWhereUnknownCredential);
    return fail(http::ErrorCode::kInternal, sealed.status().where());
  }
  p.sealed = std::move(*sealed);

  // Early host check against the stored copy of the sealed policy: a clear 403 without
  // a round trip. Not authoritative (the enclave checks the sealed policy itself).
  auto doc = json::ParseJson(p.sealed.policy_json.empty() ? "{}" : p.sealed.policy_json);
  std::string why;
  auto spec = doc.ok() ? PolicySpecFromJson(doc->get(), &why) : Result<PolicySpec>(doc.status());
  auto policy = spec.ok() ? BuildPolicy(*spec, "", &why) : Result<keycell_ipc_Policy>(spec.status());
  if (!policy.ok()) return fail(http::ErrorCode::kInternal, kWhereBadPolicy);
  const proxy::TargetUrl& t = call.target;
  if (t.https() && t.host_kind != proxy::HostKind::kName) return fail(http::ErrorCode::kForbidden, kWhereIpNeedsTls);
  if (!t.https() && !enclave::InsecureHttpAllowed(*policy, t.host))
    return fail(http::ErrorCode::kForbidden, kWhereHttpNotAllowed);
  if (!enclave::HostAllowed(*policy, t.host, t.port, t.https()))
    return fail(http::ErrorCode::kForbidden, kWhereHostNotAllowed);
  const bool exact = NamesHostExactly(*policy, t.host);
  p.address_policy.allow_internal = exact;
  // The metadata service only when the policy names that very address (plain http).
  p.address_policy.allow_metadata = exact && t.host_kind != proxy::HostKind::kName;

  p.target = t;
  p.method = http::MethodName(call.method);
  p.headers = call.headers;
  return p;
}

Result<ProxyOutcome> ProxyService::Exchange(const Prepared& p, ProxyBodyFraming framing, uint64_t content_length,
                                            ProxyExchangeIo& io) {
  std::vector<ProxyHeader> headers;
  headers.reserve(p.headers.size());
  for (const http::HeaderField& h : p.headers) headers.push_back({h.name, h.value});
  ProxyCallSpec spec;
  spec.ref = RefOf(p.sealed.record_id, p.sealed.version, p.sealed.name);
  spec.blob = p.sealed.sealed;
  spec.https = p.target.https();
  spec.host = p.target.host;
  spec.port = p.target.port;
  spec.path = p.target.target;
  spec.method = p.method;
  spec.headers = headers;
  spec.framing = framing;
  spec.content_length = content_length;
  spec.limits = settings_.limits;
  vault_.NoteUse();
  return channels_.Run(spec, io);
}

void ProxyService::Record(const identity::Principal& who, const Prepared& p, int upstream_status, const Status& result,
                          Clock::time_point started) {
  audit::Entry e;
  e.action = audit::actions::kProxy;
  e.credential = p.credential;
  e.version = p.sealed.version;
  e.host = p.target.host + ":" + std::to_string(p.target.port);
  e.path = std::string(p.target.path());
  e.result = result.ok() ? "ok" : "error";
  if (upstream_status > 0) e.status = upstream_status;
  e.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  e.detail = p.method + (result.ok() ? "" : std::string(" ") + result.where());
  vault_.AuditAsync(who, std::move(e));
  if (upstream_status == 401 || upstream_status == 403) {
    auto event = webhooks::MakeCredentialErrorEvent(p.credential, p.target.host, upstream_status, NowSeconds());
    if (event.ok()) (void)hooks_.Dispatch(*event);
  }
}

void ProxyService::RecordRefusal(const identity::Principal& who, const proxy::ProxyCall& call,
                                 const ProxyFailure& failure, Clock::time_point started) {
  audit::Entry e;
  e.action = audit::actions::kProxy;
  e.credential = call.credential_name.value_or(who.credential);
  e.host = call.target.host + ":" + std::to_string(call.target.port);
  e.path = std::string(call.target.path());
  e.result = failure.code == http::ErrorCode::kForbidden ? "denied" : "error";
  e.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  e.detail = std::string(http::MethodName(call.method)) + " " + failure.message;
  vault_.AuditAsync(who, std::move(e));
}

std::optional<BufferedResponse> ProxyService::CallBuffered(const identity::Principal& who,
                                                           const proxy::ProxyCall& call, std::string_view body,
                                                           size_t max_response_bytes, ProxyFailure* failure) {
  const Clock::time_point started = Clock::now();
  std::optional<Prepared> p = Prepare(who, call, failure);
  if (!p) {
    RecordRefusal(who, call, *failure, started);
    return std::nullopt;
  }
  BufferIo io(p->target, p->address_policy, settings_.connect_timeout, body, max_response_bytes);
  const ProxyBodyFraming framing = body.empty() ? ProxyBodyFraming::kNone : ProxyBodyFraming::kLength;
  Result<ProxyOutcome> r = Exchange(*p, framing, body.size(), io);
  Record(who, *p, io.response().status, r.status(), started);
  if (!r.ok()) {
    *failure = ProxyFailureFor(r.status());
    return std::nullopt;
  }
  return std::move(io.response());
}

void ProxyService::Serve(RestApi& api, http::Request& req, http::ResponseWriter& res, bool route_mount) {
  const Clock::time_point started = Clock::now();
  std::optional<identity::Principal> who = api.Admit(req, res);
  if (!who) return;
  auto send_failure = [&](const ProxyFailure& f) { (void)http::SendError(res, f.code, f.message); };
  Result<proxy::ProxyCall> call = route_mount ? proxy::ParseRouteCall(req, routes_) : proxy::ParseProxyRequest(req);
  if (!call.ok()) {
    const proxy::ProxyHttpError e = proxy::HttpErrorFor(call.status());
    return send_failure(Failure(e.code, e.message));
  }
  ProxyFailure failure;
  std::optional<Prepared> p = Prepare(*who, *call, &failure);
  if (!p) {
    RecordRefusal(*who, *call, failure, started);
    return send_failure(failure);
  }

  http::BodyReader& body = req.body();
  const ProxyBodyFraming framing = body.content_length()  ? (*body.content_length() > 0 ? ProxyBodyFraming::kLength
                                                                                        : ProxyBodyFraming::kNone)
                                   : body.done()          ? ProxyBodyFraming::kNone
                                                          : ProxyBodyFraming::kChunked;
  HttpRelayIo io(p->target, p->address_policy, settings_.connect_timeout, req, res);
  Result<ProxyOutcome> r = Exchange(*p, framing, body.content_length().value_or(0), io);
  Status st = r.status();
  if (st.ok()) st = io.Done();
  Record(*who, *p, io.status(), st, started);
  if (!st.ok() && !res.head_written()) send_failure(ProxyFailureFor(st));
  // After the head, a failure can only cut the response short: the handler returns with
  // the body unfinished and the server closes the connection.
}

Status ProxyService::Register(http::Router& router, RestApi& api) {
  using http::Method;
  const http::MethodSet all{Method::kGet, Method::kHead, Method::kPost, Method::kPut,
                            Method::kPatch, Method::kDelete, Method::kOptions};
  KC_RETURN_IF_ERROR(router.Add(all, "/v1/proxy", [this, &api](http::Request& req, http::ResponseWriter& res) {
    Serve(api, req, res, /*route_mount=*/false);
  }));
  return router.Add(all, proxy::kRoutePattern, [this, &api](http::Request& req, http::ResponseWriter& res) {
    Serve(api, req, res, /*route_mount=*/true);
  });
}

}  // namespace keycell::broker::daemon
