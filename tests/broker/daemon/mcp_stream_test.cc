// McpStream (the `mcp` control op's stream, docs/mcp.md "Transports: stdio") on a real
// socketpair, with token authentication through a Vault over real stores and the real
// enclave. A test tool that waits for its cancellation shows that notifications/cancelled
// reaches a running request and that a stream ending cancels what still runs.

#include "broker/daemon/mcp_stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/daemon/control_protocol.h"
#include "broker/json/json.h"
#include "common/ipc/framing.h"
#include "tests/broker/daemon/daemon_fixture.h"

namespace keycell::broker::daemon {
namespace {

constexpr int kBoundMs = 30 * 1000;  // bounds a broken build; never a timing claim

constexpr char kInit[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
constexpr char kInitialized[] = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
constexpr char kCallWait[] =
    R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"wait","arguments":{}}})";
constexpr char kCancel7[] =
    R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}})";
constexpr char kPing[] = R"({"jsonrpc":"2.0","id":8,"method":"ping"})";

// What the `wait` tool saw, shared with the test.
struct WaitProbe {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool saw_cancel = false;

  bool WaitFor(bool WaitProbe::*flag) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(kBoundMs), [&] { return this->*flag; });
  }
};

// `wait`: runs until cancelled (bounded), then says so.
std::shared_ptr<const mcp::ToolRegistry> WaitTools(std::shared_ptr<WaitProbe> probe) {
  auto tools = std::make_shared<mcp::ToolRegistry>();
  mcp::Tool wait;
  wait.name = "wait";
  wait.description = "Waits until cancelled.";
  wait.input_schema = json::ParseJson(R"({"type":"object"})").value();
  wait.handler = [probe](const mcp::ToolContext& ctx, const cJSON*) {
    {
      std::lock_guard<std::mutex> lock(probe->mu);
      probe->started = true;
    }
    probe->cv.notify_all();
    for (int waited = 0; waited < kBoundMs && !ctx.cancelled(); waited += 5) usleep(5000);
    {
      std::lock_guard<std::mutex> lock(probe->mu);
      probe->saw_cancel = ctx.cancelled();
    }
    probe->cv.notify_all();
    return mcp::ToolResult::Text("done");
  };
  EXPECT_TRUE(tools->Add(std::move(wait)).ok());
  return tools;
}

class McpStreamTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (HasFatalFailure()) return;
    probe_ = std::make_shared<WaitProbe>();
    stream_ = std::make_unique<McpStream>(
        *vault_,
        [this](const identity::Principal& who) {
          principals_.push_back(who);
          return WaitTools(probe_);
        },
        McpStreamOptions{});
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_.reset(sv[0]);
    server_.reset(sv[1]);
  }

  void TearDown() override {
    if (serving_.joinable()) {
      shutdown(client_.get(), SHUT_RDWR);
      serving_.join();
    }
  }

  // Serve on a thread, as ControlServer runs it on the connection's thread.
  void Serve(json::Json args) {
    serving_ = std::thread([this, a = std::move(args)] {
      stream_->Serve(server_.get(), identity::OwnerPrincipal(getuid()), a.get());
      shutdown(server_.get(), SHUT_RDWR);  // ControlServer closes the connection after
    });
  }

  void Send(std::string_view text) {
    const ByteView parts[] = {AsBytes(text)};
    ASSERT_TRUE(ipc::SendFrame(client_.get(), parts, -1, kBoundMs).ok());
  }

  // The next frame as text; "" at EOF.
  std::string Next() {
    auto f = ipc::RecvFrame(client_.get(), kBoundMs);
    if (!f.ok()) return "";
    return std::string(reinterpret_cast<const char*>(f->payload.data()), f->payload.size());
  }

  std::shared_ptr<WaitProbe> probe_;
  std::vector<identity::Principal> principals_;
  std::unique_ptr<McpStream> stream_;
  UniqueFd client_, server_;
  std::thread serving_;
};

TEST_F(McpStreamTest, CancellationReachesARunningToolAndItsAnswerIsDropped) {
  Serve(json::MakeObject());
  ControlError error;
  auto ok = RecvControlResponse(client_.get(), kBoundMs, &error);
  ASSERT_TRUE(ok.ok()) << error.message;
  EXPECT_EQ(json::GetString(ok->get(), "kind").value_or(""), "owner");

  Send(kInit);
  EXPECT_NE(Next().find("\"protocolVersion\""), std::string::npos);
  Send(kInitialized);
  Send(kCallWait);
  ASSERT_TRUE(probe_->WaitFor(&WaitProbe::started));
  // The tool is running on its own thread: the stream still reads, and the cancellation
  // reaches it.
  Send(kCancel7);
  ASSERT_TRUE(probe_->WaitFor(&WaitProbe::saw_cancel));
  Send(kPing);
  shutdown(client_.get(), SHUT_WR);
  std::vector<std::string> frames;
  for (std::string f = Next(); !f.empty(); f = Next()) frames.push_back(f);
  serving_.join();
  // Only the ping is answered: a cancelled request gets no response.
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_NE(frames[0].find("\"id\":8"), std::string::npos) << frames[0];
}

TEST_F(McpStreamTest, ClosingTheStreamCancelsWhatStillRunsAndServeReturns) {
  Serve(json::MakeObject());
  ControlError error;
  ASSERT_TRUE(RecvControlResponse(client_.get(), kBoundMs, &error).ok()) << error.message;
  Send(kInit);
  ASSERT_FALSE(Next().empty());
  Send(kInitialized);
  Send(kCallWait);
  ASSERT_TRUE(probe_->WaitFor(&WaitProbe::started));
  shutdown(client_.get(), SHUT_WR);  // as `keycell mcp` does on stdin EOF
  serving_.join();                   // returns only once the tool has finished
  std::lock_guard<std::mutex> lock(probe_->mu);
  EXPECT_TRUE(probe_->saw_cancel);
}

TEST_F(McpStreamTest, TokensAreAuthenticatedAndRefusalsEndTheStream) {
  identity::ApiKeySpec spec;
  spec.name = "stream-key";
  auto key = identities_->CreateApiKey(spec);
  ASSERT_TRUE(key.ok()) << key.status().where();
  const std::string text(reinterpret_cast<const char*>(key->key.data()), key->key.size());

  json::Json args = json::MakeObject();
  ASSERT_TRUE(json::SetString(args.get(), "token", text).ok());
  Serve(std::move(args));
  ControlError error;
  auto ok = RecvControlResponse(client_.get(), kBoundMs, &error);
  ASSERT_TRUE(ok.ok()) << error.message;
  EXPECT_EQ(json::GetString(ok->get(), "kind").value_or(""), "apikey");
  ASSERT_EQ(principals_.size(), 1u);
  EXPECT_EQ(principals_[0].kind, identity::PrincipalKind::kApiKey);
  shutdown(client_.get(), SHUT_WR);
  serving_.join();

  for (const char* bad : {"kc_unknown_0123456789abcdef", "not-a-token"}) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_.reset(sv[0]);
    server_.reset(sv[1]);
    json::Json a = json::MakeObject();
    ASSERT_TRUE(json::SetString(a.get(), "token", bad).ok());
    Serve(std::move(a));
    ControlError refused;
    EXPECT_FALSE(RecvControlResponse(client_.get(), kBoundMs, &refused).ok());
    EXPECT_EQ(refused.code, "unauthorized") << bad;
    serving_.join();  // Serve returned after the error: no stream, no session
    EXPECT_EQ(Next(), "");
  }
  EXPECT_EQ(principals_.size(), 1u);

  json::Json wrong = json::MakeObject();
  ASSERT_TRUE(json::SetInt(wrong.get(), "token", 42).ok());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  client_.reset(sv[0]);
  server_.reset(sv[1]);
  Serve(std::move(wrong));
  ControlError bad_request;
  EXPECT_FALSE(RecvControlResponse(client_.get(), kBoundMs, &bad_request).ok());
  EXPECT_EQ(bad_request.code, "bad_request");
  serving_.join();
}

}  // namespace
}  // namespace keycell::broker::daemon
