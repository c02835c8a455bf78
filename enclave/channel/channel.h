#pragma once
// Proxy channels (docs/proxy.md "Concurrency"): after unlock the broker opens channels
// with OpenChannel, each carrying one end of a socketpair; the enclave serves each on
// its own thread, one exchange at a time (exchange.h), so one unlocked enclave serves
// many proxied calls in parallel. Unsealing is serialised by the token's mutex; TLS,
// parsing and redaction run in parallel.
//
// Threads are only ever started here, after both seccomp filters and both Landlock
// rulesets are in force (OpenChannel is refused while locked), so every thread inherits
// them; the filters admit clone with thread flags only (docs/sandbox.md).

#include "common/result.h"
#include "common/unique_fd.h"
#include "enclave/channel/exchange.h"

namespace keycell::enclave::channel {

// Live channels at most: each is one thread (512 KiB of stack) and one fd, plus an
// upstream socket while an exchange runs.
inline constexpr int kMaxChannels = 32;
inline constexpr size_t kThreadStackBytes = 512 * 1024;

// Starts a detached thread that serves exchanges on `channel` until the broker closes
// it (or breaks the protocol on it, which is logged and closes only that channel).
// `res` must outlive the process's threads (it lives in main()). Errors: kInvalidArgument
// "proxy: channel is not a stream socket", kTooLarge "proxy: too many channels",
// kInternal "proxy: cannot start a channel thread" (detail = errno).
Status StartChannel(ProxyResources& res, UniqueFd channel);

// Channels being served now.
int LiveChannels();

}  // namespace keycell::enclave::channel
