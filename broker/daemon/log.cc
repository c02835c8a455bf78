#include "broker/daemon/log.h"

#include <stdio.h>
#include <time.h>

#include <atomic>
#include <mutex>

namespace keycell::broker::daemon {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "info";
}

void AppendValue(std::string& line, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) quote |= c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20;
  if (!quote) {
    line += v;
    return;
  }
  line += '"';
  for (char c : v) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      line += '\\';
      line += c;
    } else if (u < 0x20 || u == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\x%02x", u);
      line += esc;
    } else {
      line += c;
    }
  }
  line += '"';
}

}  // namespace

LogLevel ParseLogLevel(std::string_view s) {
  if (s == "error") return LogLevel::kError;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "debug") return LogLevel::kDebug;
  return LogLevel::kInfo;
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

void LogEvent(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) > g_level.load()) return;
  char ts[32];
  const time_t now = time(nullptr);
  tm utc{};
  gmtime_r(&now, &utc);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::string line = "ts=";
  line += ts;
  line += " level=";
  line += LevelName(level);
  line += " event=";
  AppendValue(line, event);
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    AppendValue(line, v);
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(g_mu);
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

}  // namespace keycell::broker::daemon
