// The server over real sockets on 127.0.0.1 (port 0), driven by a raw-socket client that
// sends exact bytes. Every wait is bounded (test_client.h's kIoTimeout); nothing sleeps
// to make an assertion true: ordering is forced with gates the test opens.
#include "broker/http/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/http/auth.h"
#include "broker/http/errors.h"
#include "broker/json/json.h"
#include "tests/broker/http/test_client.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::http {
namespace {

using namespace std::chrono_literals;
using test::MakeRequest;
using test::TestClient;
using test::TestResponse;

// A one-shot gate: Wait blocks until Open (or the timeout, so a bug fails, not hangs).
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = test::kIoTimeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `cond` every few ms for at most `timeout`: for state the server changes on its
// own threads (connection counts), never as a substitute for ordering.
template <class F>
bool Eventually(F cond, std::chrono::milliseconds timeout = test::kIoTimeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KC_ASSERT_OK(router_.Add(Method::kGet, "/hello", [](Request&, ResponseWriter& res) {
      (void)res.Send(200, "text/plain", "hello");
    }));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/api/v1/agents/:id/credentials",
                             [](Request& req, ResponseWriter& res) {
                               (void)res.Send(200, "text/plain", std::string(*req.Param("id")));
                             }));
    KC_ASSERT_OK(router_.Add(Method::kPost, "/api/echo", [](Request& req, ResponseWriter& res) {
      auto text = req.body().ReadAll(kDefaultJsonBodyBytes);
      if (!text.ok()) return (void)SendBodyReadError(res, text.status());
      auto parsed = json::ParseJson(*text);
      if (!parsed.ok()) return (void)SendError(res, ErrorCode::kBadRequest, "body is not JSON");
      const json::Json reply = json::MakeObject();
      (void)json::Set(reply.get(), "echo", std::move(parsed).value());
      (void)SendJson(res, 200, reply.get());
    }));
    KC_ASSERT_OK(router_.Add(Method::kPost, "/upload", [this](Request& req, ResponseWriter& res) {
      std::vector<char> buf(64 * 1024);  // the only buffer: the body is never held whole
      uint64_t total = 0;
      size_t reads = 0, biggest = 0;
      for (;;) {
        auto got = req.body().Read(buf.data(), buf.size());
        if (!got.ok()) return (void)SendBodyReadError(res, got.status());
        if (*got == 0) break;
        if (reads++ == 0) upload_started_.Open();
        total += *got;
        biggest = std::max(biggest, *got);
      }
      (void)res.Send(
          200, "text/plain",
          std::to_string(total) + " " + std::to_string(reads) + " " + std::to_string(biggest));
    }));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/chunks", [](Request&, ResponseWriter& res) {
      if (!res.BeginChunked(200).ok()) return;
      for (int i = 0; i < 10; ++i) {
        if (!res.Write("chunk" + std::to_string(i)).ok()) return;
      }
      (void)res.Finish();
    }));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/events", [this](Request&, ResponseWriter& res) {
      (void)res.SetHeader("Content-Type", "text/event-stream");
      (void)res.SetHeader("Cache-Control", "no-store");
      if (!res.BeginChunked(200).ok()) return;
      if (!res.Write("event: one\ndata: 1\n\n").ok()) return;
      // Event 2 is written only after the client has read event 1.
      if (!client_read_event1_.Wait()) return;
      if (!res.Write("event: two\ndata: 2\n\n").ok()) return;
      (void)res.Finish();
    }));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/slow", [this](Request&, ResponseWriter& res) {
      slow_entered_.Open();
      (void)slow_release_.Wait();
      (void)res.Send(200, "text/plain", "slow done");
    }));
    KC_ASSERT_OK(router_.Add(Method::kPost, "/stuck", [this](Request& req, ResponseWriter& res) {
      slow_entered_.Open();
      char buf[16];
      auto got = req.body().Read(buf, sizeof(buf));  // the body never comes
      stuck_read_failed_ = !got.ok();
      if (!got.ok()) (void)SendBodyReadError(res, got.status());
    }));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/whoami", [](Request& req, ResponseWriter& res) {
      auto cred = PresentedCredential(req);
      if (!cred.ok()) return (void)SendError(res, ErrorCode::kBadRequest, cred.status().where());
      if (!cred->has_value())
        return (void)SendError(res, ErrorCode::kUnauthorized, "no credential");
      (void)res.Send(200, "text/plain", "len=" + std::to_string((*cred)->size()));
    }));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/limited", [](Request&, ResponseWriter& res) {
      (void)SendRateLimited(res, 30);
    }));
  }

  // Stops the server before the members its handlers and log use are destroyed; opens
  // the gates first so a handler still waiting on one (a failed test) returns.
  void TearDown() override {
    for (Gate* g : {&upload_started_, &client_read_event1_, &slow_entered_, &slow_release_})
      g->Open();
    if (server_) server_->Stop(std::chrono::milliseconds(0));
  }

  void Start(ServerOptions options = {}) {
    options.access_log = [this](const AccessLogEntry& e) {
      std::lock_guard lock(log_mu_);
      log_.push_back(std::string(e.method) + " " + std::string(e.path) + " " +
                     std::to_string(e.status));
    };
    server_ = std::make_unique<Server>(std::move(router_), std::move(options));
    KC_ASSERT_OK(server_->Listen("127.0.0.1", 0));
    ASSERT_NE(server_->port(), 0);
  }

  TestClient Connect() {
    TestClient c;
    EXPECT_TRUE(c.Connect(server_->port()));
    return c;
  }

  std::vector<std::string> Log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  Router router_;
  std::unique_ptr<Server> server_;
  Gate upload_started_, client_read_event1_, slow_entered_, slow_release_;
  std::atomic<bool> stuck_read_failed_{false};
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ServerTest, RoutesOverTheWire) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/hello")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/api/v1/agents/agt%5F7/credentials")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "agt_7");
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/nope")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"error":"not found","code":"not_found","status":404})");
  ASSERT_TRUE(c.Send(MakeRequest("DELETE", "/hello")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("Allow"), "GET");
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Start();
  TestClient c = Connect();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.Send(MakeRequest("GET", "/hello")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->Header("Connection"));
  }
  // Pipelined: five requests in one write, five responses in order.
  std::string five;
  for (int i = 0; i < 5; ++i)
    five += MakeRequest("GET", "/api/v1/agents/" + std::to_string(i) + "/credentials");
  ASSERT_TRUE(c.Send(five));
  for (int i = 0; i < 5; ++i) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::to_string(i));
  }
  EXPECT_EQ(server_->active_connections(), 1u);
}

TEST_F(ServerTest, BufferedJsonEcho) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(c.Send(MakeRequest("POST", "/api/echo", "Content-Type: application/json\r\n",
                                 R"({"name":"openai","n":[1,2]})")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Type"), "application/json");
  EXPECT_EQ(r->body, R"({"echo":{"name":"openai","n":[1,2]}})");
  ASSERT_TRUE(c.Send(MakeRequest("POST", "/api/echo", "", "{nope")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, R"({"error":"body is not JSON","code":"bad_request","status":400})");
}

TEST_F(ServerTest, StreamsAChunkedUploadWithoutBufferingIt) {
  Start();
  TestClient c = Connect();
  constexpr size_t kTotal = 8 * 1024 * 1024;
  constexpr size_t kChunk = 64 * 1024;
  const std::string piece(kChunk, 'u');
  char size_line[32];
  snprintf(size_line, sizeof(size_line), "%zx\r\n", kChunk);
  const std::string chunk = size_line + piece + "\r\n";
  ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  size_t sent = 0;
  for (; sent < 1024 * 1024; sent += kChunk) ASSERT_TRUE(c.Send(chunk));
  // The handler is already consuming the body while 7 MiB of it are still unsent.
  ASSERT_TRUE(upload_started_.Wait());
  for (; sent < kTotal; sent += kChunk) ASSERT_TRUE(c.Send(chunk));
  ASSERT_TRUE(c.Send("0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  unsigned long long total = 0, reads = 0, biggest = 0;
  ASSERT_EQ(sscanf(r->body.c_str(), "%llu %llu %llu", &total, &reads, &biggest), 3);
  EXPECT_EQ(total, kTotal);
  EXPECT_GE(reads, kTotal / kChunk);
  EXPECT_LE(biggest, kChunk);
  // And the connection is still good for the next request.
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/hello")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, StreamsAChunkedResponse) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/chunks")));
  TestResponse head;
  ASSERT_TRUE(c.ReadHead(&head));
  EXPECT_EQ(head.Header("Transfer-Encoding"), "chunked");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c.ReadChunk(), "chunk" + std::to_string(i));
  EXPECT_EQ(c.ReadChunk(), "");
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/hello")));  // keep-alive after a stream
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
}

TEST_F(ServerTest, ServerSentEventsArriveOneByOne) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/events", "Accept: text/event-stream\r\n")));
  TestResponse head;
  ASSERT_TRUE(c.ReadHead(&head));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Type"), "text/event-stream");
  // The handler is blocked until we open the gate: event 1 reached us on its own.
  EXPECT_EQ(c.ReadChunk(), "event: one\ndata: 1\n\n");
  client_read_event1_.Open();
  EXPECT_EQ(c.ReadChunk(), "event: two\ndata: 2\n\n");
  EXPECT_EQ(c.ReadChunk(), "");
}

TEST_F(ServerTest, BodyLimits) {
  ServerOptions options;
  options.max_body_bytes = 4 * 1024 * 1024;
  Start(options);
  {
    // Above the handler's ReadAll limit (1 MiB): 413 without reading the body, then close.
    TestClient c = Connect();
    const std::string body(2 * 1024 * 1024, 'j');
    ASSERT_TRUE(c.Send(MakeRequest("POST", "/api/echo", "Content-Length: 2097152\r\n")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_EQ(r->body,
              R"({"error":"request body too large","code":"payload_too_large","status":413})");
    EXPECT_TRUE(c.ReadEof());
  }
  {
    // Above the server's max_body_bytes: refused from the head, before any handler.
    TestClient c = Connect();
    ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4194305\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.ReadEof());
  }
}

TEST_F(ServerTest, HeaderLimit) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(
      c.Send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->body,
            R"({"error":"request head too large","code":"headers_too_large","status":431})");
  EXPECT_TRUE(c.ReadEof());
}

struct WireCase {
  const char* name;
  const char* bytes;
};

class MalformedTest : public ServerTest, public ::testing::WithParamInterface<WireCase> {};

TEST_P(MalformedTest, AnsweredWith400ThenClosed) {
  Start();
  TestClient c = Connect();
  // A valid request follows: after a framing error it must not be served.
  ASSERT_TRUE(c.Send(std::string(GetParam().bytes) + MakeRequest("GET", "/hello")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->Header("Connection"), "close");
  auto j = json::ParseJson(r->body);
  ASSERT_TRUE(j.ok()) << r->body;
  EXPECT_EQ(json::GetString(j->get(), "code"), "bad_request");
  EXPECT_TRUE(c.ReadEof());
}

INSTANTIATE_TEST_SUITE_P(
    Smuggling, MalformedTest,
    ::testing::Values(
        WireCase{"ClAndTe",
                 "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"},
        WireCase{"TwoContentLengths",
                 "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: "
                 "7\r\n\r\n{}"},
        WireCase{"BadHeaderName", "GET /hello HTTP/1.1\r\nHost: x\r\nX Bad: y\r\n\r\n"},
        WireCase{"CrInTarget", "GET /hel\rlo HTTP/1.1\r\nHost: x\r\n\r\n"},
        WireCase{"ObsFold", "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\t2\r\n\r\n"},
        WireCase{"NoHost", "GET /hello HTTP/1.1\r\n\r\n"}),
    [](const ::testing::TestParamInfo<WireCase>& p) { return std::string(p.param.name); });

TEST_F(ServerTest, HeaderTimeoutClosesHalfSentRequests) {
  ServerOptions options;
  options.header_timeout = 300ms;
  options.idle_timeout = 300ms;
  Start(options);
  {
    TestClient c = Connect();
    ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n"));  // never finished
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_TRUE(c.ReadEof());
  }
  {
    TestClient c = Connect();  // connects, sends nothing: closed quietly
    EXPECT_TRUE(c.ReadEof());
  }
  {
    TestClient c = Connect();  // idle after one request: closed after idle_timeout
    ASSERT_TRUE(c.Send(MakeRequest("GET", "/hello")));
    ASSERT_TRUE(c.ReadResponse());
    EXPECT_TRUE(c.ReadEof());
  }
  EXPECT_TRUE(Eventually([&] { return server_->active_connections() == 0; }));
}

TEST_F(ServerTest, ConnectionLimitAnswers503) {
  ServerOptions options;
  options.max_connections = 2;
  Start(options);
  TestClient a = Connect(), b = Connect();
  ASSERT_TRUE(Eventually([&] { return server_->active_connections() == 2; }));
  TestClient c = Connect();
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("Retry-After"), "1");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_EQ(r->body,
            R"({"error":"too many connections","code":"service_unavailable","status":503})");
  EXPECT_TRUE(c.ReadEof());
  EXPECT_EQ(server_->rejected_connections(), 1u);
  // The two admitted connections still work; freeing one admits a new one.
  ASSERT_TRUE(a.Send(MakeRequest("GET", "/hello")));
  ASSERT_TRUE(a.ReadResponse());
  b.Close();
  ASSERT_TRUE(Eventually([&] { return server_->active_connections() == 1; }));
  TestClient d = Connect();
  ASSERT_TRUE(d.Send(MakeRequest("GET", "/hello")));
  r = d.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, GracefulStopLetsInFlightRequestsFinish) {
  Start();
  TestClient idle = Connect();
  ASSERT_TRUE(idle.Send(MakeRequest("GET", "/hello")));
  ASSERT_TRUE(idle.ReadResponse());
  TestClient busy = Connect();
  ASSERT_TRUE(busy.Send(MakeRequest("GET", "/slow")));
  ASSERT_TRUE(slow_entered_.Wait());

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server_->Stop(10s);
    stopped = true;
  });
  // The idle keep-alive connection is closed at once; the busy one is not.
  EXPECT_TRUE(idle.ReadEof());
  EXPECT_FALSE(stopped.load());
  slow_release_.Open();
  auto r = busy.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(busy.ReadEof());
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_EQ(server_->active_connections(), 0u);
  // Not accepting any more.
  TestClient late;
  EXPECT_FALSE(late.Connect(server_->port()) && late.Send(MakeRequest("GET", "/hello")) &&
               late.ReadResponse(false, 1s).has_value());
}

TEST_F(ServerTest, StopCutsOffStragglersAfterTheGracePeriod) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(c.Send("POST /stuck HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  ASSERT_TRUE(slow_entered_.Wait());
  const auto t0 = std::chrono::steady_clock::now();
  server_->Stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(stuck_read_failed_.load());
  EXPECT_EQ(server_->active_connections(), 0u);
  server_->Stop();  // idempotent
}

TEST_F(ServerTest, CredentialHeaders) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/whoami", "Authorization: Bearer pxr_abc\r\n")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "len=7");
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/whoami?api_key=kc_query")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  ASSERT_TRUE(
      c.Send(MakeRequest("GET", "/whoami", "Authorization: Bearer pxr_a\r\nX-API-Key: kc_b\r\n")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  ASSERT_TRUE(c.Send(MakeRequest("GET", "/limited")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->Header("Retry-After"), "30");
}

TEST_F(ServerTest, AccessLogHasNoQueryOrHeaderValues) {
  Start();
  TestClient c = Connect();
  ASSERT_TRUE(
      c.Send(MakeRequest("GET", "/hello?token=pxr_SECRETQUERY", "X-Secret: SECRETHEADER\r\n")));
  ASSERT_TRUE(c.ReadResponse());
  ASSERT_TRUE(c.Send("GET /bad%zz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse());
  c.Close();
  ASSERT_TRUE(Eventually([&] { return Log().size() == 2; }));
  const auto log = Log();
  EXPECT_EQ(log[0], "GET /hello 200");
  EXPECT_EQ(log[1], "GET - 400");
  for (const std::string& line : log) {
    EXPECT_EQ(line.find("SECRET"), std::string::npos) << line;
  }
}

TEST(ServerListenTest, NumericAddressesOnly) {
  Server s(Router{});
  EXPECT_EQ(s.Listen("localhost", 0).code(), Err::kInvalidArgument);
  EXPECT_EQ(s.Listen("", 0).code(), Err::kInvalidArgument);
  EXPECT_TRUE(IsNumericHost("127.0.0.1"));
  EXPECT_TRUE(IsNumericHost("[::1]"));
  EXPECT_FALSE(IsNumericHost("example.com"));
  KC_ASSERT_OK(s.Listen("127.0.0.1", 0));
  EXPECT_EQ(s.Listen("127.0.0.1", 0).code(), Err::kInvalidArgument);  // once only

  Server other(Router{});
  const Status busy = other.Listen("127.0.0.1", s.port());
  EXPECT_EQ(busy.code(), Err::kUpstreamIo);
  EXPECT_EQ(busy.detail(), EADDRINUSE);
}

TEST(ServerListenTest, StopWithoutListenIsHarmless) {
  Server s(Router{});
  s.Stop();
  EXPECT_EQ(s.Listen("127.0.0.1", 0).code(), Err::kInvalidArgument);  // stopped for good
}

}  // namespace
}  // namespace keycell::broker::http
