// The registry of commands (agent/commands.h) and the forms built from it
// (agent/adhoc_forms.h): the three front-ends (typed chat, the local socket,
// XEP-0050) see one list and give one reply; form values are checked
// before any line is made of them.
#include "agent/commands.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <type_traits>

#include "agent/adhoc_forms.h"
#include "agent/chat.h"
#include "agent/control.h"
#include "agent/daemon.h"
#include "agent/report.h"
#include "probes/probes.h"

using namespace imwatch::agent;

namespace {

class Commands : public ::testing::Test {
 protected:
  Commands() {
    Rule m, l;
    EXPECT_EQ(parse_rule("memory: mem_used_pct > 90 crit 95 for 2m clear 85", metric_catalogue(), m), "");
    EXPECT_EQ(parse_rule("load: load1_per_cpu > 0.1", metric_catalogue(), l), "");
    engine.configure({m, l}, {}, [](const std::string&) { return std::string("p"); });
    engine.evaluate_rule(1, 0.5, 1, wall);  // load fires: #1
    engine.take_events();
  }
  ChatContext ctx() { return ChatContext{snap, engine, host, 3600, wall}; }

  // `line` through the local socket, served by a real ControlServer in a loop.
  std::string over_socket(const std::string& line) {
    char tmpl[] = "/tmp/imwatch-commands-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    SystemClock clock;
    PollWaiter waiter;
    EventLoop loop(clock, waiter);
    std::string got;
    {
      ControlServer server(loop, [&](const Peer&, const std::string& l) {
        ChatContext c = ctx();
        return run_command(l, c);
      });
      EXPECT_EQ(server.listen(dir + "/control", "root"), "");
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strcpy(addr.sun_path, (dir + "/control").c_str());
      EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      std::string req = line + "\n";
      EXPECT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
      char buf[65536];
      for (int i = 0; i < 100; ++i) {
        loop.run_once(0.02);
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) got.append(buf, static_cast<size_t>(n));
      }
      ::close(fd);
    }
    std::filesystem::remove_all(dir);
    auto r = parse_response(got);
    return r ? r->text : "<no response: " + got + ">";
  }

  Snapshot snap;
  AlertEngine engine;
  std::string host = "web1";
  double wall = 1'700'000'000;
};

TEST_F(Commands, TheThreeFrontEndsSeeOneList) {
  std::vector<std::string> registry;
  for (const auto& c : commands()) registry.emplace_back(c.name);
  ASSERT_GE(registry.size(), 13u);

  // Typed chat: `help` lists every command of the registry, in its order.
  ChatHandler chat({"alice@example.org"});
  ChatContext c = ctx();
  std::string help = *chat.handle("alice@example.org/phone", "help", 0, c);
  std::vector<std::string> listed;
  for (size_t at = help.find("```\n") + 4; at < help.size() && help.compare(at, 3, "```") != 0;) {
    size_t end = help.find('\n', at);
    listed.push_back(help.substr(at, help.find(' ', at) - at));
    at = end + 1;
  }
  EXPECT_EQ(listed, registry);

  // The local socket: the same reply to `help`, byte for byte (and a newline).
  EXPECT_EQ(over_socket("help"), help + "\n");

  // XEP-0050: one node per command, in order, and the `set thresholds`
  // node, until the registry's own `set` takes it over.
  std::vector<std::string> nodes;
  for (const auto& n : adhoc_nodes()) {
    nodes.push_back(n.node);
    if (n.command) EXPECT_EQ(n.command, find_command(n.node));
  }
  std::vector<std::string> expected = registry;
  if (!find_command(kSetNode)) expected.emplace_back(kSetNode);
  EXPECT_EQ(nodes, expected);
}

TEST_F(Commands, OneReplyWhereverAsked) {
  ChatHandler chat({"alice@example.org"});
  for (const char* line : {"status", "alerts", "rules", "help mute", "ack", "frob"}) {
    ChatContext c = ctx();
    std::string typed = *chat.handle("alice@example.org", line, 0, c);
    EXPECT_EQ(over_socket(line), typed + "\n") << line;
  }
}

// An entry written for the older table (its function returning a plain
// std::string) still fits: the other branches' commands merge in as they are.
static_assert(std::is_constructible_v<decltype(Command::run), std::string (*)(const Args&, ChatContext&)>);

TEST_F(Commands, WhoActsAndTheOutcome) {
  std::set<std::string> acting;
  for (const auto& c : commands())
    if (c.access == Access::act) acting.emplace(c.name);
  EXPECT_EQ(acting, (std::set<std::string>{"ack", "hold", "mute", "reset", "set", "unhold", "unmute"}));
  EXPECT_TRUE(acts("  MUTE 2h"));
  EXPECT_FALSE(acts("status"));
  EXPECT_FALSE(acts(""));
  ChatContext c = ctx();
  EXPECT_EQ(run_command("ping", c).outcome, Outcome::ok);
  EXPECT_EQ(run_command("ack", c).outcome, Outcome::usage);
  EXPECT_EQ(run_command("ack 7", c).outcome, Outcome::failed);
  EXPECT_EQ(run_command("mute 1h nosuch", c).outcome, Outcome::usage);
  EXPECT_EQ(run_command("nosuch", c).outcome, Outcome::usage);
  EXPECT_EQ(run_command("", c).outcome, Outcome::usage);
}

TEST_F(Commands, FormsOfferWhatFitsTheArguments) {
  ChatContext c = ctx();
  auto mute = command_form(*find_command("mute"), c);
  ASSERT_TRUE(mute);
  ASSERT_EQ(mute->fields.size(), 2u);
  EXPECT_EQ(mute->fields[0].var, "duration");
  EXPECT_EQ(mute->fields[0].value, "1h");
  EXPECT_EQ(mute->fields[1].var, "rule");
  ASSERT_EQ(mute->fields[1].options.size(), 3u);
  EXPECT_EQ(mute->fields[1].options[0].value, "all");
  EXPECT_EQ(mute->fields[1].options[1].value, "memory");
  auto ack = command_form(*find_command("ack"), c);
  ASSERT_TRUE(ack);
  ASSERT_EQ(ack->fields[0].options.size(), 1u);
  EXPECT_EQ(ack->fields[0].options[0].value, "1");
  EXPECT_EQ(ack->fields[0].options[0].label, "#1 load WARNING");
  EXPECT_FALSE(command_form(*find_command("status"), c));  // runs at once

  Form rule = threshold_rule_form(c);
  ASSERT_EQ(rule.fields[0].options.size(), 2u);
  Form values = threshold_values_form(engine.rules()[0], 3600);
  std::map<std::string, std::string> shown;
  for (const auto& f : values.fields) shown[f.var] = f.value;
  EXPECT_EQ(shown, (std::map<std::string, std::string>{
                       {"rule", "memory"}, {"warn", "90"}, {"crit", "95"}, {"for", "2m"}, {"clear", "85"},
                       {"repeat", "1h"}}));
}

TEST_F(Commands, SubmittedValuesBecomeALineOnlyWhenClean) {
  ChatContext c = ctx();
  const Command& mute = *find_command("mute");
  EXPECT_EQ(line_from_form(mute, {{"duration", "2h"}, {"rule", "memory"}}, c).line, "mute 2h memory");
  EXPECT_EQ(line_from_form(mute, {}, c).line, "mute 1h all");  // the fallbacks
  EXPECT_EQ(line_from_form(mute, {{"duration", "2h memory"}}, c).error,
            "duration: a value with a space or a control character");
  EXPECT_EQ(line_from_form(mute, {{"duration", std::string(65, '1')}}, c).error, "duration: a value over 64 bytes");
  EXPECT_EQ(line_from_form(mute, {{"duration", "\xff"}}, c).error, "duration: a value that is not UTF-8");
  EXPECT_EQ(line_from_form(mute, {{"duration", "soon"}}, c).error, "not a duration: 'soon' (e.g. 30m, 2h)");
  EXPECT_EQ(line_from_form(mute, {{"rule", "nosuch"}}, c).error, "no rule 'nosuch'");
  const Command& ack = *find_command("ack");
  EXPECT_EQ(line_from_form(ack, {{"alert", "#1"}}, c).line, "ack #1");
  EXPECT_EQ(line_from_form(ack, {}, c).error, "alert is required");
  EXPECT_EQ(line_from_form(ack, {{"alert", "1;reboot"}}, c).error, "not an alert number: '1;reboot'");
  EXPECT_EQ(line_from_form(*find_command("help"), {{"command", "nosuch"}}, c).error, "no command 'nosuch'");

  const Rule& memory = engine.rules()[0];
  EXPECT_EQ(chosen_rule({{"rule", "memory"}}, c), &memory);
  EXPECT_EQ(chosen_rule({{"rule", "nosuch"}}, c), nullptr);
  // What the client sends back: every field; only the changed ones are set
  // (crit 95 and repeat 1h are what the form showed).
  EXPECT_EQ(threshold_line(memory, {{"warn", "85"}, {"crit", "95"}, {"for", "5m"}, {"clear", ""}, {"repeat", "1h"}}, 3600)
                .line,
            "set memory warn 85 for 5m");
  EXPECT_EQ(threshold_line(memory, {{"warn", "90"}, {"crit", "95"}, {"for", "2m"}, {"clear", "85"}, {"repeat", "1h"}}, 3600)
                .error,
            "nothing changed: every value is the rule's own");
  EXPECT_EQ(threshold_line(memory, {{"warn", "90"}, {"repeat", "1h"}}, 1800).line, "set memory repeat 1h");
  EXPECT_EQ(threshold_line(memory, {{"crit", "95"}}, 3600).error, "warn is required");
  EXPECT_EQ(threshold_line(memory, {{"warn", "8 5"}}, 3600).error, "warn: a value with a space or a control character");
  EXPECT_EQ(threshold_line(memory, {{"warn", "1e9"}}, 3600).error, "warn: not a number: '1e9'");
  EXPECT_EQ(threshold_line(memory, {{"warn", "85"}, {"for", "ever"}}, 3600).error, "for: not a duration: 'ever'");
}

}  // namespace

namespace {

// Every command's replies to a bare call and to a wrong argument fit the
// chat's 40 columns, usage lines included (the chat fuzz target found one
// that did not: the bare `set`).
TEST_F(Commands, UsageAndErrorRepliesFitFortyColumns) {
  for (const auto& c : commands())
    for (const std::string& line : {std::string(c.name), std::string(c.name) + " x", std::string(c.name) + " x y z"}) {
      ChatContext context = ctx();
      Reply r = run_command(line, context);
      size_t at = 0;
      while (at <= r.text.size()) {
        size_t end = std::min(r.text.find('\n', at), r.text.size());
        EXPECT_LE(columns(std::string_view(r.text).substr(at, end - at)), kChatWidth) << line << " -> " << r.text;
        at = end + 1;
      }
    }
}

}  // namespace
