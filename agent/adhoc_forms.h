// XEP-0050 ad-hoc commands, the part without XMPP: which nodes there are
// (the registry's commands, agent/commands.h), the XEP-0004 form each one
// offers from its arguments' kinds, and how a submitted form becomes the
// typed command line the registry runs. agent/xmpp/adhoc.cpp turns these
// into gloox's DataForm and back.
//
// Submitted values come from a client and are hostile input: each is
// bounded, one clean word (UTF-8, no control bytes, no spaces, so that it
// cannot smuggle a second argument into the line), and checked against what
// its kind allows (a configured rule, a duration, a number) before anything
// runs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/commands.h"
#include "agent/rule.h"

namespace imwatch::agent {

// The longest value of one field a form submission may carry.
constexpr size_t kMaxFieldValue = 64;

struct FormOption {
  std::string value, label;
};

struct FormField {
  enum class Type : uint8_t { list_single, text_single, text_multi, fixed };
  std::string var, label;
  Type type = Type::text_single;
  std::vector<FormOption> options;  // list_single
  std::string value;                // the default, or the text of fixed and text_multi
  bool required = false;
};

struct Form {
  std::string title, instructions;
  std::vector<FormField> fields;
};

// The node of the two-stage `set thresholds` command: pick a rule, then
// edit its warn, crit, for, clear and repeat. Its submission becomes
// `set RULE warn X ...`, run through the registry like any other line.
inline constexpr std::string_view kSetNode = "set";

struct AdhocNode {
  std::string node, name;            // the disco item: node and human-readable name
  const Command* command = nullptr;  // null for the `set` node before the registry has `set`
};
// Every ad-hoc node: one per registry command, in the registry's order, and
// the `set` node (which the registry's `set` takes over once it exists).
std::vector<AdhocNode> adhoc_nodes();

// The form a command offers for its arguments, or nothing when it takes
// none (it runs at once).
std::optional<Form> command_form(const Command& c, const ChatContext& ctx);

// The submitted values (field var -> value) of `c`'s form as a command
// line, or the error to show the admin. Fields the form did not have are
// ignored; an empty optional field takes its fallback, or is left out.
struct FormLine {
  std::string line;   // "mute 2h iowait"
  std::string error;  // non-empty: nothing is run
};
FormLine line_from_form(const Command& c, const std::map<std::string, std::string>& values, const ChatContext& ctx);

// Stage one of `set thresholds`: the rules to choose from.
Form threshold_rule_form(const ChatContext& ctx);
// Stage two: the rule's values, pre-filled (an unset crit or clear is an
// empty field; repeat shows the rule's own or the default).
Form threshold_values_form(const Rule& rule, double default_repeat);
// The rule chosen at stage one, checked: nullptr if it is no configured rule.
const Rule* chosen_rule(const std::map<std::string, std::string>& values, const ChatContext& ctx);
// Stage two's submission as `set RULE warn X crit Y for D clear C repeat R`
// with only the fields the admin changed (left empty, or as the form showed
// them: left out), or the error.
FormLine threshold_line(const Rule& rule, const std::map<std::string, std::string>& values, double default_repeat);

}  // namespace imwatch::agent
