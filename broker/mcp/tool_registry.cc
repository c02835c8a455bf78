#include "broker/mcp/tool_registry.h"

#include <utility>

#include "broker/mcp/schema.h"

namespace keycell::mcp {
namespace {

constexpr const char* kLevelNames[] = {"debug", "info",     "notice", "warning",
                                       "error", "critical", "alert",  "emergency"};

// 2025-11-25 tool names: 1-128 characters of ASCII letters, digits, '_', '-', '.'.
bool ValidToolName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status Refuse(std::string* why, std::string text) {
  if (why != nullptr) *why = std::move(text);
  return Status(Err::kInvalidArgument, "tool definition refused");
}

Status CheckObjectSchema(const cJSON* schema, const char* which, std::string* why) {
  std::string detail;
  if (!CheckSchema(schema, &detail).ok()) return Refuse(why, std::string(which) + ": " + detail);
  if (json::GetString(schema, "type") != std::optional<std::string_view>("object")) {
    return Refuse(why, std::string(which) + ": root must have \"type\": \"object\"");
  }
  return Status::Ok();
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  for (size_t i = 0; i < sizeof(kLevelNames) / sizeof(kLevelNames[0]); ++i) {
    if (name == kLevelNames[i]) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

const char* LogLevelName(LogLevel level) {
  const size_t i = static_cast<size_t>(level);
  return i < sizeof(kLevelNames) / sizeof(kLevelNames[0]) ? kLevelNames[i] : "emergency";
}

ToolResult ToolResult::Text(std::string text) {
  ToolResult r;
  r.text.push_back(std::move(text));
  return r;
}

ToolResult ToolResult::Error(std::string message) {
  ToolResult r = Text(std::move(message));
  r.is_error = true;
  return r;
}

ToolResult ToolResult::Structured(json::Json object, std::string text) {
  ToolResult r;
  if (!text.empty()) r.text.push_back(std::move(text));
  r.structured = std::move(object);
  return r;
}

Status ToolRegistry::Add(Tool tool, std::string* why) {
  if (!ValidToolName(tool.name)) return Refuse(why, "tool name must be 1-128 of [A-Za-z0-9_.-]");
  if (index_.count(tool.name) != 0) return Refuse(why, "duplicate tool name " + tool.name);
  if (!tool.handler) return Refuse(why, tool.name + ": no handler");
  if (!tool.input_schema) return Refuse(why, tool.name + ": no inputSchema");
  KC_RETURN_IF_ERROR(CheckObjectSchema(tool.input_schema.get(), "inputSchema", why));
  if (tool.output_schema) {
    KC_RETURN_IF_ERROR(CheckObjectSchema(tool.output_schema.get(), "outputSchema", why));
  }
  index_.emplace(tool.name, tools_.size());
  tools_.push_back(std::make_unique<Tool>(std::move(tool)));
  return Status::Ok();
}

const Tool* ToolRegistry::Find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : tools_[it->second].get();
}

}  // namespace keycell::mcp
