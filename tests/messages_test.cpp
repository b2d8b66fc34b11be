// The words: one duration formatter with defined rounding, every event
// line, the notification header, the `alerts` and `rules` listings and the
// presence status, flapping included.
#include "agent/messages.h"

#include <gtest/gtest.h>

using namespace imwatch::agent;

namespace {

const std::vector<std::string> kMetrics = {"load1", "procs_blocked", "mem_used_pct"};
constexpr double kWall = 1'700'000'000;

std::vector<Rule> rules_of(const std::vector<std::string>& texts) {
  std::vector<Rule> rs;
  for (const auto& t : texts) {
    Rule r;
    EXPECT_EQ(parse_rule(t, kMetrics, r), "") << t;
    rs.push_back(r);
  }
  return rs;
}

TEST(Durations, OneFormatterElapsedDownLeftUp) {
  EXPECT_EQ(human_duration(0), "0s");
  EXPECT_EQ(human_duration(-5), "0s");
  EXPECT_EQ(human_duration(45.9), "45s");
  EXPECT_EQ(human_duration(59.9), "59s");
  EXPECT_EQ(human_duration(60), "1m");
  EXPECT_EQ(human_duration(754), "12m");
  EXPECT_EQ(human_duration(3599), "59m");
  EXPECT_EQ(human_duration(3720), "1h 2m");
  EXPECT_EQ(human_duration(7200), "2h");
  EXPECT_EQ(human_duration(3 * 86400 + 4 * 3600 + 59 * 60), "3d 4h");
  EXPECT_EQ(human_duration(2 * 86400), "2d");
  // What is left: never less than is left.
  EXPECT_EQ(human_duration(599, Rounding::up), "10m");
  EXPECT_EQ(human_duration(0.2, Rounding::up), "1s");
  EXPECT_EQ(human_duration(59.5, Rounding::up), "1m");
  EXPECT_EQ(human_duration(3540.5, Rounding::up), "1h");
  EXPECT_EQ(human_duration(86400 + 1, Rounding::up), "1d 1h");
  EXPECT_EQ(human_duration(1e300), human_duration(1e12));  // bounded, no overflow
}

Event event(Event::Kind k, Severity s, double duration = 0) {
  Event e;
  e.kind = k;
  e.rule = "mem";
  e.severity = s;
  e.id = 3;
  e.value = 97;
  e.metric = "mem_used_pct";
  e.op = ">";
  e.threshold = 95;
  e.duration = duration;
  return e;
}

TEST(EventLines, EveryKindOneMeaningPerWord) {
  EXPECT_EQ(event_line(event(Event::fired, Severity::warning)), "WARNING mem: mem_used_pct 97 > 95 #3");
  EXPECT_EQ(event_line(event(Event::fired, Severity::critical, 185)), "CRITICAL mem: mem_used_pct 97 > 95, held 3m #3");
  Event esc = event(Event::escalated, Severity::critical, 30);
  esc.previous = Severity::warning;
  EXPECT_EQ(event_line(esc), "CRITICAL mem: mem_used_pct 97 > 95 (was WARNING), held 30s #3");
  EXPECT_EQ(event_line(event(Event::resolved, Severity::ok, 400)), "RESOLVED mem: mem_used_pct 97 after firing 6m #3");
  EXPECT_EQ(event_line(event(Event::reminder, Severity::warning, 7300)),
            "still WARNING mem: mem_used_pct 97 > 95, firing 2h 1m #3");
  Event removed = event(Event::removed, Severity::warning, 720);
  EXPECT_EQ(event_line(removed), "REMOVED mem (was WARNING, firing 12m) #3");
  removed.was_flapping = true;
  EXPECT_EQ(event_line(removed), "REMOVED mem (was FLAPPING, firing 12m) #3");
  Event flap = event(Event::flapping, Severity::warning, 3600);
  flap.detail = "7";
  EXPECT_EQ(event_line(flap), "FLAPPING mem: 7 changes within 1h, quiet until it settles #3");
  EXPECT_EQ(event_line(event(Event::settled, Severity::warning)), "SETTLED mem: WARNING mem_used_pct 97 > 95 #3");
  EXPECT_EQ(event_line(event(Event::settled, Severity::ok)), "SETTLED mem: OK, mem_used_pct 97 #3");
  Event test;
  test.kind = Event::test;
  EXPECT_EQ(notification_text(Notification{0, "web1", {test}}),
            "web1: test alert from imwatch. If you read this, alerts reach you.");
}

TEST(EventLines, KindNamesRoundTrip) {
  for (int k = 0; k < kEventKinds; ++k) {
    auto kind = static_cast<Event::Kind>(k);
    EXPECT_EQ(kind_from_name(kind_name(kind)), kind);
  }
  EXPECT_FALSE(kind_from_name("nope"));
}

TEST(Notifications, OneLineOrAHeaderFromStructure) {
  EXPECT_EQ(notification_text("web1", {"a"}), "web1: a");
  EXPECT_EQ(notification_text("web1", {"a", "b"}), "web1: 2 changes\na\nb");
  EXPECT_EQ(folded_line({{"load", 1}, {"", 7}}), "while undelivered, 2 alerts fired and resolved: load #1, #7");
  EXPECT_EQ(dropped_line(1, 10), "1 notification dropped while the link was down (outbox limit 10)");
}

// An engine with a firing rule, a flapping one, an OK one and a mute.
class Listings : public ::testing::Test {
 protected:
  Listings() {
    engine.configure(
        rules_of({"load: load1 > 1 crit 5", "sleepers: procs_blocked > 2 crit 5", "mem: mem_used_pct > 90"}),
        {3600, 2, 3600}, [](const std::string&) { return std::string("p"); });
    engine.evaluate_rule(0, 2, 0, kWall);  // #1 WARNING load
    // sleepers: CRITICAL #2, resolved, CRITICAL #3 -> flapping at the third change.
    engine.evaluate_rule(1, 9, 0, kWall);
    engine.evaluate_rule(1, 0, 10, kWall + 10);
    engine.evaluate_rule(1, 9, 20, kWall + 20);
    engine.evaluate_rule(2, 50, 0, kWall);
    engine.take_events();
  }
  AlertEngine engine;
};

TEST_F(Listings, FlappingIsShownWhereverAnAlertIs) {
  ASSERT_TRUE(engine.states().at("sleepers").flapping);
  engine.mute("mem", kWall + 900);
  const double now = kWall + 721;
  std::string alerts = alerts_listing(engine, now);
  EXPECT_EQ(alerts,
            "#1 WARNING load: load1 2 > 1, firing 12m\n"
            "#3 FLAPPING sleepers: procs_blocked 9,\n"
            "  last told OK\n"
            "muted: mem, 3m more")
      << alerts;
  std::string rules = rules_listing(engine, now);
  EXPECT_EQ(rules,
            "load: load1 > 1 crit 5\n"
            "  WARNING, now 2\n"
            "sleepers: procs_blocked > 2 crit 5\n"
            "  FLAPPING, last told OK, now 9\n"
            "mem: mem_used_pct > 90\n"
            "  OK, now 50, muted")
      << rules;
  Presence p = presence_for(engine);
  EXPECT_EQ(p.show, Presence::Show::away);
  EXPECT_EQ(p.status, "WARNING: load; FLAPPING: sleepers");
}

TEST_F(Listings, MutesShowWhatIsLeftRoundedUp) {
  engine.mute("", kWall + 600);
  EXPECT_NE(alerts_listing(engine, kWall + 1).find("muted: all, 10m more"), std::string::npos);
  EXPECT_NE(alerts_listing(engine, kWall + 599.5).find("muted: all, 1s more"), std::string::npos);
  EXPECT_NE(rules_listing(engine, kWall + 1).find("\n  WARNING, now 2, muted\n"), std::string::npos);
}

TEST(Presence, OkOnlyWhenNothingIsOpen) {
  AlertEngine engine;
  engine.configure(rules_of({"a: load1 > 1 crit 5", "b: mem_used_pct > 90"}), {}, {});
  EXPECT_EQ(presence_for(engine).status, "OK");
  EXPECT_EQ(presence_for(engine).show, Presence::Show::available);
  engine.evaluate_rule(0, 9, 0, kWall);
  engine.evaluate_rule(1, 95, 0, kWall);
  Presence p = presence_for(engine);
  EXPECT_EQ(p.show, Presence::Show::dnd);
  EXPECT_EQ(p.status, "CRITICAL: a; WARNING: b");
  // A rule quiet because it flaps, last told CRITICAL, keeps presence at dnd.
  RuleState flapping = engine.states().at("a");
  flapping.flapping = true;
  flapping.severity = Severity::ok;
  engine.restore("a", flapping);
  p = presence_for(engine);
  EXPECT_EQ(p.show, Presence::Show::dnd);
  EXPECT_EQ(p.status, "WARNING: b; FLAPPING: a");
}

}  // namespace
