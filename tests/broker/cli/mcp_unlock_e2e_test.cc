// unlock_vault's one-time unlock page end to end (issue 6, docs/mcp.md "unlock_vault"):
// the real keycell CLI, keycelld and keycell-enclave. An MCP client that declared URL
// elicitation asks to unlock, gets the page's URL through elicitation/create, a "human"
// posts a wrong and then the right PIN to the page, and the tool call completes. Then the
// PIN is looked for where it must not be: keycelld's memory and every file of the sandbox
// (the log, the audit DB, the store).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"
#include "tests/broker/cli/e2e_probes.h"
#include "tests/broker/http/test_client.h"

namespace keycell::test {
namespace {

using broker::http::test::MakeRequest;
using broker::http::test::TestClient;
using broker::http::test::TestResponse;

class McpUnlockE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box_.Init().exit_code, 0);
    ProcResult unlock = box_.Unlock();
    ASSERT_EQ(unlock.exit_code, 0) << unlock.err;
    ProcResult st = box_.Keycell({"status", "--json"});
    auto doc = json::ParseJson(st.out);
    ASSERT_TRUE(doc.ok()) << st.out;
    const std::string http(json::GetString(doc->get(), "http").value_or(""));
    ASSERT_EQ(http.rfind("127.0.0.1:", 0), 0u) << http;
    port_ = static_cast<uint16_t>(std::stoi(http.substr(10)));
    ProcResult key = box_.Keycell({"apikeys", "create", "mcp", "--role", "member"});
    ASSERT_EQ(key.exit_code, 0) << key.err;
    key_ = key.out.substr(0, key.out.find('\n'));
    ASSERT_EQ(key_.rfind("kc_", 0), 0u) << key_;
    ASSERT_EQ(box_.Keycell({"lock"}).exit_code, 0);
  }

  bool Unlocked() {
    auto doc = json::ParseJson(box_.Keycell({"status", "--json"}).out);
    return doc.ok() && json::GetBool(doc->get(), "unlocked").value_or(false);
  }

  std::optional<TestResponse> Call(std::string_view method, std::string_view target,
                                   const std::string& headers, std::string_view body = "") {
    TestClient c;
    if (!c.Connect(port_) || !c.Send(MakeRequest(method, target, headers, body)))
      return std::nullopt;
    return c.ReadResponse();
  }

  std::string McpHeaders(const std::string& session = "") {
    std::string h = "Authorization: Bearer " + key_ +
                    "\r\nContent-Type: application/json\r\nAccept: application/json, "
                    "text/event-stream\r\n";
    if (!session.empty()) h += "Mcp-Session-Id: " + session + "\r\n";
    return h;
  }

  CliSandbox box_;
  uint16_t port_ = 0;
  std::string key_;
};

TEST_F(McpUnlockE2eTest, PageUnlocksForAnElicitingClientAndThePinStaysOutOfKeycelld) {
  ASSERT_FALSE(Unlocked());
  // `keycell init` / `keycell unlock` hand the PIN to the enclave by fd: not in keycelld.
  MemoryScan before = ScanProcessMemory(box_.DaemonPid(), {CliSandbox::kPin});
  ASSERT_TRUE(before.error.empty()) << before.error;
  EXPECT_TRUE(before.hits.empty()) << ::testing::PrintToString(before.hits);
  auto init = Call(
      "POST", "/mcp", McpHeaders(),
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"e2e","version":"1"}}})");
  ASSERT_TRUE(init && init->status == 200);
  const std::string session = init->Header("Mcp-Session-Id").value_or("");
  auto ready = Call("POST", "/mcp", McpHeaders(session),
                    R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  ASSERT_TRUE(ready && ready->status == 202);

  TestClient call;
  ASSERT_TRUE(call.Connect(port_));
  ASSERT_TRUE(call.Send(MakeRequest(
      "POST", "/mcp", McpHeaders(session),
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"unlock_vault"}})")));
  TestResponse head;
  ASSERT_TRUE(call.ReadHead(&head));
  ASSERT_EQ(head.status, 200);
  auto event = call.ReadChunk();
  ASSERT_TRUE(event);
  const size_t data = event->find("data: ");
  ASSERT_NE(data, std::string::npos);
  auto asked = json::ParseJson(event->substr(data + 6, event->find('\n', data) - data - 6));
  ASSERT_TRUE(asked.ok()) << *event;
  ASSERT_EQ(json::GetString(asked->get(), "method"), "elicitation/create");
  const std::string url(
      json::GetString(json::GetObject(asked->get(), "params"), "url").value_or(""));
  const std::string prefix = "http://127.0.0.1:" + std::to_string(port_) + "/unlock/";
  ASSERT_EQ(url.rfind(prefix, 0), 0u) << url;
  const std::string path = url.substr(prefix.size() - 8);
  auto accepted = Call("POST", "/mcp", McpHeaders(session),
                       R"({"jsonrpc":"2.0","id":")" +
                           std::string(json::GetString(asked->get(), "id").value_or("")) +
                           R"(","result":{"action":"accept"}})");
  ASSERT_TRUE(accepted && accepted->status == 202);

  // The human: the form, a wrong PIN (still locked), the right one.
  const std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
  auto page = Call("GET", path, "");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  const std::string wrong_pin = RandomToken("wrong-pin-", 16);
  auto wrong = Call("POST", path, form, "pin=" + wrong_pin);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  EXPECT_FALSE(Unlocked());
  auto right = Call("POST", path, form, std::string("pin=") + CliSandbox::kPin);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;

  auto complete = call.ReadChunk();
  ASSERT_TRUE(complete);
  EXPECT_NE(complete->find("notifications/elicitation/complete"), std::string::npos);
  auto result = call.ReadChunk();
  ASSERT_TRUE(result);
  EXPECT_NE(result->find(R"("unlocked":true)"), std::string::npos) << *result;
  EXPECT_TRUE(Unlocked());
  auto reuse = Call("POST", path, form, std::string("pin=") + CliSandbox::kPin);
  ASSERT_TRUE(reuse);
  EXPECT_EQ(reuse->status, 410);

  // Where the PINs went: into the enclave only.
  const std::vector<std::string> needles = {CliSandbox::kPin, wrong_pin};
  const pid_t daemon = box_.DaemonPid();
  ASSERT_GT(daemon, 0);
  MemoryScan control = ScanProcessMemory(daemon, {box_.data_dir()});
  ASSERT_TRUE(control.error.empty()) << control.error;
  ASSERT_FALSE(control.hits.empty()) << "the scan cannot see keycelld's memory";
  MemoryScan scan = ScanProcessMemory(daemon, needles);
  EXPECT_TRUE(scan.hits.empty()) << ::testing::PrintToString(scan.hits);
  int files = 0;
  const auto file_hits = ScanFiles(box_.root(), needles, &files);
  EXPECT_TRUE(file_hits.empty()) << ::testing::PrintToString(file_hits);
  EXPECT_FALSE(ReadFile(box_.data_dir() + "/keycelld.log").empty());
}

}  // namespace
}  // namespace keycell::test
