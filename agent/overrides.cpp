#include "agent/overrides.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <sstream>

#include "agent/state_dir.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr std::string_view kHeader = "imwatch-overrides 1";
constexpr std::array<std::string_view, 5> kKeys = {"warn", "crit", "for", "clear", "repeat"};

bool known_key(std::string_view k) { return std::find(kKeys.begin(), kKeys.end(), k) != kKeys.end(); }

// A value as it may stand in a rule's text and a line of the file:
// printable ASCII without spaces, short. Numbers and durations are that,
// and a value is echoed (in `rules`, in the message of a dropped override)
// before the rule parser has judged it.
bool clean_value(std::string_view v) {
  return !v.empty() && v.size() <= kMaxOverrideValue &&
         std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Who set it: a JID may be any UTF-8, but no control byte.
bool clean_text(std::string_view v) {
  return v.size() <= 256 && valid_utf8(v) &&
         std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string_view::npos) return out;
    start = tab + 1;
  }
}

// The file rule's fields as its text would write them.
std::map<std::string, std::string> file_fields(const Rule& r) {
  std::map<std::string, std::string> f{{"warn", format_value(r.warn)}};
  if (r.crit) f["crit"] = format_value(*r.crit);
  if (r.for_s > 0) f["for"] = format_duration(r.for_s);
  if (r.clear) f["clear"] = format_value(*r.clear);
  if (r.repeat) f["repeat"] = format_duration(*r.repeat);
  return f;
}

// One "override" record: "" or what is wrong.
std::string parse_record(const std::vector<std::string_view>& f, Overrides& out) {
  if (f.size() < 5 || f[0] != "override") return "expected 'override RULE WHEN WHO KEY=VALUE...'";
  Override o;
  o.rule = std::string(f[1]);
  if (!valid_rule_name(o.rule)) return "bad rule name";
  auto [p, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), o.when);
  if (ec != std::errc() || p != f[2].data() + f[2].size() || !std::isfinite(o.when) || o.when < 0) return "bad time";
  if (!clean_text(f[3])) return "bad who";
  o.who = std::string(f[3]);
  for (size_t i = 4; i < f.size(); ++i) {
    size_t eq = f[i].find('=');
    if (eq == std::string_view::npos) return "bad field";
    std::string key(f[i].substr(0, eq));
    std::string_view value = f[i].substr(eq + 1);
    if (!known_key(key) || !clean_value(value) || o.fields.count(key)) return "bad field " + quote(f[i]);
    o.fields[key] = std::string(value);
  }
  if (out.count(o.rule)) return "rule " + quote(o.rule) + " twice";
  if (out.size() >= kMaxOverrides) return "too many overrides";
  out[o.rule] = std::move(o);
  return {};
}

}  // namespace

std::string parse_set_fields(const std::vector<std::string>& words, std::map<std::string, std::string>& fields) {
  if (words.empty()) return "nothing to set: give warn, crit, for, clear or repeat and a value";
  for (size_t i = 0; i < words.size(); i += 2) {
    const std::string key = to_lower(words[i]);
    if (!known_key(key)) return fmt::format("unexpected {} (expected warn, crit, for, clear or repeat)", quote(words[i]));
    if (fields.count(key)) return quote(key) + " given twice";
    if (i + 1 >= words.size()) return quote(key) + " needs a value";
    if (!clean_value(words[i + 1])) return fmt::format("bad value {} for {}", quote(words[i + 1]), key);
    fields[key] = words[i + 1];
  }
  return {};
}

std::string apply_override(const Rule& file, const Override& o, const std::vector<std::string>& metrics, Rule& out) {
  auto f = file_fields(file);
  for (const auto& [k, v] : o.fields) f[k] = v;
  std::string text = fmt::format("{}: {} {} {}", file.name, file.metric, op_text(file.op), f["warn"]);
  for (std::string_view k : {"crit", "for", "clear", "repeat"})
    if (auto it = f.find(std::string(k)); it != f.end()) text += fmt::format(" {} {}", k, it->second);
  auto err = parse_rule(text, metrics, out);
  out.origin = file.origin;
  return err;
}

std::string file_value(const Rule& file, const std::string& key) {
  auto f = file_fields(file);
  auto it = f.find(key);
  return it == f.end() ? "none" : it->second;
}

std::string fields_text(const Override& o) {
  std::string s;
  for (std::string_view k : kKeys)
    if (auto it = o.fields.find(std::string(k)); it != o.fields.end())
      s += fmt::format("{}{} {}", s.empty() ? "" : " ", k, it->second);
  return s;
}

std::vector<Rule> overridden_rules(const std::vector<Rule>& file, Overrides& overrides,
                                   const std::vector<std::string>& metrics, std::vector<std::string>& dropped) {
  std::vector<Rule> out;
  for (const auto& r : file) {
    auto it = overrides.find(r.name);
    if (it == overrides.end()) {
      out.push_back(r);
      continue;
    }
    Rule o;
    if (auto err = apply_override(r, it->second, metrics, o); !err.empty()) {
      dropped.push_back(fmt::format("{}: {} no longer applies: {}", r.name, fields_text(it->second), err));
      overrides.erase(it);
      out.push_back(r);
      continue;
    }
    out.push_back(std::move(o));
  }
  for (auto it = overrides.begin(); it != overrides.end();) {
    bool kept = std::any_of(file.begin(), file.end(), [&](const Rule& r) { return r.name == it->first; });
    if (kept) {
      ++it;
      continue;
    }
    dropped.push_back(fmt::format("{}: {} dropped: the configuration has no such rule", it->first,
                                  fields_text(it->second)));
    it = overrides.erase(it);
  }
  return out;
}

std::string serialize_overrides(const Overrides& overrides) {
  std::ostringstream o;
  o.precision(17);
  o << kHeader << "\n";
  for (const auto& [name, ov] : overrides) {
    o << "override\t" << name << "\t" << ov.when << "\t" << ov.who;
    for (const auto& [k, v] : ov.fields) o << "\t" << k << "=" << v;
    o << "\n";
  }
  return o.str();
}

std::string parse_overrides(std::string_view text, Overrides& out) {
  Overrides parsed;
  size_t pos = 0;
  for (int n = 1; pos < text.size(); ++n) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return fmt::format("line {}: truncated (no newline)", n);
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (n == 1) {
      if (line != kHeader) return "line 1: not an imwatch overrides file";
      continue;
    }
    if (auto why = parse_record(split_tabs(line), parsed); !why.empty()) return fmt::format("line {}: {}", n, why);
  }
  if (pos == 0) return "empty file";
  out = std::move(parsed);
  return {};
}

Overrides load_overrides(const std::string& state_dir) {
  const std::string path = state_dir + "/overrides";
  std::string text, error;
  Overrides o;
  switch (read_state_file(path, kMaxOverridesSize, text, error)) {
    case ReadResult::ok: break;
    case ReadResult::missing: return o;
    case ReadResult::error: spdlog::warn("overrides: {}; the rules of the file apply", error); return o;
  }
  if (auto err = parse_overrides(text, o); !err.empty())
    spdlog::warn("overrides {}: {}; ignoring it, the rules of the file apply", path, err);
  return o;
}

std::string save_overrides(const std::string& state_dir, const Overrides& o) {
  return write_file_atomically(state_dir + "/overrides", serialize_overrides(o));
}

}  // namespace imwatch::agent
