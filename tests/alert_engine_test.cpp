// Every rule behaviour on a fake clock: `for` boundaries, hysteresis,
// escalation, reminders, unknown data, flapping, grouping, reload, restart,
// mutes, acknowledgement.
#include "agent/alert_engine.h"

#include <gtest/gtest.h>

#include "agent/history.h"
#include "agent/messages.h"

using namespace imwatch::agent;

namespace {

const std::vector<std::string> kMetrics = {"load5_per_cpu", "mem_used_pct", "oom_kills", "mem_available_kb", "load1"};

Rule rule(const std::string& text) {
  Rule r;
  std::string err = parse_rule(text, kMetrics, r);
  EXPECT_EQ(err, "") << text;
  return r;
}

std::vector<Rule> rules_of(const std::vector<std::string>& texts) {
  std::vector<Rule> rs;
  for (const auto& t : texts) rs.push_back(rule(t));
  return rs;
}

// Every rule fed by the probe "p".
const ProbeOf kAllFromP = [](const std::string&) { return std::string("p"); };

std::string text(const std::vector<Event>& ev) { return notification_text(Notification{0, "web1", ev}); }

// One or more rules fed by hand: t is monotonic seconds, wall = base + t.
class Engine {
 public:
  explicit Engine(std::vector<std::string> rules, AlertSettings s = {}) {
    std::vector<Rule> rs;
    for (const auto& t : rules) rs.push_back(rule(t));
    engine.configure(rs, s, kAllFromP);
  }
  // Feeds rule `i` a sample at time t and returns the events of that pass.
  std::vector<Event> feed(std::optional<double> v, double t, size_t i = 0) {
    engine.evaluate_rule(i, v, t, wall(t));
    engine.remind(wall(t));
    return engine.take_events();
  }
  static double wall(double t) { return 1'700'000'000 + t; }
  const RuleState& state(const std::string& name) { return engine.states()[name]; }
  AlertEngine engine;
};

// ---- lifecycle ----

TEST(Rules, FiresAtOnceWithoutFor) {
  Engine e({"oom: oom_kills > 0"});
  EXPECT_TRUE(e.feed(0, 0).empty());
  auto ev = e.feed(1, 10);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::fired);
  EXPECT_EQ(ev[0].severity, Severity::warning);
  EXPECT_EQ(ev[0].id, 1u);
  EXPECT_TRUE(e.feed(2, 20).empty());  // still firing: no repeat message
  ev = e.feed(0, 30);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
  EXPECT_DOUBLE_EQ(ev[0].duration, 20);  // lasted from t=10 to t=30
}

TEST(Rules, ForBoundary) {
  Engine e({"load: load5_per_cpu > 1.5 for 1m"});
  EXPECT_TRUE(e.feed(2, 0).empty());
  EXPECT_TRUE(e.feed(2, 30).empty());
  EXPECT_TRUE(e.feed(2, 59.9).empty());
  auto ev = e.feed(2, 60);  // held on every sample for exactly 1m
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::fired);
  EXPECT_DOUBLE_EQ(ev[0].duration, 60);
}

TEST(Rules, ForRestartsWhenOneSampleIsGood) {
  Engine e({"load: load5_per_cpu > 1.5 for 1m"});
  e.feed(2, 0);
  e.feed(2, 40);
  e.feed(1, 50);  // one good sample breaks the run
  EXPECT_TRUE(e.feed(2, 60).empty());
  EXPECT_TRUE(e.feed(2, 119).empty());
  EXPECT_EQ(e.feed(2, 120).size(), 1u);
}

TEST(Rules, ThresholdIsStrictForGreaterThan) {
  Engine e({"load: load5_per_cpu > 1.5"});
  EXPECT_TRUE(e.feed(1.5, 0).empty());
  EXPECT_EQ(e.feed(1.5001, 1).size(), 1u);
  Engine g({"load: load5_per_cpu >= 1.5"});
  EXPECT_EQ(g.feed(1.5, 0).size(), 1u);
}

TEST(Rules, HysteresisInValue) {
  Engine e({"load: load5_per_cpu > 1.5 clear 1.2"});
  ASSERT_EQ(e.feed(2, 0).size(), 1u);
  EXPECT_TRUE(e.feed(1.4, 10).empty());  // below warn, above clear: still firing
  EXPECT_TRUE(e.feed(1.21, 20).empty());
  EXPECT_EQ(e.state("load").severity, Severity::warning);
  auto ev = e.feed(1.2, 30);  // on the good side of clear
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
}

TEST(Rules, HysteresisInTime) {
  Engine e({"mem: mem_used_pct > 90 for 1m"});
  e.feed(95, 0);
  ASSERT_EQ(e.feed(95, 60).size(), 1u);
  EXPECT_TRUE(e.feed(80, 70).empty());
  EXPECT_TRUE(e.feed(95, 80).empty());  // bad again: the clear timer restarts
  EXPECT_TRUE(e.feed(80, 90).empty());
  EXPECT_TRUE(e.feed(80, 149).empty());
  auto ev = e.feed(80, 150);  // good on every sample for 1m
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
}

TEST(Rules, EscalationAndDeescalation) {
  Engine e({"mem: mem_used_pct > 90 crit 97"});
  auto ev = e.feed(92, 0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].severity, Severity::warning);
  ev = e.feed(98, 10);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::escalated);
  EXPECT_EQ(ev[0].severity, Severity::critical);
  EXPECT_EQ(ev[0].id, 1u);  // same alert
  EXPECT_EQ(ev[0].threshold, 97);
  ev = e.feed(93, 20);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::deescalated);
  EXPECT_EQ(ev[0].previous, Severity::critical);
  ev = e.feed(50, 30);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
  // Straight to critical from OK; a new alert, a new id.
  ev = e.feed(99, 40);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::fired);
  EXPECT_EQ(ev[0].severity, Severity::critical);
  EXPECT_EQ(ev[0].id, 2u);
}

TEST(Rules, CriticalStraightToResolvedWhenGood) {
  Engine e({"mem: mem_used_pct > 90 crit 97 for 30s"});
  e.feed(99, 0);
  ASSERT_EQ(e.feed(99, 30).size(), 1u);
  e.feed(10, 40);
  auto ev = e.feed(10, 70);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
}

TEST(Rules, RemindersFollowTheirOwnSettings) {
  Engine e({"a: load1 > 1", "b: load1 > 1 repeat 10m", "c: load1 > 1 repeat 0"}, {3600, 6, 3600});
  for (size_t i = 0; i < 3; ++i) e.feed(2, 0, i);
  auto count = [](const std::vector<Event>& ev, const std::string& rule) {
    return std::count_if(ev.begin(), ev.end(),
                         [&](const Event& x) { return x.kind == Event::reminder && x.rule == rule; });
  };
  std::vector<Event> all;
  for (double t = 60; t <= 7200; t += 60) {
    auto ev = e.feed(2, t, 0);
    all.insert(all.end(), ev.begin(), ev.end());
  }
  EXPECT_EQ(count(all, "a"), 2);   // 1h, 2h
  EXPECT_EQ(count(all, "b"), 12);  // every 10m for 2h
  EXPECT_EQ(count(all, "c"), 0);   // off
}

TEST(Rules, AckStopsRemindersUntilResolved) {
  Engine e({"a: load1 > 1 repeat 10m"});
  auto ev = e.feed(2, 0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(e.engine.ack(ev[0].id));
  EXPECT_FALSE(e.engine.ack(999));
  for (double t = 60; t <= 3600; t += 60) EXPECT_TRUE(e.feed(2, t).empty());
  EXPECT_EQ(e.feed(0, 3700)[0].kind, Event::resolved);
  e.feed(2, 3800);  // a new alert is not acknowledged
  bool reminded = false;
  for (double t = 3860; t <= 4500; t += 60)
    for (const auto& x : e.feed(2, t)) reminded = reminded || x.kind == Event::reminder;
  EXPECT_TRUE(reminded);
}

TEST(Rules, UnknownNeitherFiresNorResolves) {
  Engine e({"load: load5_per_cpu > 1.5 for 30s"});
  e.feed(2, 0);
  EXPECT_TRUE(e.feed(std::nullopt, 20).empty());
  EXPECT_TRUE(e.feed(2, 30).empty());  // the gap broke the run: no fire at 30s
  EXPECT_TRUE(e.feed(2, 59).empty());
  ASSERT_EQ(e.feed(2, 60).size(), 1u);
  // Firing, then a probe gap: not "recovered".
  for (double t = 70; t < 400; t += 10) EXPECT_TRUE(e.feed(std::nullopt, t).empty());
  EXPECT_EQ(e.state("load").severity, Severity::warning);
  e.feed(1, 400);
  EXPECT_EQ(e.feed(1, 430)[0].kind, Event::resolved);
}

TEST(Rules, ProbeFailuresAreToldOnceAfterThreeAndRecoveryToo) {
  AlertEngine e;
  e.probe_result("meminfo", "meminfo: bad", 1);
  e.probe_result("meminfo", "meminfo: bad", 2);
  EXPECT_FALSE(e.has_events());
  e.probe_result("meminfo", "meminfo: bad", 3);
  auto ev = e.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::probe_failing);
  EXPECT_EQ(text(ev), "web1: PROBE meminfo failing: meminfo: bad");
  for (int i = 0; i < 10; ++i) e.probe_result("meminfo", "meminfo: bad", 4 + i);
  EXPECT_FALSE(e.has_events());
  e.probe_result("meminfo", "", 100);
  ev = e.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(text(ev), "web1: PROBE meminfo recovered after failing 1m");
  e.probe_result("meminfo", "", 101);
  EXPECT_FALSE(e.has_events());
  // Two failures, a success, two failures: never three in a row.
  for (double t : {200, 201}) e.probe_result("vmstat", "x", t);
  e.probe_result("vmstat", "", 202);
  for (double t : {203, 204}) e.probe_result("vmstat", "x", t);
  EXPECT_FALSE(e.has_events());
}

TEST(Rules, FlappingIsToldOnceThenSettles) {
  Engine e({"load: load1 > 1"}, {3600, 6, 3600});
  std::vector<Event> all;
  double t = 0;
  // 12 changes in 12 minutes.
  for (int i = 0; i < 12; ++i, t += 60) {
    auto ev = e.feed(i % 2 == 0 ? 2 : 0, t);
    all.insert(all.end(), ev.begin(), ev.end());
  }
  // 6 changes are told, the 7th is the flapping notice, then silence.
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all[6].kind, Event::flapping);
  EXPECT_EQ(text({all[6]}).find("web1: FLAPPING load: 7 changes within 1h"), 0u);
  EXPECT_TRUE(e.state("load").flapping);
  // Stable (firing) from here; still quiet until a whole window without change.
  t -= 60;
  double last_change = t;
  std::vector<Event> later;
  for (t += 60; t < last_change + 3600 + 120; t += 60) {
    auto ev = e.feed(2, t);
    later.insert(later.end(), ev.begin(), ev.end());
  }
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].kind, Event::settled);
  EXPECT_EQ(later[0].severity, Severity::warning);
  EXPECT_FALSE(e.state("load").flapping);
}

TEST(Rules, OnePassIsOneMessage) {
  Engine e({"a: load1 > 1", "b: mem_used_pct > 90", "c: oom_kills > 0"});
  e.engine.evaluate_rule(0, 2, 0, Engine::wall(0));
  e.engine.evaluate_rule(1, 95, 0, Engine::wall(0));
  e.engine.evaluate_rule(2, 0, 0, Engine::wall(0));
  e.engine.probe_result("vmstat", "x", 1);
  auto ev = e.engine.take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(text(ev), "web1: 2 changes\nWARNING a: load1 2 > 1 #1\nWARNING b: mem_used_pct 95 > 90 #2");
}

TEST(Rules, MessagesSayWhatAdminsNeed) {
  Engine e({"load: load5_per_cpu > 1.5 crit 3 for 5m clear 1.2"});
  e.feed(1.82, 0);
  auto ev = e.feed(1.82, 300);
  EXPECT_EQ(text(ev), "web1: WARNING load: load5_per_cpu 1.82 > 1.5, held 5m #1");
  e.feed(1.0, 400);
  ev = e.feed(1.0, 700);
  EXPECT_EQ(text(ev), "web1: RESOLVED load: load5_per_cpu 1 after firing 6m #1");
}

TEST(Rules, MutedRulesTrackStateButStayQuiet) {
  Engine e({"a: load1 > 1", "b: oom_kills > 0"});
  e.engine.mute("a", Engine::wall(100));
  EXPECT_TRUE(e.feed(2, 0, 0).empty());
  EXPECT_EQ(e.state("a").severity, Severity::warning);
  EXPECT_EQ(e.feed(1, 0, 1).size(), 1u);  // b is not muted
  e.engine.mute("", Engine::wall(200));   // all
  EXPECT_TRUE(e.feed(0, 150, 1).empty());
  e.engine.unmute("");
  EXPECT_EQ(e.feed(0, 160, 0).size(), 1u);  // a resolves, told
}

TEST(Rules, ConfigureTellsWhichProbeFeedsEachRule) {
  AlertEngine engine;
  engine.configure(rules_of({"a: load1 > 1", "b: mem_used_pct > 90"}), {},
                   [](const std::string& metric) { return std::string(metric == "load1" ? "loadavg" : "meminfo"); });
  EXPECT_EQ(engine.probe_of(0), "loadavg");
  EXPECT_EQ(engine.probe_of(1), "meminfo");
  auto lookup = [](const std::string&) -> std::optional<double> { return 99; };
  engine.evaluate("meminfo", lookup, 0, Engine::wall(0));  // only b
  auto ev = engine.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].rule, "b");
  engine.evaluate("loadavg", lookup, 1, Engine::wall(1));
  ev = engine.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].rule, "a");
}

TEST(Rules, ReloadKeepsUnchangedRulesState) {
  Engine e({"a: load1 > 1", "b: oom_kills > 0"});
  e.feed(2, 0, 0);
  e.feed(1, 0, 1);
  e.engine.configure(rules_of({"a: load1 > 1", "b: oom_kills > 0"}), {}, kAllFromP);
  EXPECT_EQ(e.state("a").severity, Severity::warning);
  EXPECT_EQ(e.state("a").id, 1u);
  // The unchanged rule does not re-announce.
  EXPECT_TRUE(e.feed(2, 10, 0).empty());
}

TEST(Rules, ReloadWithNewThresholdsKeepsTheAlertAndJudgesByThem) {
  Engine e({"a: load1 > 1 repeat 10m", "b: load1 > 1 for 1m"});
  ASSERT_EQ(e.feed(2, 0, 0).size(), 1u);  // #1
  e.feed(2, 0, 1);
  ASSERT_EQ(e.feed(2, 60, 1).size(), 1u);  // #2, held 1m
  ASSERT_TRUE(e.engine.ack(1));
  const RuleState before = e.state("a");
  e.engine.configure(rules_of({"a: load1 > 3 repeat 10m", "b: load1 > 1 crit 5 for 1m"}), {}, kAllFromP);
  e.engine.remind(Engine::wall(61));
  EXPECT_TRUE(e.engine.take_events().empty());  // nothing to say about a reload
  const RuleState& a = e.state("a");
  EXPECT_EQ(a.id, 1u);
  EXPECT_TRUE(a.acked);
  EXPECT_EQ(a.severity, Severity::warning);
  EXPECT_EQ(a.told, Severity::warning);
  EXPECT_EQ(a.fired_at, before.fired_at);
  EXPECT_EQ(a.fingerprint, "a: load1 > 3 repeat 10m");
  // 2 is on the good side of the new threshold: resolved at the next sample, under its id.
  auto ev = e.feed(2, 70, 0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
  EXPECT_EQ(ev[0].id, 1u);
  // b: its timers restart, so the new crit must hold a whole minute from the first sample after the reload.
  EXPECT_TRUE(e.feed(6, 70, 1).empty());
  EXPECT_TRUE(e.feed(6, 129, 1).empty());
  ev = e.feed(6, 130, 1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::escalated);
  EXPECT_EQ(ev[0].id, 2u);
}

TEST(Rules, ReloadClosesARemovedFiringRuleWithOneMessage) {
  Engine e({"memtest: load1 > 1", "quiet: oom_kills > 0", "stays: mem_used_pct > 90"});
  e.feed(2, 0, 0);  // #1 fires
  e.feed(0, 0, 1);  // OK
  e.engine.configure(rules_of({"stays: mem_used_pct > 90"}), {}, kAllFromP);
  e.engine.remind(Engine::wall(720));
  auto ev = e.engine.take_events();
  ASSERT_EQ(ev.size(), 1u);  // nothing about the rule that was OK
  EXPECT_EQ(ev[0].kind, Event::removed);
  EXPECT_EQ(ev[0].id, 1u);
  EXPECT_EQ(text(ev), "web1: REMOVED memtest (was WARNING, firing 12m) #1");
  e.engine.remind(Engine::wall(7200));
  EXPECT_TRUE(e.engine.take_events().empty());  // once
  EXPECT_EQ(e.engine.states().count("memtest"), 0u);
}

TEST(Rules, RemovedAndAddedBackInOnePassKeepsItsAlert) {
  Engine e({"a: load1 > 1"});
  e.feed(2, 0);
  e.engine.configure({}, {}, kAllFromP);
  e.engine.configure(rules_of({"a: load1 > 1"}), {}, kAllFromP);
  e.engine.remind(Engine::wall(10));
  EXPECT_TRUE(e.engine.take_events().empty());
  EXPECT_EQ(e.state("a").id, 1u);
  EXPECT_EQ(e.state("a").severity, Severity::warning);
}

TEST(Rules, RestoredFlappingRuleSettlesAfterAWindowWithAKnownValue) {
  Engine e({"sleepers: load1 > 1 crit 3"}, {3600, 6, 600});
  RuleState saved;
  saved.severity = Severity::critical;
  saved.told = Severity::critical;
  saved.id = 2;
  saved.flapping = true;
  saved.fired_at = Engine::wall(-100);
  e.engine.restore("sleepers", saved);
  EXPECT_EQ(e.engine.next_id(), 3u);
  // Unknown samples (a rate metric's first sample after a start) say nothing.
  for (double t = 0; t <= 1200; t += 60) EXPECT_TRUE(e.feed(std::nullopt, t).empty()) << t;
  // The window starts at the first known sample.
  EXPECT_TRUE(e.feed(5, 1260).empty());
  EXPECT_TRUE(e.feed(5, 1800).empty());
  auto ev = e.feed(5, 1860);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::settled);
  EXPECT_EQ(text(ev), "web1: SETTLED sleepers: CRITICAL load1 5 > 3 #2");
}

TEST(Rules, SettledOkNamesAKnownValueAndTheAlert) {
  Engine e({"load: load1 > 1"}, {3600, 2, 600});
  double t = 0;
  for (int i = 0; i < 4; ++i, t += 10) e.feed(i % 2 == 0 ? 2 : 0, t);  // #1, resolved, #2, then flapping
  ASSERT_TRUE(e.state("load").flapping);
  // Good and then unknown for longer than the window: nothing until a known sample.
  e.feed(0, t);
  for (t += 60; t < 1500; t += 60) EXPECT_TRUE(e.feed(std::nullopt, t).empty());
  auto ev = e.feed(0.25, t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(text(ev), "web1: SETTLED load: OK, load1 0.25 #2");
}

}  // namespace

// ---- rules over every mount ----

namespace {

// The filesystem probe's instances and fs_used_pct of each, fed by hand.
std::vector<Event> feed_mounts(AlertEngine& e, const std::vector<std::string>& mounts,
                               const std::vector<std::optional<double>>& values, double t) {
  e.evaluate_instances("p", mounts,
                       [&](const std::string& metric, size_t k) -> std::optional<double> {
                         EXPECT_EQ(metric, "fs_used_pct");
                         return values.at(k);
                       },
                       t, Engine::wall(t));
  e.remind(Engine::wall(t));
  return e.take_events();
}

const std::vector<std::string> kFsMetrics = {"fs_used_pct", "load1"};

AlertEngine disk_engine(const std::string& text = "disk: fs_used_pct > 90 crit 95 clear 85") {
  Rule r;
  EXPECT_EQ(parse_rule(text, kFsMetrics, r), "");
  AlertEngine e;
  e.configure({r}, {}, kAllFromP);
  return e;
}

}  // namespace

TEST(PerMount, EachMountHasItsOwnAlertIdAndState) {
  Rule r;
  ASSERT_EQ(parse_rule("disk: fs_used_pct > 90 crit 95", kFsMetrics, r), "");
  EXPECT_TRUE(r.each_instance);
  ASSERT_EQ(parse_rule("srv: fs_used_pct{/srv} > 90", kFsMetrics, r), "");
  EXPECT_FALSE(r.each_instance);
  EXPECT_NE(parse_rule("x: load1{/srv} > 1", kFsMetrics, r).find("has no instances"), std::string::npos);

  AlertEngine e = disk_engine();
  auto ev = feed_mounts(e, {"/", "/var"}, {50, 93}, 0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(text(ev), "web1: WARNING disk /var: fs_used_pct 93 > 90 #1");
  ev = feed_mounts(e, {"/", "/var"}, {96, 93}, 10);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(text(ev), "web1: CRITICAL disk /: fs_used_pct 96 > 95 #2");
  EXPECT_EQ(e.states().at("disk /").severity, Severity::critical);
  EXPECT_EQ(e.states().at("disk /var").severity, Severity::warning);
  // Unknown for one mount (statfs did not answer): neither fires nor resolves.
  ev = feed_mounts(e, {"/", "/var"}, {std::nullopt, 80}, 20);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(text(ev), "web1: RESOLVED disk /var: fs_used_pct 80 after firing 20s #1");
  EXPECT_EQ(e.states().at("disk /").severity, Severity::critical);
  // Mute by the rule's name covers every mount.
  e.mute("disk", Engine::wall(1000));
  EXPECT_TRUE(feed_mounts(e, {"/", "/var"}, {96, 93}, 30).empty());
  EXPECT_EQ(e.states().at("disk /var").severity, Severity::warning);
  EXPECT_TRUE(e.ack(e.states().at("disk /var").id));
}

// A rule splits on blanks, so a mount point with a space is written as the
// kernel and fstab(5) write it; the probe's instance label has the space
// (FilesystemProbe.BindMountsOnceEscapesReadOnlyAndTypes: "/mnt/my disk").
TEST(PerMount, AMountWithASpaceIsNamedAsFstabWritesIt) {
  Rule r;
  ASSERT_EQ(parse_rule("mydisk: fs_used_pct{/mnt/my\\040disk} > 90", kFsMetrics, r), "");
  EXPECT_EQ(r.metric, "fs_used_pct{/mnt/my disk}");
  EXPECT_FALSE(r.each_instance);
  EXPECT_EQ(r.canonical(), "mydisk: fs_used_pct{/mnt/my\\040disk} > 90");
  Rule again;
  ASSERT_EQ(parse_rule(r.canonical(), kFsMetrics, again), "");
  EXPECT_EQ(again.metric, r.metric);
  AlertEngine e;
  e.configure({r}, {}, kAllFromP);
  e.evaluate("p", [](const std::string& m) -> std::optional<double> {
    return m == "fs_used_pct{/mnt/my disk}" ? std::optional<double>(95) : std::nullopt;
  }, 0, Engine::wall(0));
  ASSERT_EQ(e.states().count("mydisk"), 1u);
  EXPECT_EQ(e.states().at("mydisk").severity, Severity::warning);
}

TEST(PerMount, AMountThatVanishesWhileFiringIsClosedSayingSo) {
  AlertEngine e = disk_engine();
  feed_mounts(e, {"/", "/media/usb"}, {50, 99}, 0);
  auto ev = feed_mounts(e, {"/"}, {50}, 60);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::vanished);
  EXPECT_EQ(text(ev), "web1: VANISHED disk /media/usb: no longer there, alert closed (was CRITICAL, firing 1m) #1");
  EXPECT_EQ(e.states().count("disk /media/usb"), 0u);
  // Back again: a new alert with a new id; gone while OK: nothing said.
  ev = feed_mounts(e, {"/", "/media/usb"}, {50, 99}, 120);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].id, 2u);
  feed_mounts(e, {"/", "/media/usb"}, {50, 10}, 130);
  EXPECT_TRUE(feed_mounts(e, {"/"}, {50}, 140).empty());
  EXPECT_EQ(kind_name(Event::vanished), "vanished");
}

TEST(PerMount, AlertsAndRulesListEachMount) {
  AlertEngine e = disk_engine();
  feed_mounts(e, {"/", "/var"}, {50, 93}, 0);
  const std::string alerts = alerts_listing(e, Engine::wall(60));
  EXPECT_NE(alerts.find("#1 WARNING disk /var:"), std::string::npos) << alerts;
  const std::string rules = rules_listing(e, Engine::wall(60));
  EXPECT_NE(rules.find("  / OK, now 50"), std::string::npos) << rules;
  EXPECT_NE(rules.find("  /var WARNING, now 93"), std::string::npos) << rules;
  EXPECT_EQ(presence_for(e).status, "WARNING: disk /var");
}

TEST(PerMount, ReloadKeepsEachMountsAlert) {
  AlertEngine e = disk_engine();
  feed_mounts(e, {"/var"}, {93}, 0);
  Rule r;
  ASSERT_EQ(parse_rule("disk: fs_used_pct > 91 crit 95 clear 85", kFsMetrics, r), "");
  e.configure({r}, {}, kAllFromP);
  EXPECT_EQ(e.states().at("disk /var").severity, Severity::warning);
  EXPECT_EQ(e.states().at("disk /var").id, 1u);
  // Removed: each mount's open alert is closed with REMOVED.
  e.configure({}, {}, kAllFromP);
  e.remind(Engine::wall(10));
  auto ev = e.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::removed);
  EXPECT_EQ(ev[0].rule, "disk /var");
}

#include "agent/state_store.h"

TEST(PerMount, EachMountsStateSurvivesARestart) {
  AlertEngine e = disk_engine();
  feed_mounts(e, {"/", "/mnt/my disk", "/gone"}, {93, 99, 95}, 0);
  const std::string saved = serialize_state(e);
  AlertEngine after = disk_engine();
  ASSERT_EQ(parse_state(saved, after), "");
  EXPECT_EQ(after.states().at("disk /mnt/my disk").severity, Severity::critical);
  EXPECT_EQ(after.states().at("disk /").id, 1u);
  // Still bad: nothing new said; /gone is not mounted any more: closed.
  auto ev = feed_mounts(after, {"/", "/mnt/my disk"}, {93, 99}, 10);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::vanished);
  EXPECT_EQ(ev[0].rule, "disk /gone");
  EXPECT_EQ(after.next_id(), 4u);
}

// The default disk_filling rule over the real fit: it fires while the disk
// fills and resolves once it stops (the runaway log deleted), because "not
// filling" is +inf, a known value, not unknown.
TEST(PerMount, DiskFillingResolvesOnceTheDiskStopsFilling) {
  Rule r;
  ASSERT_EQ(parse_rule("disk_filling: fs_full_in_hours < 24 crit 4 for 30m clear 48", {"fs_full_in_hours"}, r), "");
  AlertSettings quiet;
  quiet.repeat = 0;  // no reminders: only changes of state are told
  AlertEngine e;
  e.configure({r}, quiet, kAllFromP);
  History h;
  const double gib = 1 << 30;
  const std::vector<std::string> mounts = {"/var"};
  double avail = 20 * gib;
  auto pass = [&](double t) {
    auto hours = hours_until_full(h, "fs_avail_bytes{/var}", avail, Engine::wall(t));
    h.record("fs_avail_bytes{/var}", 60, Engine::wall(t), avail);
    auto value = [&](const std::string&, size_t) { return hours; };
    e.evaluate_instances("p", mounts, value, t, Engine::wall(t));
    e.remind(Engine::wall(t));
    return e.take_events();
  };
  // 2 GiB an hour: full in about 10 h, a warning after an hour of history
  // and 30 minutes held.
  std::vector<Event> told;
  double t = 0;
  for (; t <= 3 * 3600; t += 60, avail -= gib / 30) {
    auto ev = pass(t);
    told.insert(told.end(), ev.begin(), ev.end());
  }
  ASSERT_EQ(told.size(), 1u) << text(told);
  EXPECT_EQ(told[0].kind, Event::fired);
  EXPECT_EQ(e.states().at("disk_filling /var").severity, Severity::warning);
  // The log is deleted: avail jumps up and stays. The fit over the last 6 h
  // turns upward, so the time to full is "never" and the alert resolves.
  avail += 10 * gib;
  told.clear();
  for (double until = t + 2 * 3600; t <= until; t += 60) {
    auto ev = pass(t);
    told.insert(told.end(), ev.begin(), ev.end());
  }
  ASSERT_EQ(told.size(), 1u) << text(told);
  EXPECT_EQ(told[0].kind, Event::resolved);
  EXPECT_EQ(e.states().at("disk_filling /var").severity, Severity::ok);
  EXPECT_NE(text(told).find("fs_full_in_hours never after firing"), std::string::npos) << text(told);
  const std::string rules = rules_listing(e, Engine::wall(t));
  EXPECT_NE(rules.find("now never"), std::string::npos) << rules;
}

// ---- holds (maintenance windows, imwatch run --mute) ----

namespace {

Hold hold_of(const std::string& key, std::vector<std::string> rules, std::optional<double> until) {
  Hold h;
  h.key = key;
  h.rules = std::move(rules);
  h.until = until;
  h.reason = "maintenance " + key;
  return h;
}

std::vector<Event::Kind> kinds(const std::vector<Event>& ev) {
  std::vector<Event::Kind> k;
  for (const auto& e : ev) k.push_back(e.kind);
  return k;
}

}  // namespace

TEST(Holds, NothingFiresWhileHeldAndWhatStillHoldsFiresAtTheEnd) {
  Engine e({"a: load1 > 1", "b: load1 > 1"});
  e.engine.hold(hold_of("w", {"a"}, Engine::wall(100)), Engine::wall(0));
  auto started = e.engine.take_events();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(text(started), "web1: HELD a: maintenance w, for 2m");
  EXPECT_TRUE(e.feed(5, 10, 0).empty());              // a fires, held
  EXPECT_EQ(e.state("a").severity, Severity::warning);  // judged as usual
  EXPECT_EQ(kinds(e.feed(5, 20, 1)), std::vector<Event::Kind>{Event::fired});  // b is not held
  EXPECT_TRUE(e.feed(5, 99, 0).empty());
  auto end = e.feed(5, 100, 0);
  ASSERT_EQ(kinds(end), (std::vector<Event::Kind>{Event::released, Event::fired}));
  EXPECT_EQ(event_line(end[0]), "RELEASED a: maintenance w ended");
  EXPECT_EQ(end[1].rule, "a");
  EXPECT_EQ(end[1].duration, 90);  // bad since t=10
  EXPECT_TRUE(e.feed(5, 110, 0).empty());  // told once
}

TEST(Holds, FiredAndResolvedWithinAHoldIsNeverTold) {
  Engine e({"a: load1 > 1"});
  e.engine.hold(hold_of("w", {}, Engine::wall(100)), Engine::wall(0));
  e.engine.take_events();
  EXPECT_TRUE(e.feed(5, 10).empty());
  EXPECT_TRUE(e.feed(0, 20).empty());
  EXPECT_EQ(kinds(e.feed(0, 100)), std::vector<Event::Kind>{Event::released});
}

TEST(Holds, AnAlertOpenBeforeThatResolvesDuringTheHoldIsToldResolvedAtTheEnd) {
  Engine e({"a: load1 > 1"});
  ASSERT_EQ(kinds(e.feed(5, 0)), std::vector<Event::Kind>{Event::fired});
  e.engine.hold(hold_of("w", {"a"}, Engine::wall(100)), Engine::wall(1));
  e.engine.take_events();
  EXPECT_TRUE(e.feed(0, 10).empty());  // resolved, held
  auto end = e.feed(0, 100);
  ASSERT_EQ(kinds(end), (std::vector<Event::Kind>{Event::released, Event::resolved}));
  EXPECT_EQ(end[1].duration, 100);  // open since t=0
}

TEST(Holds, NoRemindersWhileHeldAndEscalationToldAtTheEnd) {
  Engine e({"a: load1 > 1 crit 10 repeat 30s"});
  ASSERT_EQ(kinds(e.feed(5, 0)), std::vector<Event::Kind>{Event::fired});
  e.engine.hold(hold_of("w", {}, std::nullopt), Engine::wall(1));
  e.engine.take_events();
  EXPECT_TRUE(e.feed(5, 40).empty());   // a reminder was due
  EXPECT_TRUE(e.feed(20, 50).empty());  // escalated, held
  EXPECT_TRUE(e.engine.held("a", Engine::wall(1e6)));  // no end
  ASSERT_TRUE(e.engine.release("w", "by hand"));
  EXPECT_FALSE(e.engine.release("w", "twice"));
  auto end = e.feed(20, 60);
  ASSERT_EQ(kinds(end), (std::vector<Event::Kind>{Event::released, Event::escalated}));
  EXPECT_EQ(end[1].previous, Severity::warning);
}

TEST(Holds, FlappingIsNotCountedWhileHeld) {
  AlertSettings s;
  s.flap_changes = 2;
  Engine e({"a: load1 > 1"}, s);
  e.engine.hold(hold_of("w", {}, Engine::wall(1000)), Engine::wall(0));
  e.engine.take_events();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(e.feed(i % 2 ? 0 : 5, 10.0 * i).empty());
  EXPECT_FALSE(e.state("a").flapping);
}

TEST(Holds, UpdatingAHoldSaysNothingAndOverrunIsToldOnce) {
  Engine e({"a: load1 > 1"});
  Hold h = hold_of("run:7", {"a"}, std::nullopt);
  h.reason = "while backup.sh runs";
  h.max_until = Engine::wall(60);
  e.engine.hold(h, Engine::wall(0));
  e.engine.take_events();
  e.engine.hold(h, Engine::wall(1));
  EXPECT_FALSE(e.engine.has_events());
  EXPECT_TRUE(e.feed(0, 59).empty());
  auto over = e.feed(0, 70);
  ASSERT_EQ(kinds(over), std::vector<Event::Kind>{Event::overrun});
  EXPECT_EQ(event_line(over[0]), "OVERRUN a: while backup.sh runs, 10s past its limit");
  EXPECT_TRUE(e.feed(0, 80).empty());
  e.engine.hold(h, Engine::wall(81));  // an update keeps it told
  EXPECT_TRUE(e.feed(0, 90).empty());
}

TEST(Holds, MuteDoesNotHideHoldsButHidesTheCatchUp) {
  Engine e({"a: load1 > 1"});
  e.engine.mute("", Engine::wall(1000));
  e.engine.hold(hold_of("w", {}, Engine::wall(100)), Engine::wall(0));
  EXPECT_EQ(kinds(e.engine.take_events()), std::vector<Event::Kind>{Event::held});
  EXPECT_TRUE(e.feed(5, 10).empty());
  EXPECT_EQ(kinds(e.feed(5, 100)), std::vector<Event::Kind>{Event::released});
  EXPECT_EQ(e.state("a").told, Severity::warning);  // as a mute does: dropped, not deferred
}
