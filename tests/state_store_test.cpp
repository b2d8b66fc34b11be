#include "agent/state_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

using namespace imwatch::agent;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kMetrics = {"load1", "oom_kills"};

AlertEngine engine_with(std::vector<std::string> texts) {
  std::vector<Rule> rules;
  for (const auto& t : texts) {
    Rule r;
    EXPECT_EQ(parse_rule(t, kMetrics, r), "");
    rules.push_back(r);
  }
  AlertEngine e;
  e.configure(rules, {3600, 6, 3600}, [](const std::string&) { return std::string("p"); });
  return e;
}

class StateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-state-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    ::chmod(dir.c_str(), 0700);
    fs::remove_all(dir);
  }
  std::string dir;
};

TEST_F(StateDir, RestartNeitherReannouncesNorForgets) {
  {
    AlertEngine e = engine_with({"a: load1 > 1 repeat 1h", "b: oom_kills > 0"});
    e.evaluate_rule(0, 5, 10, 1000);
    e.mute("b", 99999);
    EXPECT_EQ(e.take_events().size(), 1u);
    StateStore(dir).save(e);
  }
  AlertEngine e = engine_with({"a: load1 > 1 repeat 1h", "b: oom_kills > 0"});
  StateStore(dir).load(e);
  EXPECT_EQ(e.states()["a"].severity, Severity::warning);
  EXPECT_EQ(e.states()["a"].id, 1u);
  EXPECT_EQ(e.next_id(), 2u);
  EXPECT_TRUE(e.muted("b", 5000));
  // Still firing after the restart: nothing new to say.
  e.evaluate_rule(0, 5, 0, 1100);
  e.remind(1100);
  EXPECT_FALSE(e.has_events());
  // The reminder is due an hour after the last message, as before the restart.
  e.remind(1000 + 3600);
  ASSERT_TRUE(e.has_events());
  EXPECT_EQ(e.take_events()[0].kind, Event::reminder);
  // And it resolves under the same id.
  e.evaluate_rule(0, 0, 1, 5000);
  auto ev = e.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
  EXPECT_EQ(ev[0].id, 1u);
}

TEST_F(StateDir, ChangedRuleKeepsItsAlertAndRemovedOneIsClosed) {
  AlertEngine e = engine_with({"a: load1 > 1", "gone: oom_kills > 0"});
  e.evaluate_rule(0, 5, 10, 1000);
  e.evaluate_rule(1, 1, 10, 1000);
  ASSERT_EQ(e.take_events().size(), 2u);
  StateStore(dir).save(e);
  // Restarted with a's threshold changed and `gone` removed from the config.
  AlertEngine f = engine_with({"a: load1 > 2"});
  StateStore(dir).load(f);
  EXPECT_EQ(f.states()["a"].severity, Severity::warning);
  EXPECT_EQ(f.states()["a"].id, 1u);
  EXPECT_EQ(f.next_id(), 3u);
  f.remind(1500);
  auto ev = f.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::removed);
  EXPECT_EQ(ev[0].rule, "gone");
  EXPECT_EQ(ev[0].id, 2u);
  // Judged by the new threshold: 1.5 is good now, resolved under the old id.
  f.evaluate_rule(0, 1.5, 20, 1600);
  ev = f.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::resolved);
  EXPECT_EQ(ev[0].id, 1u);
}

TEST_F(StateDir, CorruptOrTruncatedFilesAreIgnored) {
  AlertEngine e = engine_with({"a: load1 > 1"});
  e.evaluate_rule(0, 5, 10, 1000);
  std::string good = serialize_state(e);
  const std::string cases[] = {
      "",
      "garbage\n",
      good.substr(0, good.size() - 3),  // truncated mid-line
      "imwatch-state 1\nrule\ta\t7\t1\t0\t0\t0\t0\t0\tx\n",
      "imwatch-state 1\nnext_id\t-1\n",
      "imwatch-state 1\nwhat\tever\n",
      std::string("imwatch-state 1\nrule\ta\t1\t1\t\xff\t0\t0\t0\t0\tx\n"),
  };
  for (const auto& c : cases) {
    AlertEngine f = engine_with({"a: load1 > 1"});
    EXPECT_NE(parse_state(c, f), "") << c;
    EXPECT_EQ(f.states()["a"].severity, Severity::ok);
    // Through the store: logged and ignored, never a crash.
    std::ofstream(dir + "/state") << c;
    StateStore(dir).load(f);
    EXPECT_EQ(f.states()["a"].severity, Severity::ok);
  }
}

TEST_F(StateDir, WritesAtomicallyAndSaysOnceWhenItCannot) {
  AlertEngine e = engine_with({"a: load1 > 1"});
  e.evaluate_rule(0, 5, 10, 1000);
  StateStore store(dir);
  store.save(e);
  EXPECT_FALSE(fs::exists(dir + "/state.tmp"));
  std::ifstream in(dir + "/state");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "imwatch-state 1");

  if (::geteuid() != 0) {  // root ignores directory permissions
    ::chmod(dir.c_str(), 0500);
    e.mute("a", 5);
    store.save(e);  // logs, does not throw
    ::chmod(dir.c_str(), 0700);
  }
  EXPECT_EQ(write_file_atomically("/nonexistent-dir/state", "x").find("/nonexistent-dir/state.tmp"), 0u);
}

}  // namespace
