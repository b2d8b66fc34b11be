#include "agent/rule.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "agent/text_util.h"
#include "probes/probes.h"

namespace imwatch::agent {

std::string_view op_text(Op op) {
  switch (op) {
    case Op::gt: return ">";
    case Op::ge: return ">=";
    case Op::lt: return "<";
    case Op::le: return "<=";
  }
  return "?";
}

std::string_view severity_text(Severity s) {
  switch (s) {
    case Severity::ok: return "OK";
    case Severity::warning: return "WARNING";
    case Severity::critical: return "CRITICAL";
  }
  return "?";
}

std::string format_value(double v) {
  // +inf is fs_full_in_hours of a filesystem that is not filling.
  if (std::isinf(v) && v > 0) return "never";
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

bool Rule::breaches(double v, double t) const {
  switch (op) {
    case Op::gt: return v > t;
    case Op::ge: return v >= t;
    case Op::lt: return v < t;
    case Op::le: return v <= t;
  }
  return false;
}

namespace {

std::optional<double> to_number(const std::string& t) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || ptr != t.data() + t.size() || t.empty() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

// "" if `metric` is one of `metrics`, else why not (with the nearest names).
std::string check_metric(const std::string& metric, const std::vector<std::string>& metrics) {
  if (std::find(metrics.begin(), metrics.end(), metric) != metrics.end()) return {};
  if (metric.starts_with("check.")) {
    // check.NAME.LABEL: perfdata of check NAME (check.NAME is in `metrics`).
    size_t dot = metric.find('.', 6);
    if (dot != std::string::npos && dot + 1 < metric.size() &&
        std::find(metrics.begin(), metrics.end(), metric.substr(0, dot)) != metrics.end())
      return {};
  }
  std::string m = "unknown metric " + quote(metric);
  if (auto near = nearest(metric, metrics, 4); !near.empty()) m += " (did you mean " + join_quoted(near) + "?)";
  return m;
}

// A mount point with a space in it cannot be one word of a rule: the rule
// names it as the kernel (mountinfo) and fstab(5) write it, "\040", which
// is a space in the metric's name (`fs_used_pct{/mnt/my disk}`). The other
// bytes mount_label() escapes stay escaped in the name as well.
std::string metric_from_word(std::string_view word) {
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    if (word.substr(i, 4) == "\\040") {
      out += ' ';
      i += 3;
    } else {
      out += word[i];
    }
  }
  return out;
}

std::string metric_word(std::string_view metric) {
  std::string out;
  for (char c : metric) out += c == ' ' ? std::string("\\040") : std::string(1, c);
  return out;
}

std::optional<Op> parse_op(const std::string& op) {
  if (op == ">") return Op::gt;
  if (op == ">=") return Op::ge;
  if (op == "<") return Op::lt;
  if (op == "<=") return Op::le;
  return std::nullopt;
}

// The value of one optional part, `key` already known to be one of them:
// "" or what is wrong with it.
std::string parse_option(const std::string& key, const std::string& v, Rule& out) {
  if (key == "crit" || key == "clear") {
    auto n = to_number(v);
    if (!n) return "bad " + key + " value " + quote(v);
    (key == "crit" ? out.crit : out.clear) = *n;
    return {};
  }
  auto d = parse_duration(v);
  if (!d) return "bad duration " + quote(v) + " (use e.g. 30s, 5m, 2h, 1d)";
  if (key == "for")
    out.for_s = *d;
  else
    out.repeat = *d;
  return {};
}

// The optional "KEY VALUE" parts after the threshold (words[3] on), each
// at most once: "" or what is wrong, without the rule's name.
std::string parse_options(const std::vector<std::string>& words, Rule& out) {
  bool seen_crit = false, seen_for = false, seen_clear = false, seen_repeat = false;
  for (size_t i = 3; i < words.size(); i += 2) {
    const std::string& key = words[i];
    bool* seen = key == "crit"     ? &seen_crit
                 : key == "for"    ? &seen_for
                 : key == "clear"  ? &seen_clear
                 : key == "repeat" ? &seen_repeat
                                   : nullptr;
    if (!seen) return "unexpected " + quote(key) + " (expected crit, for, clear or repeat)";
    if (*seen) return quote(key) + " given twice";
    *seen = true;
    if (i + 1 >= words.size()) return quote(key) + " needs a value";
    if (auto m = parse_option(key, words[i + 1], out); !m.empty()) return m;
  }
  return {};
}

// crit beyond warn and clear on the good side of it, in the direction of
// the operator: "" or what is wrong, without the rule's name.
std::string check_thresholds(const Rule& r) {
  const bool upward = r.op == Op::gt || r.op == Op::ge;
  if (r.crit && (upward ? *r.crit < r.warn : *r.crit > r.warn))
    return fmt::format("crit {} must be {} warn {}", format_value(*r.crit), upward ? ">=" : "<=", format_value(r.warn));
  if (r.clear && (upward ? *r.clear > r.warn : *r.clear < r.warn))
    return fmt::format("clear {} must be on the good side of warn {} ({} {})", format_value(*r.clear),
                       format_value(r.warn), upward ? "<=" : ">=", format_value(r.warn));
  return {};
}

}  // namespace

bool valid_rule_name(std::string_view name) { return valid_name(name); }

std::string Rule::canonical() const {
  if (is_check()) {
    // One line without tabs: the state file keeps it in a tab-separated record.
    std::string cmd = command;
    std::replace(cmd.begin(), cmd.end(), '\t', ' ');
    std::string s = fmt::format("{}: check {}", name, cmd);
    if (for_s > 0) s += " for " + format_duration(for_s);
    if (repeat) s += " repeat " + format_duration(*repeat);
    return s;
  }
  std::string s = fmt::format("{}: {} {} {}", name, metric_word(metric), op_text(op), format_value(warn));
  if (crit) s += " crit " + format_value(*crit);
  if (for_s > 0) s += " for " + format_duration(for_s);
  if (clear) s += " clear " + format_value(*clear);
  if (repeat) s += " repeat " + format_duration(*repeat);
  return s;
}

std::string Rule::explain(double default_repeat) const {
  double rep = repeat.value_or(default_repeat);
  if (is_check())
    return fmt::format("{}: check {}: WARNING on exit 1, CRITICAL on exit 2{}; resolves on exit 0{}; UNKNOWN "
                       "(exit 3, a signal, a timeout) neither fires nor resolves{}",
                       name, quote(command), for_s > 0 ? ", held for " + format_duration(for_s) : ", at once",
                       for_s > 0 ? " for " + format_duration(for_s) : "",
                       rep > 0 ? "; reminders every " + format_duration(rep) : "; no reminders");
  std::string s = fmt::format("{}: warning when {} {} {}", name, metric, op_text(op), format_value(warn));
  if (crit) s += fmt::format(", critical when {} {}", op_text(op), format_value(*crit));
  s += for_s > 0 ? fmt::format(", held for {}", format_duration(for_s)) : ", at once";
  std::string_view good = op == Op::gt ? "<=" : op == Op::ge ? "<" : op == Op::lt ? ">=" : ">";
  s += fmt::format("; resolves when {} {}", good, format_value(clear_value()));
  if (for_s > 0) s += fmt::format(" for {}", format_duration(for_s));
  s += rep > 0 ? fmt::format("; reminders every {}", format_duration(rep)) : "; no reminders";
  return s;
}

std::string parse_rule(std::string_view text, const std::vector<std::string>& metrics, Rule& out) {
  out = Rule{};
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return "rule: expected 'NAME: METRIC OP VALUE ...', got " + quote(text);
  out.name = trim(text.substr(0, colon));
  if (!valid_name(out.name))
    return "rule: bad name " + quote(out.name) + " (letters, digits, '_', '-', '.'; at most 64)";
  auto words = split_words(text.substr(colon + 1));
  auto err = [&](const std::string& m) { return "rule '" + out.name + "': " + m; };
  if (words.size() < 3) return err("expected 'METRIC OP VALUE' after the name");

  out.metric = metric_from_word(words[0]);
  // "fs_used_pct{/srv}" names one instance of a labelled family;
  // "fs_used_pct" alone applies to every instance.
  const auto name = probes::split_metric(out.metric);
  if (auto m = check_metric(std::string(name.family), metrics); !m.empty()) return err(m);
  const bool labelled = probes::labelled_family(name.family);
  if (name.labelled && !labelled) return err(quote(name.family) + " has no instances: drop the braces");
  out.each_instance = labelled && !name.labelled;
  auto op = parse_op(words[1]);
  if (!op) return err("unknown operator " + quote(words[1]) + " (use >, >=, < or <=)");
  out.op = *op;
  auto warn = to_number(words[2]);
  if (!warn) return err("bad threshold " + quote(words[2]));
  out.warn = *warn;
  if (auto m = parse_options(words, out); !m.empty()) return err(m);
  if (auto m = check_thresholds(out); !m.empty()) return err(m);
  return {};
}

Rule check_rule(const CheckConfig& check) {
  Rule r;
  r.name = check.name;
  r.metric = "check." + check.name;
  r.op = Op::ge;
  r.warn = 1;
  r.crit = 2;
  r.for_s = check.for_s;
  r.repeat = check.repeat;
  r.origin = check.origin;
  r.command = check.command;
  return r;
}

std::vector<Rule> compile_rules(const Config& cfg, const std::vector<std::string>& catalogue,
                                std::vector<std::string>& errors) {
  std::vector<Rule> rules;
  std::map<std::string, std::string> seen;
  std::vector<std::string> metrics = catalogue;
  for (const auto& c : cfg.checks) metrics.push_back("check." + c.name);
  for (const auto& line : cfg.rules) {
    Rule r;
    if (auto err = parse_rule(line.value, metrics, r); !err.empty()) {
      errors.push_back(line.origin.str() + ": " + err);
      continue;
    }
    r.origin = line.origin;
    if (auto [it, fresh] = seen.emplace(r.name, line.origin.str()); !fresh) {
      errors.push_back(line.origin.str() + ": rule " + quote(r.name) + " is already defined at " + it->second);
      continue;
    }
    rules.push_back(std::move(r));
  }
  for (const auto& c : cfg.checks) {
    if (auto [it, fresh] = seen.emplace(c.name, c.origin.str()); !fresh) {
      errors.push_back(c.origin.str() + ": check " + quote(c.name) + " has the name of the rule at " + it->second);
      continue;
    }
    rules.push_back(check_rule(c));
  }
  return rules;
}

}  // namespace imwatch::agent
