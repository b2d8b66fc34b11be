#include "agent/maintenance.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <ctime>
#include <map>

#include "agent/rule.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

std::optional<int> day_of(std::string_view word) {
  const std::string w = to_lower(word);
  for (size_t i = 0; i < kDayNames.size(); ++i)
    if (to_lower(kDayNames[i]) == w) return static_cast<int>(i);
  return std::nullopt;
}

// "Mon-Fri", "Sat", "Fri-Mon" (wraps) into `days`: false if not a day.
bool add_days(std::string_view item, std::array<bool, 7>& days) {
  size_t dash = item.find('-');
  auto from = day_of(item.substr(0, dash));
  auto to = dash == std::string_view::npos ? from : day_of(item.substr(dash + 1));
  if (!from || !to) return false;
  for (int d = *from;; d = (d + 1) % 7) {
    days.at(static_cast<size_t>(d)) = true;
    if (d == *to) return true;
  }
}

// "daily" or "Mon-Fri,Sun": "" or what is wrong.
std::string parse_days(std::string_view text, std::array<bool, 7>& days) {
  if (to_lower(text) == "daily") {
    days.fill(true);
    return {};
  }
  for (size_t at = 0; at <= text.size();) {
    size_t comma = std::min(text.find(',', at), text.size());
    if (!add_days(text.substr(at, comma - at), days))
      return "bad days " + quote(text) + " (daily, or Mon..Sun, lists and ranges: Mon-Fri,Sun)";
    at = comma + 1;
  }
  return {};
}

// "H:MM" or "HH:MM", 00:00 to 24:00, into minutes after midnight.
std::optional<int> parse_clock(std::string_view t) {
  size_t colon = t.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || t.size() != colon + 3) return std::nullopt;
  auto digits = [](std::string_view s) { return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }); };
  if (!digits(t.substr(0, colon)) || !digits(t.substr(colon + 1))) return std::nullopt;
  int h = std::stoi(std::string(t.substr(0, colon)));
  int m = std::stoi(std::string(t.substr(colon + 1)));
  if (h > 24 || m > 59 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

std::string parse_span(std::string_view text, Window& w) {
  size_t dash = text.find('-');
  auto bad = [&] { return "bad time " + quote(text) + " (HH:MM-HH:MM, local time)"; };
  if (dash == std::string_view::npos) return bad();
  auto start = parse_clock(text.substr(0, dash));
  auto end = parse_clock(text.substr(dash + 1));
  if (!start || !end || *start == 1440) return bad();
  if (*start == *end) return "empty window " + quote(text) + " (start and end are the same)";
  w.start = *start;
  w.end = *end;
  return {};
}

// "iowait, disk" or "iowait,disk": rule names.
std::string parse_rule_names(const std::vector<std::string>& words, Window& w) {
  for (const auto& word : words)
    for (size_t at = 0; at < word.size();) {
      size_t comma = std::min(word.find(',', at), word.size());
      std::string name = word.substr(at, comma - at);
      at = comma + 1;
      if (name.empty()) continue;
      if (!valid_rule_name(name)) return "bad rule name " + quote(name);
      if (std::find(w.rules.begin(), w.rules.end(), name) == w.rules.end()) w.rules.push_back(std::move(name));
      if (w.rules.size() > 256) return "more than 256 rules";
    }
  return {};
}

std::string two(int minutes) { return fmt::format("{:02}:{:02}", minutes / 60, minutes % 60); }

// The instant the clock of local date `day` reads `minutes` after midnight.
// Asked with either DST flag and checked by reading the result back, so the
// answer does not depend on what mktime guessed last time (glibc's guess is
// its previous call's offset): a time that occurs twice (the hour repeated
// when DST ends) is its first occurrence; a time that never occurs (the
// hour skipped when it begins) is read in the offset before the jump,
// which puts it as far after the jump as it was after the hour it skipped
// (02:30 is 03:30 CEST).
double local_clock(const std::tm& day, int minutes) {
  std::optional<time_t> valid, invalid;
  for (int dst : {0, 1}) {
    std::tm tm = day;
    tm.tm_hour = minutes / 60;
    tm.tm_min = minutes % 60;
    tm.tm_sec = 0;
    tm.tm_isdst = dst;
    const time_t t = ::mktime(&tm);
    if (t == static_cast<time_t>(-1)) continue;
    std::tm back{};
    ::localtime_r(&t, &back);
    const bool same = back.tm_mday == day.tm_mday && back.tm_hour == minutes / 60 && back.tm_min == minutes % 60;
    auto& slot = same ? valid : invalid;
    slot = !slot ? t : same ? std::min(*slot, t) : std::max(*slot, t);
  }
  return static_cast<double>(valid ? *valid : invalid ? *invalid : 0);
}

// Local `minutes` after midnight on the day `day_offset` days from the
// local date of `wall`, as a Unix time; its weekday into `wday`. Noon
// anchors the day so that the DST hour never moves it; 24:00 is the next
// day's 00:00.
double local_at(double wall, int day_offset, int minutes, int* wday) {
  auto t = static_cast<time_t>(wall);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  tm.tm_mday += day_offset;
  tm.tm_hour = 12;
  tm.tm_min = tm.tm_sec = 0;
  tm.tm_isdst = -1;
  ::mktime(&tm);  // normalises the date and fills tm_wday
  if (wday) *wday = tm.tm_wday;
  if (minutes >= 1440) return local_at(wall, day_offset + 1, minutes - 1440, nullptr);
  return local_clock(tm, minutes);
}

// The window that starts on the day `offset` days from `wall`'s date: its
// start and end, or nothing if it does not start that day.
std::optional<std::pair<double, double>> occurrence(const Window& w, double wall, int offset) {
  int wday = 0;
  double start = local_at(wall, offset, w.start, &wday);
  if (!w.days.at(static_cast<size_t>(wday))) return std::nullopt;
  double end = local_at(wall, w.end > w.start ? offset : offset + 1, w.end, nullptr);
  return std::make_pair(start, end);
}

}  // namespace

std::string Window::canonical() const {
  std::string d;
  if (std::all_of(days.begin(), days.end(), [](bool b) { return b; })) {
    d = "daily";
  } else {
    std::vector<std::string_view> names;
    for (size_t i = 0; i < 7; ++i)
      if (days.at((i + 1) % 7)) names.push_back(kDayNames.at((i + 1) % 7));  // Mon first
    d = fmt::format("{}", fmt::join(names, ","));
  }
  std::string s = fmt::format("{}: {} {}-{}", name, d, two(start), two(end));
  if (!rules.empty()) s += fmt::format(" {}", fmt::join(rules, ", "));
  return s;
}

std::string parse_window(std::string_view text, Window& out) {
  out = Window{};
  size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return "maintenance: expected 'NAME: DAYS HH:MM-HH:MM [RULES]', got " + quote(text);
  out.name = trim(text.substr(0, colon));
  if (!valid_rule_name(out.name))
    return "maintenance: bad name " + quote(out.name) + " (letters, digits, '_', '-', '.'; at most 64)";
  auto words = split_words(text.substr(colon + 1));
  auto err = [&](const std::string& m) { return "maintenance '" + out.name + "': " + m; };
  if (words.size() < 2) return err("expected 'DAYS HH:MM-HH:MM' after the name");
  if (auto m = parse_days(words[0], out.days); !m.empty()) return err(m);
  if (auto m = parse_span(words[1], out); !m.empty()) return err(m);
  if (auto m = parse_rule_names({words.begin() + 2, words.end()}, out); !m.empty()) return err(m);
  return {};
}

std::vector<Window> compile_windows(const Config& cfg, const std::vector<std::string>& rules,
                                    std::vector<std::string>& errors) {
  std::vector<Window> out;
  std::map<std::string, std::string> seen;
  for (const auto& line : cfg.maintenance) {
    Window w;
    if (auto err = parse_window(line.value, w); !err.empty()) {
      errors.push_back(line.origin.str() + ": " + err);
      continue;
    }
    w.origin = line.origin;
    bool ok = true;
    for (const auto& r : w.rules)
      if (std::find(rules.begin(), rules.end(), r) == rules.end()) {
        errors.push_back(line.origin.str() + ": maintenance '" + w.name + "': no rule " + quote(r));
        ok = false;
      }
    if (auto [it, fresh] = seen.emplace(w.name, line.origin.str()); !fresh) {
      errors.push_back(line.origin.str() + ": maintenance " + quote(w.name) + " is already defined at " + it->second);
      ok = false;
    }
    if (ok) out.push_back(std::move(w));
  }
  return out;
}

std::optional<double> window_end(const Window& w, double wall) {
  // Started today, or yesterday and runs across midnight.
  for (int offset : {-1, 0})
    if (auto o = occurrence(w, wall, offset); o && o->first <= wall && wall < o->second) return o->second;
  return std::nullopt;
}

std::optional<double> window_next_start(const Window& w, double wall) {
  for (int offset = 0; offset <= 8; ++offset)
    if (auto o = occurrence(w, wall, offset); o && o->first > wall) return o->first;
  return std::nullopt;
}

}  // namespace imwatch::agent
