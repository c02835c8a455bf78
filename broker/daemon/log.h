#pragma once
// keycelld's log: one structured line per event on stderr (journald picks it up under
// systemd):  ts=2026-11-23T18:31:02Z level=info event=add name=openai result=ok
// Only names, metadata and outcomes are ever logged: callers pass no value, PIN or
// token, and there is no API that takes a SecretView.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace keycell::broker::daemon {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Parses error|warn|info|debug (anything else: info).
LogLevel ParseLogLevel(std::string_view s);
void SetLogLevel(LogLevel level);

using LogField = std::pair<std::string_view, std::string_view>;
// Thread-safe; values with spaces, quotes or '=' are quoted; control characters are
// escaped so one event is always one line.
void LogEvent(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace keycell::broker::daemon
