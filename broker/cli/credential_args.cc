#include "broker/cli/credential_args.h"

#include <sys/random.h>
#include <unistd.h>

#include "broker/cli/commands.h"
#include "broker/cli/expiry.h"
#include "broker/cli/secret_io.h"

namespace keycell::cli {
namespace {

json::Json StringArray(const std::vector<std::string>& items) {
  json::Json arr = json::MakeArray();
  for (const auto& s : items)
    if (auto j = json::MakeString(s); j.ok()) (void)json::Append(arr.get(), std::move(*j));
  return arr;
}

json::Json PolicyArgs(const AddFlags& f) {
  json::Json p = json::MakeObject();
  (void)json::Set(p.get(), "hosts", StringArray(f.hosts));
  if (!f.inject.empty()) (void)json::SetString(p.get(), "inject", f.inject);
  (void)json::SetBool(p.get(), "revealable", f.revealable);
  (void)json::Set(p.get(), "reveal_agents", StringArray(f.reveal_agents));
  (void)json::SetBool(p.get(), "env_export", f.env_export);
  (void)json::Set(p.get(), "insecure_http", StringArray(f.insecure_http));
  return p;
}

// 20..160 ms, random so two clients that collided do not collide again in lockstep.
void Backoff(int attempt) {
  uint32_t r = 0;
  (void)!getrandom(&r, sizeof(r), 0);
  usleep(static_cast<useconds_t>((20 + r % 20) * 1000 * (1 + attempt % 4)));
}

}  // namespace

void AddFlagsTo(CLI::App* cmd, AddFlags& f, bool per_credential) {
  cmd->add_option(
      "--provider", f.provider,
      "Provider (openai, anthropic, stripe, github, resend, ...): fills the allowed host and "
      "injection recipe");
  cmd->add_option("--env", f.env, "Environment label (prod, staging, dev...)");
  AddRepeatable(cmd, "--tag", f.tags, "Tag (repeatable)");
  if (per_credential) {
    cmd->add_option("--notes", f.notes, "Free-text notes (metadata, never secret)");
    cmd->add_option("--expires", f.expires,
                    "Expiry: 2026-12-31, 2026-12-31T00:00:00Z or a duration like 90d")
        ->type_name("DATE|DURATION");
  }
  AddRepeatable(cmd, "--allow-host", f.hosts,
                "Host the key may be sent to: HOST, *.SUFFIX, HOST:PORT (repeatable)")
      ->type_name("HOST");
  cmd->add_option("--inject", f.inject,
                  "How the key is injected: bearer, basic, header:NAME[:PREFIX], "
                  "query:NAME, cookie[:NAME] or none")
      ->type_name("SPEC");
  cmd->add_flag("--revealable", f.revealable, "Allow `keycell get --reveal` to print the value");
  AddRepeatable(cmd, "--reveal-agent", f.reveal_agents,
                "Only this agent id may reveal it (repeatable; implies "
                "--revealable)")
      ->type_name("ID");
  cmd->add_flag("--env-export", f.env_export,
                "Allow `keycell run` and `keycell env` to put the value in a command's environment "
                "or a .env file");
  AddRepeatable(cmd, "--insecure-http", f.insecure_http,
                "Allow plain http:// to this exact host (repeatable; "
                "local test servers only)")
      ->type_name("HOST");
  cmd->add_flag("--overwrite", f.overwrite,
                "Replace the value of an existing credential (its history is kept)");
}

Result<json::Json> AddArgs(const AddFlags& f, std::string_view name, int64_t now_unix,
                           std::string* why) {
  json::Json args = json::MakeObject();
  if (Status st = json::SetString(args.get(), "name", name); !st.ok()) {
    *why = "the name is not valid UTF-8 text";
    return st;
  }
  (void)json::SetString(args.get(), "provider", f.provider);
  (void)json::SetString(args.get(), "env", f.env);
  (void)json::SetString(args.get(), "notes", f.notes);
  (void)json::Set(args.get(), "tags", StringArray(f.tags));
  (void)json::SetBool(args.get(), "overwrite", f.overwrite);
  if (!f.expires.empty()) {
    auto at = ParseExpiry(f.expires, now_unix);
    if (!at.ok()) {
      *why = std::string("--expires ") + f.expires + ": " + at.status().where();
      return at.status();
    }
    (void)json::SetInt(args.get(), "expires_at", *at);
  }
  (void)json::Set(args.get(), "policy", PolicyArgs(f));
  return args;
}

int SendValue(Session& session, std::string_view op, const cJSON* args, SecretView value,
              json::Json* result, ControlError* error) {
  for (int attempt = 0;; ++attempt) {
    auto pipe = ValuePipe(value);
    if (!pipe.ok())
      return Fail(kExitFailure, std::string("cannot pass the value: ") + pipe.status().where());
    ControlError err;
    const int rc = session.Call(op, args, pipe->get(), result, &err);
    if (rc == kExitConflict && attempt < kMaxConflictRetries) {
      Backoff(attempt);
      continue;
    }
    if (rc == kExitOk) return rc;
    if (error != nullptr) {
      *error = err;
      return rc;
    }
    return Fail(rc, err.message);
  }
}

int ValueInputFail(const Status& st) {
  switch (st.code()) {
    case Err::kInvalidArgument:
      return Fail(kExitInvalid, "empty value: nothing to store (pipe the value on stdin)");
    case Err::kTooLarge:
      return Fail(kExitTooLarge, "the value is larger than 64 KiB");
    case Err::kUnavailable:
      return Fail(kExitUsage, "no terminal to prompt for the value: pipe it on stdin");
    default:
      return Fail(kExitFailure, std::string("cannot read the value: ") + st.where());
  }
}

}  // namespace keycell::cli
