// The connection loop over an in-memory transport: exact bytes in, exact bytes out, no
// sockets or timing. Framing, smuggling refusals, limits, keep-alive and body handling.
#include "broker/http/connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/http/errors.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::http {
namespace {

// Every "HTTP/1.1 NNN" status line in `out`, in order (bodies here never contain one).
std::vector<int> Statuses(const std::string& out) {
  std::vector<int> codes;
  for (size_t pos = out.find("HTTP/1.1 "); pos != std::string::npos;
       pos = out.find("HTTP/1.1 ", pos + 1)) {
    codes.push_back(std::stoi(out.substr(pos + 9, 3)));
  }
  return codes;
}

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.max_header_bytes = 1024;
    options_.max_header_fields = 20;
    options_.max_body_bytes = 100000;
    options_.access_log = [this](const AccessLogEntry& e) {
      log_.push_back(std::string(e.method) + " " + std::string(e.path) + " " +
                     std::to_string(e.status) + " " + std::to_string(e.request_body_bytes) + " " +
                     std::to_string(e.response_body_bytes));
    };
    auto counted = [this](Handler h) {
      return [this, h](Request& req, ResponseWriter& res) {
        ++calls_;
        h(req, res);
      };
    };
    KC_ASSERT_OK(router_.Add({Method::kGet, Method::kHead}, "/hello",
                             counted([](Request&, ResponseWriter& res) {
                               (void)res.Send(200, "text/plain", "hello");
                             })));
    KC_ASSERT_OK(router_.Add(Method::kPost, "/echo", counted([](Request& req, ResponseWriter& res) {
                               auto body = req.body().ReadAll(4096);
                               if (!body.ok()) return (void)SendBodyReadError(res, body.status());
                               (void)res.Send(200, "text/plain", "echo:" + *body);
                             })));
    KC_ASSERT_OK(router_.Add(Method::kPost, "/ignore", counted([](Request&, ResponseWriter& res) {
                               (void)res.Send(200, "text/plain", "ignored");
                             })));
    KC_ASSERT_OK(
        router_.Add(Method::kPost, "/count", counted([](Request& req, ResponseWriter& res) {
                      char buf[100];
                      uint64_t total = 0;
                      for (;;) {
                        auto got = req.body().Read(buf, sizeof(buf));
                        if (!got.ok()) return (void)SendBodyReadError(res, got.status());
                        if (*got == 0) break;
                        total += *got;
                      }
                      (void)res.Send(200, "text/plain", "count:" + std::to_string(total));
                    })));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/nothing", counted([](Request&, ResponseWriter&) {})));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/throw", counted([](Request&, ResponseWriter&) {
                               throw std::runtime_error("boom");
                             })));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/partial", counted([](Request&, ResponseWriter& res) {
                               (void)res.BeginChunked(200);
                               (void)res.Write("part");
                             })));
  }

  std::string Serve(std::string input, size_t max_read = SIZE_MAX) {
    MemoryTransport t(std::move(input), max_read);
    ConnectionContext ctx;
    ctx.router = &router_;
    ctx.options = &options_;
    ctx.peer = {"127.0.0.1", 1234};
    ServeConnection(t, ctx);
    lingered_ = t.lingering_closed();
    return t.output();
  }

  ServerOptions options_;
  Router router_;
  int calls_ = 0;
  bool lingered_ = false;
  std::vector<std::string> log_;
};

TEST_F(ConnectionTest, PipelinedKeepAlive) {
  const std::string out = Serve(
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "\r\n"  // a stray CRLF between requests is tolerated
      "GET /hello?secret=1 HTTP/1.1\r\nHost: x\r\n\r\n",
      /*max_read=*/7);  // small reads: every boundary falls mid-read somewhere
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 200, 200}));
  EXPECT_NE(out.find("echo:abc"), std::string::npos);
  EXPECT_EQ(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(calls_, 3);
  // The access log has the path without its query, and body sizes.
  EXPECT_EQ(log_, (std::vector<std::string>{"GET /hello 200 0 5", "POST /echo 200 3 8",
                                            "GET /hello 200 0 5"}));
}

TEST_F(ConnectionTest, Http10ClosesUnlessKeepAlive) {
  EXPECT_EQ(Statuses(Serve("GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n")),
            (std::vector<int>{200}));
  const std::string out = Serve(
      "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n"
      "Connection: close\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 200}));  // the third is never read
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
}

struct BadCase {
  const char* name;
  std::string request;
  int status;
};

TEST_F(ConnectionTest, RefusesMalformedAndSmugglingShapes) {
  const std::string next = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<BadCase> cases = {
      {"cl_then_te",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"te_then_cl",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: "
       "4\r\n\r\n0\r\n\r\n",
       400},
      {"two_cl_differ",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
      {"two_cl_same",
       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
      {"cl_list", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
      {"cl_plus", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400},
      {"cl_negative", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
      {"cl_hex", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400},
      {"te_gzip", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"te_gzip_chunked",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      {"te_chunked_gzip",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
      {"te_twice",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"te_identity",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: "
       "3\r\n\r\nabc",
       400},
      {"te_http10", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"te_space_name",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
      {"obs_fold", "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 400},
      {"obs_fold_te",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400},
      {"space_before_first_field", "GET /hello HTTP/1.1\r\n Host: x\r\n\r\n", 400},
      {"bad_header_name", "GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", 400},
      {"header_name_ctl", "GET /hello HTTP/1.1\r\nHost: x\r\nX\x01Y: x\r\n\r\n", 400},
      {"header_no_colon", "GET /hello HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
      {"header_value_nul",
       std::string("GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a") + '\0' + "b\r\n\r\n", 400},
      {"cr_in_target", "GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"lf_in_target", "GET /a\nb HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"bare_lf", "GET /hello HTTP/1.1\nHost: x\n\n", 400},
      {"bare_cr", "GET /hello HTTP/1.1\rHost: x\r\n\r\n", 400},
      {"encoded_crlf_target", "GET /hello%0d%0aX:%20y HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"dotdot", "GET /hello/../hello HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"encoded_dotdot", "GET /%2e%2e/hello HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"absolute_form", "GET http://evil.example/hello HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"authority_form", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
       400},
      {"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"no_host", "GET /hello HTTP/1.1\r\n\r\n", 400},
      {"two_hosts", "GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
      {"http2", "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 400},
      {"http09", "GET /hello\r\n\r\n", 400},
      {"bad_version", "GET /hello HTTP/1.1x\r\nHost: x\r\n\r\n", 400},
      {"bad_method", "G(T /hello HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"expect_other",
       "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na", 417},
  };
  for (const BadCase& c : cases) {
    calls_ = 0;
    log_.clear();
    // The same bytes followed by a valid request: it must never be served, since after
    // a framing error nobody knows where it starts.
    const std::string out = Serve(c.request + next);
    EXPECT_EQ(Statuses(out), std::vector<int>{c.status}) << c.name << "\n" << out;
    EXPECT_EQ(calls_, 0) << c.name;
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << c.name;
    EXPECT_NE(out.find("Content-Type: application/json\r\n"), std::string::npos) << c.name;
    EXPECT_TRUE(lingered_) << c.name;
    ASSERT_EQ(log_.size(), 1u) << c.name;
    EXPECT_NE(log_[0].find(" - "), std::string::npos)
        << c.name;  // the refused path is never logged
  }
}

TEST_F(ConnectionTest, HeaderLimits) {
  const std::string big =
      "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1100, 'a') + "\r\n\r\n";
  std::string out = Serve(big);
  EXPECT_EQ(Statuses(out), std::vector<int>{431});
  EXPECT_NE(out.find(R"("code":"headers_too_large")"), std::string::npos);
  // Never-ending head without a CRLF at all.
  EXPECT_EQ(Statuses(Serve("GET /" + std::string(5000, 'a'))), std::vector<int>{431});
  // Leading empty lines count too.
  std::string crlfs;
  for (int i = 0; i < 600; ++i) crlfs += "\r\n";
  EXPECT_EQ(Statuses(Serve(crlfs + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")),
            std::vector<int>{431});
  std::string many = "GET /hello HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 25; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  EXPECT_EQ(Statuses(Serve(many + "\r\n")), std::vector<int>{431});
  EXPECT_EQ(calls_, 0);
  // Just under the limit is fine.
  std::string fits = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Fill: ";
  fits += std::string(1024 - fits.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 1024u);
  EXPECT_EQ(Statuses(Serve(fits)), std::vector<int>{200});
}

TEST_F(ConnectionTest, BodyLimits) {
  // Above max_body_bytes: refused from the head, before the handler.
  std::string out = Serve("POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{413});
  EXPECT_NE(
      out.find(R"({"error":"request body too large","code":"payload_too_large","status":413})"),
      std::string::npos);
  EXPECT_EQ(calls_, 0);
  // Above the handler's ReadAll limit (4096): 413 from the handler, connection closed.
  out = Serve("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
              std::string(5000, 'a') + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{413});
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  // A chunked body that grows past max_body_bytes fails the handler's read.
  std::string chunked = "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 30; ++i) chunked += "1000\r\n" + std::string(4096, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_EQ(Statuses(Serve(chunked)), std::vector<int>{413});
}

TEST_F(ConnectionTest, ChunkedRequestBodyIsDecoded) {
  const std::string out = Serve(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\n1\r\nd\r\n0\r\nX-Trailer: t\r\n\r\n"
      "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "fa\r\n" +
          std::string(250, 'z') + "\r\n0\r\n\r\n",
      /*max_read=*/3);
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 200}));
  EXPECT_NE(out.find("echo:abcd"), std::string::npos);
  EXPECT_NE(out.find("count:250"), std::string::npos);
}

TEST_F(ConnectionTest, MalformedChunkingFailsTheRead) {
  for (const std::string bad :
       {"zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcX\r\n0\r\n\r\n", "ffffffffffffffffff\r\n", "3\r\nab"}) {
    const std::string out =
        Serve("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + bad);
    EXPECT_EQ(Statuses(out).size(), 1u) << bad;
    EXPECT_TRUE(Statuses(out)[0] == 400 || Statuses(out)[0] == 413) << bad << out;
    EXPECT_NE(out.find("Connection: close"), std::string::npos);
  }
  // An endless chunk extension is bounded like a header.
  const std::string out =
      Serve("POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
            std::string(5000, 'e'));
  EXPECT_EQ(Statuses(out), std::vector<int>{400});
}

TEST_F(ConnectionTest, TruncatedBodyIsAnError) {
  const std::string out = Serve("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(Statuses(out), std::vector<int>{400});
}

TEST_F(ConnectionTest, UnreadBodyIsDrainedOrTheConnectionCloses) {
  // Small: drained after the response, the connection serves the next request.
  std::string out = Serve("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
                          std::string(1000, 'a') + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 200}));
  EXPECT_EQ(out.find("Connection: close"), std::string::npos);
  // Small chunked: the same.
  out = Serve(
      "POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 200}));
  // Larger than kMaxDrainBytes: "Connection: close" in the head, then a lingering close.
  out = Serve("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n" +
              std::string(70000, 'a') + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{200});
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(lingered_);
}

TEST_F(ConnectionTest, ExpectContinue) {
  std::string out = Serve(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(Statuses(out), (std::vector<int>{100, 200}));
  EXPECT_EQ(out.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0), 0u);
  // Answered without reading: no 100, and the client (which may never send the body) is
  // told the connection closes.
  out = Serve(
      "POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{200});
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  // Without a body there is nothing to continue.
  out = Serve("GET /hello HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{200});
}

TEST_F(ConnectionTest, HandlerFailures) {
  std::string out =
      Serve("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), (std::vector<int>{500, 200}));  // a 500 keeps the connection
  out = Serve("GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), (std::vector<int>{500, 200}));
  EXPECT_NE(out.find(R"("code":"internal_error")"), std::string::npos);
  EXPECT_EQ(out.find("boom"), std::string::npos);  // exception text never reaches the client
  // An unfinished streamed body: the connection closes (no last chunk, no next response).
  out = Serve("GET /partial HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{200});
  EXPECT_EQ(out.find("0\r\n\r\n"), std::string::npos);
}

TEST_F(ConnectionTest, HeadAndNotFound) {
  const std::string out = Serve(
      "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
      "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 404, 405}));
  EXPECT_EQ(out.find("hello\r\n"), std::string::npos);
  EXPECT_EQ(
      out.rfind(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nHTTP/1.1 404",
          0),
      0u)
      << out;
  EXPECT_NE(out.find("Allow: GET, HEAD\r\n"), std::string::npos);
}

TEST_F(ConnectionTest, EofMidHeadSendsNothing) {
  EXPECT_EQ(Serve("GET /hello HTTP/1.1\r\nHos"), "");
  EXPECT_EQ(Serve(""), "");
}

}  // namespace
}  // namespace keycell::broker::http
