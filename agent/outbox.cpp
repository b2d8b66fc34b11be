#include "agent/outbox.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <fmt/ranges.h>
#include <unistd.h>
#include <cstring>
#include <ctime>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/state_store.h"
#include "agent/text_util.h"

namespace imwatch::agent {

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

std::string event_tag(const Event& e) {
  switch (e.kind) {
    case Event::fired: return fmt::format("fired:{}", e.id);
    case Event::resolved: return fmt::format("resolved:{}", e.id);
    default: return e.id ? fmt::format("other:{}", e.id) : "";
  }
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

}  // namespace

Outbox::Outbox(std::string host, size_t max, std::string id_prefix)
    : host_(std::move(host)), max_(std::max<size_t>(max, 2)), prefix_(std::move(id_prefix)) {}

std::string Outbox::new_id() { return fmt::format("{}-{}", prefix_, ++counter_); }

std::string Outbox::render(const std::vector<std::string>& lines) const {
  if (lines.size() == 1) return host_ + ": " + lines[0];
  std::string out = fmt::format("{}: {} changes", host_, lines.size());
  for (const auto& l : lines) out += "\n" + l;
  return out;
}

void Outbox::add(const Notification& n) {
  OutboxMessage m;
  m.id = new_id();
  m.wall = n.wall;
  m.text = n.text;
  for (const auto& e : n.events) m.tags.push_back(event_tag(e));
  // The per-event lines, to re-render after folding.
  std::string_view t = n.text;
  auto lines = split(t, '\n');
  if (n.events.size() == 1 && lines.size() == 1) {
    std::string_view l = lines[0];
    if (l.starts_with(host_ + ": ")) l.remove_prefix(host_.size() + 2);
    m.lines.emplace_back(l);
  } else {
    for (size_t i = 1; i < lines.size(); ++i) m.lines.emplace_back(lines[i]);
  }
  if (m.lines.size() != m.tags.size()) m.tags.assign(m.lines.size(), "");
  messages_.push_back(std::move(m));
  // Bounded: drop the oldest unsent ones and count them.
  while (messages_.size() > max_) {
    auto it = std::find_if(messages_.begin(), messages_.end(), [](const auto& x) { return x.sent_in == 0; });
    if (it == messages_.end()) break;
    if (dropped_ == 0) dropped_since_ = it->wall;
    ++dropped_;
    messages_.erase(it);
  }
}

std::vector<OutboxMessage*> Outbox::to_send(double wall) {
  // Fold: an alert that fired and resolved while both messages are unsent.
  std::set<std::string> fired, resolved;
  for (const auto& m : messages_)
    if (m.sent_in == 0)
      for (const auto& t : m.tags) {
        if (t.starts_with("fired:")) fired.insert(t.substr(6));
        if (t.starts_with("resolved:")) resolved.insert(t.substr(9));
      }
  std::vector<std::string> both;
  for (const auto& id : fired)
    if (resolved.count(id)) both.push_back(id);
  if (!both.empty()) {
    std::vector<std::string> names;
    double first = 0;
    for (auto& m : messages_) {
      if (m.sent_in != 0) continue;
      for (size_t i = 0; i < m.tags.size();) {
        std::string_view t = m.tags[i];
        auto colon = t.find(':');
        bool fold =
            colon != std::string_view::npos && std::find(both.begin(), both.end(), t.substr(colon + 1)) != both.end();
        if (!fold) {
          ++i;
          continue;
        }
        if (t.starts_with("fired:")) {
          // "WARNING load: ..." -> "load #12"
          std::string_view l = m.lines[i];
          size_t sp = l.find(' '), c = l.find(':');
          names.push_back(fmt::format(
              "{} #{}", sp < c && c != std::string_view::npos ? l.substr(sp + 1, c - sp - 1) : l, t.substr(colon + 1)));
          if (first == 0 || m.wall < first) first = m.wall;
        }
        m.tags.erase(m.tags.begin() + static_cast<long>(i));
        m.lines.erase(m.lines.begin() + static_cast<long>(i));
      }
      if (!m.lines.empty()) m.text = render(m.lines);
    }
    std::vector<std::string> replaced;
    for (const auto& m : messages_)
      if (m.sent_in == 0 && m.lines.empty()) replaced.push_back(m.id);
    std::erase_if(messages_, [](const auto& m) { return m.sent_in == 0 && m.lines.empty(); });
    OutboxMessage s;
    s.replaces = std::move(replaced);
    s.id = new_id();
    s.wall = first;
    s.lines = {fmt::format("while undelivered, {} alert{} fired and resolved: {}", names.size(),
                           names.size() == 1 ? "" : "s", fmt::join(names, ", "))};
    s.tags = {""};
    s.text = render(s.lines);
    messages_.insert(messages_.begin(), std::move(s));
  }
  if (dropped_ > 0) {
    OutboxMessage d;
    d.id = new_id();
    d.wall = dropped_since_ > 0 ? dropped_since_ : wall;
    d.lines = {fmt::format("{} notification{} dropped while the link was down (outbox limit {})", dropped_,
                           dropped_ == 1 ? "" : "s", max_)};
    d.tags = {""};
    d.text = render(d.lines);
    messages_.insert(messages_.begin(), std::move(d));
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
  o << "imwatch-outbox 1\ncounter\t" << counter_ << "\ndropped\t" << dropped_ << "\t" << dropped_since_ << "\n";
  for (const auto& m : messages_) {
    o << "msg\t" << m.id << "\t" << m.wall << "\t" << escape(m.text);
    for (size_t i = 0; i < m.lines.size(); ++i) o << "\t" << escape(m.tags[i]) << "\t" << escape(m.lines[i]);
    o << "\n";
  }
  return o.str();
}

std::string Outbox::parse(std::string_view text) {
  std::vector<OutboxMessage> msgs;
  uint64_t counter = 0;
  size_t dropped = 0;
  double since = 0;
  auto lines = split(text, '\n');
  if (lines.empty() || lines[0] != "imwatch-outbox 1") return "not an imwatch outbox file";
  if (!lines.back().empty()) return "truncated (no final newline)";
  for (size_t n = 1; n + 1 < lines.size(); ++n) {
    auto f = split(lines[n], '\t');
    auto bad = [&] { return fmt::format("line {}: malformed", n + 1); };
    auto num = [](std::string_view s, auto& v) {
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      return ec == std::errc() && p == s.data() + s.size() && !s.empty();
    };
    if (f[0] == "counter" && f.size() == 2) {
      if (!num(f[1], counter)) return bad();
    } else if (f[0] == "dropped" && f.size() == 3) {
      if (!num(f[1], dropped) || !num(f[2], since) || !std::isfinite(since)) return bad();
    } else if (f[0] == "msg" && f.size() >= 6 && f.size() % 2 == 0) {
      OutboxMessage m;
      m.id = std::string(f[1]);
      auto t = unescape(f[3]);
      if (m.id.empty() || !num(f[2], m.wall) || !std::isfinite(m.wall) || !t) return bad();
      m.text = *t;
      for (size_t i = 4; i + 1 < f.size(); i += 2) {
        auto tag = unescape(f[i]), line = unescape(f[i + 1]);
        if (!tag || !line) return bad();
        m.tags.push_back(*tag);
        m.lines.push_back(*line);
      }
      msgs.push_back(std::move(m));
    } else {
      return bad();
    }
  }
  messages_ = std::move(msgs);
  counter_ = std::max(counter_, counter);
  dropped_ = dropped;
  dropped_since_ = since;
  return {};
}

void Outbox::save(const std::string& path) {
  std::string text = serialize();
  if (text != last_saved_) {
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
  std::ifstream in(path);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (auto err = parse(text); !err.empty()) {
    spdlog::warn("outbox {}: {}; ignoring it", path, err);
    return;
  }
  last_saved_ = text;
  for (auto& m : messages_) m.announced = true;  // announced by the process that queued them
  if (!messages_.empty()) spdlog::info("outbox {}: {} undelivered notifications to send", path, messages_.size());
}

}  // namespace imwatch::agent
