#include "agent/adhoc_forms.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "agent/config.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

// What a duration field offers; any other duration may be typed where the
// client lets one edit a list (XEP-0004 list-single allows only these, so
// the field is text-single with these as the hint in its label).
constexpr std::string_view kDurations = "15m 30m 1h 2h 4h 8h 1d";

// One clean word: bounded, UTF-8, no control bytes and no white space (a
// space would smuggle a second argument into the command line).
std::string check_word(std::string_view v) {
  if (v.size() > kMaxFieldValue) return fmt::format("a value over {} bytes", kMaxFieldValue);
  if (!valid_utf8(v)) return "a value that is not UTF-8";
  for (unsigned char c : v)
    if (c <= 0x20 || c == 0x7F) return "a value with a space or a control character";
  return "";
}

bool is_rule(const ChatContext& ctx, std::string_view name) {
  const auto& rules = ctx.engine.rules();
  return std::any_of(rules.begin(), rules.end(), [&](const Rule& r) { return r.name == name; });
}

std::vector<FormOption> rule_options(const ChatContext& ctx, bool all) {
  std::vector<FormOption> out;
  if (all) out.push_back({"all", "all rules"});
  for (const auto& r : ctx.engine.rules()) out.push_back({r.name, r.name + ": " + r.metric});
  return out;
}

std::vector<FormOption> alert_options(const ChatContext& ctx) {
  std::vector<FormOption> out;
  for (const auto& [name, s] : ctx.engine.states())
    if (s.open() && s.id) out.push_back({std::to_string(s.id), fmt::format("#{} {} {}", s.id, name, severity_text(s.severity))});
  return out;
}

// A list with nothing chosen starts at its first choice: some clients
// (profanity) show a list's choices only once one is selected.
void preselect(FormField& f) {
  if (f.type == FormField::Type::list_single && f.value.empty() && !f.options.empty()) f.value = f.options[0].value;
}

FormField field_for(const Param& p, const ChatContext& ctx) {
  FormField f{std::string(p.name), std::string(p.name), FormField::Type::list_single, {}, std::string(p.fallback),
              !p.optional};
  switch (p.kind) {
    case ArgKind::rule: f.options = rule_options(ctx, p.all); break;
    case ArgKind::alert:
      f.options = alert_options(ctx);
      if (f.options.empty()) {  // nothing fires: say so rather than offer an empty list
        f.type = FormField::Type::fixed;
        f.value = "no alert fires now";
      }
      break;
    case ArgKind::command:
      for (const auto& c : commands()) f.options.push_back({std::string(c.name), std::string(c.summary)});
      break;
    case ArgKind::duration:
      f.type = FormField::Type::text_single;
      f.label = fmt::format("{} ({})", p.name, kDurations);
      break;
    case ArgKind::word:
      f.type = FormField::Type::text_single;
      if (!p.choices.empty()) f.label = fmt::format("{} ({}, or a metric)", p.name, p.choices);
      break;
    case ArgKind::text: f.type = FormField::Type::text_single; break;
  }
  preselect(f);
  return f;
}

// The value of one submitted field as an argument, checked for its kind.
std::string check_value(const Param& p, const std::string& v, const ChatContext& ctx) {
  if (auto err = check_word(v); !err.empty()) return fmt::format("{}: {}", p.name, err);
  switch (p.kind) {
    case ArgKind::rule:
      if ((p.all && to_lower(v) == "all") || is_rule(ctx, v)) return "";
      return fmt::format("no rule {}", quote(v));
    case ArgKind::alert: {
      std::string_view n = v;
      if (!n.empty() && n[0] == '#') n.remove_prefix(1);
      if (!n.empty() && n.size() <= 19 && std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "";
      return fmt::format("not an alert number: {}", quote(v));
    }
    case ArgKind::duration:
      if (auto d = parse_duration(v); d && *d > 0) return "";
      return fmt::format("not a duration: {} (e.g. 30m, 2h)", quote(v));
    case ArgKind::command:
      return find_command(to_lower(v)) ? "" : fmt::format("no command {}", quote(v));
    case ArgKind::word:
    case ArgKind::text: break;
  }
  return "";
}

const std::string* value_of(const std::map<std::string, std::string>& values, std::string_view var) {
  auto it = values.find(std::string(var));
  return it == values.end() || it->second.empty() ? nullptr : &it->second;
}

// A threshold as the rule parser reads it: a number (sign, digits, one
// dot), bounded; the parser behind `set` says the rest.
bool is_number(std::string_view v) {
  if (v.empty() || v.size() > 24) return false;
  if (v[0] == '-' || v[0] == '+') v.remove_prefix(1);
  bool digit = false, dot = false;
  for (char c : v) {
    if (c == '.' && !dot) dot = true;
    else if (c >= '0' && c <= '9') digit = true;
    else return false;
  }
  return digit;
}

}  // namespace

std::vector<AdhocNode> adhoc_nodes() {
  std::vector<AdhocNode> out;
  for (const auto& c : commands())
    out.push_back({std::string(c.name), c.name == kSetNode ? "set thresholds" : std::string(c.summary), &c});
  if (!find_command(kSetNode)) out.push_back({std::string(kSetNode), "set thresholds", nullptr});
  return out;
}

std::optional<Form> command_form(const Command& c, const ChatContext& ctx) {
  if (c.params.empty()) return std::nullopt;
  Form f{std::string(c.name), std::string(c.help), {}};
  for (const auto& p : c.params) f.fields.push_back(field_for(p, ctx));
  return f;
}

FormLine line_from_form(const Command& c, const std::map<std::string, std::string>& values, const ChatContext& ctx) {
  FormLine out{std::string(c.name), ""};
  for (const auto& p : c.params) {
    const std::string* v = value_of(values, p.name);
    std::string arg = v ? *v : std::string(p.fallback);
    if (arg.empty()) {
      if (!p.optional) return {"", fmt::format("{} is required", p.name)};
      continue;
    }
    if (auto err = check_value(p, arg, ctx); !err.empty()) return {"", err};
    out.line += " " + arg;
  }
  return out;
}

Form threshold_rule_form(const ChatContext& ctx) {
  Form f{"set thresholds", "the rule whose thresholds to change", {}};
  FormField rule{"rule", "rule", FormField::Type::list_single, rule_options(ctx, false), "", true};
  if (rule.options.empty()) {
    rule.type = FormField::Type::fixed;
    rule.value = "no rules configured";
  }
  preselect(rule);
  f.fields.push_back(std::move(rule));
  return f;
}

Form threshold_values_form(const Rule& rule, double default_repeat) {
  Form f{"set thresholds: " + rule.name,
         fmt::format("{} {} ...: leave crit or clear empty for none", rule.metric, op_text(rule.op)), {}};
  auto text = [&](std::string var, std::string value, bool required) {
    f.fields.push_back({var, var, FormField::Type::text_single, {}, std::move(value), required});
  };
  f.fields.push_back({"rule", "rule", FormField::Type::fixed, {}, rule.name, false});
  text("warn", format_value(rule.warn), true);
  text("crit", rule.crit ? format_value(*rule.crit) : "", false);
  text("for", format_duration(rule.for_s), false);
  text("clear", rule.clear ? format_value(*rule.clear) : "", false);
  text("repeat", format_duration(rule.repeat.value_or(default_repeat)), false);
  return f;
}

const Rule* chosen_rule(const std::map<std::string, std::string>& values, const ChatContext& ctx) {
  const std::string* v = value_of(values, "rule");
  if (!v || !check_word(*v).empty()) return nullptr;
  for (const auto& r : ctx.engine.rules())
    if (r.name == *v) return &r;
  return nullptr;
}

// A client sends every field back, changed or not. Only the changed ones
// become the override: one of all five would pin the values the admin never
// touched, and a later edit of the rule in the file would not reach them.
FormLine threshold_line(const Rule& rule, const std::map<std::string, std::string>& values, double default_repeat) {
  const Form shown = threshold_values_form(rule, default_repeat);
  auto as_shown = [&](std::string_view var, const std::string& v) {
    return std::any_of(shown.fields.begin(), shown.fields.end(),
                       [&](const FormField& f) { return f.var == var && f.value == v; });
  };
  FormLine out{fmt::format("set {}", rule.name), ""};
  for (std::string_view var : {"warn", "crit", "for", "clear", "repeat"}) {
    const std::string* v = value_of(values, var);
    if (!v) {
      if (var == "warn") return {"", "warn is required"};
      continue;
    }
    if (as_shown(var, *v)) continue;
    if (auto err = check_word(*v); !err.empty()) return {"", fmt::format("{}: {}", var, err)};
    const bool duration = var == "for" || var == "repeat";
    if (duration && !parse_duration(*v)) return {"", fmt::format("{}: not a duration: {}", var, quote(*v))};
    if (!duration && !is_number(*v)) return {"", fmt::format("{}: not a number: {}", var, quote(*v))};
    out.line += fmt::format(" {} {}", var, *v);
  }
  if (out.line == "set " + rule.name) return {"", "nothing changed: every value is the rule's own"};
  return out;
}

}  // namespace imwatch::agent
