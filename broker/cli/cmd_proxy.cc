// proxy: one HTTP request through keycelld's injecting proxy, curl-style. The enclave
// adds the credential to the request and redacts it from the response, so neither this
// process nor keycelld ever holds it. The response body comes back through a pipe
// (Session::CallWithOutput), so it may be larger than a control message.
//
// A pxr_ token is a bearer secret: it is read from stdin (--token-stdin) or
// $KEYCELL_AGENT_TOKEN, never from argv, where every user of the machine could read it
// in /proc/PID/cmdline.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"
#include "broker/cli/terminal.h"
#include "common/unique_fd.h"

namespace keycell::cli {
namespace {

constexpr char kProxyDetails[] =
    "Sends one HTTP request to URL with a credential from the vault, like curl. The\n"
    "enclave adds the credential to the request (as its sealed policy says: bearer,\n"
    "header, query...), only for a host that policy allows, and removes it from the\n"
    "response before anything else sees it: the key is never printed, neither by\n"
    "keycell nor by an upstream that echoes it back ([REDACTED:keycell]).\n"
    "\n"
    "Output: the response body on stdout, byte for byte; with -i the status line and\n"
    "the headers first (as curl -i); with --json one object {status, reason, headers,\n"
    "body_base64}. Exit 0 for a 1xx-3xx answer, 22 when the upstream answered 4xx or\n"
    "5xx (the body is still printed, as with curl --fail-with-body), 16 when it could\n"
    "not be reached or broke the protocol (DNS, TLS, timeout), and keycell's usual codes\n"
    "for its own refusals: 2 bad URL, method or header, 6 vault locked, 7 no such\n"
    "credential, 10 body too large, 11 host not allowed by the policy, token refused,\n"
    "or credential outside the token's scope.\n"
    "\n"
    "As an agent: the token (pxr_..., from `keycell agents assign`) names its credential\n"
    "and limits the call to it. It is read from the first line of stdin with\n"
    "--token-stdin (a no-echo prompt on a terminal), or from $KEYCELL_AGENT_TOKEN; never\n"
    "from the command line, where other users could read it in /proc. --data-file -\n"
    "then reads the body from the rest of stdin.\n"
    "\n"
    "Bodies: a request body of at most 2 MiB, a response body of at most 16 MiB. -d\n"
    "sends DATA as given (no @file, no newline stripping) and makes the method POST\n"
    "unless -X says otherwise; no Content-Type is added, so give one with -H.\n"
    "Authorization, X-API-Key, Host and hop-by-hop headers are not forwarded.\n"
    "\n"
    "Examples:\n"
    "  keycell proxy --credential openai https://api.openai.com/v1/models\n"
    "  keycell proxy --credential openai https://api.openai.com/v1/chat/completions \\\n"
    "      -H 'Content-Type: application/json' \\\n"
    "      -d '{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": "
    "\"hi\"}]}'\n"
    "  keycell proxy --credential stripe-prod -i https://api.stripe.com/v1/balance\n"
    "  keycell proxy --credential gh -X POST --data-file issue.json \\\n"
    "      https://api.github.com/repos/me/app/issues\n"
    "  printf '%s\\n' \"$PXR_TOKEN\" | keycell proxy --token-stdin "
    "https://api.openai.com/v1/models\n"
    "  KEYCELL_AGENT_TOKEN=\"$PXR_TOKEN\" keycell proxy https://api.openai.com/v1/models\n";

// The agent token's longest acceptable line (a pxr_ token is 47 bytes).
constexpr size_t kMaxTokenBytes = 255;

struct ProxyOptions {
  std::string url, credential, method, data, data_file;
  std::vector<std::string> headers;
  bool token_stdin = false, include = false, as_json = false, has_data = false;
};

// The token to act as: stdin's first line, or $KEYCELL_AGENT_TOKEN; empty when neither.
Result<SecureBuffer> AgentToken(bool from_stdin) {
  if (from_stdin) {
    if (isatty(STDIN_FILENO)) return PromptSecret("proxy token (no echo): ", kMaxTokenBytes);
    return ReadSecretLine(STDIN_FILENO, kMaxTokenBytes);
  }
  const char* env = getenv("KEYCELL_AGENT_TOKEN");
  if (env == nullptr || *env == '\0') return SecureBuffer();
  return SecureBuffer::CopyOf(AsBytes(std::string_view(env)));
}

// "Name: value" (curl's -H) as a JSON pair; nullptr for a line without a name.
json::Json HeaderPair(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return nullptr;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  json::Json pair = json::MakeArray();
  for (std::string_view s : {line.substr(0, colon), value}) {
    auto j = json::MakeString(s);
    if (!j.ok() || !json::Append(pair.get(), std::move(*j)).ok()) return nullptr;
  }
  return pair;
}

// The request body: -d as given, or the file (`-` = stdin), at most the inline cap.
Result<std::string> RequestBody(const ProxyOptions& o, std::string* why) {
  if (o.data_file.empty()) return o.data;
  UniqueFd owned;
  int fd = STDIN_FILENO;
  if (o.data_file != "-") {
    owned.reset(open(o.data_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned) {
      *why = o.data_file + ": " + strerror(errno);
      return Status(Err::kUpstreamIo, "data file");
    }
    fd = owned.get();
  }
  std::string body;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = o.data_file + ": " + strerror(errno);
      return Status(Err::kUpstreamIo, "data file");
    }
    if (n == 0) return body;
    body.append(buf, static_cast<size_t>(n));
    if (body.size() > kMaxProxyInlineBodyBytes) {
      *why = o.data_file + ": larger than 2 MiB";
      return Status(Err::kTooLarge, "data file");
    }
  }
}

// The op's args (docs/control-protocol.md, `proxy`), or nullopt after printing why.
std::optional<json::Json> ProxyArgs(const ProxyOptions& o, int* exit_code) {
  json::Json args = json::MakeObject();
  auto token = AgentToken(o.token_stdin);
  if (!token.ok()) {
    *exit_code = Fail(token.status().code() == Err::kTooLarge ? kExitTooLarge : kExitUsage,
                      std::string("cannot read the token: ") + token.status().where());
    return std::nullopt;
  }
  if (token->empty() && o.credential.empty()) {
    *exit_code =
        Fail(kExitUsage,
             "give --credential NAME, or a token with --token-stdin or $KEYCELL_AGENT_TOKEN");
    return std::nullopt;
  }
  if (!token->empty() &&
      !json::SetString(
           args.get(), "token",
           std::string_view(reinterpret_cast<const char*>(token->data()), token->size()))
           .ok()) {
    *exit_code = Fail(kExitUsage, "the token is not text");
    return std::nullopt;
  }
  if (!o.credential.empty()) (void)json::SetString(args.get(), "credential", o.credential);
  (void)json::SetString(args.get(), "url", o.url);
  const std::string method = !o.method.empty() ? o.method : o.has_data ? "POST" : "GET";
  (void)json::SetString(args.get(), "method", method);
  json::Json headers = json::MakeArray();
  for (const std::string& h : o.headers) {
    json::Json pair = HeaderPair(h);
    if (!pair) {
      *exit_code = Fail(kExitUsage, "-H needs 'Name: value'");
      return std::nullopt;
    }
    (void)json::Append(headers.get(), std::move(pair));
  }
  (void)json::Set(args.get(), "headers", std::move(headers));
  if (o.has_data) {
    std::string why;
    auto body = RequestBody(o, &why);
    if (!body.ok()) {
      *exit_code = Fail(body.status().code() == Err::kTooLarge ? kExitTooLarge : kExitFailure, why);
      return std::nullopt;
    }
    if (body->size() > kMaxProxyInlineBodyBytes) {
      *exit_code = Fail(kExitTooLarge, "the request body is larger than 2 MiB");
      return std::nullopt;
    }
    (void)json::SetString(args.get(), "body_base64", Base64Encode(*body));
  }
  return args;
}

// "HTTP/1.1 200 OK" and the header lines, CRLF-terminated, as curl -i shows them.
std::string ResponseHead(const cJSON* r) {
  std::string head = "HTTP/1.1 " + IntField(r, "status");
  if (auto reason = json::GetString(r, "reason"); reason && !reason->empty())
    head += " " + std::string(*reason);
  head += "\r\n";
  for (const cJSON* pair : json::Children(json::GetArray(r, "headers"))) {
    std::vector<std::string> nv = StringsOf(pair);
    if (nv.size() == 2) head += nv[0] + ": " + nv[1] + "\r\n";
  }
  return head + "\r\n";
}

int Print(const cJSON* r, ByteView body, const ProxyOptions& o) {
  if (o.as_json) {
    json::Json out = json::MakeObject();
    (void)json::SetInt(out.get(), "status", json::GetInt(r, "status").value_or(0));
    (void)json::SetString(out.get(), "reason", json::GetString(r, "reason").value_or(""));
    const cJSON* headers = json::GetArray(r, "headers");
    (void)json::Set(out.get(), "headers",
                    headers != nullptr ? json::Clone(headers) : json::MakeArray());
    (void)json::SetString(out.get(), "body_base64", Base64Encode(AsChars(body)));
    return PrintJson(out.get());
  }
  if (o.include && PrintText(ResponseHead(r)) != kExitOk) return kExitFailure;
  if (fwrite(body.data(), 1, body.size(), stdout) != body.size() || fflush(stdout) != 0)
    return kExitFailure;
  return kExitOk;
}

int RunProxy(const ProxyOptions& o) {
  int rc = kExitOk;
  std::optional<json::Json> args = ProxyArgs(o, &rc);
  if (!args) return rc;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  SecureBuffer body;
  json::Json r;
  rc = session->CallWithOutput("proxy", args->get(), kMaxProxyPipedBodyBytes, &body, &r);
  args.reset();  // the token's copy in the request
  if (rc != kExitOk) return rc;
  if ((rc = Print(r.get(), ByteView(body.data(), body.size()), o)) != kExitOk) return rc;
  const int64_t status = json::GetInt(r.get(), "status").value_or(0);
  if (status >= 400) {
    fprintf(stderr, "keycell: the upstream answered %lld %s\n", static_cast<long long>(status),
            StringField(r.get(), "reason").c_str());
    return kExitHttpError;
  }
  return kExitOk;
}

}  // namespace

void RegisterProxyCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ProxyOptions>();
  CLI::App* c =
      AddCommand(app, "proxy", "Send an HTTP request with a vault credential injected (curl-style)",
                 kProxyDetails);
  c->add_option("url", o->url, "https:// URL of the upstream API")->required()->type_name("URL");
  c->add_option("--credential", o->credential, "The credential to inject (not needed with a token)")
      ->type_name("CREDENTIAL");
  c->add_flag(
      "--token-stdin", o->token_stdin,
      "Act as the agent whose pxr_ token is the first line of stdin (else $KEYCELL_AGENT_TOKEN)");
  c->add_option("-X,--request", o->method,
                "Method: GET HEAD POST PUT PATCH DELETE OPTIONS (default GET, POST with -d)")
      ->type_name("METHOD");
  AddRepeatable(c, "-H,--header", o->headers, "Request header 'Name: value' (repeatable)")
      ->type_name("HEADER");
  CLI::Option* data =
      c->add_option("-d,--data", o->data, "Request body, sent as given")->type_name("DATA");
  CLI::Option* file =
      c->add_option("--data-file", o->data_file, "Request body from a file ('-' = stdin)")
          ->type_name("FILE");
  data->excludes(file);
  c->add_flag("-i,--include", o->include, "Print the status line and headers before the body");
  c->add_flag("--json", o->as_json, "Print {status, reason, headers, body_base64} as JSON");
  c->callback([o, data, file, &exit_code] {
    o->has_data = data->count() > 0 || file->count() > 0;
    exit_code = RunProxy(*o);
  });
}

}  // namespace keycell::cli
