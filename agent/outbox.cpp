#include "agent/outbox.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "agent/messages.h"
#include "agent/state_store.h"
#include "agent/text_util.h"

namespace imwatch::agent {

Severity route_level(const Event& e) {
  if (e.kind == Event::peer_vanished || e.kind == Event::peer_back) return Severity::critical;
  return std::max(e.severity, e.previous);
}

bool routed_to(MinSeverity min, Event::Kind kind, Severity level) {
  if (min == MinSeverity::none) return false;
  if (min == MinSeverity::all) return true;
  switch (kind) {
    case Event::test:
    case Event::audit:
    case Event::folded:
    case Event::dropped:
    case Event::converted: return true;
    case Event::probe_failing:
    case Event::probe_recovered: return false;
    default: return level >= (min == MinSeverity::critical ? Severity::critical : Severity::warning);
  }
}

std::string routed_text(const OutboxMessage& m, MinSeverity min) {
  if (min == MinSeverity::all) return m.text;
  std::vector<std::string> texts;
  for (const auto& l : m.lines)
    if (routed_to(min, l.kind, l.severity)) texts.push_back(l.text);
  return texts.empty() ? std::string() : notification_text(m.host, texts);
}

Notification routed(const Notification& n, MinSeverity min) {
  Notification out{n.wall, n.host, {}, n.except};
  for (const auto& e : n.events)
    if (routed_to(min, e.kind, route_level(e))) out.events.push_back(e);
  return out;
}

std::string random_id_prefix() {
  unsigned char b[8] = {};
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
    // Never expected on Linux >= 3.17; fall back to something still unlikely to collide.
    uint64_t x = static_cast<uint64_t>(::getpid()) << 32 ^ static_cast<uint64_t>(time(nullptr));
    std::memcpy(b, &x, sizeof b);
  }
  std::string s = "imw-";
  for (unsigned char c : b) s += fmt::format("{:02x}", c);
  return s;
}

namespace {

constexpr std::string_view kHeaderV1 = "imwatch-outbox 1";
constexpr std::string_view kHeader = "imwatch-outbox 2";

template <class T>
bool to_num(std::string_view s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool to_wall(std::string_view s, double& v) { return to_num(s, v) && std::isfinite(v); }

bool to_severity(std::string_view s, Severity& v) {
  int n = 0;
  if (!to_num(s, n) || n < 0 || n > 2) return false;
  v = static_cast<Severity>(n);
  return true;
}

std::string render(const OutboxMessage& m) {
  std::vector<std::string> texts;
  texts.reserve(m.lines.size());
  for (const auto& l : m.lines) texts.push_back(l.text);
  return notification_text(m.host, texts);
}

// A message of the outbox's own: one line, no alert id, no rule.
OutboxMessage summary(std::string id, double wall, const std::string& host, Event::Kind kind, std::string text) {
  OutboxMessage m;
  m.id = std::move(id);
  m.wall = wall;
  m.host = host;
  m.lines = {{kind, 0, "", Severity::ok, std::move(text)}};
  m.text = render(m);
  return m;
}

// Ids of the alerts with both a fired and a resolved line in unsent messages.
std::set<uint64_t> fired_and_resolved_unsent(const std::vector<OutboxMessage>& messages) {
  std::set<uint64_t> fired, resolved, both;
  for (const auto& m : messages)
    if (m.sent_in == 0)
      for (const auto& l : m.lines) {
        if (l.alert != 0 && l.kind == Event::fired) fired.insert(l.alert);
        if (l.alert != 0 && l.kind == Event::resolved) resolved.insert(l.alert);
      }
  for (uint64_t id : fired)
    if (resolved.count(id)) both.insert(id);
  return both;
}

// What folding took out of the unsent messages: the (rule, alert id) of each
// fired line, in queue order, and the wall time of the earliest message
// that held one (the summary's time; 0 for none).
struct FoldedLines {
  std::vector<std::pair<std::string, uint64_t>> alerts;
  double first = 0;
};

// Removes every line of the alerts `ids` from the unsent messages; a message
// that keeps some lines gets its body rendered again.
FoldedLines take_lines_of(std::vector<OutboxMessage>& messages, const std::set<uint64_t>& ids) {
  FoldedLines folded;
  for (auto& m : messages) {
    if (m.sent_in != 0) continue;
    size_t before = m.lines.size();
    std::erase_if(m.lines, [&](const OutboxLine& l) {
      if (!ids.count(l.alert)) return false;
      if (l.kind == Event::fired) {
        folded.alerts.emplace_back(l.rule, l.alert);
        if (folded.first == 0 || m.wall < folded.first) folded.first = m.wall;
      }
      return true;
    });
    if (m.lines.size() != before && !m.lines.empty()) m.text = render(m);
  }
  return folded;
}

// Drops the unsent messages left without lines; returns their ids (the
// summary replaces them).
std::vector<std::string> remove_emptied(std::vector<OutboxMessage>& messages) {
  std::vector<std::string> replaced;
  for (const auto& m : messages)
    if (m.sent_in == 0 && m.lines.empty()) replaced.push_back(m.id);
  std::erase_if(messages, [](const auto& m) { return m.sent_in == 0 && m.lines.empty(); });
  return replaced;
}

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else
      out += c;
  }
  return out;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    if (s[i] == 'n')
      out += '\n';
    else if (s[i] == 't')
      out += '\t';
    else if (s[i] == '\\')
      out += '\\';
    else
      return std::nullopt;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

// One TAG LINE pair of a version 1 message: the line, or nullopt if
// malformed. Only fired and resolved keep their kind (and id); every other
// line becomes "converted".
std::optional<OutboxLine> parse_v1_line(std::string_view tag_field, std::string_view text_field) {
  auto tag = unescape(tag_field), text = unescape(text_field);
  if (!tag || !text) return std::nullopt;
  OutboxLine l;
  l.text = *text;
  std::string_view t = *tag;
  auto colon = t.find(':');
  if (colon == std::string_view::npos) return l;  // no alert: kind "converted"
  if (!to_num(t.substr(colon + 1), l.alert)) return std::nullopt;
  t = t.substr(0, colon);
  l.kind = t == "fired" ? Event::fired : t == "resolved" ? Event::resolved : Event::converted;
  return l;
}

// A version 1 "msg" record, its fields split: the message, or nullopt if
// malformed. Version 1 kept no host: the current one stands in.
std::optional<OutboxMessage> parse_v1_msg(const std::vector<std::string_view>& f, const std::string& host) {
  if (f.size() < 6 || f.size() % 2 != 0) return std::nullopt;
  OutboxMessage m;
  m.id = std::string(f[1]);
  m.host = host;
  if (m.id.empty() || !to_wall(f[2], m.wall) || !unescape(f[3])) return std::nullopt;
  for (size_t i = 4; i + 1 < f.size(); i += 2) {
    auto l = parse_v1_line(f[i], f[i + 1]);
    if (!l) return std::nullopt;
    m.lines.push_back(std::move(*l));
  }
  return m;
}

// What parse() collects before it changes anything: on error the outbox
// stays as it was.
struct ParsedOutbox {
  std::vector<OutboxMessage> msgs;
  uint64_t counter = 0;
  size_t dropped = 0;
  double since = 0;
};

// A version 2 "line" record (KIND ALERT SEVERITY RULE TEXT), its fields split.
std::optional<OutboxLine> parse_line_record(const std::vector<std::string_view>& f) {
  OutboxLine l;
  auto kind = kind_from_name(f[1]);
  auto rule = unescape(f[4]), body = unescape(f[5]);
  if (!kind || !to_num(f[2], l.alert) || !to_severity(f[3], l.severity) || !rule || !body) return std::nullopt;
  l.kind = *kind;
  l.rule = *rule;
  l.text = *body;
  return l;
}

// One record after the header; `n` counts from 0 there, so it is on line
// n + 2 of the file. "" or the error. A version 1 file's "msg" records are
// left to Outbox::parse_v1.
std::string parse_record(std::string_view record, size_t n, bool v1, ParsedOutbox& p) {
  auto f = split(record, '\t');
  auto bad = [&] { return fmt::format("line {}: malformed", n + 2); };
  if (f[0] == "counter" && f.size() == 2) return to_num(f[1], p.counter) ? std::string() : bad();
  if (f[0] == "dropped" && f.size() == 3)
    return to_num(f[1], p.dropped) && to_wall(f[2], p.since) ? std::string() : bad();
  if (v1 && f[0] == "msg") return {};
  if (f[0] == "msg" && f.size() == 4) {
    if (!p.msgs.empty() && p.msgs.back().lines.empty()) return fmt::format("line {}: a message without lines", n + 1);
    OutboxMessage m;
    m.id = std::string(f[1]);
    auto host = unescape(f[3]);
    if (m.id.empty() || !to_wall(f[2], m.wall) || !host) return bad();
    m.host = *host;
    p.msgs.push_back(std::move(m));
    return {};
  }
  if (!v1 && f[0] == "line" && f.size() == 6 && !p.msgs.empty()) {
    auto l = parse_line_record(f);
    if (!l) return bad();
    p.msgs.back().lines.push_back(std::move(*l));
    return {};
  }
  return bad();
}

}  // namespace

Outbox::Outbox(std::string host, size_t max, std::string id_prefix)
    : host_(std::move(host)), max_(std::max<size_t>(max, 2)), prefix_(std::move(id_prefix)) {}

std::string Outbox::new_id() { return fmt::format("{}-{}", prefix_, ++counter_); }

size_t Outbox::file_limit() const {
  // One message is one pass's events: a line is 50-150 bytes, so 4 KiB a
  // message leaves room for storms of 30 lines each on average. The parse
  // holds the loop (and SIGTERM) for about 15 ms per MiB at worst (many tiny
  // records): 60 ms at the default limit, 200 ms at 16 MiB, the most.
  return std::clamp<size_t>(max_ * 4096, size_t{1} << 20, size_t{16} << 20);
}

void Outbox::drop_over_limit() {
  // Bounded: drop the oldest unsent ones and count them, in one pass (a
  // loaded file may be thousands over).
  if (messages_.size() <= max_) return;
  const size_t excess = messages_.size() - max_;
  size_t n = 0;
  std::erase_if(messages_, [&](const OutboxMessage& m) {
    if (n == excess || m.sent_in != 0) return false;
    if (dropped_ == 0) dropped_since_ = m.wall;
    ++dropped_;
    ++n;
    return true;
  });
}

void Outbox::add(const Notification& n) {
  if (n.events.empty()) return;
  OutboxMessage m;
  m.id = new_id();
  m.wall = n.wall;
  m.host = n.host.empty() ? host_ : n.host;
  m.except = n.except;
  for (const auto& e : n.events) m.lines.push_back({e.kind, e.id, e.rule, route_level(e), event_line(e)});
  m.text = render(m);
  messages_.push_back(std::move(m));
  drop_over_limit();
}

std::vector<OutboxMessage*> Outbox::to_send(double wall) {
  // Fold: an alert that fired and resolved while both messages are unsent.
  if (const auto both = fired_and_resolved_unsent(messages_); !both.empty()) {
    FoldedLines folded = take_lines_of(messages_, both);
    std::vector<std::string> replaced = remove_emptied(messages_);
    OutboxMessage s = summary(new_id(), folded.first, host_, Event::folded, folded_line(folded.alerts));
    s.replaces = std::move(replaced);
    messages_.insert(messages_.begin(), std::move(s));
  }
  if (dropped_ > 0) {
    const double since = dropped_since_ > 0 ? dropped_since_ : wall;
    messages_.insert(messages_.begin(), summary(new_id(), since, host_, Event::dropped, dropped_line(dropped_, max_)));
    dropped_ = 0;
  }
  std::vector<OutboxMessage*> out;
  for (auto& m : messages_)
    if (m.sent_in == 0) out.push_back(&m);
  return out;
}

void Outbox::mark_sent(const std::string& id, uint64_t rt) {
  for (auto& m : messages_)
    if (m.id == id) m.sent_in = rt;
}

size_t Outbox::acknowledge(uint64_t rt) {
  size_t before = messages_.size();
  std::erase_if(messages_, [&](const auto& m) { return m.sent_in != 0 && m.sent_in <= rt; });
  return before - messages_.size();
}

void Outbox::link_lost() {
  for (auto& m : messages_) m.sent_in = 0;
}

std::string Outbox::serialize() const {
  std::ostringstream o;
  o.precision(17);
  o << kHeader << "\ncounter\t" << counter_ << "\ndropped\t" << dropped_ << "\t" << dropped_since_ << "\n";
  for (const auto& m : messages_) {
    o << "msg\t" << m.id << "\t" << m.wall << "\t" << escape(m.host) << "\n";
    for (const auto& l : m.lines)
      o << "line\t" << kind_name(l.kind) << "\t" << l.alert << "\t" << static_cast<int>(l.severity) << "\t"
        << escape(l.rule) << "\t" << escape(l.text) << "\n";
  }
  return o.str();
}

// Version 1: "msg ID WALL TEXT (TAG LINE)..." with tags "fired:12",
// "resolved:12", "other:12" or "".
std::string Outbox::parse_v1(const std::vector<std::string_view>& records, std::vector<OutboxMessage>& out) const {
  for (size_t n = 0; n < records.size(); ++n) {
    auto f = split(records[n], '\t');
    if (f[0] != "msg") continue;  // counter and dropped: read as in version 2
    auto m = parse_v1_msg(f, host_);
    if (!m) return fmt::format("line {}: malformed", n + 2);
    out.push_back(std::move(*m));
  }
  return {};
}

std::string Outbox::parse(std::string_view text) {
  auto records = split(text, '\n');
  const bool v1 = records[0] == kHeaderV1;
  if (!v1 && records[0] != kHeader) return "not an imwatch outbox file (version 2)";
  if (!records.back().empty()) return "truncated (no final newline)";
  records.pop_back();
  records.erase(records.begin());
  ParsedOutbox p;
  for (size_t n = 0; n < records.size(); ++n)
    if (auto err = parse_record(records[n], n, v1, p); !err.empty()) return err;
  if (v1) {
    if (auto err = parse_v1(records, p.msgs); !err.empty()) return err;
  } else if (!p.msgs.empty() && p.msgs.back().lines.empty()) {
    return "the last message has no lines";
  }
  for (auto& m : p.msgs) m.text = render(m);
  messages_ = std::move(p.msgs);
  counter_ = std::max(counter_, p.counter);
  dropped_ = p.dropped;
  dropped_since_ = p.since;
  drop_over_limit();
  dropped_by_parse_ = dropped_ - p.dropped;
  return {};
}

void Outbox::save(const std::string& path) {
  // No path: the state dir was refused (said once at start); the outbox
  // lives in memory only.
  std::string text = path.empty() ? std::string() : serialize();
  if (!path.empty() && text != last_saved_) {
    if (auto err = write_file_atomically(path, text); !err.empty()) {
      if (!save_failing_)
        spdlog::error("cannot persist the outbox: {}; undelivered alerts would not survive a restart", err);
      save_failing_ = true;
    } else {
      if (save_failing_) spdlog::info("outbox {}: persisting again", path);
      save_failing_ = false;
      last_saved_ = std::move(text);
    }
  }
  for (auto& m : messages_) {
    if (m.announced) continue;
    m.announced = true;
    if (m.replaces.empty())
      spdlog::info("outbox: queued {}", m.id);
    else
      spdlog::info("outbox: queued {} replacing {}", m.id, fmt::join(m.replaces, " "));
  }
}

void Outbox::load(const std::string& path) {
  if (path.empty()) return;  // in memory only (see save)
  // Through the state dir's reader: never a symlink, only a regular file (a
  // FIFO planted there cannot wedge the agent), nothing of it read past the
  // limit, whatever size it claims.
  std::string text, error;
  switch (read_state_file(path, file_limit(), text, error)) {
    case ReadResult::missing: return;
    case ReadResult::error:
      spdlog::error(
          "outbox: {} (the limit is 4 KiB per message of outbox_max {}): the notifications in it are "
          "lost and the file will be replaced",
          error, max_);
      return;
    case ReadResult::ok: break;
  }
  const bool v1 = text.starts_with(kHeaderV1);
  if (auto err = parse(text); !err.empty()) {
    spdlog::warn("outbox {}: {}; ignoring it (it will be replaced)", path, err);
    return;
  }
  if (v1) spdlog::info("outbox {}: converted from version 1", path);
  last_saved_ = v1 ? std::string() : text;
  for (auto& m : messages_) m.announced = true;  // announced by the process that queued them
  if (dropped_by_parse_ > 0)
    spdlog::warn("outbox {}: {} messages over outbox_max {}: the oldest dropped and counted", path, dropped_by_parse_,
                 max_);
  if (!messages_.empty()) spdlog::info("outbox {}: {} undelivered notifications to send", path, messages_.size());
}

}  // namespace imwatch::agent
