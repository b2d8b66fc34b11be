// Thresholds changed from chat (`set memory warn 85 crit 95 for 5m`, `reset
// memory`): kept as overrides in the state dir, applied over the rules of
// the file at start, at reload and after a restart. The conffile stays the
// admin's and is never rewritten.
//
// An override is the fields it changes (warn, crit, for, clear, repeat) as
// typed. Applying one builds the overridden rule's text and parses it with
// parse_rule (agent/rule.h), so a value is accepted or refused by the same
// parser and with the same message as in the file. An override that no
// longer applies (its rule left the file, or the file's new rule refuses
// it) is dropped with a message.
//
// The file, "overrides" in the state dir, written atomically through
// agent/state_dir.h; a corrupt file is logged and ignored:
//   imwatch-overrides 1
//   override RULE WHEN WHO KEY=VALUE...     (tab-separated; WHEN Unix time)
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/rule.h"

namespace imwatch::agent {

struct Override {
  std::string rule;
  std::map<std::string, std::string> fields;  // "warn", "crit", "for", "clear", "repeat" -> value as typed
  std::string who;                            // a bare JID, "root"
  double when = 0;                            // wall
};
using Overrides = std::map<std::string, Override>;  // by rule name

// At most this many overrides, values this long: the file stays small
// (max_overrides_size) whatever is typed.
inline constexpr size_t kMaxOverrides = 256;
inline constexpr size_t kMaxOverrideValue = 32;
inline constexpr size_t kMaxOverridesSize = 64 << 10;

// The fields of `set RULE KEY VALUE...` (words after the rule name) into
// `fields`: "" or a usage message. Values are checked by apply_override.
[[nodiscard]] std::string parse_set_fields(const std::vector<std::string>& words,
                                           std::map<std::string, std::string>& fields);

// `file` with `o` over it, parsed by parse_rule into `out`: "" or the
// parser's message.
[[nodiscard]] std::string apply_override(const Rule& file, const Override& o, const std::vector<std::string>& metrics,
                                         Rule& out);

// "warn 85 crit 95": the fields of an override in rule order.
std::string fields_text(const Override& o);

// The file rules with the overrides over them. Overrides that no longer
// apply are removed from `overrides`, each with why into `dropped`
// ("memory: no such rule in the configuration").
std::vector<Rule> overridden_rules(const std::vector<Rule>& file, Overrides& overrides,
                                   const std::vector<std::string>& metrics, std::vector<std::string>& dropped);

// The file rule's value of `key` ("warn", "for", ...) as its text writes
// it, or "none".
std::string file_value(const Rule& file, const std::string& key);

// What the commands `set` and `reset` change: the daemon (agent/daemon.h)
// keeps the overrides, applies them and tells the team.
class RuleEditor {
 public:
  virtual ~RuleEditor() = default;
  // Sets `fields` over rule `rule` (merged with its override, if any): ""
  // or the rule parser's message, and nothing changed.
  virtual std::string set_override(const std::string& rule, const std::map<std::string, std::string>& fields,
                                   const std::string& who) = 0;
  // False when `rule` had no override.
  virtual bool reset_override(const std::string& rule, const std::string& who) = 0;
  virtual const Overrides& overrides() const = 0;
  virtual const std::vector<Rule>& file_rules() const = 0;
};

std::string serialize_overrides(const Overrides& o);
// "" or an error naming the line; on error `out` is left untouched.
[[nodiscard]] std::string parse_overrides(std::string_view text, Overrides& out);

// Reads (missing: none; corrupt: logged and none) and writes the file.
Overrides load_overrides(const std::string& state_dir);
[[nodiscard]] std::string save_overrides(const std::string& state_dir, const Overrides& o);

}  // namespace imwatch::agent
