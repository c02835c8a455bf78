#pragma once
// A small JSON Schema (2020-12) subset for MCP tool arguments and structured results.
// Tools declare their inputSchema/outputSchema with it; the server validates every
// tools/call's arguments before the handler runs, so handlers get pre-checked input.
//
// Supported keywords (everything a keycell tool needs, nothing more):
//   type                  "string" | "integer" | "number" | "boolean" | "object" |
//                         "array" | "null", or an array of those names
//   properties            object of sub-schemas
//   required              array of property names
//   additionalProperties  false (unknown members refused), true, or a sub-schema
//   items                 one sub-schema for every array element
//   enum                  array of allowed values (json::Equal)
//   minLength, maxLength  string length in Unicode code points, as JSON Schema counts
//   minimum, maximum      inclusive bounds for numbers and integers
//   minItems, maxItems    array length
// Annotation keywords are accepted and ignored: $schema, $id, $comment, title,
// description, default, examples, format, deprecated, readOnly, writeOnly.
// Any other keyword makes CheckSchema fail: a schema must never claim a constraint the
// validator would silently skip.
//
// Error messages name the failing location ("arguments.tags[2]: expected string") and
// the rule, never a value: arguments can carry secrets (a key being stored). Locations
// are built only from the schema's property names and array indices; names of unknown
// members the client sent are not echoed either.

#include <string>

#include "broker/json/json.h"
#include "common/result.h"

namespace keycell::mcp {

// Ok when `schema` is an object that uses only the subset above, with well-formed
// keyword values (required: strings; min/max: non-negative integers or numbers; ...).
// Err::kInvalidArgument otherwise; `why` (when non-null) receives a sentence naming the
// keyword and where it sits.
Status CheckSchema(const cJSON* schema, std::string* why = nullptr);

// Validates `value` against a schema that passed CheckSchema. Returns an empty string
// when it conforms, otherwise the first violation found, prefixed by `root_name`
// ("arguments.name: longer than 64 characters").
std::string ValidateAgainstSchema(const cJSON* schema, const cJSON* value,
                                  const std::string& root_name);

}  // namespace keycell::mcp
