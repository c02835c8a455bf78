// The MCP tools that carry a credential's value in or out: add_key, rotate_key,
// create_credential and vault_secret put/rotate take one in their arguments; get_key and
// vault_secret get with reveal hand one out when the sealed policy allows it;
// rotate_and_store and inject_env never see one.
//
// A value in the arguments has passed keycelld once, as JSON text. The handler copies
// it into a SecureBuffer, wipes the parsed string in place, and gives it to the op
// through a pipe the enclave reads to EOF, as the CLI does. A revealed value comes back
// through a pipe the enclave wrote, into a SecureBuffer, and goes into the tool result
// only then. The pipes are sized for the enclave's 64 KiB cap, so neither side blocks
// and no thread is needed.

#include <fcntl.h>
#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/daemon/mcp_tools_internal.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::broker::daemon {
namespace {

using namespace tools_internal;  // NOLINT(google-build-using-namespace): the shared tool kit

// The enclave's cap on one value (enclave/sealed_record.h kMaxSecretBytes).
constexpr size_t kMaxValueBytes = 64 * 1024;
// A pipe this large holds a whole value: the writer never waits for the reader.
constexpr int kPipeBytes = 128 * 1024;
constexpr char kMask[] = "********";

// ---- Values in, values out ----------------------------------------------------------

// `field` and a sentence: the error names the argument, never its value.
ToolResult FieldError(std::string_view field, std::string_view problem) {
  return ToolResult::Error("invalid_argument: arguments." + std::string(field) + ": " +
                           std::string(problem));
}

// A pipe whose buffer holds at least `bytes`. F_SETPIPE_SZ may refuse (the user's pipe
// quota); then the default size must do.
Result<std::pair<UniqueFd, UniqueFd>> BigPipe(size_t bytes) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status(Err::kUpstreamIo, "mcp: pipe", errno);
  UniqueFd r(p[0]), w(p[1]);
  (void)fcntl(w.get(), F_SETPIPE_SZ, kPipeBytes);
  const int size = fcntl(w.get(), F_GETPIPE_SZ);
  if (size < 0 || static_cast<size_t>(size) < bytes)
    return Status(Err::kUnavailable, "mcp: pipe too small for the value");
  return std::make_pair(std::move(r), std::move(w));
}

// The read end of a pipe holding `value` and then EOF, for an op that has the enclave
// read its value from an fd.
Result<UniqueFd> ValuePipe(SecretView value) {
  KC_ASSIGN_OR_RETURN(auto ends, BigPipe(value.size()));
  size_t done = 0;
  while (done < value.size()) {
    const ssize_t n = write(ends.second.get(), value.data() + done, value.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Err::kUpstreamIo, "mcp: pipe write", errno);
    done += static_cast<size_t>(n);
  }
  return std::move(ends.first);
}

// The string argument `key` as bytes (decoded when `base64`), in a SecureBuffer; the
// parsed JSON string is wiped in place. The handler owns the arguments for the call, and
// nothing reads the value after this, so the const_cast only hastens a free.
Result<SecureBuffer> TakeValue(const cJSON* args, const char* key, bool base64, std::string* why) {
  auto* item = const_cast<cJSON*>(json::GetMember(args, key));
  if (item == nullptr || !cJSON_IsString(item) || item->valuestring == nullptr) {
    *why = "required for this call";
    return Status(Err::kInvalidArgument, key);
  }
  char* text = item->valuestring;
  const size_t len = strlen(text);
  auto copy = [&]() -> Result<SecureBuffer> {
    if (!base64) {
      if (len > kMaxValueBytes) {
        *why = "over the 64 KiB cap";
        return Status(Err::kTooLarge, key);
      }
      return SecureBuffer::CopyOf(ByteView(reinterpret_cast<const uint8_t*>(text), len));
    }
    KC_ASSIGN_OR_RETURN(SecureBuffer buf, SecureBuffer::Allocate(len / 4 * 3 + 3));
    size_t n = 0;
    if (mbedtls_base64_decode(buf.data(), buf.size(), &n,
                              reinterpret_cast<const unsigned char*>(text), len) != 0) {
      *why = "not valid base64";
      return Status(Err::kInvalidArgument, key);
    }
    if (n > kMaxValueBytes) {
      *why = "over the 64 KiB cap (after base64 decoding)";
      return Status(Err::kTooLarge, key);
    }
    buf.resize(n);
    return buf;
  };
  Result<SecureBuffer> out = copy();
  mbedtls_platform_zeroize(text, len);
  if (out.ok() && out->empty()) {
    *why = "must not be empty";
    return Status(Err::kInvalidArgument, key);
  }
  return out;
}

// Runs `op` with the value of argument `key` in its pipe.
ToolResult RunWithValue(const Tools& t, std::string_view op, const json::Json& args,
                        const cJSON* arguments, const char* key, bool base64,
                        const std::function<ToolResult(OpResult)>& done) {
  std::string why;
  auto value = TakeValue(arguments, key, base64, &why);
  if (!value.ok()) {
    if (why.empty()) return ToolResult::Error("internal: cannot hold the value");
    return FieldError(key, why);
  }
  auto pipe = ValuePipe(value->view());
  value->clear();
  if (!pipe.ok()) return ToolResult::Error(std::string("internal: ") + pipe.status().where());
  return done(t.Run(op, args, std::move(*pipe)));
}

// The `get` op (purpose, sealed reveal policy) with the enclave writing the value into a
// pipe; on success the value, read back into a SecureBuffer.
struct Revealed {
  OpResult op;
  SecureBuffer value;
};

Result<Revealed> RevealThroughPipe(const Tools& t, const std::string& name,
                                   const std::string& purpose) {
  KC_ASSIGN_OR_RETURN(auto ends, BigPipe(kMaxValueBytes));
  json::Json args = Args();
  (void)json::SetString(args.get(), "name", name);
  (void)json::SetString(args.get(), "purpose", purpose);
  Revealed out;
  // The op closes its end when it returns; the enclave closed its own after writing.
  out.op = t.Run("get", args, std::move(ends.second));
  if (!out.op.ok) return out;
  KC_ASSIGN_OR_RETURN(out.value, SecureBuffer::Allocate(kMaxValueBytes + 1));
  size_t n = 0;
  (void)fcntl(ends.first.get(), F_SETFL, O_NONBLOCK);  // everything is in the buffer already
  while (n < out.value.size()) {
    const ssize_t r = read(ends.first.get(), out.value.data() + n, out.value.size() - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += static_cast<size_t>(r);
  }
  out.value.resize(n);
  return out;
}

// The bytes as a JSON string when they are UTF-8 text, else base64; `encoding` says which.
void SetValue(cJSON* obj, const SecureBuffer& value, bool prefer_base64) {
  const std::string_view text(reinterpret_cast<const char*>(value.data()), value.size());
  if (!prefer_base64) {
    if (auto s = json::MakeString(text); s.ok()) {
      (void)json::Set(obj, "value", std::move(*s));
      (void)json::SetString(obj, "encoding", "utf-8");
      return;
    }
  }
  std::string b64 = Base64Encode(text);
  (void)json::SetString(obj, "value", b64);
  mbedtls_platform_zeroize(b64.data(), b64.size());
  (void)json::SetString(obj, "encoding", "base64");
}

std::string UseInsteadHint(std::string_view name) {
  return "the value of '" + std::string(name) +
         "' stays sealed in keycell's enclave: its sealed policy does not allow revealing it to "
         "you. To use it, call proxy_request (keycell injects the key into the HTTP request), "
         "use inject_env to write it into a project's .env, or ask the human to run "
         "`keycell run -- <command>`.";
}

// ---- RFC 3339 ----------------------------------------------------------------------

int Digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// "2026-01-31T12:00:00Z", "...T12:00:00.5+02:00" → Unix seconds (fractions dropped).
std::optional<int64_t> ParseRfc3339(std::string_view s) {
  const int year = Digits(s, 0, 4), month = Digits(s, 5, 2), day = Digits(s, 8, 2);
  const int hour = Digits(s, 11, 2), minute = Digits(s, 14, 2), second = Digits(s, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
      minute > 59 || second > 60 || hour < 0 || minute < 0 || second < 0)
    return std::nullopt;
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':')
    return std::nullopt;
  size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    ++at;
    const size_t digits = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == digits) return std::nullopt;
  }
  int64_t offset = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    const int oh = Digits(s, at + 1, 2), om = Digits(s, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || at + 3 >= s.size() || s[at + 3] != ':')
      return std::nullopt;
    offset = (s[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second == 60 ? 59 : second;
  const time_t t = timegm(&tm);
  // timegm normalises 31 February into March: a date that moved was not a date.
  struct tm back {};
  if (gmtime_r(&t, &back) == nullptr || back.tm_mday != day || back.tm_mon != month - 1)
    return std::nullopt;
  return static_cast<int64_t>(t) - offset;
}

std::string FormatRfc3339(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  char buf[32] = "";
  if (gmtime_r(&tt, &tm) != nullptr) strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---- Schemas -----------------------------------------------------------------------

const std::string kValue = R"({"type":"string","description":"The secret value, up to 64 KiB"})";
const std::string kKeyResult =
    Object(Prop("name", kStr) + "," + Prop("provider", kStr) + "," + Prop("env", kStr) + "," +
               Prop("version", kInt) + "," + Prop("fingerprint", kStr) + "," +
               Prop("created_at", kInt) + "," + Prop("expires_at", kTime),
           R"("name","version")", false);
const std::string kRotated = Object(Prop("name", kStr) + "," + Prop("version", kInt) + "," +
                                        Prop("fingerprint", kStr) + "," + Prop("generated", kBool),
                                    R"("name","version")", false);

// Replaces a value: the old version stays for rollback, but the credential now means
// something else to every user of it.
constexpr ToolAnnotations kReplaces{.read_only_hint = false,
                                    .destructive_hint = true,
                                    .idempotent_hint = false,
                                    .open_world_hint = false};

// The add op's refusal of an existing name, in MCP terms.
ToolResult AddError(const OpResult& r, std::string_view name, std::string_view how) {
  if (r.error.code == "exists")
    return ToolResult::Error("exists: a credential named '" + std::string(name) +
                             "' already exists; " + std::string(how));
  return OpError(r);
}

// ---- Pushkey -----------------------------------------------------------------------

void AddPushkeyValueTools(Builder& b) {
  const Tools* t = &b.t;
  b.Add("add_key", "Add a key",
        "Stores a new API key in keycell's enclave. The value is sealed at once and never "
        "returned; agents use it through proxy_request, inject_env or `keycell run`. A known "
        "provider (openai, anthropic, stripe, ...) also sets the host the key may be sent to. "
        "An existing name is refused unless overwrite is true.",
        Object(Prop("name", kCredentialName) + "," + Prop("value", kValue) + "," +
                   Prop("provider", Described(R"("type":"string","maxLength":64)",
                                              "The key's provider, e.g. openai")) +
                   "," +
                   Prop("env", Described(R"("type":"string","maxLength":64)",
                                         "Its environment, e.g. prod")) +
                   "," + Prop("notes", Described(R"("type":"string","maxLength":1024)", "A note")) +
                   "," +
                   Prop("overwrite", Described(R"("type":"boolean","default":false)",
                                               "Replace the value of an existing key")),
               R"("name","value")"),
        kKeyResult, kReplaces, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          for (const char* k : {"name", "provider", "env", "notes", "overwrite"})
            CopyMember(a, k, args.get(), k);
          // Pushkey's keys go into .env files (inject_env); nothing reveals them.
          json::Json policy = json::MakeObject();
          (void)json::SetBool(policy.get(), "env_export", true);
          (void)json::Set(args.get(), "policy", std::move(policy));
          const std::string name(json::GetString(a, "name").value_or(""));
          return RunWithValue(*t, "add", args, a, "value", false, [&](OpResult r) {
            if (!r.ok) return AddError(r, name, "pass overwrite: true to replace its value");
            return ToolResult::Structured(std::move(r.result));
          });
        });

  b.Add("rotate_key", "Rotate a key",
        "Replaces a key's value with a new one, as a new version (the old one stays for "
        "`keycell rollback`), and records the rotation time. The value is sealed at once and "
        "never returned.",
        Object(Prop("name", kCredentialName) + "," + Prop("new_value", kValue),
               R"("name","new_value")"),
        kRotated, kReplaces, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "name", args.get(), "name");
          return RunWithValue(*t, "rotate", args, a, "new_value", false, [](OpResult r) {
            if (!r.ok) return OpError(r);
            return ToolResult::Structured(std::move(r.result));
          });
        });

  b.Add("inject_env", "Write keys into a project's .env",
        "Writes keys into project_path/.env as NAME=value lines (the name upper-cased, e.g. "
        "openai-prod → OPENAI_PROD) and adds .env to .gitignore. keycell's enclave writes the "
        "values into the file; this tool returns only what was written. Without keys, the keys "
        "assigned to the project (assign_key) are written. Only keys sealed as exportable are "
        "written; otherwise nothing is and .env stays unchanged.",
        Object(Prop("project_path", Described(R"("type":"string","minLength":1,"maxLength":4096)",
                                              "The project's absolute directory path")) +
                   "," +
                   Prop("keys", Described(
                                    R"("type":"array","items":{"type":"string","minLength":1},"maxItems":64)",
                                    "Key names; default: the keys assigned to the project")),
               R"("project_path")"),
        Object(Prop("written", kInt) + "," + Prop("skipped", kStrings) + "," + Prop("file", kStr) +
                   "," + Prop("gitignore_updated", kBool),
               R"("written","skipped")", false),
        // Rewrites the lines it owns in .env; a repeat writes the same lines again.
        ToolAnnotations{.read_only_hint = false,
                        .destructive_hint = true,
                        .idempotent_hint = true,
                        .open_world_hint = false},
        [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "project_path", args.get(), "path");
          CopyMember(a, "keys", args.get(), "keys");
          return RunOp(*t, "env", args, AsIs);
        });

  b.Add("get_key", "Get a key",
        "Returns a key's value only if its sealed policy allows revealing it to this caller "
        "(the reveal is audited); otherwise an error with the key's masked metadata, pointing "
        "at proxy_request (keycell injects the key into an HTTP request), inject_env or "
        "`keycell run`, which use the key without showing it.",
        Object(Prop("name", kCredentialName), R"("name")"),
        Object(Prop("name", kStr) + "," + Prop("provider", kStr) + "," + Prop("env", kStr) + "," +
                   Prop("version", kInt) + "," + Prop("rotated_at", kTime) + "," +
                   Prop("expires_at", kTime) + "," + Prop("masked_value", kStr) + "," +
                   Prop("value", kStr) + "," + Prop("encoding", kStr) + "," +
                   Prop("revealed", kBool),
               R"("name","revealed")", false),
        kReadOnly, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "name", args.get(), "name");
          OpResult shown = t->Run("show", args);
          if (!shown.ok) return OpError(shown);
          const cJSON* s = shown.result.get();
          const std::string name(json::GetString(s, "name").value_or(""));
          json::Json out = json::MakeObject();
          for (const char* k : {"name", "provider", "env", "version", "rotated_at", "expires_at"})
            CopyMember(s, k, out.get(), k);
          // Ask the enclave only when the stored policy says it might say yes: a refusal
          // would leave a denied reveal in the audit trail for every lookup.
          const bool revealable =
              json::GetBool(json::GetObject(s, "policy"), "revealable").value_or(false);
          std::string refusal = "policy_denied: " + UseInsteadHint(name);
          if (revealable) {
            auto revealed = RevealThroughPipe(*t, name, "get_key over MCP");
            if (!revealed.ok())
              return ToolResult::Error(std::string("internal: ") + revealed.status().where());
            if (revealed->op.ok) {
              SetValue(out.get(), revealed->value, false);
              (void)json::SetBool(out.get(), "revealed", true);
              return ToolResult::Structured(std::move(out));
            }
            if (revealed->op.error.code != "policy_denied") return OpError(revealed->op);
          }
          (void)json::SetString(out.get(), "masked_value", kMask);
          (void)json::SetBool(out.get(), "revealed", false);
          ToolResult err = ToolResult::Error(refusal + " Masked metadata follows.");
          if (auto text = json::Print(out.get()); text.ok()) err.text.push_back(std::move(*text));
          err.structured = std::move(out);
          return err;
        });
}

// ---- AgentKeys ---------------------------------------------------------------------

struct CredentialType {
  const char* type;
  const char* inject;  // policy_spec.h's recipe; NAME is appended for header/query
};
constexpr CredentialType kCredentialTypes[] = {
    {"API_KEY", "bearer"},          {"BASIC_AUTH", "basic"},    {"COOKIE", "cookie"},
    {"CUSTOM_HEADER", "header:"},  {"QUERY_PARAM", "query:"},
};

void AddAgentKeysValueTools(Builder& b) {
  const Tools* t = &b.t;
  b.Add("create_credential", "Create a credential",
        "Creates a credential sealed in keycell's enclave, which injects it into proxied "
        "requests to the given hosts: API_KEY as Authorization: Bearer, BASIC_AUTH (value "
        "user:password) as Authorization: Basic, COOKIE (value name=value; ...) as Cookie, "
        "CUSTOM_HEADER as the header header_name, QUERY_PARAM as the URL parameter param_name. "
        "The value is never returned; agents use the credential through proxy_request or "
        "assign_credential's proxy token.",
        Object(Prop("name", kCredentialName) + "," +
                   Prop("type", R"({"type":"string","enum":["API_KEY","BASIC_AUTH","COOKIE","CUSTOM_HEADER","QUERY_PARAM"],"default":"API_KEY"})") +
                   "," + Prop("value", kValue) + "," +
                   Prop("hosts",
                        Described(R"("type":"array","items":{"type":"string","minLength":1},"maxItems":16)",
                                  "Hosts it may be sent to, e.g. api.resend.com or *.example.com; "
                                  "default: the provider's")) +
                   "," +
                   Prop("provider", Described(R"("type":"string","maxLength":64)",
                                              "A known provider (openai, stripe, ...) sets the "
                                              "host and recipe")) +
                   "," +
                   Prop("header_name",
                        Described(R"("type":"string","minLength":1,"maxLength":64)",
                                  "For CUSTOM_HEADER: the header, e.g. x-api-key")) +
                   "," +
                   Prop("param_name", Described(R"("type":"string","minLength":1,"maxLength":64)",
                                                "For QUERY_PARAM: the parameter, e.g. key")),
               R"("name","value")"),
        kKeyResult, kCreates, [t](const mcp::ToolContext&, const cJSON* a) {
          const std::string type(json::GetString(a, "type").value_or("API_KEY"));
          std::string inject;
          for (const CredentialType& c : kCredentialTypes)
            if (type == c.type) inject = c.inject;
          if (type == "CUSTOM_HEADER" || type == "QUERY_PARAM") {
            const char* field = type == "CUSTOM_HEADER" ? "header_name" : "param_name";
            const auto n = json::GetString(a, field);
            if (!n) return FieldError(field, "required for type " + type);
            inject += std::string(*n);
          }
          const bool has_provider = !json::GetString(a, "provider").value_or("").empty();
          if (json::ChildCount(json::GetArray(a, "hosts")) == 0 && !has_provider)
            return FieldError("hosts",
                              "give the hosts this credential may be sent to (or a known provider)");
          json::Json policy = json::MakeObject();
          CopyMember(a, "hosts", policy.get(), "hosts");
          // A provider's own recipe wins for the default type only.
          if (!(has_provider && !json::GetMember(a, "type")))
            (void)json::SetString(policy.get(), "inject", inject);
          json::Json args = Args();
          CopyMember(a, "name", args.get(), "name");
          CopyMember(a, "provider", args.get(), "provider");
          (void)json::Set(args.get(), "policy", std::move(policy));
          const std::string name(json::GetString(a, "name").value_or(""));
          return RunWithValue(*t, "add", args, a, "value", false, [&](OpResult r) {
            if (!r.ok) return AddError(r, name, "delete it first or pick another name");
            return ToolResult::Structured(std::move(r.result));
          });
        });
}

// ---- vault_secret ------------------------------------------------------------------

// A credential as vault_secret's metadata: description = notes, expiresAt in RFC 3339.
json::Json SecretMeta(const cJSON* c) {
  json::Json out = json::MakeObject();
  CopyMember(c, "name", out.get(), "name");
  CopyMember(c, "version", out.get(), "version");
  CopyMember(c, "notes", out.get(), "description");
  CopyMember(c, "tags", out.get(), "tags");
  CopyMember(c, "created_at", out.get(), "created_at");
  if (auto e = json::GetInt(c, "expires_at"))
    (void)json::SetString(out.get(), "expiresAt", FormatRfc3339(*e));
  return out;
}

json::Json WithAction(const char* action, json::Json out) {
  (void)json::SetString(out.get(), "action", action);
  return out;
}

ToolResult SecretPut(const Tools& t, const cJSON* a, const std::string& name, bool rotate) {
  const bool base64 = json::GetString(a, "encoding") == std::optional<std::string_view>("base64");
  json::Json args = Args();
  (void)json::SetString(args.get(), "name", name);
  if (rotate) {
    return RunWithValue(t, "rotate", args, a, "value", base64, [](OpResult r) {
      if (!r.ok) return OpError(r);
      return ToolResult::Structured(WithAction("rotate", std::move(r.result)));
    });
  }
  CopyMember(a, "description", args.get(), "notes");
  CopyMember(a, "tags", args.get(), "tags");
  if (auto at = json::GetString(a, "expiresAt")) {
    const auto t_at = ParseRfc3339(*at);
    if (!t_at) return FieldError("expiresAt", "not an RFC 3339 date-time (e.g. 2027-01-31T12:00:00Z)");
    if (*t_at <= NowSeconds()) return FieldError("expiresAt", "is in the past");
    (void)json::SetInt(args.get(), "expires_at", *t_at);
  }
  const bool create = json::GetString(a, "mode") == std::optional<std::string_view>("create");
  (void)json::SetBool(args.get(), "overwrite", !create);
  // allowedAgentIds is who may reveal it; without it nobody may (keycell's default: a
  // value stays in the enclave unless its owner said otherwise).
  json::Json policy = json::MakeObject();
  CopyMember(a, "allowedAgentIds", policy.get(), "reveal_agents");
  (void)json::SetBool(policy.get(), "env_export", true);
  (void)json::Set(args.get(), "policy", std::move(policy));
  return RunWithValue(t, "add", args, a, "value", base64, [&](OpResult r) {
    if (!r.ok) return AddError(r, name, "mode is create: use mode upsert or action rotate");
    json::Json out = SecretMeta(r.result.get());
    CopyMember(r.result.get(), "fingerprint", out.get(), "fingerprint");
    return ToolResult::Structured(WithAction("put", std::move(out)));
  });
}

ToolResult SecretGet(const Tools& t, const cJSON* a, const std::string& name) {
  const bool reveal = json::GetBool(a, "reveal").value_or(false);
  const std::string purpose(json::GetString(a, "purpose").value_or(""));
  if (reveal && purpose.find_first_not_of(" \t") == std::string::npos)
    return FieldError("purpose", "required when reveal is true (it is recorded in the audit trail)");
  json::Json args = Args();
  (void)json::SetString(args.get(), "name", name);
  OpResult shown = t.Run("show", args);
  if (!shown.ok) return OpError(shown);
  json::Json out = SecretMeta(shown.result.get());
  for (const cJSON* v : json::Children(json::GetArray(shown.result.get(), "versions")))
    if (json::GetBool(v, "current").value_or(false)) CopyMember(v, "fingerprint", out.get(), "fingerprint");
  if (!reveal) {
    (void)json::SetString(out.get(), "masked_value", kMask);
    (void)json::SetBool(out.get(), "revealed", false);
    (void)json::SetString(out.get(), "hint",
                          "Masked. Use proxy_request or inject_env to use it; reveal: true with "
                          "a purpose returns the value if its policy allows you.");
    return ToolResult::Structured(WithAction("get", std::move(out)));
  }
  auto revealed = RevealThroughPipe(t, name, purpose);
  if (!revealed.ok()) return ToolResult::Error(std::string("internal: ") + revealed.status().where());
  if (!revealed->op.ok) {
    if (revealed->op.error.code == "policy_denied")
      return ToolResult::Error("policy_denied: " + UseInsteadHint(name));
    return OpError(revealed->op);
  }
  SetValue(out.get(), revealed->value,
           json::GetString(a, "encoding") == std::optional<std::string_view>("base64"));
  (void)json::SetBool(out.get(), "revealed", true);
  return ToolResult::Structured(WithAction("get", std::move(out)));
}

ToolResult VaultSecret(const Tools& t, const cJSON* a) {
  const std::string action(json::GetString(a, "action").value_or(""));
  if (action == "list") {
    OpResult r = t.Run("list", Args());
    if (!r.ok) return OpError(r);
    json::Json secrets = json::MakeArray();
    for (const cJSON* c : json::Children(r.result.get()))
      (void)json::Append(secrets.get(), SecretMeta(c));
    return ToolResult::Structured(WithAction("list", Wrap("secrets", std::move(secrets))));
  }
  const std::string name(json::GetString(a, "name").value_or(""));
  if (name.empty()) return FieldError("name", "required for action " + action);
  const bool takes_value = action == "put" || action == "rotate";
  if (takes_value && !json::GetString(a, "value")) return FieldError("value", "required for action " + action);
  if (!takes_value && json::GetMember(a, "value") != nullptr) {
    // A value sent with get/delete is not used; do not keep it around either.
    std::string why;
    (void)TakeValue(a, "value", false, &why);
    return FieldError("value", "only put and rotate take a value");
  }
  if (action == "put") return SecretPut(t, a, name, false);
  if (action == "rotate") return SecretPut(t, a, name, true);
  if (action == "get") return SecretGet(t, a, name);
  json::Json args = Args();
  (void)json::SetString(args.get(), "name", name);
  OpResult r = t.Run("rm", args);
  if (!r.ok) return OpError(r);
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "name", name);
  (void)json::SetBool(out.get(), "deleted", true);
  return ToolResult::Structured(WithAction("delete", std::move(out)));
}

void AddVaultSecretTools(Builder& b) {
  const Tools* t = &b.t;
  b.Add(
      "vault_secret", "Workspace secrets",
      "Stores and manages secrets (API keys, tokens, PEM files) sealed in keycell's enclave. "
      "action put stores (mode create fails if the name exists, upsert replaces), rotate "
      "replaces the value of an existing secret as a new version, list and get show metadata "
      "(get masks the value), delete removes a secret with all its versions. get with reveal: "
      "true and a purpose returns the plaintext only if the secret's sealed policy allows this "
      "agent (allowedAgentIds at put; without it no agent may reveal); the reveal and its "
      "purpose are audited, and the value then enters the model's context. Values are at most "
      "64 KiB.",
      Object(
          Prop("action", R"({"type":"string","enum":["put","get","list","rotate","delete"]})") +
              "," +
              Prop("name", Described(R"("type":"string","minLength":1,"maxLength":128)",
                                     "The secret's name, e.g. openai/default_api_key; not for list")) +
              "," +
              Prop("value", Described(R"("type":"string")",
                                      "For put and rotate: the value (at most 64 KiB decoded)")) +
              "," +
              Prop("encoding", R"({"type":"string","enum":["utf-8","base64"],"default":"utf-8"})") +
              "," + Prop("mode", R"({"type":"string","enum":["create","upsert"],"default":"upsert"})") +
              "," +
              Prop("allowedAgentIds",
                   Described(R"("type":"array","items":{"type":"string","minLength":1,"maxLength":64},"maxItems":32)",
                             "Agent ids (agt_...) that may reveal it; none when omitted")) +
              "," +
              Prop("description", Described(R"("type":"string","maxLength":1024)", "A note")) +
              "," +
              Prop("tags", Described(R"("type":"array","items":{"type":"string","minLength":1,"maxLength":64},"maxItems":16)",
                                     "Labels")) +
              "," +
              Prop("expiresAt", Described(R"("type":"string","minLength":1,"maxLength":64)",
                                          "RFC 3339 date-time after which it cannot be used")) +
              "," +
              Prop("reveal", Described(R"("type":"boolean","default":false)",
                                       "For get: return the plaintext (needs purpose)")) +
              "," +
              Prop("purpose", Described(R"("type":"string","minLength":1,"maxLength":200)",
                                        "Why the plaintext is needed; recorded in the audit trail")),
          R"("action")"),
      Object(Prop("action", kStr) + "," + Prop("name", kStr) + "," + Prop("version", kInt) + "," +
                 Prop("description", kStr) + "," + Prop("tags", kStrings) + "," +
                 Prop("expiresAt", kStr) + "," + Prop("fingerprint", kStr) + "," +
                 Prop("masked_value", kStr) + "," + Prop("value", kStr) + "," +
                 Prop("encoding", kStr) + "," + Prop("revealed", kBool) + "," +
                 Prop("deleted", kBool) + "," +
                 Prop("secrets", R"({"type":"array","items":{"type":"object"}})"),
             R"("action")", false),
      // put/rotate replace a value, delete removes one.
      ToolAnnotations{.read_only_hint = false,
                      .destructive_hint = true,
                      .idempotent_hint = false,
                      .open_world_hint = false},
      [t](const mcp::ToolContext&, const cJSON* a) { return VaultSecret(*t, a); });

  b.Add("rotate_and_store", "Rotate to a generated secret",
        "Generates a new random secret inside keycell's enclave and stores it as the "
        "credential's new version, under the same sealed policy (the old version stays for "
        "`keycell rollback`). Only metadata is returned: the value is never seen outside the "
        "enclave. Default: 32 characters of A-Z a-z 0-9.",
        Object(Prop("name", kCredentialName) + "," +
                   Prop("length", Described(R"("type":"integer","minimum":1,"maximum":4096,"default":32)",
                                            "How many characters")) +
                   "," +
                   Prop("alphabet",
                        Described(R"("type":"string","minLength":2,"maxLength":256)",
                                  "Printable ASCII characters to draw from")),
               R"("name")"),
        Object(Prop("name", kStr) + "," + Prop("version", kInt) + "," + Prop("fingerprint", kStr) +
                   "," + Prop("length", kInt) + "," + Prop("generated", kBool),
               R"("name","version","generated")", false),
        kReplaces, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "name", args.get(), "name");
          CopyMember(a, "length", args.get(), "length");
          CopyMember(a, "alphabet", args.get(), "alphabet");
          (void)json::SetBool(args.get(), "generate", true);
          const int64_t length = json::GetInt(a, "length").value_or(kDefaultGeneratedLength);
          return RunOp(*t, "rotate", args, [length](json::Json r) {
            (void)json::SetInt(r.get(), "length", length);
            return r;
          });
        });
}

}  // namespace

}  // namespace keycell::broker::daemon

namespace keycell::broker::daemon::tools_internal {

void AddValueTools(Builder& b, const McpToolOptions& opts) {
  if (opts.Enabled("pushkey")) AddPushkeyValueTools(b);
  if (opts.Enabled("agentkeys")) AddAgentKeysValueTools(b);
  if (opts.Enabled("vault_secret")) AddVaultSecretTools(b);
}

}  // namespace keycell::broker::daemon::tools_internal
