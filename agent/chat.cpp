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
      return fit({fmt::format("no rule or duration {};", quote(args[i])), "usage: mute [DURATION] [RULE|all]"});
  }
  ctx.engine.mute(rule, ctx.wall + duration);
  return fit({fmt::format("muted {}", rule.empty() ? "all alerts" : rule), "for " + format_duration(duration)});
}

std::string unmute(const std::vector<std::string>& args, ChatContext& ctx) {
  if (args.size() > 2) return "usage: unmute [RULE|all]";
  std::string rule = args.size() == 2 && to_lower(args[1]) != "all" ? args[1] : "";
  if (!rule.empty() && !known_rule(ctx, rule)) return fit({"no rule", quote(rule)});
  ctx.engine.unmute(rule);
  return rule.empty() ? "unmuted everything" : fit({"unmuted", rule});
}

std::string ack(const std::vector<std::string>& args, ChatContext& ctx) {
  if (args.size() != 2) return "usage: ack N (the #N of an alert)";
  std::string_view n = args[1];
  if (!n.empty() && n[0] == '#') n.remove_prefix(1);
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
  if (ec != std::errc() || p != n.data() + n.size() || n.empty()) return fit({"not an alert number:", quote(args[1])});
  if (!ctx.engine.ack(id)) return fmt::format("no firing alert #{}", id);
  return fit({fmt::format("acknowledged #{}:", id), "no more reminders until it resolves"});
}

// "web1: memory", fitted: the host comes first in every title, so answers
// from several agents in one window tell apart at a glance.
std::string title(ChatContext& ctx, std::string_view what) { return fit({ctx.host + ":", std::string(what)}, 0); }

std::string status(ChatContext& ctx) {
  std::string up = ctx.uptime ? "up " + human_duration(*ctx.uptime) : "uptime unknown";
  std::string trend = status_trend(ctx.history, ctx.wall);  // "" without history
  return preformatted(fit({ctx.host + ",", up}, 0), chat_load(ctx.snapshot) + "\n" + chat_memory(ctx.snapshot)) + "\n" +
         (trend.empty() ? "" : trend + "\n") + alerts_listing(ctx.engine, ctx.wall);
}

// "web1: 2 alerts, 1 mute", then one line each: the host first, so that
// the listing's first line never follows the sender's name in a client.
std::string alerts(ChatContext& ctx) {
  const AlertEngine& e = ctx.engine;
  size_t open = 0, failing = 0, muted = 0;
  for (const auto& r : e.rules())
    if (auto it = e.states().find(r.name); it != e.states().end() && it->second.open()) ++open;
  for (const auto& [probe, h] : e.probes()) failing += h.told_failing ? 1 : 0;
  for (const auto& [rule, until] : e.mutes()) muted += until > ctx.wall ? 1 : 0;
  size_t holds = 0;
  for (const auto& [key, h] : e.holds()) holds += !h.until || *h.until > ctx.wall ? 1 : 0;
  std::string counts;
  auto count = [&](size_t n, std::string_view one, std::string_view many) {
    if (n) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, n == 1 ? one : many);
  };
  count(open, "alert", "alerts");
  count(failing, "probe failing", "probes failing");
  count(muted, "mute", "mutes");
  count(holds, "hold", "holds");
  if (counts.empty()) return title(ctx, "no alerts");
  return title(ctx, counts) + "\n" + alerts_listing(e, ctx.wall);
}

std::string rules(ChatContext& ctx) {
  const size_t n = ctx.engine.rules().size();
  if (n == 0) return title(ctx, "no rules configured");
  return title(ctx, fmt::format("{} rule{}", n, n == 1 ? "" : "s")) + "\n" + rules_listing(ctx.engine, ctx.wall);
}

std::string pressure(ChatContext& ctx) {
  std::string rows = chat_pressure(ctx.snapshot);
  if (rows.empty()) return fit({ctx.host + ":", "no pressure stall information", "(PSI) on this kernel"});
  return preformatted(title(ctx, "pressure stall information"), rows);
}

using Args = std::vector<std::string>;

// Every command: adding one is one entry. `summary` fits the help list's
// 40 columns beside the name; `help` and `example` are what `help NAME` says.
struct Command {
  std::string_view name, args, summary, help, example;
  std::string (*run)(const Args&, ChatContext&);
};

std::string help(const Args& args, ChatContext& ctx);

const Command kCommands[] = {
    {"status", "", "host, load, memory, alerts", "the host and its uptime, load, memory and swap, then what fires now",
     "status", [](const Args&, ChatContext& c) { return status(c); }},
    {"load", "", "load average, tasks", "load average over 1, 5 and 15 minutes, in all and per CPU, and tasks", "load",
     [](const Args&, ChatContext& c) { return preformatted(title(c, "load average"), chat_load(c.snapshot)); }},
    {"mem", "", "memory and swap", "memory used, available, free and in buffers or cache; swap used", "mem",
     [](const Args&, ChatContext& c) { return preformatted(title(c, "memory"), chat_memory(c.snapshot)); }},
    {"vmstat", "", "cpu, procs, io, faults, oom",
     "cpu time split, processes running and blocked, swap and disk io, interrupts, page faults and OOM kills, "
     "over the last sample",
     "vmstat", [](const Args&, ChatContext& c) { return preformatted(title(c, "vmstat"), chat_vmstat(c.snapshot)); }},
    {"psi", "", "pressure stalls", "pressure stall information: the % of time tasks waited for cpu, memory or io",
     "psi", [](const Args&, ChatContext& c) { return pressure(c); }},
    {"alerts", "", "what fires now, mutes",
     "open alerts with their number, failing probes and mutes with what is left of them", "alerts",
     [](const Args&, ChatContext& c) { return alerts(c); }},
    {"graph", "[WHAT] [DURATION]", "history as sparklines",
     "sparklines of a metric (or load, mem, cpu, psi) with min, avg, max and now; default load, memory and iowait "
     "over 6h, at most 2d",
     "graph mem 24h", [](const Args& a, ChatContext& c) { return graph_reply(a, c.history, c.host, c.wall); }},
    {"rules", "", "rules, values, states", "every rule as configured, its state and the value it was last checked on",
     "rules", [](const Args&, ChatContext& c) { return rules(c); }},
    {"mute", "[DURATION] [RULE|all]", "silence alerts",
     "no alert messages for DURATION (default 1h), for one RULE or all", "mute 30m load", mute},
    {"unmute", "[RULE|all]", "end a mute", "alerts speak again, for one RULE or all", "unmute load", unmute},
    {"ack", "N", "no more reminders for #N", "no more reminders for alert #N until it resolves", "ack 3", ack},
    {"ping", "", "is the agent there?", "answers pong", "ping",
     [](const Args&, ChatContext&) { return std::string("pong"); }},
    {"help", "[COMMAND]", "this list, or one command", "the commands, or how to use one with an example", "help mute",
     help},
};

const Command* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

// The command a typo most likely meant, if any.
std::optional<std::string> suggestion(std::string_view word) {
  if (word.size() < 3) return std::nullopt;  // two edits make any short word a command
  std::vector<std::string> names;
  for (const auto& c : kCommands) names.emplace_back(c.name);
  auto near = nearest(word, names, 1);
  if (near.empty()) return std::nullopt;
  return near[0];
}

std::string help(const Args& args, ChatContext&) {
  if (args.size() > 2) return "usage: help [COMMAND]";
  if (args.size() == 2) {
    const std::string name = to_lower(args[1]);
    const Command* c = find_command(name);
    if (!c) {
      auto near = suggestion(name);
      return fit({fmt::format("no command {};", quote(args[1])), near ? "did you mean " + *near + "?" : "try help"});
    }
    std::string usage = c->args.empty() ? std::string(c->name) : fmt::format("{} {}", c->name, c->args);
    return fmt::format("{}\n{}\n{}", fit({usage}, 4), fit({std::string(c->help)}, 0),
                       fit({"example:", std::string(c->example)}));
  }
  std::string rows;
  for (const auto& c : kCommands) rows += fmt::format("{:<7}{}\n", c.name, c.summary);
  rows.pop_back();
  return preformatted("commands:", rows) + "\nhelp COMMAND: usage and an example";
}

void log_if_changing(const std::string& who, std::string_view body, const std::string& reply) {
  // The commands that change what admins are told are worth an audit trail:
  // who, what they typed (quoted: chat text is data), and what it did.
  auto args = split_words(trim(body));
  const std::string cmd = args.empty() ? "" : to_lower(args[0]);
  if (cmd == "mute" || cmd == "unmute" || cmd == "ack")
    spdlog::info("chat: {} from {}: {}", quote(trim(body)), who, one_line(reply));
}

}  // namespace

ChatHandler::ChatHandler(std::vector<std::string> admins, ChatLimits limits)
    : limits_(limits),
      strangers_("chat", limits.refusal_every, limits.max_strangers),
      oversized_("oversized chat", limits.refusal_every, limits.max_strangers) {
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
    // No data for strangers; at most one refusal (and log line) per JID per
    // hour, and the JIDs we remember are bounded whatever a flood throws at us.
    auto dropped = strangers_.admit(who, now);
    if (!dropped) return std::nullopt;
    spdlog::warn("chat from {} refused: not an admin{}", quote(who), RefusalLog::dropped_note(*dropped));
    return std::string("not authorised");
  }
  // Every message counts against the rate, oversized ones too: a client
  // stuck resending a huge paste must not cost a log line each time.
  Rate& r = rates_[who];
  while (!r.recent.empty() && now - r.recent.front() >= limits_.window) r.recent.pop_front();
  if (static_cast<int>(r.recent.size()) >= limits_.commands_per_window) {
    if (r.warned) return std::nullopt;
    r.warned = true;
    // Commands past the limit are not recorded, so the oldest one in the
    // window says when the next is answered.
    return fit({fmt::format("slow down: over {} commands in {};", limits_.commands_per_window,
                            format_duration(limits_.window)),
                "listening again in " + human_duration(r.recent.front() + limits_.window - now, Rounding::up)});
  }
  r.warned = false;
  r.recent.push_back(now);
  if (body.size() > limits_.max_body) {
    if (auto dropped = oversized_.admit(who, now))
      spdlog::warn("chat from {}: {} byte message ignored (limit {}){}", who, body.size(), limits_.max_body,
                   RefusalLog::dropped_note(*dropped));
    return std::nullopt;
  }
  std::string reply = command(body, ctx);
  log_if_changing(who, body, reply);
  return reply;
}

std::string ChatHandler::command(std::string_view body, ChatContext& ctx) {
  auto args = split_words(trim(body));
  if (args.empty()) return "empty message; try help";
  const std::string name = to_lower(args[0]);
  if (const Command* c = find_command(name)) return c->run(args, ctx);
  if (auto near = suggestion(name))
    return fit({fmt::format("unknown command {};", quote(args[0])), "did you mean " + *near + "?"});
  return fit({fmt::format("unknown command {};", quote(args[0])), "try help"});
}

}  // namespace imwatch::agent
