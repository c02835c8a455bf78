#include "broker/daemon/rest_api.h"

#include <string>

#include "broker/daemon/log.h"
#include "broker/http/auth.h"
#include "broker/http/errors.h"
#include "broker/http/target.h"

namespace keycell::broker::daemon {
namespace {

constexpr size_t kMaxJsonBody = 64 * 1024;

struct CodeStatus {
  const char* code;
  int status;
};

// Control error codes (control_protocol.cc, vault_ops_*.cc) as HTTP statuses.
constexpr CodeStatus kStatusOf[] = {
    {"forbidden", 403},      {"policy_denied", 403},   {"not_found", 404},         {"exists", 409},
    {"conflict", 409},       {"invalid", 400},         {"invalid_argument", 400},  {"bad_request", 400},
    {"unknown_op", 404},     {"too_large", 413},       {"locked", 423},            {"rate_limited", 429},
    {"bad_pin", 403},        {"pin_locked", 403},      {"enclave_unavailable", 503},
    // The proxy op's codes are the HTTP ones (vault_ops_proxy.cc).
    {"unauthorized", 401},   {"payload_too_large", 413}, {"headers_too_large", 431},
    {"bad_gateway", 502},    {"service_unavailable", 503}, {"gateway_timeout", 504},
};

// The public part of what was presented, for the audit record of a refusal: the
// 12-character prefix of a well-formed pxr_/kc_ value, never more.
std::string PrefixOf(std::string_view presented) {
  if (presented.rfind(identity::kTokenPrefix, 0) != 0 && presented.rfind(identity::kApiKeyPrefix, 0) != 0) return "?";
  return std::string(presented.substr(0, std::min(presented.size(), identity::kShownPrefixChars)));
}

// The decoded value of `key` in a query string, or nullopt.
std::optional<std::string> QueryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      auto v = http::PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (v.ok()) return std::move(*v);
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// The request's JSON object body (an empty body is {}); nullopt after answering 400/413.
std::optional<json::Json> JsonBody(http::Request& req, http::ResponseWriter& res) {
  auto text = req.body().ReadAll(kMaxJsonBody);
  if (!text.ok()) {
    (void)http::SendBodyReadError(res, text.status());
    return std::nullopt;
  }
  if (text->empty()) return json::MakeObject();
  auto doc = json::ParseJson(*text);
  if (!doc.ok() || !cJSON_IsObject(doc->get())) {
    (void)http::SendError(res, http::ErrorCode::kBadRequest, "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(*doc);
}

void CopyString(const cJSON* from, const char* from_key, cJSON* to, const char* to_key) {
  if (auto v = json::GetString(from, from_key)) (void)json::SetString(to, to_key, *v);
}

}  // namespace

int HttpStatusOf(std::string_view control_code) {
  for (const CodeStatus& c : kStatusOf)
    if (control_code == c.code) return c.status;
  return 500;
}

std::optional<identity::Principal> RestApi::Admit(http::Request& req, http::ResponseWriter& res) {
  auto presented = http::PresentedCredential(req);
  if (!presented.ok()) {
    (void)http::SendError(res, http::ErrorCode::kBadRequest, "give one credential: Authorization or X-API-Key");
    return std::nullopt;
  }
  if (!*presented) {
    (void)res.SetHeader("WWW-Authenticate", "Bearer");
    (void)http::SendError(res, http::ErrorCode::kUnauthorized,
                          "authentication required: Authorization: Bearer <pxr_ token or kc_ API key>, or X-API-Key");
    return std::nullopt;
  }
  auto who = identities_.AuthenticateBearer(**presented);
  if (!who.ok()) {
    const char* reason = "unknown token or key";
    switch (identity::RefusalOf(who.status())) {
      case identity::AuthRefusal::kExpired:
        reason = "token or key expired";
        break;
      case identity::AuthRefusal::kRevoked:
        reason = "token or key revoked";
        break;
      case identity::AuthRefusal::kMalformed:
        reason = "malformed token or key";
        break;
      default:
        break;
    }
    vault_.AuditAuthFailure("http", reason, PrefixOf(**presented));
    (void)res.SetHeader("WWW-Authenticate", "Bearer");
    (void)http::SendError(res, http::ErrorCode::kUnauthorized, reason);
    return std::nullopt;
  }
  const identity::RateDecision d = limiter_.Acquire(identity::RateLimitKey(*who));
  if (!d.allowed) {
    vault_.NotifyRateLimited(who->acts_as_agent() ? who->agent_name : who->id, requests_per_minute_);
    (void)http::SendRateLimited(res, d.retry_after_seconds,
                                "rate limit of " + std::to_string(requests_per_minute_) + " requests per minute exceeded");
    return std::nullopt;
  }
  return std::move(*who);
}

void RestApi::RunOp(const identity::Principal& who, std::string_view op, const cJSON* args,
                    http::ResponseWriter& res, int status, const char* envelope) {
  json::Json empty = json::MakeObject();
  OpResult r = vault_.Dispatch(who, op, args != nullptr ? args : empty.get(), UniqueFd());
  if (!r.ok) {
    const int http_status = HttpStatusOf(r.error.code);
    json::Json err = json::MakeObject();
    (void)json::SetString(err.get(), "error", r.error.message);
    (void)json::SetString(err.get(), "code", r.error.code);
    (void)json::SetInt(err.get(), "status", http_status);
    (void)http::SendJson(res, http_status, err.get());
    return;
  }
  // Replies may carry a token or key shown once: never cache them.
  (void)res.SetHeader("Cache-Control", "no-store");
  if (*envelope == '\0') {
    (void)http::SendJson(res, status, r.result.get());
    return;
  }
  json::Json out = json::MakeObject();
  (void)json::Set(out.get(), envelope, std::move(r.result));
  (void)http::SendJson(res, status, out.get());
}

Status RestApi::Register(http::Router& router) {
  using http::Method;
  using http::Request;
  using http::ResponseWriter;
  auto route = [this, &router](http::MethodSet methods, const char* pattern,
                               std::function<void(const identity::Principal&, Request&, ResponseWriter&)> fn) {
    return router.Add(methods, pattern, [this, fn](Request& req, ResponseWriter& res) {
      auto who = Admit(req, res);
      if (who) fn(*who, req, res);
    });
  };

  KC_RETURN_IF_ERROR(route({Method::kGet}, "/api/v1/whoami", [this](auto& who, Request&, ResponseWriter& res) {
    RunOp(who, "whoami", nullptr, res);
  }));
  KC_RETURN_IF_ERROR(route({Method::kGet}, "/api/v1/workspace/status", [this](auto& who, Request&, ResponseWriter& res) {
    RunOp(who, "status", nullptr, res, 200, "workspace");
  }));
  KC_RETURN_IF_ERROR(route({Method::kGet}, "/api/v1/credentials", [this](auto& who, Request& req, ResponseWriter& res) {
    json::Json args = json::MakeObject();
    for (const char* key : {"env", "provider", "project", "tag"})
      if (auto v = QueryValue(req.query(), key)) (void)json::SetString(args.get(), key, *v);
    RunOp(who, "list", args.get(), res, 200, "credentials");
  }));
  KC_RETURN_IF_ERROR(route({Method::kGet, Method::kDelete}, "/api/v1/credentials/:name",
                           [this](auto& who, Request& req, ResponseWriter& res) {
                             json::Json args = json::MakeObject();
                             (void)json::SetString(args.get(), "name", *req.Param("name"));
                             if (req.method() == Method::kGet) RunOp(who, "show", args.get(), res, 200, "credential");
                             else RunOp(who, "rm", args.get(), res);
                           }));
  KC_RETURN_IF_ERROR(route({Method::kGet, Method::kPost}, "/api/v1/agents",
                           [this](auto& who, Request& req, ResponseWriter& res) {
                             if (req.method() == Method::kGet) return RunOp(who, "agents.list", nullptr, res, 200, "agents");
                             auto body = JsonBody(req, res);
                             if (!body) return;
                             json::Json args = json::MakeObject();
                             CopyString(body->get(), "name", args.get(), "name");
                             if (const cJSON* scopes = json::GetArray(body->get(), "scopes"))
                               (void)json::Set(args.get(), "scopes", json::Clone(scopes));
                             RunOp(who, "agents.create", args.get(), res, 201, "agent");
                           }));
  KC_RETURN_IF_ERROR(route({Method::kDelete}, "/api/v1/agents/:id", [this](auto& who, Request& req, ResponseWriter& res) {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "agent", *req.Param("id"));
    RunOp(who, "agents.rm", args.get(), res);
  }));
  // AgentKeys: {"credentialId": ...} assigns a credential and returns the proxy token.
  KC_RETURN_IF_ERROR(route({Method::kPost}, "/api/v1/agents/:id/credentials",
                           [this](auto& who, Request& req, ResponseWriter& res) {
                             auto body = JsonBody(req, res);
                             if (!body) return;
                             json::Json args = json::MakeObject();
                             (void)json::SetString(args.get(), "agent", *req.Param("id"));
                             CopyString(body->get(), "credentialId", args.get(), "credential");
                             CopyString(body->get(), "credential", args.get(), "credential");
                             if (auto e = json::GetInt(body->get(), "expiresInSeconds"))
                               (void)json::SetInt(args.get(), "expires_in_seconds", *e);
                             RunOp(who, "agents.assign", args.get(), res, 201);
                           }));
  KC_RETURN_IF_ERROR(route({Method::kGet}, "/api/v1/audit", [this](auto& who, Request& req, ResponseWriter& res) {
    json::Json args = json::MakeObject();
    for (const char* key : {"agent", "credential", "action"})
      if (auto v = QueryValue(req.query(), key)) (void)json::SetString(args.get(), key, *v);
    for (const char* key : {"since", "limit", "before_seq"}) {
      auto v = QueryValue(req.query(), key);
      if (!v) continue;
      char* end = nullptr;
      const long long n = strtoll(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0')
        return (void)http::SendError(res, http::ErrorCode::kBadRequest, std::string(key) + " must be an integer");
      (void)json::SetInt(args.get(), key, n);
    }
    RunOp(who, "audit.query", args.get(), res, 200, "records");
  }));
  return Status::Ok();
}

}  // namespace keycell::broker::daemon
