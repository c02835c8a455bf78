// `keycell proxy` end to end: the real keycell, keycelld and keycell-enclave against a
// recording HTTPS upstream on 127.0.0.1 ("localhost", a certificate from a test CA the
// daemon trusts through KEYCELL_TLS_EXTRA_CA_FILE). The upstream must see the injected
// credential; the CLI's output must never contain it (the enclave redacts the echo).

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"
#include "tests/support/upstream/https_upstream.h"

namespace keycell::test {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitTooLarge = 10;
constexpr int kExitPolicyDenied = 11;
constexpr int kExitHttpError = 22;
constexpr char kRedacted[] = "[REDACTED:keycell]";

class CliProxyCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = TestCa::Make("keycell proxy test CA");
    ASSERT_NE(ca_, nullptr);
    HttpsUpstream::Options o;
    o.identity = ca_->Issue("localhost");
    o.leak_secret = secret_;  // /leak echoes it back in every encoding
    upstream_ = HttpsUpstream::Start(o);
    ASSERT_NE(upstream_, nullptr);
    const std::string ca_file = box_.root() + "/upstream-ca.pem";
    ASSERT_TRUE(WriteCaFile(*ca_, ca_file));

    ASSERT_EQ(box_.Init().exit_code, 0);
    // unlock starts keycelld: the daemon (and through it the enclave) gets this env.
    RunOptions unlock;
    unlock.fd3 = std::string(CliSandbox::kPin) + "\n";
    unlock.env = {{"KEYCELL_TLS_EXTRA_CA_FILE", ca_file}};
    ProcResult u = box_.Keycell({"unlock", "--pin-fd", "3"}, unlock);
    ASSERT_EQ(u.exit_code, 0) << u.err;
    const std::string host = "localhost:" + std::to_string(upstream_->port());
    ProcResult a = box_.Add("echo-api", secret_, {"--allow-host", host, "--inject", "bearer"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ProcResult b =
        box_.Add("other-api", other_secret_, {"--allow-host", host, "--inject", "bearer"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
  }

  ProcResult Proxy(std::vector<std::string> args, const RunOptions& o = {}) {
    args.insert(args.begin(), "proxy");
    ProcResult r = box_.Keycell(args, o);
    // Whatever happened, the credentials never reach the CLI's output.
    for (const std::string& s : {secret_, other_secret_}) {
      EXPECT_EQ(r.out.find(s), std::string::npos) << "stdout leaked a credential";
      EXPECT_EQ(r.err.find(s), std::string::npos) << "stderr leaked a credential";
    }
    return r;
  }

  std::string Url(const std::string& path) const { return upstream_->Url("localhost", path); }

  // The last request the upstream recorded (after waiting for `n` in all).
  RecordedRequest Last(size_t n) const {
    EXPECT_TRUE(upstream_->WaitForRequests(n));
    auto all = upstream_->requests();
    return all.empty() ? RecordedRequest{} : all.back();
  }

  // A pxr_ token of agent `agent` for `credential`.
  std::string Token(const std::string& agent, const std::string& credential) {
    EXPECT_EQ(box_.Keycell({"agents", "create", agent}).exit_code, 0);
    ProcResult r = box_.Keycell({"agents", "assign", agent, credential});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  const std::string secret_ = RandomToken("sk-proxy-canary-");
  const std::string other_secret_ = RandomToken("sk-other-canary-");
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<HttpsUpstream> upstream_;
  CliSandbox box_;
};

TEST_F(CliProxyCommandTest, GetInjectsTheBearerAndRedactsTheEcho) {
  ProcResult r = Proxy({"--credential", "echo-api", Url("/echo?x=1")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const RecordedRequest got = Last(1);
  EXPECT_EQ(got.method, "GET");
  EXPECT_EQ(got.target, "/echo?x=1");
  ASSERT_NE(got.Header("Authorization"), nullptr);
  EXPECT_EQ(*got.Header("Authorization"), "Bearer " + secret_);

  // stdout is the upstream's body, exactly, with the echoed secret replaced.
  auto doc = json::ParseJson(r.out);
  ASSERT_TRUE(doc.ok()) << r.out;
  EXPECT_EQ(json::GetString(doc->get(), "method").value_or(""), "GET");
  EXPECT_NE(r.out.find(std::string("\"Bearer ") + kRedacted + "\""), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");

  // --json: the same call as one object, the body base64-encoded.
  ProcResult j = Proxy({"--credential", "echo-api", "--json", Url("/echo")});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto obj = json::ParseJson(j.out);
  ASSERT_TRUE(obj.ok()) << j.out;
  EXPECT_EQ(json::GetInt(obj->get(), "status").value_or(0), 200);
  EXPECT_EQ(json::GetString(obj->get(), "reason").value_or(""), "OK");
  EXPECT_NE(json::GetArray(obj->get(), "headers"), nullptr);
  EXPECT_FALSE(json::GetString(obj->get(), "body_base64").value_or("").empty());

  // Each call is audited once, as a proxy record (group-committed: it may take a moment).
  int proxied = 0, other = 0;
  std::string seen;
  for (int attempt = 0; attempt < 50 && proxied < 2; ++attempt) {
    if (attempt > 0) usleep(50 * 1000);
    ProcResult audit = box_.Keycell({"audit", "--credential", "echo-api", "--json"});
    ASSERT_EQ(audit.exit_code, 0) << audit.err;
    auto records = json::ParseJson(audit.out);
    ASSERT_TRUE(records.ok()) << audit.out;
    proxied = other = 0;
    for (const cJSON* rec : json::Children(records->get())) {
      const std::string action(json::GetString(rec, "action").value_or(""));
      if (action == "proxy")
        ++proxied;
      else if (action != "credential.add")
        ++other;
    }
    seen = audit.out;
  }
  EXPECT_EQ(proxied, 2) << seen;
  EXPECT_EQ(other, 0) << seen;
}

TEST_F(CliProxyCommandTest, AnUpstreamEchoingTheSecretInAnyEncodingIsRedacted) {
  ProcResult r = Proxy({"--credential", "echo-api", "-i", Url("/leak")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const LeakForm& form : HttpsUpstream::LeakForms(secret_))
    EXPECT_EQ(r.out.find(form.value), std::string::npos) << form.label << " form leaked:\n"
                                                         << r.out;
  EXPECT_NE(r.out.find(std::string("X-Leak: ") + kRedacted), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::string("raw=") + kRedacted), std::string::npos) << r.out;
}

TEST_F(CliProxyCommandTest, PostsDataAndDataFile) {
  ProcResult r = Proxy({"--credential", "echo-api", "-H", "Content-Type: application/json", "-d",
                        R"({"q": 1})", Url("/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RecordedRequest got = Last(1);
  EXPECT_EQ(got.method, "POST");  // -d implies POST
  EXPECT_EQ(got.body_prefix, R"({"q": 1})");
  ASSERT_NE(got.Header("Content-Type"), nullptr);
  EXPECT_EQ(*got.Header("Content-Type"), "application/json");

  // Binary bytes from a file, with an explicit method.
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const std::string path = box_.root() + "/body.bin";
  ASSERT_TRUE(WritePemFile(path, binary));
  r = Proxy({"--credential", "echo-api", "-X", "PUT", "--data-file", path, Url("/echo")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  got = Last(2);
  EXPECT_EQ(got.method, "PUT");
  EXPECT_EQ(got.body_bytes, 256u);
  EXPECT_EQ(got.body_sha256, HttpsUpstream::Sha256(binary));

  // -d and --data-file together is a usage error; nothing is sent.
  EXPECT_EQ(
      Proxy({"--credential", "echo-api", "-d", "x", "--data-file", path, Url("/echo")}).exit_code,
      kExitUsage);
  EXPECT_EQ(upstream_->request_count(), 2u);
}

TEST_F(CliProxyCommandTest, IncludeShowsStatusLineAndHeadersAndBinaryBodiesSurvive) {
  ProcResult r = Proxy({"--credential", "echo-api", "-i", Url("/bytes/70000")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.out.substr(0, 200);
  const size_t end = r.out.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  const std::string head = r.out.substr(0, end);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;  // the framing is keycell's
  EXPECT_EQ(r.out.substr(end + 4), HttpsUpstream::Pattern(70000));

  // Without -i: the body only, byte for byte (a chunked upstream body, de-chunked).
  ProcResult plain = Proxy({"--credential", "echo-api", Url("/chunked/100000")});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, HttpsUpstream::Pattern(100000));
}

TEST_F(CliProxyCommandTest, ActsAsAnAgentTokenFromStdin) {
  const std::string token = Token("bot", "echo-api");
  ASSERT_EQ(token.rfind("pxr_", 0), 0u) << token;

  // The token names its credential: no --credential needed.
  RunOptions in;
  in.stdin_data = token + "\n";
  ProcResult r = Proxy({"--token-stdin", Url("/echo")}, in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(*Last(1).Header("Authorization"), "Bearer " + secret_);
  EXPECT_EQ(r.out.find(token), std::string::npos);
  EXPECT_EQ(r.err.find(token), std::string::npos);

  // The same from $KEYCELL_AGENT_TOKEN; the rest of stdin after the token line is a body.
  RunOptions env;
  env.env = {{"KEYCELL_AGENT_TOKEN", token}};
  ASSERT_EQ(Proxy({Url("/echo")}, env).exit_code, 0);
  in.stdin_data = token + "\nbody from stdin";
  ASSERT_EQ(Proxy({"--token-stdin", "--data-file", "-", Url("/echo")}, in).exit_code, 0);
  EXPECT_EQ(Last(3).body_prefix, "body from stdin");

  // Another credential than the token's own: refused before anything is sent.
  in.stdin_data = token + "\n";
  ProcResult other = Proxy({"--token-stdin", "--credential", "other-api", Url("/echo")}, in);
  EXPECT_EQ(other.exit_code, kExitPolicyDenied) << other.err;
  EXPECT_NE(other.err.find("bound to another credential"), std::string::npos) << other.err;
  EXPECT_EQ(upstream_->request_count(), 3u);

  // A token for the other credential cannot be steered to this one either.
  const std::string other_token = Token("bot2", "other-api");
  in.stdin_data = other_token + "\n";
  EXPECT_EQ(Proxy({"--token-stdin", "--credential", "echo-api", Url("/echo")}, in).exit_code,
            kExitPolicyDenied);

  // Revoked: refused at once, and the refusal is audited by prefix only.
  ASSERT_EQ(box_.Keycell({"tokens", "revoke", token.substr(0, 12)}).exit_code, 0);
  in.stdin_data = token + "\n";
  ProcResult revoked = Proxy({"--token-stdin", Url("/echo")}, in);
  EXPECT_EQ(revoked.exit_code, kExitPolicyDenied);
  EXPECT_NE(revoked.err.find("revoked"), std::string::npos) << revoked.err;
  EXPECT_EQ(upstream_->request_count(), 3u);
  ProcResult audit = box_.Keycell({"audit", "--action", "auth.fail", "--json"});
  EXPECT_NE(audit.out.find(token.substr(0, 12)), std::string::npos) << audit.out;
  EXPECT_EQ(audit.out.find(token), std::string::npos);
}

TEST_F(CliProxyCommandTest, RefusalsAndUpstreamErrorsHaveTheirExitCodes) {
  // A host (or port) the credential's policy does not allow: 403 from keycell, nothing sent.
  ProcResult host = Proxy({"--credential", "echo-api", "https://api.example.com/v1"});
  EXPECT_EQ(host.exit_code, kExitPolicyDenied);
  EXPECT_NE(host.err.find("host not allowed"), std::string::npos) << host.err;
  EXPECT_EQ(Proxy({"--credential", "echo-api", "https://localhost:1/echo"}).exit_code,
            kExitPolicyDenied);
  EXPECT_EQ(Proxy({"--credential", "echo-api", upstream_->Url("127.0.0.1", "/echo")}).exit_code,
            kExitPolicyDenied);
  EXPECT_EQ(upstream_->request_count(), 0u);

  // The upstream's 404: its body on stdout, exit 22, a note on stderr.
  ProcResult missing = Proxy({"--credential", "echo-api", Url("/status/404")});
  EXPECT_EQ(missing.exit_code, kExitHttpError);
  EXPECT_EQ(missing.out, "status 404\n");
  EXPECT_NE(missing.err.find("404"), std::string::npos) << missing.err;
  EXPECT_EQ(Proxy({"--credential", "echo-api", Url("/status/503")}).exit_code, kExitHttpError);
  EXPECT_EQ(Proxy({"--credential", "echo-api", Url("/status/302")}).exit_code, 0);

  // keycell's own refusals.
  EXPECT_EQ(Proxy({"--credential", "no-such", Url("/echo")}).exit_code, 7);
  ProcResult bad_url = Proxy({"--credential", "echo-api", "ftp://localhost/x"});
  EXPECT_EQ(bad_url.exit_code, kExitUsage);
  EXPECT_NE(bad_url.err.find("scheme"), std::string::npos) << bad_url.err;
  EXPECT_EQ(Proxy({"--credential", "echo-api", "-X", "TRACE", Url("/echo")}).exit_code, kExitUsage);
  EXPECT_EQ(Proxy({"--credential", "echo-api", "-H", "no colon", Url("/echo")}).exit_code,
            kExitUsage);
  ASSERT_EQ(box_.Keycell({"lock"}).exit_code, 0);
  EXPECT_EQ(Proxy({"--credential", "echo-api", Url("/echo")}).exit_code, 6);
}

TEST_F(CliProxyCommandTest, UsageErrorsAndNoTokenInArgv) {
  EXPECT_EQ(Proxy({"--credential", "echo-api"}).exit_code, kExitUsage);  // no URL
  ProcResult none = Proxy({Url("/echo")});                               // no credential, no token
  EXPECT_EQ(none.exit_code, kExitUsage);
  EXPECT_NE(none.err.find("--credential"), std::string::npos) << none.err;
  // There is no flag that takes a token: it would sit in /proc/PID/cmdline.
  for (const char* flag : {"--token", "--token=pxr_x", "-t"})
    EXPECT_EQ(
        Proxy({flag, "pxr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Url("/echo")}).exit_code,
        kExitUsage)
        << flag;
  EXPECT_EQ(upstream_->request_count(), 0u);

  // A body over 2 MiB is refused before anything is sent.
  const std::string path = box_.root() + "/big.bin";
  ASSERT_TRUE(WritePemFile(path, std::string((2 << 20) + 1, 'x')));
  EXPECT_EQ(Proxy({"--credential", "echo-api", "--data-file", path, Url("/echo")}).exit_code,
            kExitTooLarge);

  ProcResult help = box_.Keycell({"proxy", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* text : {"never printed", "https://api.openai.com/v1/models", "--token-stdin",
                           "KEYCELL_AGENT_TOKEN", "-d", "22"})
    EXPECT_NE(help.out.find(text), std::string::npos) << text;
}

}  // namespace
}  // namespace keycell::test
