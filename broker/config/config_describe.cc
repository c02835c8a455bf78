// Human-facing renderings of the configuration: `keycell config` and the docs table.

#include <algorithm>
#include <string>

#include "broker/config/config.h"
#include "broker/config/config_keys.h"

namespace keycell::broker {

std::string DescribeConfig(const Config& config) {
  size_t width = 0;
  for (const KeySpec& spec : ConfigKeys())
    width = std::max(width, std::string_view(spec.name).size());
  std::string out = "# config file: ";
  out += config.config_file.empty() ? "(none; defaults and environment only)" : config.config_file;
  out += '\n';
  for (const KeySpec& spec : ConfigKeys()) {
    const std::string name = spec.name;
    std::string value = ValueToText(spec.type, GetField(spec, config));
    if (value.empty()) value = "\"\"";
    const auto origin = config.origin.find(name);
    out += name + std::string(width - name.size(), ' ') + " = " + value;
    out += "  # " + (origin != config.origin.end() ? origin->second : std::string("?")) + "\n";
  }
  for (const std::string& warning : config.warnings) out += "# warning: " + warning + "\n";
  return out;
}

std::string ConfigKeysMarkdown() {
  std::string out =
      "| Key | Type | Default | Environment variable | Meaning |\n"
      "| --- | --- | --- | --- | --- |\n";
  for (const KeySpec& spec : ConfigKeys()) {
    out += std::string("| `") + spec.name + "` | " + KeyTypeName(spec.type) + " | " +
           spec.default_doc + " | `" + EnvVarName(spec.name) + "` | " + spec.help + " |\n";
  }
  return out;
}

}  // namespace keycell::broker
