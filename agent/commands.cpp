#include "agent/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "agent/client_process.h"
#include "agent/config.h"
#include "agent/messages.h"
#include "agent/report.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {


bool known_rule(ChatContext& ctx, const std::string& name) {
  const auto& rules = ctx.engine.rules();
  return std::any_of(rules.begin(), rules.end(), [&](const Rule& r) { return r.name == name; });
}

// Who did what, for the others (ChatContext::told).
void tell(ChatContext& ctx, const std::string& line) {
  if (ctx.told) ctx.told(line);
}

Reply mute(const Args& args, ChatContext& ctx) {
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
      return usage(fit({fmt::format("no rule or duration {};", quote(args[i])), "usage: mute [DURATION] [RULE|all]"}));
  }
  ctx.engine.mute(rule, ctx.wall + duration);
  tell(ctx, fmt::format("{} muted {} on {} for {}", ctx.speaker, rule.empty() ? "all alerts" : rule, ctx.host,
                        format_duration(duration)));
  return fit({fmt::format("muted {}", rule.empty() ? "all alerts" : rule), "for " + format_duration(duration)});
}

Reply unmute(const Args& args, ChatContext& ctx) {
  if (args.size() > 2) return usage("usage: unmute [RULE|all]");
  std::string rule = args.size() == 2 && to_lower(args[1]) != "all" ? args[1] : "";
  if (!rule.empty() && !known_rule(ctx, rule)) return usage(fit({"no rule", quote(rule)}));
  ctx.engine.unmute(rule);
  tell(ctx, fmt::format("{} unmuted {} on {}", ctx.speaker, rule.empty() ? "everything" : rule, ctx.host));
  return rule.empty() ? "unmuted everything" : fit({"unmuted", rule});
}

Reply ack(const Args& args, ChatContext& ctx) {
  if (args.size() != 2) return usage("usage: ack N (the #N of an alert)");
  std::string_view n = args[1];
  if (!n.empty() && n[0] == '#') n.remove_prefix(1);
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
  if (ec != std::errc() || p != n.data() + n.size() || n.empty()) return usage(fit({"not an alert number:", quote(args[1])}));
  const std::string rule = ctx.engine.alert_name(id);
  if (!ctx.engine.ack(id, ctx.speaker, ctx.wall)) return failed(fmt::format("no firing alert #{}", id));
  tell(ctx, fmt::format("{} acked #{} ({}) on {}", ctx.speaker, id, rule, ctx.host));
  return fit({fmt::format("acknowledged #{}:", id), "no more reminders until it resolves"});
}

Reply set(const Args& args, ChatContext& ctx) {
  if (args.size() < 2) return usage(fit({"usage: set RULE warn N [crit N]", "[for DURATION] [clear N]", "[repeat DURATION]"}));
  if (!ctx.editor) return failed("thresholds cannot be set here");
  const std::string& rule = args[1];
  if (!known_rule(ctx, rule)) return usage(fit({"no rule", quote(rule)}));
  std::map<std::string, std::string> fields;
  if (auto err = parse_set_fields({args.begin() + 2, args.end()}, fields); !err.empty())
    return usage(fit({err + ";", "usage: set RULE warn N [crit N] [for D] [clear N] [repeat D]"}));
  if (auto err = ctx.editor->set_override(rule, fields, ctx.who.empty() ? "someone" : ctx.who); !err.empty())
    return failed(fit({err}));
  const auto& o = ctx.editor->overrides().at(rule);
  return fit({rule + ":", fields_text(o) + ";", "reset " + rule + " undoes it"});
}

Reply reset(const Args& args, ChatContext& ctx) {
  if (args.size() != 2) return usage("usage: reset RULE");
  if (!ctx.editor) return failed("thresholds cannot be set here");
  if (!known_rule(ctx, args[1])) return usage(fit({"no rule", quote(args[1])}));
  if (!ctx.editor->reset_override(args[1], ctx.who.empty() ? "someone" : ctx.who))
    return failed(fit({"no override on", args[1]}));
  return fit({args[1] + ":", "the file's rule again"});
}

// A word a local client sent to be shown to the team: printable, short.
std::string clean_word(std::string_view w, size_t max) {
  std::string out;
  for (char c : w.substr(0, max)) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  return out;
}

// "iowait,disk" (or "all", which adds nothing: no rules is all) into
// `rules`: "" or what is wrong.
std::string add_rules(const std::string& word, ChatContext& ctx, std::vector<std::string>& rules) {
  std::string list = word;
  std::replace(list.begin(), list.end(), ',', ' ');
  for (const auto& r : split_words(list)) {
    if (to_lower(r) == "all") continue;
    if (!known_rule(ctx, r)) return fit({"no rule", quote(r)});
    if (std::find(rules.begin(), rules.end(), r) == rules.end()) rules.push_back(r);
  }
  return {};
}

// `hold RULES|all [max DURATION] [cmd NAME]`: imwatch run --mute, over the
// local socket only, for the life of the client process (agent/client_process.h).
Reply hold(const Args& args, ChatContext& ctx) {
  const std::string kUsage = fit({"usage: hold RULE[,RULE...]|all", "[max DURATION] [cmd NAME]"});
  if (args.size() < 2) return usage(kUsage);
  if (ctx.peer_pid <= 0) return failed(fit({"hold is for imwatch run on the server;", "try mute"}));
  Hold h;
  size_t i = 1;
  for (; i < args.size() && args[i] != "max" && args[i] != "cmd"; ++i)
    if (auto err = add_rules(args[i], ctx, h.rules); !err.empty()) return usage(err);
  std::string cmd = "a command";
  for (; i + 1 < args.size(); i += 2) {
    if (args[i] == "max") {
      auto d = parse_duration(args[i + 1]);
      if (!d || *d <= 0) return usage(fit({"bad duration", quote(args[i + 1])}));
      h.max_until = ctx.wall + *d;
    } else if (args[i] == "cmd") {
      cmd = clean_word(args[i + 1], 64);
    } else {
      return usage(kUsage);
    }
  }
  if (i != args.size()) return usage(kUsage);
  auto start = process_start(ctx.peer_pid);
  if (!start) return failed(fmt::format("cannot see process {}", ctx.peer_pid));
  h.key = fmt::format("run:{}", ctx.peer_pid);
  h.pid = ctx.peer_pid;
  h.pid_start = *start;
  h.who = ctx.who.empty() ? "someone" : ctx.who;
  h.reason = fmt::format("imwatch run {} ({})", cmd, h.who);
  const std::string what = h.rules.empty() ? "all rules" : fmt::format("{}", fmt::join(h.rules, ", "));
  ctx.engine.hold(std::move(h), ctx.wall);
  return fit({"holding", what, "while", cmd, "runs"});
}

// `unhold [WHY...]`: the end of imwatch run's hold ("exited 0").
Reply unhold(const Args& args, ChatContext& ctx) {
  if (ctx.peer_pid <= 0) return failed(fit({"unhold is for imwatch run on the", "server; try unmute"}));
  std::string why;
  for (size_t i = 1; i < args.size() && i < 8; ++i) why += (why.empty() ? "" : " ") + clean_word(args[i], 32);
  if (!ctx.engine.release(fmt::format("run:{}", ctx.peer_pid), why.empty() ? "done" : why))
    return failed(fmt::format("nothing held by process {}", ctx.peer_pid));
  return "released";
}

// "web1: memory", fitted: the host comes first in every title, so answers
// from several agents in one window tell apart at a glance.
std::string title(ChatContext& ctx, std::string_view what) { return fit({ctx.host + ":", std::string(what)}, 0); }

std::string status(ChatContext& ctx) {
  std::string up = ctx.uptime ? "up " + human_duration(*ctx.uptime) : "uptime unknown";
  std::string trend = status_trend(ctx.history, ctx.wall);  // "" without history
  std::string disk = chat_fullest_disk(ctx.snapshot);       // "" when no filesystem is known
  return preformatted(fit({ctx.host + ",", up}, 0), chat_load(ctx.snapshot) + "\n" + chat_memory(ctx.snapshot) +
                                                        (disk.empty() ? "" : "\n" + disk)) +
         "\n" + (trend.empty() ? "" : trend + "\n") + alerts_listing(ctx.engine, ctx.wall);
}

// "web1: 2 alerts, 1 mute", then one line each: the host first, so that
// the listing's first line never follows the sender's name in a client.
std::string alerts(ChatContext& ctx) {
  const AlertEngine& e = ctx.engine;
  size_t open = 0, failing = 0, muted = 0;
  for (const auto& r : e.rules())
    e.each_state(r, [&](const std::string&, const RuleState& s) { open += s.open() ? 1 : 0; });
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
  const auto& all = ctx.engine.rules();
  const auto n = static_cast<size_t>(std::count_if(all.begin(), all.end(), [](const Rule& r) { return !r.is_check(); }));
  if (n == 0) return title(ctx, "no rules configured");
  return title(ctx, fmt::format("{} rule{}", n, n == 1 ? "" : "s")) + "\n" + rules_listing(ctx.engine, ctx.wall, ctx.editor);
}

std::string pressure(ChatContext& ctx) {
  std::string rows = chat_pressure(ctx.snapshot);
  if (rows.empty()) return fit({ctx.host + ":", "no pressure stall information", "(PSI) on this kernel"});
  return preformatted(title(ctx, "pressure stall information"), rows);
}

// The filesystems as a table, then what the table cannot say: read-only
// mounts, the time to full, and a mount that does not answer.
std::string disks(ChatContext& ctx) {
  std::string rows = chat_disks(ctx.snapshot);
  const ProbeSample* p = ctx.snapshot.labelled("fs_used_pct");
  std::string error = p ? p->error : "";
  // Without a row the error is about mountinfo itself, which the probe's
  // failure message tells (with the file's path, long for a phone).
  if (rows.empty()) return title(ctx, error.empty() ? "no filesystems watched" : "filesystems unknown (probe failing)");
  std::string out = preformatted(title(ctx, "filesystems"), rows);
  for (const auto& n : chat_disk_notes(ctx.snapshot)) out += "\n" + n;
  if (!error.empty()) out += "\n" + fit({"probe:", error});
  return out;
}

std::string checks(ChatContext& ctx) {
  const size_t n = ctx.checks ? ctx.checks->states().size() : 0;
  if (n == 0) return title(ctx, "no checks configured");
  return title(ctx, fmt::format("{} check{}", n, n == 1 ? "" : "s")) + "\n" + checks_listing(*ctx.checks, ctx.wall);
}

// Only the name of a configured check is taken from the chat: it picks a
// command line from the config, and is never one.
Reply check(const Args& args, ChatContext& ctx) {
  if (args.size() != 2) return usage("usage: check NAME (see checks)");
  if (!ctx.checks || !ctx.checks->find(args[1]) || !ctx.run_check) {
    std::vector<std::string> names;
    if (ctx.checks)
      for (const auto& s : ctx.checks->states()) names.push_back(s.cfg.name);
    auto near = nearest(args[1], names, 1);
    return failed(
        fit({fmt::format("no check {};", quote(args[1])), near.empty() ? "see checks" : "did you mean " + near[0] + "?"}));
  }
  return Reply(ctx.run_check(args[1]));  // "": the answer follows when the plugin ends
}

Reply help(const Args& args, ChatContext& ctx);

// The arguments forms offer (agent/xmpp/adhoc.cpp).
constexpr Param kMuteParams[] = {
    {.name = "duration", .kind = ArgKind::duration, .optional = true, .fallback = "1h"},
    {.name = "rule", .kind = ArgKind::rule, .optional = true, .all = true, .fallback = "all"},
};
constexpr Param kUnmuteParams[] = {{.name = "rule", .kind = ArgKind::rule, .optional = true, .all = true, .fallback = "all"}};
constexpr Param kAckParams[] = {{.name = "alert", .kind = ArgKind::alert}};
constexpr Param kGraphParams[] = {
    {.name = "what", .kind = ArgKind::word, .optional = true, .choices = "load mem cpu psi disk"},
    {.name = "duration", .kind = ArgKind::duration, .optional = true},
};
constexpr Param kCheckParams[] = {{.name = "check", .kind = ArgKind::word}};
constexpr Param kSetParams[] = {
    {.name = "rule", .kind = ArgKind::rule},
    {.name = "thresholds", .kind = ArgKind::text},
};
constexpr Param kResetParams[] = {{.name = "rule", .kind = ArgKind::rule}};
constexpr Param kHelpParams[] = {{.name = "command", .kind = ArgKind::command, .optional = true}};

const Command kCommands[] = {
    {"status", "", "host, load, memory, alerts", "the host and its uptime, load, memory and swap, then what fires now",
     "status", [](const Args&, ChatContext& c) { return Reply(status(c)); }},
    {"load", "", "load average, tasks", "load average over 1, 5 and 15 minutes, in all and per CPU, and tasks", "load",
     [](const Args&, ChatContext& c) { return Reply(preformatted(title(c, "load average"), chat_load(c.snapshot))); }},
    {"mem", "", "memory and swap", "memory used, available, free and in buffers or cache; swap used", "mem",
     [](const Args&, ChatContext& c) { return Reply(preformatted(title(c, "memory"), chat_memory(c.snapshot))); }},
    {"vmstat", "", "cpu, procs, io, faults, oom",
     "cpu time split, processes running and blocked, swap and disk io, interrupts, page faults and OOM kills, "
     "over the last sample",
     "vmstat", [](const Args&, ChatContext& c) { return Reply(preformatted(title(c, "vmstat"), chat_vmstat(c.snapshot))); }},
    {"psi", "", "pressure stalls", "pressure stall information: the % of time tasks waited for cpu, memory or io",
     "psi", [](const Args&, ChatContext& c) { return Reply(pressure(c)); }},
    {"disk", "", "filesystems: use, avail, size",
     "every filesystem watched: space used (as df), available, size and inodes used; read-only ones and when "
     "they fill up; also as df",
     "disk", [](const Args&, ChatContext& c) { return Reply(disks(c)); }},
    {"alerts", "", "what fires now, mutes",
     "open alerts with their number, failing probes and mutes with what is left of them", "alerts",
     [](const Args&, ChatContext& c) { return Reply(alerts(c)); }},
    {"graph", "[WHAT] [DURATION]", "history as sparklines",
     "sparklines of a metric (or load, mem, cpu, psi, disk) with min, avg, max and now; default load, memory, "
     "iowait and the fullest disk over 6h, at most 2d",
     "graph mem 24h", [](const Args& a, ChatContext& c) { return Reply(graph_reply(a, c.history, c.host, c.wall)); }, Access::read,
     kGraphParams},
    {"rules", "", "rules, values, states", "every rule as configured, its state and the value it was last checked on",
     "rules", [](const Args&, ChatContext& c) { return Reply(rules(c)); }},
    {"checks", "", "plugins, states, messages",
     "every configured check (a monitoring plugin) with its state, when it last ran and what it said", "checks",
     [](const Args&, ChatContext& c) { return Reply(checks(c)); }},
    {"check", "NAME", "run a check now",
     "runs the configured check NAME now and answers with its status, output and perfdata once it has finished",
     "check sshd", check, Access::read, kCheckParams},
    {"mute", "[DURATION] [RULE|all]", "silence alerts",
     "no alert messages for DURATION (default 1h), for one RULE or all", "mute 30m load", mute, Access::act,
     kMuteParams},
    {"unmute", "[RULE|all]", "end a mute", "alerts speak again, for one RULE or all", "unmute load", unmute, Access::act,
     kUnmuteParams},
    {"ack", "N", "no more reminders for #N", "no more reminders for alert #N until it resolves", "ack 3", ack, Access::act,
     kAckParams},
    {"set", "RULE warn N [crit N] [for D] [clear N] [repeat D]", "change a rule's thresholds",
     "override a rule's thresholds, checked as the config file's; kept across reload and restart, the file is "
     "not changed; rules shows them",
     "set memory warn 85 crit 95 for 5m", set, Access::act, kSetParams},
    {"reset", "RULE", "back to the file's rule", "drop the overrides set on RULE: the config file's rule again",
     "reset memory", reset, Access::act, kResetParams},
    {"hold", "RULES|all [max D] [cmd NAME]", "imwatch run --mute's hold",
     "hold rules while the asking process lives: what imwatch run --mute asks over the local socket; not from chat",
     "hold iowait,disk max 2h cmd backup.sh", hold, Access::act},
    {"unhold", "[WHY]", "end imwatch run's hold", "end the hold of the asking process (imwatch run); not from chat",
     "unhold exited 0", unhold, Access::act},
    {"ping", "", "is the agent there?", "answers pong", "ping",
     [](const Args&, ChatContext&) { return Reply("pong"); }},
    {"help", "[COMMAND]", "this list, or one command", "the commands, or how to use one with an example", "help mute",
     help, Access::read, kHelpParams},
};

// The command a typo most likely meant, if any.
std::optional<std::string> suggestion(std::string_view word) {
  if (word.size() < 3) return std::nullopt;  // two edits make any short word a command
  std::vector<std::string> names;
  for (const auto& c : kCommands) names.emplace_back(c.name);
  auto near = nearest(word, names, 1);
  if (near.empty()) return std::nullopt;
  return near[0];
}

Reply help(const Args& args, ChatContext&) {
  if (args.size() > 2) return usage("usage: help [COMMAND]");
  if (args.size() == 2) {
    const std::string name = to_lower(args[1]);
    const Command* c = find_command(name);
    if (!c) {
      auto near = suggestion(name);
      return usage(
          fit({fmt::format("no command {};", quote(args[1])), near ? "did you mean " + *near + "?" : "try help"}));
    }
    std::string synopsis = c->args.empty() ? std::string(c->name) : fmt::format("{} {}", c->name, c->args);
    return Reply(fmt::format("{}\n{}\n{}", fit({synopsis}, 4), fit({std::string(c->help)}, 0),
                             fit({"example:", std::string(c->example)})));
  }
  std::string rows;
  for (const auto& c : kCommands) rows += fmt::format("{:<7}{}\n", c.name, c.summary);
  rows.pop_back();
  return Reply(preformatted("commands:", rows) + "\nhelp COMMAND: usage and an example");
}

// `text` on one line of at most `width` columns, cut at a code point with
// "…" when longer.
std::string cut_line(std::string text, size_t width = kChatWidth) {
  if (columns(text) <= width) return text;
  size_t cols = 0, at = 0;
  while (at < text.size() && cols + 1 < width) {
    ++at;
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
    ++cols;
  }
  return text.substr(0, at) + "…";
}

// The parts joined by two spaces, or one when that is too wide; the last
// parts are left out while the line is still wider than 40 columns.
std::string squeeze(std::vector<std::string> parts) {
  while (!parts.empty()) {
    for (std::string_view sep : {"  ", " "}) {
      std::string line;
      for (const auto& p : parts) line += (line.empty() ? "" : std::string(sep)) + p;
      if (columns(line) <= kChatWidth) return line;
    }
    if (parts.size() == 1) return cut_line(parts[0]);
    parts.pop_back();
  }
  return "";
}

std::string worst_state(const AlertEngine& e) {
  Severity worst = Severity::ok;
  bool flapping = false;
  for (const auto& [name, st] : e.states()) {
    worst = std::max(worst, st.severity);
    flapping |= st.flapping;
  }
  if (worst == Severity::critical) return "CRIT";
  if (worst == Severity::warning) return "WARN";
  return flapping ? "FLAP" : "OK";
}

// `all: COMMAND`: every agent answers in one line.
Reply brief_reply(const Args& args, std::string_view line, ChatContext& ctx) {
  const std::string name = to_lower(args[0]);
  if (name == "status" && args.size() == 1) return Reply(brief_status(ctx));
  if (name == "alerts" && args.size() == 1) return Reply(brief_alerts(ctx));
  ChatContext full = ctx;
  full.brief = false;
  Reply r = run_command(line, full);
  if (!r.text.empty()) r.text = cut_line(ctx.host + ": " + one_line(r.text));
  return r;
}

}  // namespace

std::string brief_status(const ChatContext& ctx) {
  auto g = [&](std::string_view m) { return ctx.snapshot.get(m); };
  auto l = g("load1_per_cpu");
  auto mem = g("mem_used_pct");
  return squeeze({ctx.host, worst_state(ctx.engine), l ? fmt::format("load {:.1f}/cpu", *l) : "load ?",
                  mem ? fmt::format("mem {:.0f}%", *mem) : "mem ?",
                  ctx.uptime ? "up " + human_duration(*ctx.uptime) : "up ?"});
}

std::string brief_alerts(const ChatContext& ctx) {
  const AlertEngine& e = ctx.engine;
  std::string list;
  size_t n = 0;
  for (const auto& r : e.rules())
    e.each_state(r, [&](const std::string& name, const RuleState& s) {
      if (!s.open()) return;
      ++n;
      list += fmt::format("{}#{} {}", list.empty() ? "" : ", ", s.id, name);
    });
  for (const auto& [probe, h] : e.probes())
    if (h.told_failing) {
      ++n;
      list += fmt::format("{}{} failing", list.empty() ? "" : ", ", probe);
    }
  if (n == 0) return "";
  return cut_line(fmt::format("{}  {}: {}", ctx.host, worst_state(e), list));
}

std::span<const Command> commands() { return kCommands; }

const Command* find_command(std::string_view name) {
  if (name == "df") name = "disk";  // the word admins type for it
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

Reply run_command(std::string_view line, ChatContext& ctx) {
  auto args = split_words(trim(line));
  if (args.empty()) return usage("empty message; try help");
  const std::string name = to_lower(args[0]);
  if (ctx.brief) return brief_reply(args, line, ctx);
  if (const Command* c = find_command(name)) return c->run(args, ctx);
  if (auto near = suggestion(name))
    return usage(fit({fmt::format("unknown command {};", quote(args[0])), "did you mean " + *near + "?"}));
  return usage(fit({fmt::format("unknown command {};", quote(args[0])), "try help"}));
}

bool acts(std::string_view line) {
  auto args = split_words(trim(line));
  const Command* c = args.empty() ? nullptr : find_command(to_lower(args[0]));
  return c && c->access == Access::act;
}

void audit(std::string_view via, std::string_view who, std::string_view line, const Reply& reply) {
  // The commands that change what admins are told are worth an audit trail:
  // who, what they asked (quoted: it is data), and what it did.
  if (acts(line)) spdlog::info("{}: {} from {}: {}", via, quote(trim(line)), who, one_line(reply.text));
}

}  // namespace imwatch::agent
