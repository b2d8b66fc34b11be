#include "agent/perfdata.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr size_t kMaxDetailLines = 20;
constexpr size_t kMaxDetailLine = 200;

bool blank(char c) { return c == ' ' || c == '\t'; }

std::optional<double> number(std::string_view t) {
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The guidelines' units, and GB, which monitoring-plugins print too.
bool known_unit(std::string_view u) {
  for (std::string_view k : {"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"})
    if (u == k) return true;
  return false;
}

// "value[UOM]": the number and its unit, or "U".
std::string parse_value(std::string_view t, PerfItem& item) {
  if (t == "U") return {};  // unknown, as the guidelines say: not 0
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || !std::isfinite(v)) return "bad value " + quote(t);
  std::string_view unit = t.substr(static_cast<size_t>(p - t.data()));
  if (!known_unit(unit)) return "unknown unit " + quote(unit) + " (expected s, ms, us, %, B, KB, MB, GB, TB or c)";
  item.value = v;
  item.unit = std::string(unit);
  return {};
}

// `value;warn;crit;min;max` of one item (after the '='). The value must
// parse (else the error is returned and the item is dropped); a bad
// threshold, min or max is dropped alone and said in `soft`.
std::string parse_fields(std::string_view t, PerfItem& item, std::string& soft) {
  std::string_view f[5];
  size_t n = 0;
  for (size_t at = 0; n < 5;) {
    size_t semi = t.find(';', at);
    f[n++] = t.substr(at, semi == std::string_view::npos ? std::string_view::npos : semi - at);
    if (semi == std::string_view::npos) break;
    at = semi + 1;
  }
  if (auto err = parse_value(f[0], item); !err.empty()) return err;
  std::string& err = soft;
  auto range = [&](std::string_view s, std::optional<PerfRange>& out, const char* what) {
    if (s.empty()) return;
    out = parse_range(s);
    if (!out && err.empty()) err = std::string("bad ") + what + " range " + quote(s);
  };
  auto plain = [&](std::string_view s, std::optional<double>& out, const char* what) {
    if (s.empty()) return;
    out = number(s);
    if (!out && err.empty()) err = std::string("bad ") + what + " " + quote(s);
  };
  range(f[1], item.warn, "warn");
  range(f[2], item.crit, "crit");
  plain(f[3], item.min, "min");
  plain(f[4], item.max, "max");
  return {};
}

// A label at t[i]: quoted ('' is a quote) or up to '='. Moves i past the '='.
std::string parse_label(std::string_view t, size_t& i, std::string& label) {
  if (t[i] == '\'') {
    for (++i; i < t.size(); ++i) {
      if (t[i] != '\'') {
        label += t[i];
      } else if (i + 1 < t.size() && t[i + 1] == '\'') {
        label += '\'';
        ++i;
      } else {
        break;
      }
    }
    if (i >= t.size()) return "unclosed quote in a label";
    ++i;  // the closing quote
  } else {
    while (i < t.size() && t[i] != '=' && !blank(t[i])) label += t[i++];
  }
  if (i >= t.size() || t[i] != '=') return "expected '=' after the label " + quote(label);
  ++i;
  if (label.empty()) return "an empty label";
  if (label.size() > kMaxPerfLabel) return "a label longer than " + std::to_string(kMaxPerfLabel) + " bytes";
  return {};
}

// Appends the UTF-8 sequence starting at s[i] when it is valid; returns its
// length, 0 when it is not.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

}  // namespace

std::optional<PerfRange> parse_range(std::string_view t) {
  PerfRange r;
  if (!t.empty() && t[0] == '@') {
    r.inside = true;
    t.remove_prefix(1);
  }
  if (t.empty()) return std::nullopt;
  size_t colon = t.find(':');
  std::string_view end = t;
  if (colon != std::string_view::npos) {
    std::string_view start = t.substr(0, colon);
    end = t.substr(colon + 1);
    if (start == "~")
      r.start.reset();
    else if (!(r.start = number(start)))
      return std::nullopt;
  }
  if (!end.empty()) {
    r.end = number(end);
    if (!r.end) return std::nullopt;
  } else if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  if (r.start && r.end && *r.start > *r.end) return std::nullopt;
  return r;
}

std::string parse_perfdata(std::string_view t, std::vector<PerfItem>& items) {
  std::string first_error;
  size_t i = 0;
  while (i < t.size()) {
    if (blank(t[i])) {
      ++i;
      continue;
    }
    PerfItem item;
    std::string soft;
    std::string err = parse_label(t, i, item.label);
    size_t end = i;
    while (end < t.size() && !blank(t[end])) ++end;
    if (err.empty()) err = parse_fields(t.substr(i, end - i), item, soft);
    if (first_error.empty()) first_error = !err.empty() ? err : soft;
    if (err.empty() && items.size() < kMaxPerfdata)
      items.push_back(std::move(item));
    else if (err.empty() && first_error.empty())
      first_error = "more than " + std::to_string(kMaxPerfdata) + " items";
    i = end;
  }
  return first_error;
}

namespace {

// `out` cut to leave room for "..." within `max`, at a code point boundary.
std::string cut_with_ellipsis(std::string out, size_t max) {
  while (out.size() + 3 > max && !out.empty()) {
    size_t k = out.size() - 1;
    while (k > 0 && (static_cast<unsigned char>(out[k]) & 0xc0) == 0x80) --k;
    out.resize(k);
  }
  return out + "...";
}

bool is_control_byte(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

}  // namespace

std::string clean_plugin_text(std::string_view s, size_t max) {
  std::string out;
  bool space = false;  // a blank (or tab) is pending before the next character
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_length(s, i);
    if (n == 0 || (n == 1 && is_control_byte(s[i]))) {  // dropped; a tab still separates
      space = space || s[i] == '\t';
      i += n == 0 ? 1 : n;
      continue;
    }
    if (s[i] == ' ') {
      space = true;
      ++i;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    if (out.size() + n > max) return cut_with_ellipsis(std::move(out), max);
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

PluginOutput parse_plugin_output(std::string_view output) {
  PluginOutput r;
  probes::Lines lines(output);
  std::string_view line;
  std::string perf;
  if (lines.next(line)) {
    size_t bar = line.find('|');
    r.message = clean_plugin_text(line.substr(0, bar), kMaxPluginMessage);
    if (bar != std::string_view::npos) perf = std::string(line.substr(bar + 1));
  }
  bool in_perf = false;  // after the first '|' of the long text, every line is perfdata
  while (lines.next(line)) {
    if (in_perf) {
      perf += ' ';
      perf.append(line);
      continue;
    }
    size_t bar = line.find('|');
    std::string_view text = line.substr(0, bar);
    if (std::string t = clean_plugin_text(text, kMaxDetailLine); !t.empty() && r.detail.size() < kMaxDetailLines)
      r.detail.push_back(std::move(t));
    if (bar != std::string_view::npos) {
      in_perf = true;
      perf += ' ';
      perf.append(line.substr(bar + 1));
    }
  }
  r.perf_error = parse_perfdata(perf, r.perfdata);
  return r;
}

std::string perf_metric(std::string_view check, std::string_view label) {
  std::string m = "check.";
  m.append(check);
  m += '.';
  for (char c : label) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("_./:-").find(c) != std::string_view::npos;
    m += ok ? c : '_';
  }
  return m;
}

}  // namespace imwatch::agent
