#include "agent/chat.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include "agent/jid.h"
#include "agent/messages.h"
#include "agent/report.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

const char* const kHelp =
    "commands:\n"
    "status - host, uptime, load, memory, alerts\n"
    "load, mem, vmstat, psi - the numbers\n"
    "alerts - what fires now\n"
    "graph [WHAT] [6h] - history, sparklines\n"
    "rules - the rules and their state\n"
    "mute [DURATION] [RULE|all] - silence (default 1h, all)\n"
    "unmute [RULE|all]\n"
    "ack N - no more reminders for alert #N\n"
    "ping";

std::string trim_newline(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

bool known_rule(ChatContext& ctx, const std::string& name) {
  const auto& rules = ctx.engine.rules();
  return std::any_of(rules.begin(), rules.end(), [&](const Rule& r) { return r.name == name; });
}

std::string mute(const std::vector<std::string>& args, ChatContext& ctx) {
  double duration = 3600;
  std::string rule;  // all
  for (size_t i = 1; i < args.size(); ++i) {
    if (auto d = parse_duration(args[i]); d && *d > 0)
      duration = *d;
    else if (to_lower(args[i]) == "all")
      rule.clear();
    else if (known_rule(ctx, args[i]))
      rule = args[i];
    else
      return fmt::format("no rule or duration {}; usage: mute [DURATION] [RULE|all]", quote(args[i]));
  }
  ctx.engine.mute(rule, ctx.wall + duration);
  return fmt::format("muted {} for {}", rule.empty() ? "all alerts" : rule, format_duration(duration));
}

std::string unmute(const std::vector<std::string>& args, ChatContext& ctx) {
  if (args.size() > 2) return "usage: unmute [RULE|all]";
  std::string rule = args.size() == 2 && to_lower(args[1]) != "all" ? args[1] : "";
  if (!rule.empty() && !known_rule(ctx, rule)) return fmt::format("no rule {}", quote(rule));
  ctx.engine.unmute(rule);
  return rule.empty() ? "unmuted everything" : "unmuted " + rule;
}

std::string ack(const std::vector<std::string>& args, ChatContext& ctx) {
  if (args.size() != 2) return "usage: ack N (the #N of an alert)";
  std::string_view n = args[1];
  if (!n.empty() && n[0] == '#') n.remove_prefix(1);
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
  if (ec != std::errc() || p != n.data() + n.size() || n.empty())
    return fmt::format("not an alert number: {}", quote(args[1]));
  if (!ctx.engine.ack(id)) return fmt::format("no firing alert #{}", id);
  return fmt::format("acknowledged #{}: no more reminders until it resolves", id);
}

}  // namespace

ChatHandler::ChatHandler(std::vector<std::string> admins, ChatLimits limits) : limits_(limits) {
  for (auto& a : admins) admins_.push_back(bare(a));
}

// The server stamps senders in stringprep form, and the config stores
// admins in it (agent/jid.h), so both are compared that way: nodeprep
// case-folds Unicode, where to_lower folds only ASCII. What does not prep
// (a domain-only JID such as the server's own) falls back to ASCII lower
// case: that can never equal an admin, because ASCII case is all it differs
// in and such a string would have prepped.
std::string ChatHandler::bare(std::string_view jid) {
  std::string_view b = jid.substr(0, jid.find('/'));
  if (auto prepped = prep_bare_jid(b)) return *prepped;
  return to_lower(b);
}

bool ChatHandler::is_admin(std::string_view from) const {
  const std::string who = bare(from);
  return std::find(admins_.begin(), admins_.end(), who) != admins_.end();
}

std::optional<std::string> ChatHandler::handle(std::string_view from, std::string_view body, double now,
                                               ChatContext& ctx) {
  const std::string who = bare(from);
  if (!is_admin(who)) {
    // No data for strangers; at most one refusal per JID per hour, and the
    // map of JIDs we remember is bounded whatever a flood throws at us.
    auto it = strangers_.find(who);
    if (it != strangers_.end() && now - it->second < limits_.refusal_every) return std::nullopt;
    if (it == strangers_.end() && strangers_.size() >= limits_.max_strangers) {
      std::erase_if(strangers_, [&](const auto& kv) { return now - kv.second >= limits_.refusal_every; });
      if (strangers_.size() >= limits_.max_strangers) return std::nullopt;
    }
    strangers_[who] = now;
    spdlog::warn("chat from {} refused: not an admin", quote(who));
    return std::string("not authorised");
  }
  if (body.size() > limits_.max_body) {
    spdlog::warn("chat from {}: {} byte message ignored (limit {})", who, body.size(), limits_.max_body);
    return std::nullopt;
  }
  Rate& r = rates_[who];
  while (!r.recent.empty() && now - r.recent.front() >= limits_.window) r.recent.pop_front();
  if (static_cast<int>(r.recent.size()) >= limits_.commands_per_window) {
    if (r.warned) return std::nullopt;
    r.warned = true;
    return fmt::format("slow down: more than {} commands in {}; ignoring the rest for a while",
                       limits_.commands_per_window, format_duration(limits_.window));
  }
  r.warned = false;
  r.recent.push_back(now);
  return command(body, ctx);
}

std::string ChatHandler::command(std::string_view body, ChatContext& ctx) {
  auto args = split_words(trim(body));
  if (args.empty()) return "empty message; try help";
  const std::string cmd = to_lower(args[0]);
  const Snapshot& s = ctx.snapshot;
  if (cmd == "help") return kHelp;
  if (cmd == "ping") return "pong";
  if (cmd == "load") return trim_newline(format_load(s));
  if (cmd == "mem") return trim_newline(format_memory(s));
  if (cmd == "vmstat") return trim_newline(format_vmstat(s));
  if (cmd == "psi") {
    std::string p = format_pressure(s);
    return p.empty() ? "pressure stall information is not available on this kernel" : trim_newline(p);
  }
  if (cmd == "graph") return graph_reply(args, ctx.history, ctx.host, ctx.wall);
  if (cmd == "alerts") return alerts_listing(ctx.engine, ctx.wall);
  if (cmd == "rules") return rules_listing(ctx.engine, ctx.wall);
  if (cmd == "status") {
    std::string up = ctx.uptime ? "up " + human_duration(*ctx.uptime) : "uptime unknown";
    std::string trend = status_trend(ctx.history, ctx.wall);
    return fmt::format("{}, {}\n{}{}{}{}", ctx.host, up, format_load(s), format_memory(s),
                       trend.empty() ? "" : trend + "\n", alerts_listing(ctx.engine, ctx.wall));
  }
  if (cmd == "mute") return mute(args, ctx);
  if (cmd == "unmute") return unmute(args, ctx);
  if (cmd == "ack") return ack(args, ctx);
  return fmt::format("unknown command {}; try help", quote(args[0]));
}

}  // namespace imwatch::agent
