#include "agent/state_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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
  EXPECT_EQ(write_file_atomically("/nonexistent-dir/state", "x"),
            "state dir /nonexistent-dir: No such file or directory");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A second private dir for the files an attacker would aim at.
class Victim : public StateDir {
 protected:
  void SetUp() override {
    StateDir::SetUp();
    char tmpl[] = "/tmp/imwatch-victim-XXXXXX";
    other = ::mkdtemp(tmpl);
    victim = other + "/victim";
    std::ofstream(victim) << "precious\n";
  }
  void TearDown() override {
    fs::remove_all(other);
    StateDir::TearDown();
  }
  std::string other, victim;
};

TEST_F(Victim, SymlinkedTempFilesAreNotFollowed) {
  AlertEngine e = engine_with({"a: load1 > 1"});
  e.evaluate_rule(0, 5, 10, 1000);
  fs::create_symlink(victim, dir + "/state.tmp");
  fs::create_symlink(victim, dir + "/outbox.tmp");
  StateStore(dir).save(e);
  ASSERT_EQ(write_file_atomically(dir + "/outbox", "queued\n"), "");
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_EQ(slurp(dir + "/state"), serialize_state(e));
  EXPECT_EQ(slurp(dir + "/outbox"), "queued\n");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir + "/state.tmp")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir + "/outbox.tmp")));
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir + "/state")));
}

TEST_F(Victim, SymlinkedTargetIsReplacedNotWrittenThrough) {
  fs::create_symlink(victim, dir + "/state");
  ASSERT_EQ(write_file_atomically(dir + "/state", "new\n"), "");
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir + "/state")));
  EXPECT_EQ(slurp(dir + "/state"), "new\n");
}

TEST_F(Victim, SymlinkedOrSpecialFilesAreNotRead) {
  AlertEngine e = engine_with({"a: load1 > 1"});
  e.evaluate_rule(0, 5, 10, 1000);
  std::ofstream(victim) << serialize_state(e);
  fs::create_symlink(victim, dir + "/state");
  std::string data, error;
  EXPECT_EQ(read_state_file(dir + "/state", 1 << 20, data, error), ReadResult::error);
  EXPECT_EQ(error, dir + "/state: is a symlink, not read");
  AlertEngine f = engine_with({"a: load1 > 1"});
  StateStore(dir).load(f);
  EXPECT_EQ(f.states()["a"].severity, Severity::ok);

  // A FIFO would block a plain open() until a writer comes: refused at once.
  fs::remove(dir + "/state");
  ASSERT_EQ(::mkfifo((dir + "/state").c_str(), 0600), 0);
  EXPECT_EQ(read_state_file(dir + "/state", 1 << 20, data, error), ReadResult::error);
  EXPECT_EQ(error, dir + "/state: not a regular file, not read");
  StateStore(dir).load(f);
  EXPECT_EQ(f.states()["a"].severity, Severity::ok);

  EXPECT_EQ(read_state_file(dir + "/absent", 1 << 20, data, error), ReadResult::missing);
  std::ofstream(dir + "/big") << std::string(100, 'x');
  EXPECT_EQ(read_state_file(dir + "/big", 99, data, error), ReadResult::error);
  EXPECT_NE(error.find("more than the 99 allowed"), std::string::npos) << error;
  EXPECT_TRUE(data.empty());
  ASSERT_EQ(read_state_file(dir + "/big", 100, data, error), ReadResult::ok) << error;
  EXPECT_EQ(data, std::string(100, 'x'));
}

TEST_F(StateDir, StaleTempFileDoesNotBlockSaving) {
  // What a crash between open and rename leaves, read-only even.
  std::ofstream(dir + "/state.tmp") << "half a sta";
  ::chmod((dir + "/state.tmp").c_str(), 0400);
  AlertEngine e = engine_with({"a: load1 > 1"});
  e.evaluate_rule(0, 5, 10, 1000);
  StateStore(dir).save(e);
  EXPECT_EQ(slurp(dir + "/state"), serialize_state(e));
  EXPECT_FALSE(fs::exists(dir + "/state.tmp"));
}

TEST_F(StateDir, DirOwnedBySomeoneElseIsRefused) {
  // As root: a dir handed to nobody. Otherwise a dir root owns is someone
  // else's just as well.
  std::string theirs = dir + "/theirs";
  std::string owner = "65534";
  if (::geteuid() == 0) {
    ASSERT_EQ(::mkdir(theirs.c_str(), 0700), 0);
    ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  } else {
    theirs = "/";
    owner = "0";
  }
  std::string err = prepare_state_dir(theirs);
  EXPECT_EQ(err, "state dir " + theirs + " is owned by uid " + owner + ", not by this agent's uid " +
                     std::to_string(::geteuid()) + ": run 'chown " + std::to_string(::geteuid()) + " " + theirs +
                     "' or choose another state-dir");
  EXPECT_EQ(write_file_atomically(theirs + "/state", "x"), err);
  EXPECT_FALSE(fs::exists(theirs + "/state.tmp"));
  if (theirs != "/") {
    EXPECT_FALSE(fs::exists(theirs + "/state"));
  }
}

TEST_F(StateDir, DirWritableByOthersIsRefusedNotFixed) {
  for (mode_t mode : {0777, 0770, 01777, 0722}) {
    ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
    std::string err = prepare_state_dir(dir);
    char m[8];
    std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode));
    EXPECT_EQ(err, "state dir " + dir + " has mode " + m +
                       ": group or others can write into it (and plant symlinks); run 'chmod 0700 " + dir + "'");
    EXPECT_EQ(write_file_atomically(dir + "/state", "x"), err);
    EXPECT_FALSE(fs::exists(dir + "/state"));
    // Not ours to fix: the admin chose that mode, and is told.
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, mode);
  }
  // Readable by the group is fine: the Debian unit's StateDirectoryMode=0750.
  ASSERT_EQ(::chmod(dir.c_str(), 0750), 0);
  EXPECT_EQ(prepare_state_dir(dir), "");
  EXPECT_EQ(write_file_atomically(dir + "/state", "x"), "");
}

TEST_F(StateDir, CreatedDirIsPrivateWhateverTheUmask) {
  mode_t old = ::umask(0);
  std::string err = prepare_state_dir(dir + "/new");
  ::umask(old);
  EXPECT_EQ(err, "");
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(write_file_atomically(dir + "/new/state", "x"), "");
  ASSERT_EQ(::stat((dir + "/new/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(Victim, SymlinkedStateDirIsRefused) {
  fs::create_directory_symlink(other, dir + "/link");
  EXPECT_EQ(prepare_state_dir(dir + "/link"),
            "state dir " + dir + "/link is a symlink: set state-dir to the directory it points to");
  EXPECT_NE(write_file_atomically(dir + "/link/victim", "x"), "");
  EXPECT_EQ(slurp(victim), "precious\n");
  std::ofstream(dir + "/file") << "x";
  EXPECT_EQ(prepare_state_dir(dir + "/file"), "state dir " + dir + "/file is not a directory");
}

}  // namespace

namespace {
// Who acked an alert, and when, survives a restart ("acked by alice 5m ago").
TEST(StateText, WhoAckedIsKept) {
  AlertEngine e = engine_with({"a: load1 > 1"});
  e.evaluate_rule(0, 5, 10, 1000);
  ASSERT_TRUE(e.ack(1, "alice", 1200));
  const std::string text = serialize_state(e);
  EXPECT_NE(text.find("acked\ta\talice\t1200"), std::string::npos) << text;
  AlertEngine back = engine_with({"a: load1 > 1"});
  ASSERT_EQ(parse_state(text, back), "");
  EXPECT_TRUE(back.states()["a"].acked);
  EXPECT_EQ(back.states()["a"].acked_by, "alice");
  EXPECT_EQ(back.states()["a"].acked_at, 1200);
  // An acked line for no rule before it is refused.
  AlertEngine bad = engine_with({"a: load1 > 1"});
  EXPECT_NE(parse_state("imwatch-state 1\nnext_id\t2\nacked\ta\talice\t1200\n", bad), "");
}
}  // namespace

TEST(StateFile, HoldsSurviveARestartWithTheirPid) {
  AlertEngine a = engine_with({"load: load1 > 1"});
  Hold h;
  h.key = "run:42";
  h.rules = {"load"};
  h.max_until = 1700000100.5;
  h.reason = "while backup.sh\truns";  // a tab would split the record
  h.pid = 42;
  h.pid_start = 123456;
  h.who = "root";
  a.hold(h, 1700000000);
  Hold m;
  m.key = "maintenance:backups";
  m.until = 1700003600;
  m.reason = "maintenance backups";
  a.hold(m, 1700000000);
  const std::string text = serialize_state(a);

  AlertEngine b = engine_with({"load: load1 > 1"});
  ASSERT_EQ(parse_state(text, b), "");
  ASSERT_EQ(b.holds().size(), 2u);
  const Hold& r = b.holds().at("run:42");
  EXPECT_EQ(r.rules, std::vector<std::string>{"load"});
  EXPECT_FALSE(r.until);
  EXPECT_EQ(r.max_until, 1700000100.5);
  EXPECT_EQ(r.pid, 42);
  EXPECT_EQ(r.pid_start, 123456u);
  EXPECT_EQ(r.reason, "while backup.sh runs");
  EXPECT_EQ(r.who, "root");
  EXPECT_TRUE(b.holds().at("maintenance:backups").rules.empty());
  EXPECT_EQ(b.holds().at("maintenance:backups").until, 1700003600);
  EXPECT_FALSE(b.has_events());  // told when they began, not again
  EXPECT_EQ(serialize_state(b), text);
}

TEST(StateFile, BadHoldLinesRejectTheFile) {
  for (const char* line : {"hold\tk\tx\t-\t0\t0\t0\t*\t\t\n", "hold\tk\t-\t-\t2\t0\t0\t*\t\t\n",
                           "hold\t\t-\t-\t0\t0\t0\t*\t\t\n", "hold\tk\t-\t-\t0\t99999999\t0\t*\t\t\n",
                           "hold\tk\t-\t-\t0\t0\t0\ta,,b\t\t\n", "hold\tk\t-\t-\t0\t0\t0\t*\t\n"}) {
    AlertEngine e = engine_with({"load: load1 > 1"});
    EXPECT_NE(parse_state(std::string("imwatch-state 1\n") + line, e), "") << line;
    EXPECT_TRUE(e.holds().empty());
  }
}

// A hand-edited key with a control byte is read as it will be written (the
// byte a blank), so the holds' order, which is by key, is the same after the
// next load: "n\x7f" sorted after "no" as read, "n " before it as saved.
// (The fuzz target's round trip found it: regressions/state/crash-e23c09...)
TEST(StateFile, AHoldKeyIsNormalisedWhenRead) {
  const std::string text =
      "imwatch-state 1\nnext_id\t2\n"
      "hold\tnoa\t100\t-\t0\t0\t0\t*\t\t\n"
      "hold\tn\x7f" "a\t99\t-\t0\t0\t0\t*\troot\x01x\tbecause\x02\n";
  AlertEngine a = engine_with({"load: load1 > 1"});
  ASSERT_EQ(parse_state(text, a), "");
  ASSERT_EQ(a.holds().count("n a"), 1u);
  EXPECT_EQ(a.holds().at("n a").who, "root x");
  EXPECT_EQ(a.holds().at("n a").reason, "because ");
  const std::string saved = serialize_state(a);
  AlertEngine b = engine_with({"load: load1 > 1"});
  ASSERT_EQ(parse_state(saved, b), "");
  EXPECT_EQ(serialize_state(b), saved);
  EXPECT_LT(saved.find("hold\tn a"), saved.find("hold\tnoa"));
}
