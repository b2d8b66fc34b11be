// Chat commands on a fake clock: access, limits, every command's reply.
#include "agent/chat.h"

#include <gtest/gtest.h>

#include "agent/daemon.h"
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
  EXPECT_NE(say("alice@example.org/phone", "help")->find("ack N"), std::string::npos);
  EXPECT_EQ(*say("alice@example.org/phone", "ping"), "pong");
  EXPECT_EQ(say("alice@example.org", "load")->rfind("load      0.84 0.71 0.65  per CPU 0.21", 0), 0u);
  EXPECT_NE(say("alice@example.org", "mem")->find("used 5.0 GiB of 15.5 GiB (31.9%)"), std::string::npos);
  EXPECT_NE(say("alice@example.org", "vmstat")->find("us 6.0% sy 2.9% id 90.3%"), std::string::npos);
  EXPECT_NE(say("alice@example.org", "psi")->find("memory   some   0.31"), std::string::npos);
  std::string status = *say("alice@example.org", "status");
  EXPECT_EQ(status.rfind("web1, up 3d 4h\nload", 0), 0u) << status;
  EXPECT_NE(status.find("#1 WARNING load: load1_per_cpu 0.21 > 0.1"), std::string::npos) << status;
  EXPECT_NE(say("alice@example.org", "alerts")->find("#1 WARNING load"), std::string::npos);
  std::string rules = *say("alice@example.org", "rules");
  EXPECT_NE(rules.find("load: load1_per_cpu > 0.1 crit 5 [WARNING]"), std::string::npos) << rules;
  EXPECT_NE(rules.find("memory: mem_used_pct > 90 [OK]"), std::string::npos) << rules;
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
            "no rule or duration 'nosuchrule'; usage: mute [DURATION] [RULE|all]");
  EXPECT_EQ(*say("alice@example.org", "unmute load"), "unmuted load");
  EXPECT_EQ(*say("alice@example.org", "ack 7"), "no firing alert #7");
  EXPECT_EQ(*say("alice@example.org", "ack x"), "not an alert number: 'x'");
  EXPECT_EQ(*say("alice@example.org", "ack #1"), "acknowledged #1: no more reminders until it resolves");
  EXPECT_NE(say("alice@example.org", "alerts")->find(", acked"), std::string::npos);
}

TEST_F(Chat, ListingsSayHowLongWithOneWordEach) {
  // The alert fired at `wall`; the listing is read 12m 59s later: its age, rounded down.
  ChatContext ctx{snap, engine, host, std::nullopt, wall + 779};
  std::string alerts = ChatHandler::command("alerts", ctx);
  EXPECT_EQ(alerts, "#1 WARNING load: load1_per_cpu 0.21 > 0.1, firing 12m") << alerts;
  // A 10-minute mute a second later: what is left, rounded up.
  EXPECT_EQ(ChatHandler::command("mute 10m memory", ctx), "muted memory for 10m");
  ChatContext later{snap, engine, host, std::nullopt, wall + 780};
  EXPECT_NE(ChatHandler::command("alerts", later).find("muted: memory, 10m more"), std::string::npos);
  EXPECT_NE(ChatHandler::command("rules", later).find("memory: mem_used_pct > 90 [OK, muted]"), std::string::npos);
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
  for (int i = 0; i < 50; ++i) {
    auto r = say("alice@example.org", "ping", 1 + i * 0.01);
    if (!r)
      ++silent;
    else if (*r == "pong")
      ++answered;
    else if (r->find("slow down") == 0)
      ++warned;
  }
  EXPECT_EQ(answered, 20);
  EXPECT_EQ(warned, 1);
  EXPECT_EQ(silent, 29);
  EXPECT_EQ(*say("alice@example.org", "ping", 20), "pong");  // the window has passed
  EXPECT_EQ(*say("bob@example.org", "ping", 1.5), "pong");   // per JID
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
