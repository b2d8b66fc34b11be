// Chat commands on a fake clock: access, limits, every command's reply.
#include "agent/chat.h"

#include <gtest/gtest.h>

#include "agent/daemon.h"
#include "agent/report.h"
#include "fakes/log_capture.h"
#include "probes/probes.h"

using namespace imwatch::agent;
using namespace imwatch;

namespace {

class Chat : public ::testing::Test {
 protected:
  Chat() : handler({"alice@example.org", "Bob@Example.org"}) {
    root = std::make_unique<probes::ProcRoot>(std::string(IMWATCH_FIXTURES) + "/proc/current");
    list = probes::make_probes(*root);
    for (auto& p : list) {
      ProbeSample s{p->name(), p->metrics(), {}, {}, true};
      p->collect(1, s.values);
      snap.probes.push_back(std::move(s));
    }
    Rule r;
    EXPECT_EQ(parse_rule("load: load1_per_cpu > 0.1 crit 5", metric_catalogue(), r), "");
    Rule m;
    EXPECT_EQ(parse_rule("memory: mem_used_pct > 90", metric_catalogue(), m), "");
    engine.configure({r, m}, {}, [](const std::string&) { return std::string("loadavg"); });
    engine.evaluate_rule(0, 0.21, 1, wall);
    engine.take_events();
  }
  std::optional<std::string> say(const std::string& from, const std::string& body, double now = 0) {
    ChatContext ctx{snap, engine, host, 3 * 86400 + 4 * 3600, wall};
    return handler.handle(from, body, now, ctx);
  }

  std::unique_ptr<probes::ProcRoot> root;
  std::vector<std::unique_ptr<probes::Probe>> list;
  Snapshot snap;
  AlertEngine engine;
  std::string host = "web1";
  double wall = 1'700'000'000;
  ChatHandler handler;
};

TEST_F(Chat, EveryCommand) {
  std::string help = *say("alice@example.org/phone", "help");
  EXPECT_EQ(help.rfind("commands:\n```\nstatus ", 0), 0u) << help;
  EXPECT_NE(help.find("\nack    no more reminders for #N\n"), std::string::npos) << help;
  EXPECT_EQ(*say("alice@example.org/phone", "ping"), "pong");
  // Tables: a title line, then the rows in an XEP-0393 preformatted block.
  EXPECT_EQ(*say("alice@example.org", "load"),
            "web1: load average\n```\n"
            "load    0.84  0.71  0.65 (1/5/15m)\n"
            "/CPU    0.21  0.18  0.16 (4 CPUs)\n"
            "tasks 2 runnable of 412\n```");
  EXPECT_NE(say("alice@example.org", "mem")->find("\nmem   used 5.0 GiB of 15.5 GiB (31.9%)\n"), std::string::npos);
  EXPECT_NE(say("alice@example.org", "vmstat")->find("\ncpu   us 6.0% sy 2.9% id 90.3%\n"), std::string::npos);
  std::string psi = *say("alice@example.org", "psi");
  EXPECT_EQ(psi.rfind("web1: pressure stall information\n```\n% stalled    avg10  avg60 avg300\n", 0), 0u) << psi;
  EXPECT_NE(psi.find("\nmemory some   0.31   0.45   0.52\n"), std::string::npos) << psi;
  EXPECT_TRUE(psi.ends_with("\n```")) << psi;
  std::string status = *say("alice@example.org", "status");
  EXPECT_EQ(status.rfind("web1, up 3d 4h\n```\nload    0.84", 0), 0u) << status;
  EXPECT_NE(status.find("\n```\n#1 WARNING load:\n  load1_per_cpu 0.21 > 0.1, firing 0s"), std::string::npos) << status;
  EXPECT_NE(say("alice@example.org", "alerts")->find("#1 WARNING load"), std::string::npos);
  // Each rule, then its state and the value it was last evaluated on.
  EXPECT_EQ(*say("alice@example.org", "rules"),
            "web1: 2 rules\n"
            "load: load1_per_cpu > 0.1 crit 5\n"
            "  WARNING, now 0.21\n"
            "memory: mem_used_pct > 90\n"
            "  OK, now unknown");
}

TEST_F(Chat, HelpForEachCommandHasAnExample) {
  EXPECT_EQ(*say("alice@example.org", "help mute"),
            "mute [DURATION] [RULE|all]\n"
            "no alert messages for DURATION (default\n"
            "1h), for one RULE or all\n"
            "example: mute 30m load");
  for (const char* c :
       {"status", "load", "mem", "vmstat", "psi", "alerts", "rules", "mute", "unmute", "ack", "ping", "help"}) {
    std::string h = *say("alice@example.org", std::string("HELP ") + c);
    EXPECT_EQ(h.rfind(c, 0), 0u) << h;
    EXPECT_NE(h.find("\nexample: "), std::string::npos) << h;
  }
  EXPECT_EQ(*say("alice@example.org", "help stauts"), "no command 'stauts';\n  did you mean status?");
  EXPECT_EQ(*say("alice@example.org", "help frobnicate"), "no command 'frobnicate'; try help");
}

TEST_F(Chat, TyposGetASuggestion) {
  EXPECT_EQ(*say("alice@example.org", "stauts"), "unknown command 'stauts';\n  did you mean status?");
  EXPECT_EQ(*say("alice@example.org", "Rulez"), "unknown command 'Rulez';\n  did you mean rules?");
  EXPECT_EQ(*say("alice@example.org", "vmstats"), "unknown command 'vmstats';\n  did you mean vmstat?");
  // Two edits turn any two-letter word into a command: no guess for those.
  EXPECT_EQ(*say("alice@example.org", "ls"), "unknown command 'ls'; try help");
}

TEST_F(Chat, CaseAndSpaceInsensitive) {
  EXPECT_EQ(*say("ALICE@example.org/x", "  PiNg \n"), "pong");
  EXPECT_EQ(*say("bob@example.org", "ping"), "pong");  // configured as Bob@Example.org
}

TEST_F(Chat, UnknownCommandHintsHelp) {
  EXPECT_EQ(*say("alice@example.org", "reboot now"), "unknown command 'reboot'; try help");
  // Format-string and shell metacharacters are just text.
  EXPECT_EQ(*say("alice@example.org", "{}%s$(id)"), "unknown command '{}%s$(id)'; try help");
  EXPECT_EQ(*say("alice@example.org", "\x01\x7f"), "unknown command '\\x01\\x7f'; try help");
}

TEST_F(Chat, MuteUnmuteAck) {
  EXPECT_EQ(*say("alice@example.org", "mute"), "muted all alerts for 1h");
  EXPECT_TRUE(engine.muted("memory", wall + 100));
  EXPECT_EQ(*say("alice@example.org", "unmute"), "unmuted everything");
  EXPECT_FALSE(engine.muted("memory", wall + 100));
  EXPECT_EQ(*say("alice@example.org", "mute 30m load"), "muted load for 30m");
  EXPECT_TRUE(engine.muted("load", wall + 1700));
  EXPECT_FALSE(engine.muted("load", wall + 1900));
  EXPECT_FALSE(engine.muted("memory", wall));
  EXPECT_EQ(*say("alice@example.org", "mute nosuchrule"),
            "no rule or duration 'nosuchrule';\n  usage: mute [DURATION] [RULE|all]");
  EXPECT_EQ(*say("alice@example.org", "unmute load"), "unmuted load");
  EXPECT_EQ(*say("alice@example.org", "ack 7"), "no firing alert #7");
  EXPECT_EQ(*say("alice@example.org", "ack x"), "not an alert number: 'x'");
  EXPECT_EQ(*say("alice@example.org", "ack #1"), "acknowledged #1:\n  no more reminders until it resolves");
  EXPECT_NE(say("alice@example.org", "alerts")->find(", acked"), std::string::npos);
  EXPECT_NE(say("alice@example.org", "alerts")->find("acked by alice"), std::string::npos);
}

TEST_F(Chat, ListingsSayHowLongWithOneWordEach) {
  // The alert fired at `wall`; the listing is read 12m 59s later: its age, rounded down.
  ChatContext ctx{snap, engine, host, std::nullopt, wall + 779};
  std::string alerts = ChatHandler::command("alerts", ctx);
  EXPECT_EQ(alerts, "web1: 1 alert\n#1 WARNING load:\n  load1_per_cpu 0.21 > 0.1, firing 12m") << alerts;
  // A 10-minute mute a second later: what is left, rounded up.
  EXPECT_EQ(ChatHandler::command("mute 10m memory", ctx), "muted memory for 10m");
  ChatContext later{snap, engine, host, std::nullopt, wall + 780};
  std::string later_alerts = ChatHandler::command("alerts", later);
  EXPECT_EQ(later_alerts.rfind("web1: 1 alert, 1 mute\n", 0), 0u) << later_alerts;
  EXPECT_TRUE(later_alerts.ends_with("\nmuted: memory, 10m more")) << later_alerts;
  EXPECT_NE(ChatHandler::command("rules", later).find("memory: mem_used_pct > 90\n  OK, now unknown, muted"),
            std::string::npos);
}

TEST_F(Chat, StrangersGetNothingButOneRefusalAnHour) {
  EXPECT_EQ(*say("mallory@evil.example/x", "status"), "not authorised");
  EXPECT_FALSE(say("mallory@evil.example/y", "status", 10).has_value());
  EXPECT_FALSE(say("mallory@evil.example", "help", 3599).has_value());
  EXPECT_EQ(*say("mallory@evil.example", "help", 3600), "not authorised");
  // alice@example.org.evil is not alice@example.org
  EXPECT_EQ(*say("alice@example.org.evil", "status"), "not authorised");
}

TEST_F(Chat, StrangerMemoryIsBounded) {
  ChatHandler h({"alice@example.org"}, ChatLimits{4096, 20, 10, 3600, 100});
  ChatContext ctx{snap, engine, host, std::nullopt, wall};
  int refusals = 0;
  for (int i = 0; i < 1000; ++i)
    if (h.handle("s" + std::to_string(i) + "@x.example", "hi", 1, ctx)) ++refusals;
  EXPECT_EQ(refusals, 100);  // then silence, not unbounded growth
  EXPECT_EQ(*h.handle("alice@example.org", "ping", 1, ctx), "pong");
}

TEST_F(Chat, RateLimitOneWarningThenSilence) {
  int answered = 0, warned = 0, silent = 0;
  std::string warning;
  for (int i = 0; i < 50; ++i) {
    auto r = say("alice@example.org", "ping", 1 + i * 0.01);
    if (!r)
      ++silent;
    else if (*r == "pong")
      ++answered;
    else if (r->find("slow down") == 0)
      ++warned, warning = *r;
  }
  EXPECT_EQ(answered, 20);
  EXPECT_EQ(warned, 1);
  EXPECT_EQ(warning, "slow down: over 20 commands in 10s;\n  listening again in 10s");
  EXPECT_EQ(silent, 29);
  // It listens again when the oldest command leaves the window: 1 + 10 s.
  EXPECT_FALSE(say("alice@example.org", "ping", 10.99).has_value());
  EXPECT_EQ(*say("alice@example.org", "ping", 11), "pong");
  EXPECT_EQ(*say("bob@example.org", "ping", 1.5), "pong");  // per JID
}

TEST_F(Chat, OversizedBodiesAreIgnored) {
  EXPECT_FALSE(say("alice@example.org", std::string(4097, 'x')).has_value());
  EXPECT_EQ(*say("alice@example.org", "ping" + std::string(4092, ' ')), "pong");
}

TEST_F(Chat, StrangersAreLoggedOnceAnHourWithTheCountDropped) {
  imwatch::test::LogCapture capture;
  EXPECT_EQ(*say("mallory@evil.example/x", "status"), "not authorised");
  for (int i = 0; i < 300; ++i) EXPECT_FALSE(say("mallory@evil.example/y", "{}%s", 1 + i).has_value());
  auto lines = capture.take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "warning chat from 'mallory@evil.example' refused: not an admin");
  EXPECT_EQ(*say("mallory@evil.example", "help", 3600), "not authorised");
  lines = capture.take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(
      lines[0],
      "warning chat from 'mallory@evil.example' refused: not an admin, 300 more dropped since the last such line");
}

TEST_F(Chat, OversizedBodiesCountAgainstTheRateAndAreLoggedOnceAnHour) {
  imwatch::test::LogCapture capture;
  for (int i = 0; i < 19; ++i) EXPECT_FALSE(say("alice@example.org", std::string(5000, 'x'), 1 + i * 0.01));
  auto lines = capture.take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "warning chat from alice@example.org: 5000 byte message ignored (limit 4096)");
  // 19 oversized bodies used 19 of the 20 commands in the window.
  EXPECT_EQ(*say("alice@example.org", "ping", 1.5), "pong");
  EXPECT_EQ(say("alice@example.org", "ping", 1.6)->rfind("slow down", 0), 0u);
  EXPECT_FALSE(say("alice@example.org", std::string(5000, 'x'), 1.7).has_value());
  EXPECT_TRUE(capture.take().empty());
  // Bob's budget is his own; Alice's next line an hour later has the count.
  EXPECT_EQ(*say("bob@example.org", "ping", 1.8), "pong");
  EXPECT_FALSE(say("alice@example.org", std::string(5000, 'x'), 3601).has_value());
  lines = capture.take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "warning chat from alice@example.org: 5000 byte message ignored (limit 4096), 18 more dropped since the "
            "last such line");
}

TEST_F(Chat, MuteAckUnmuteAreLoggedWithWhoAndWhatTheyDid) {
  imwatch::test::LogCapture capture;
  say("Alice@Example.org/phone", "mute 30m load");
  say("bob@example.org", "ack #1");
  say("alice@example.org", "unmute {}$(id)");
  say("alice@example.org", "UNMUTE");
  say("alice@example.org", "status");  // read-only: not logged
  auto lines = capture.take();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "info chat: 'mute 30m load' from alice@example.org: muted load for 30m");
  EXPECT_EQ(lines[1], "info chat: 'ack #1' from bob@example.org: acknowledged #1: no more reminders until it resolves");
  EXPECT_EQ(lines[2], "info chat: 'unmute {}$(id)' from alice@example.org: no rule '{}$(id)'");
  EXPECT_EQ(lines[3], "info chat: 'UNMUTE' from alice@example.org: unmuted everything");
}

}  // namespace

// `all:` in the fleet's room: one line each, within 40 columns, and
// `alerts` only from a host with alerts.
TEST_F(Chat, BriefAnswersForTheWholeFleet) {
  auto brief = [&](const std::string& body) {
    ChatContext ctx{snap, engine, host, 12 * 86400 + 3600, wall, nullptr, true};
    return handler.handle("alice@example.org", body, 0, ctx);
  };
  std::string status = *brief("status");
  EXPECT_EQ(status.find('\n'), std::string::npos) << status;
  EXPECT_LE(columns(status), 40u) << status;
  EXPECT_EQ(status.rfind("web1", 0), 0u) << status;
  EXPECT_NE(status.find("WARN"), std::string::npos) << status;  // load is over 0.1 since the fixture
  EXPECT_NE(status.find("load 0.2/cpu"), std::string::npos) << status;
  EXPECT_NE(status.find("up 12d"), std::string::npos) << status;
  std::string alerts = *brief("alerts");
  EXPECT_EQ(alerts.rfind("web1  WARN: #1 load", 0), 0u) << alerts;
  EXPECT_LE(columns(alerts), 40u) << alerts;
  // Any other command: its reply on one line, cut to 40 columns.
  std::string mem = *brief("mem");
  EXPECT_EQ(mem.find('\n'), std::string::npos) << mem;
  EXPECT_LE(columns(mem), 40u) << mem;
  EXPECT_EQ(mem.rfind("web1: ", 0), 0u) << mem;
  // Healthy: nothing to say to `all: alerts`.
  engine.evaluate_rule(0, 0.01, 100, wall + 100);
  engine.evaluate_rule(0, 0.01, 1000, wall + 1000);
  engine.take_events();
  EXPECT_FALSE(brief("alerts").has_value());
  EXPECT_NE(brief("status")->find(" OK "), std::string::npos) << *brief("status");
  // A stranger gets nothing from `all:` either.
  ChatContext ctx{snap, engine, host, std::nullopt, wall, nullptr, true};
  EXPECT_NE(handler.handle("mallory@example.org", "status", 0, ctx), std::optional<std::string>(status));
}
