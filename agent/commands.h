// The one registry of commands. Every command is defined here once, with
// its arguments, help, example and whether it acts; three front-ends serve
// the same table and cannot drift apart:
// - typed chat (agent/chat.h): the admin types `mute 2h iowait`;
// - XEP-0050 ad-hoc commands (agent/xmpp/adhoc.h): menus and forms built
//   from the arguments' kinds, whose submission becomes the same typed line;
// - the local `imwatch COMMAND` (agent/control.h), over a Unix socket.
// Each front-end turns its input into one command line and calls
// run_command(); a new command is one entry in the table (commands.cpp).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/alert_engine.h"
#include "agent/checks.h"
#include "agent/history.h"
#include "agent/overrides.h"
#include "agent/snapshot.h"

namespace imwatch::agent {

// What a command may read and change.
struct ChatContext {
  const Snapshot& snapshot;
  AlertEngine& engine;
  const std::string& host;
  std::optional<double> uptime;      // seconds since boot, if known
  double wall;                       // now, Unix time
  const History* history = nullptr;  // `graph`, the `status` trend; null: none kept
  const Checks* checks = nullptr;    // `checks`; null: none
  // `check NAME` of a configured check: runs it, and answers later with its
  // result ("" returned), or returns the answer to send now.
  std::function<std::string(const std::string& name)> run_check = {};
  // Asked of every agent at once (`all: status` in the fleet's room): the
  // reply is one line of at most 40 columns that starts with the host, and
  // an empty reply (`all: alerts` on a healthy host) is not sent.
  bool brief = false;
  // Who asks, as the team knows them: the local part of an admin's JID
  // ("alice", set by ChatHandler::handle), or the local user ("root").
  std::string speaker = {};
  // Told what an admin changed (ack, mute, unmute, set), for the other
  // admins and the room: "alice acked #3 (memory) on web1". Null: nobody.
  std::function<void(const std::string& line)> told = {};
  RuleEditor* editor = nullptr;      // `set`, `reset`, overrides in `rules`; null: none
  // Who asks, as it is recorded with what they change (`set`, `hold`): the
  // admin's bare JID ("alice@example.org") or the local user ("root"). Not
  // `speaker`, the short name people read in a told line.
  std::string who = {};
  int peer_pid = 0;                  // the local front-end: the client's PID (SO_PEERCRED); 0 elsewhere
};

// The one-line forms of `all:` (see ChatContext::brief).
std::string brief_status(const ChatContext& ctx);  // "web1  OK  load 0.3/cpu  mem 41%  up 12d"
std::string brief_alerts(const ChatContext& ctx);  // "" when nothing fires

// Whether a command only reads, or changes what admins are told (and is
// then written to the audit log and told to the team, whoever ran it).
enum class Access : uint8_t { read, act };

// The kind of an argument: what a form offers for it (XEP-0004 field types
// and choices, agent/xmpp/adhoc.cpp) and how a submitted value is checked.
enum class ArgKind : uint8_t {
  rule,      // a configured rule's name (or "all" where `all` is set): a list of the rules
  alert,     // the #N of a firing alert: a list of what fires
  duration,  // "30m", "2h": a list of common ones, or free text
  command,   // a command's name: a list of the commands
  word,      // a metric or a word of `choices`
  text,      // free text, bounded
};

struct Param {
  std::string_view name;   // the form field's name and label: "rule", "duration"
  ArgKind kind;
  bool optional = false;
  bool all = false;                // ArgKind::rule: "all" is a choice too
  std::string_view choices = {};   // ArgKind::word: the suggested words, space-separated
  std::string_view fallback = {};  // the value an empty optional field stands for ("1h")
};

// How a command ended, for the front-ends that report it as well as say it:
// the local command's exit status (2 for usage), an ad-hoc note's type.
enum class Outcome : uint8_t { ok, usage, failed };

struct Reply {
  Outcome outcome = Outcome::ok;
  std::string text;
  Reply() = default;
  // A plain reply is a successful one: most commands only say something.
  Reply(std::string t) : text(std::move(t)) {}
  Reply(const char* t) : text(t) {}
  Reply(Outcome o, std::string t) : outcome(o), text(std::move(t)) {}
};
// A usage error ("usage: ack N"): exit status 2 for the local command.
inline Reply usage(std::string text) { return {Outcome::usage, std::move(text)}; }
// The command was understood but could not do it ("no firing alert #4").
inline Reply failed(std::string text) { return {Outcome::failed, std::move(text)}; }

using Args = std::vector<std::string>;

// One entry of the table. `summary` fits the help list's 40 columns beside
// the name; `help` and `example` are what `help NAME` says; `args` is the
// synopsis `help` shows, `params` the same arguments typed for forms.
// `access` and `params` come last with defaults, so that an entry written
// as before (name, args, summary, help, example, run) is a read-only one.
// `run` may return a Reply or a plain std::string (a successful reply), so
// that an entry written for the older table, whose functions returned
// std::string, still fits.
struct Command {
  std::string_view name, args, summary, help, example;
  std::function<Reply(const Args&, ChatContext&)> run;
  Access access = Access::read;
  std::span<const Param> params = {};
};

// Every command, in the order `help` lists them.
std::span<const Command> commands();
// The entry of `name` (lower case), or nullptr.
const Command* find_command(std::string_view name);

// Runs one command line (`mute 2h iowait`) from an admin, without access
// checks: the front-ends decide who may. Unknown commands get a usage
// reply with a suggestion.
Reply run_command(std::string_view line, ChatContext& ctx);

// Whether `line` names a command that acts (for the audit log).
bool acts(std::string_view line);

// The audit trail of a command that acted: who (as the front-end names
// them: a bare JID, "root (uid 0)"), through what ("chat", "local",
// "ad-hoc"), what they asked (quoted: it is data) and what it did. Nothing
// for read-only commands. The one path every front-end tells the team by.
void audit(std::string_view via, std::string_view who, std::string_view line, const Reply& reply);

}  // namespace imwatch::agent
