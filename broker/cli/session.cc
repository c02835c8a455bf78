#include "broker/cli/session.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>

#include <algorithm>

#include "broker/cli/output.h"
#include "broker/cli/secret_io.h"

namespace keycell::cli {
namespace {

// Once keycelld has answered, the enclave and keycelld have dropped their copies of
// the pipe's write end; EOF follows at once. This only bounds a misbehaving peer.
constexpr int kEofAfterReplyMs = 5000;

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

int Fail(int exit_code, std::string_view message) {
  fprintf(stderr, "keycell: %.*s\n", static_cast<int>(message.size()), message.data());
  return exit_code;
}

std::optional<broker::Config> LoadCliConfig(int* exit_code) {
  std::string why;
  auto config = broker::LoadConfig(broker::ProcessEnvironment(), &why);
  if (!config.ok()) {
    *exit_code = Fail(kExitFailure, "configuration: " +
                                        (why.empty() ? std::string(config.status().where()) : why));
    return std::nullopt;
  }
  return std::move(*config);
}

std::unique_ptr<Session> Session::Open(bool autostart, int* exit_code) {
  auto config = LoadCliConfig(exit_code);
  if (!config) return nullptr;
  std::string why;
  auto conn = DaemonConnection::Open(*config, autostart, &why);
  if (!conn.ok() && !autostart) {
    *exit_code = kExitDaemonUnavailable;
    return nullptr;
  }
  if (!conn.ok()) {
    const bool uninitialised = conn.status().code() == Err::kUnknownKey;
    if (why.empty()) why = std::string("cannot reach keycelld: ") + conn.status().where();
    *exit_code = Fail(uninitialised ? kExitNotInitialised : kExitDaemonUnavailable, why);
    return nullptr;
  }
  return std::unique_ptr<Session>(new Session(std::move(*config), std::move(*conn)));
}

// An error response carries its own message and exit code; anything else means the
// connection broke (keycelld stopped or was killed mid-command).
int Session::Report(const Status& transport, const ControlError& error, ControlError* out) {
  ControlError e = error;
  if (e.code.empty()) {
    e.code = "daemon_unavailable";
    e.exit_code = kExitDaemonUnavailable;
    e.message = transport.code() == Err::kTimeout
                    ? "keycelld did not answer in time"
                    : "lost the connection to keycelld (see " + config_.data_dir + "/keycelld.log)";
  }
  if (out != nullptr) {
    *out = e;
    return e.exit_code;
  }
  return Fail(e.exit_code, e.message);
}

int Session::Call(std::string_view op, const cJSON* args, int fd, json::Json* result,
                  ControlError* error) {
  ControlError err;
  auto r = conn_.Call(op, args, fd, &err);
  if (!r.ok()) return Report(r.status(), err, error);
  *result = std::move(*r);
  return kExitOk;
}

int Session::CallWithOutput(std::string_view op, const cJSON* args, size_t max_output,
                            SecureBuffer* output, json::Json* result) {
  auto pipe = MakePipe();
  if (!pipe.ok()) return Fail(kExitFailure, "cannot create a pipe");
  const Status sent = conn_.Send(op, args, pipe->write.get());
  pipe->write.reset();  // from now on EOF means: the enclave and keycelld are done with it
  if (!sent.ok()) return Report(sent, ControlError{}, nullptr);
  return ReadOutputAndReply(pipe->read.get(), max_output, output, result);
}

int Session::ReadOutputAndReply(int read_fd, size_t max_output, SecureBuffer* output,
                                json::Json* result) {
  SecureBuffer buf;
  size_t used = 0;
  bool eof = false, replied = false, too_large = false, read_failed = false;
  std::optional<Result<json::Json>> reply;
  ControlError err;
  int64_t deadline = NowMs() + DaemonConnection::kCallTimeoutMs;
  while (!eof || !replied) {
    pollfd fds[2] = {{eof ? -1 : read_fd, POLLIN, 0}, {replied ? -1 : conn_.fd(), POLLIN, 0}};
    const int64_t left = deadline - NowMs();
    const int n = left <= 0 ? 0 : poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (fds[0].revents != 0) {
      // Past the limit keep draining (into the same bytes) so the writer never blocks.
      if (too_large) used = 0;
      auto got = ReadSomeInto(read_fd, &buf, &used, max_output);
      read_failed = !got.ok() && got.status().code() != Err::kTooLarge;
      if (read_failed) break;
      too_large = too_large || !got.ok();
      eof = got.ok() && *got == 0;
    }
    if (fds[1].revents != 0) {
      reply.emplace(conn_.Receive(&err));
      replied = true;
      deadline = std::min(deadline, NowMs() + kEofAfterReplyMs);
    }
  }
  if (read_failed) return Fail(kExitFailure, "cannot read the output pipe");
  if (!replied) return Report(Status(Err::kTimeout, "no reply"), ControlError{}, nullptr);
  if (!reply->ok()) return Report(reply->status(), err, nullptr);
  if (too_large)
    return Fail(kExitTooLarge, "the output was larger than expected; nothing was kept");
  if (!eof) return Fail(kExitFailure, "the output pipe was not closed; nothing was kept");
  buf.resize(used);
  *output = std::move(buf);
  *result = std::move(**reply);
  return kExitOk;
}

int CallAndPrint(std::string_view op, const cJSON* args, bool as_json,
                 const std::function<std::string(const cJSON*)>& render) {
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json result;
  if ((rc = session->Call(op, args, -1, &result)) != kExitOk) return rc;
  return as_json ? PrintJson(result.get()) : PrintText(render(result.get()));
}

}  // namespace keycell::cli
