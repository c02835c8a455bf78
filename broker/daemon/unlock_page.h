#pragma once
// One-time unlock pages on keycelld's loopback HTTP listener (issue 6; docs/mcp.md
// "unlock_vault"). The MCP unlock_vault tool cannot take the PIN through the model, so
// it asks the client (URL-mode elicitation, 2025-11-25) to open
//
//   GET  /unlock/<token>   a minimal HTML form for the token PIN
//   POST /unlock/<token>   pin=<PIN> (application/x-www-form-urlencoded)
//
// in the human's browser. The token is 256 random bits, valid for `ttl` (10 minutes)
// and spent by the first successful unlock; a wrong PIN shows the form again, up to
// kMaxAttemptsPerPage tries, and every try counts against the vault's unlock rate limit
// (Vault::OpUnlock). Unknown tokens are 404, spent or expired ones 410.
//
// The PIN goes from the request body into a locked SecureBuffer, is URL-decoded into a
// second one, written to a pipe whose read end is handed to the enclave's unlock (the
// enclave reads one line, as from `keycell unlock`), and both buffers are wiped. It is
// never logged, audited or echoed.
//
// Same Host/Origin checks as /mcp (a page on another site cannot post to it); responses
// are no-store with a CSP that allows no script and posts only to this origin. No
// bearer token: whoever holds the URL may try PINs, which is what the PIN is for.
//
// Threads: everything is thread-safe; handlers run on the HTTP server's threads.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "broker/daemon/vault.h"
#include "broker/http/request.h"
#include "broker/http/response.h"
#include "broker/http/router.h"
#include "common/result.h"

namespace keycell::broker::daemon {

struct UnlockPageOptions {
  std::chrono::milliseconds ttl = std::chrono::minutes(10);
  size_t max_pages = 16;  // outstanding at once; the oldest goes when one more is made
  // The clock (tests move it to expire pages without waiting).
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
};

class UnlockPages {
 public:
  static constexpr int kMaxAttemptsPerPage = 5;

  UnlockPages(Vault& vault, UnlockPageOptions options = {});
  UnlockPages(const UnlockPages&) = delete;
  UnlockPages& operator=(const UnlockPages&) = delete;

  // Adds GET and POST /unlock/:token.
  Status Register(http::Router& router);
  // "http://127.0.0.1:8787": what page URLs start with (set once the listener is bound).
  void SetBaseUrl(std::string base);

  struct Page {
    std::string token;  // 64 hex characters; the page's only credential
    std::string url;    // base + "/unlock/" + token
  };
  // A new page, asked for by `requester` (recorded in the unlock's audit entry).
  // Err::kUnavailable before SetBaseUrl.
  Result<Page> Create(std::string_view requester);

  enum class Outcome { kUnlocked, kExpired, kGaveUp };
  // Waits until `token`'s page unlocked the vault (kUnlocked), the page expired or was
  // dropped (kExpired), or `timeout` passed / `cancelled` returned true (kGaveUp; the
  // page is dropped then, so the link stops working).
  Outcome Wait(std::string_view token, std::chrono::milliseconds timeout,
               const std::function<bool()>& cancelled);

  size_t page_count() const;

 private:
  struct Entry {
    std::chrono::steady_clock::time_point expires;
    std::string requester;
    int attempts = 0;
    bool unlocked = false;
  };

  void Get(http::Request& req, http::ResponseWriter& res);
  void Post(http::Request& req, http::ResponseWriter& res);
  // Host/Origin checks; false once 403 is sent.
  bool Gate(http::Request& req, http::ResponseWriter& res);
  // The live page for the request's token, or an error page sent (404/410) and false.
  bool Lookup(http::Request& req, http::ResponseWriter& res, std::string* requester);
  void SweepLocked();

  Vault& vault_;
  const UnlockPageOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string base_url_;                               // guarded by mu_
  std::map<std::string, Entry, std::less<>> pages_;    // guarded by mu_
  std::map<std::string, bool, std::less<>> spent_;     // guarded by mu_: token -> unlocked
};

}  // namespace keycell::broker::daemon
