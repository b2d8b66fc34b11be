// [check.NAME]: the config sections, what a run means (interpret()), the
// check as a rule, and what the agent says about it.
#include "agent/checks.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/chat.h"
#include "agent/config.h"
#include "agent/messages.h"
#include "agent/report.h"
#include "agent/rule.h"
#include "fakes/fake_clock.h"

using namespace imwatch;
using namespace imwatch::agent;
namespace fs = std::filesystem;

namespace {

class CheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-checks-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/imwatch.conf";
  }
  void TearDown() override { fs::remove_all(dir_); }

  ParseResult parse(const std::string& text) {
    std::ofstream(path_) << text;
    std::vector<const char*> argv = {"imwatch", "--config", path_.c_str()};
    errors_.clear();
    cfg_ = Config{};
    std::ostringstream out;
    return parse_config(static_cast<int>(argv.size()), argv.data(), {"loadavg"}, cfg_, errors_, out);
  }
  std::string errors() const {
    std::string out;
    for (const auto& e : errors_) out += e + "\n";
    return out;
  }

  std::string dir_, path_;
  Config cfg_;
  std::vector<std::string> errors_;
};

}  // namespace

TEST_F(CheckConfigTest, SectionsWithDefaults) {
  ASSERT_EQ(parse("[check.sshd]\ncommand = /usr/lib/nagios/plugins/check_procs -C sshd -c 1:\n"
                  "[alert]\nrepeat = 2h\n"
                  "[check.web-1]\ncommand = /bin/check 'a b' \"c\"\ninterval = 30s\ntimeout = 2s\nfor = 2m\n"
                  "repeat = 0\n"),
            ParseResult::run)
      << errors();
  ASSERT_EQ(cfg_.checks.size(), 2u);
  const CheckConfig& a = cfg_.checks[0];
  EXPECT_EQ(a.name, "sshd");
  EXPECT_EQ(a.argv, (std::vector<std::string>{"/usr/lib/nagios/plugins/check_procs", "-C", "sshd", "-c", "1:"}));
  EXPECT_EQ(a.interval, 60);
  EXPECT_EQ(a.timeout, 10);
  EXPECT_EQ(a.for_s, 0);
  EXPECT_FALSE(a.repeat);
  EXPECT_EQ(a.origin.str(), path_ + ":1");
  const CheckConfig& b = cfg_.checks[1];
  EXPECT_EQ(b.name, "web-1");
  EXPECT_EQ(b.argv, (std::vector<std::string>{"/bin/check", "a b", "c"}));
  EXPECT_EQ(b.interval, 30);
  EXPECT_EQ(b.timeout, 2);
  EXPECT_EQ(b.for_s, 120);
  EXPECT_EQ(b.repeat, 0);
  EXPECT_EQ(cfg_.repeat, 7200);
}

TEST_F(CheckConfigTest, ErrorsSayFileAndLine) {
  // What the reader finds first: bad names, unknown keys, a section twice.
  EXPECT_EQ(parse("[check.a.b]\ncommand = /bin/true\n[check.ok]\ncommand = /bin/true\n"
                  "[check.y]\ncomand = /bin/true\n[check.ok]\ncommand = /bin/true\n[check.]\n"),
            ParseResult::exit_usage);
  EXPECT_EQ(errors(), path_ + ":1: bad check name 'a.b' (letters, digits, '_' and '-'; at most 64)\n" +
                          path_ + ":6: unknown option in [check.y] (did you mean 'command'?)\n" +
                          path_ + ":7: [check.ok] is already defined on line 3\n" +
                          path_ + ":9: bad check name '' (letters, digits, '_' and '-'; at most 64)\n");
  // Then the values.
  EXPECT_EQ(parse("[check.ok]\ncommand = check_procs\n[check.x]\ninterval = 10\n[check.y]\ncommand = '/bin/true\n"
                  "[check.z]\ncommand = /bin/true | mail\ntimeout = 10ms\n"),
            ParseResult::exit_usage);
  EXPECT_EQ(errors(), path_ + ":2: check.ok.command: 'check_procs' is not an absolute path (plugins run without "
                              "a shell and without a PATH search)\n" +
                          path_ + ":4: check.x.interval: bad duration '10' (use e.g. 30s, 5m, 2h, 1d)\n" +
                          path_ + ":6: check.y.command: an unclosed single quote at column 1\n" +
                          path_ + ":8: check.z.command: '|' at column 11: there is no shell (nothing is expanded, "
                                  "piped or redirected); quote it to pass it as an argument\n" +
                          path_ + ":9: check.z.timeout: '10ms' is below the minimum 100ms\n" +
                          path_ + ":3: [check.x] has no command\n");
}

TEST_F(CheckConfigTest, ACheckIsARuleAndItsPerfdataAreMetrics) {
  ASSERT_EQ(parse("[alert]\nrule = slow: check.web.time > 0.5\n[check.web]\ncommand = /bin/true\nfor = 1m\n"
                  "repeat = 5m\n"),
            ParseResult::run)
      << errors();
  std::vector<std::string> errs;
  auto rules = compile_rules(cfg_, {"load1"}, errs);
  ASSERT_TRUE(errs.empty()) << errs[0];
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].metric, "check.web.time");
  EXPECT_EQ(rules[1].canonical(), "web: check /bin/true for 1m repeat 5m");
  EXPECT_TRUE(rules[1].is_check());
  EXPECT_EQ(rules[1].metric, "check.web");
  EXPECT_EQ(rules[1].explain(3600),
            "web: check '/bin/true': WARNING on exit 1, CRITICAL on exit 2, held for 1m; resolves on exit 0 for 1m; "
            "UNKNOWN (exit 3, a signal, a timeout) neither fires nor resolves; reminders every 5m");
  // A metric of no configured check, and a check named like a rule.
  ASSERT_EQ(parse("[alert]\nrule = slow: check.other.time > 0.5\nrule = web: load1 > 1\n[check.web]\n"
                  "command = /bin/true\n"),
            ParseResult::run);
  rules = compile_rules(cfg_, {"load1"}, errs);
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], path_ + ":2: rule 'slow': unknown metric 'check.other.time'");
  EXPECT_EQ(errs[1], path_ + ":4: check 'web' has the name of the rule at " + path_ + ":3");
}

TEST(Interpret, ExitStatusesSignalsTimeoutsAndStartFailures) {
  RunResult r;
  r.output = "PROCS CRITICAL: 0 processes | procs=0;;1:;0;\n";
  r.exit_code = 2;
  CheckOutcome o = interpret(r, 10);
  EXPECT_EQ(o.status, CheckStatus::critical);
  EXPECT_EQ(o.message, "PROCS CRITICAL: 0 processes");
  ASSERT_EQ(o.output.perfdata.size(), 1u);
  EXPECT_EQ(status_value(o.status), 2);
  for (int code : {0, 1, 3}) {
    r.exit_code = code;
    EXPECT_EQ(interpret(r, 10).status, static_cast<CheckStatus>(code));
  }
  EXPECT_FALSE(status_value(CheckStatus::unknown)) << "UNKNOWN is unknown, not 0";
  r.exit_code = 127;
  o = interpret(r, 10);
  EXPECT_EQ(o.status, CheckStatus::unknown);
  EXPECT_EQ(o.message, "exit status 127: PROCS CRITICAL: 0 processes");
  r.exit_code = -1;
  r.signal = SIGSEGV;
  EXPECT_EQ(interpret(r, 10).message, "killed by SIGSEGV: PROCS CRITICAL: 0 processes");
  r.timed_out = true;
  r.signal = SIGTERM;
  o = interpret(r, 10);
  EXPECT_EQ(o.status, CheckStatus::unknown);
  EXPECT_EQ(o.message, "timed out after 10s");
  RunResult failed;
  failed.started_error = "No such file or directory";
  EXPECT_EQ(interpret(failed, 10).message, "cannot run the plugin: No such file or directory");
  RunResult silent;
  silent.exit_code = 0;
  EXPECT_EQ(interpret(silent, 10).message, "(no output)");
}

TEST(CheckMessages, EventLinesCarryThePluginsMessage) {
  Event e;
  e.check = true;
  e.rule = "sshd";
  e.id = 5;
  e.detail = "PROCS CRITICAL: 0 processes with command name 'sshd'";
  e.kind = Event::fired;
  e.severity = Severity::critical;
  EXPECT_EQ(event_line(e), "CRITICAL sshd: PROCS CRITICAL: 0 processes with command name 'sshd' #5");
  e.kind = Event::escalated;
  e.previous = Severity::warning;
  e.duration = 120;
  EXPECT_EQ(event_line(e),
            "CRITICAL sshd: PROCS CRITICAL: 0 processes with command name 'sshd' (was WARNING), held 2m #5");
  e.kind = Event::resolved;
  e.severity = Severity::ok;
  e.detail = "PROCS OK: 1 process";
  e.duration = 300;
  EXPECT_EQ(event_line(e), "RESOLVED sshd: PROCS OK: 1 process after firing 5m #5");
  e.kind = Event::reminder;
  e.severity = Severity::warning;
  EXPECT_EQ(event_line(e), "still WARNING sshd: PROCS OK: 1 process, firing 5m #5");
  Event u;
  u.kind = Event::probe_failing;
  u.rule = "check.sshd";
  u.detail = "timed out after 10s";
  EXPECT_EQ(event_line(u), "UNKNOWN sshd: timed out after 10s");
  u.kind = Event::probe_recovered;
  u.duration = 180;
  EXPECT_EQ(event_line(u), "KNOWN sshd: the check answers again after 3m UNKNOWN");
}

// The chat side on a fake clock and a real runner: `checks` and `check
// NAME`, whose answer comes once the plugin has finished.
TEST(CheckChat, ChecksListingAndCheckNameAnswersLater) {
  test::FakeClock clock;
  PollWaiter waiter;
  EventLoop loop(clock, waiter);
  Checks checks(loop, clock);
  CheckConfig c;
  c.name = "sshd";
  c.command = std::string(IMWATCH_FIXTURES) + "/plugins/exit_with.sh 2";
  c.argv = {std::string(IMWATCH_FIXTURES) + "/plugins/exit_with.sh", "2",
            "PROCS CRITICAL: 0 processes with command name 'sshd' | procs=0;;1:;0;", "second line"};
  c.interval = 3600;
  checks.configure({c}, nullptr);
  Snapshot snap;
  AlertEngine engine;
  const std::string host = "web1";
  std::vector<std::string> late;
  ChatContext ctx{snap, engine, host, std::nullopt, clock.wall()};
  ctx.checks = &checks;
  ctx.run_check = [&](const std::string& name) {
    return checks.run_now(name, [&](const CheckConfig& cc, const CheckOutcome& o) {
      late.push_back(check_reply(host, cc, o));
    })
               ? std::string()
               : std::string("busy");
  };
  EXPECT_EQ(ChatHandler::command("checks", ctx), "web1: 1 check\nsshd: not run yet");
  EXPECT_EQ(ChatHandler::command("check ssh", ctx), "no check 'ssh'; did you mean sshd?");
  EXPECT_EQ(ChatHandler::command("check", ctx), "usage: check NAME (see checks)");
  EXPECT_EQ(ChatHandler::command("check sshd", ctx), "");  // the answer comes later
  for (int i = 0; i < 2000 && late.empty(); ++i) {
    loop.run_once(0.01);
    ::usleep(1000);
  }
  ASSERT_EQ(late.size(), 1u);
  // The first line: "web1: check sshd: CRITICAL in 0.01s" (the time varies).
  const std::string& reply = late[0];
  EXPECT_EQ(reply.substr(0, reply.find(" in ")), "web1: check sshd: CRITICAL");
  EXPECT_EQ(reply.substr(reply.find('\n')),
            "\nPROCS CRITICAL: 0 processes with command\n  name 'sshd'\nsecond line\ncheck.sshd.procs = 0");
  std::string listing = ChatHandler::command("checks", ctx);
  EXPECT_EQ(listing, "web1: 1 check\nsshd: CRITICAL, 0s ago: PROCS CRITICAL:\n  0 processes with command name 'sshd'");
  for (const auto& line : {listing, reply}) {
    std::istringstream in(line);
    for (std::string l; std::getline(in, l);) EXPECT_LE(columns(l), kChatWidth) << l;
  }
}

TEST(CheckRule, CanonicalFormHasNoTabForTheStateFile) {
  CheckConfig c;
  c.name = "t";
  c.command = "/bin/x 'a\tb'";
  EXPECT_EQ(check_rule(c).canonical(), "t: check /bin/x 'a b'");
}

// A reload: a kept check keeps its last outcome; a removed one is forgotten
// and its run's end reported to nobody; jobs do not pile up.
TEST(ChecksReload, KeptChecksKeepTheirOutcomeRemovedOnesAreForgotten) {
  SystemClock clock;
  PollWaiter waiter;
  EventLoop loop(clock, waiter);
  Checks checks(loop, clock);
  auto make = [](const std::string& name, const std::string& status) {
    CheckConfig c;
    c.name = name;
    c.argv = {std::string(IMWATCH_FIXTURES) + "/plugins/exit_with.sh", status, name + " said " + status};
    c.command = c.argv[0] + " " + status;
    c.interval = 3600;
    return c;
  };
  std::vector<std::string> results;
  auto record = [&](const CheckConfig& c, const CheckOutcome& o) { results.push_back(c.name + " " + o.message); };
  checks.configure({make("a", "1")}, record);
  const size_t jobs = loop.job_count();
  for (int i = 0; i < 3000 && results.empty(); ++i) loop.run_once(0.01);
  ASSERT_EQ(results, (std::vector<std::string>{"a a said 1"}));
  checks.configure({make("a", "1"), make("b", "0")}, record);
  ASSERT_TRUE(checks.find("a")->last);
  EXPECT_EQ(checks.find("a")->last->status, CheckStatus::warning);
  EXPECT_FALSE(checks.find("b")->last);
  EXPECT_EQ(loop.job_count(), jobs + 1);  // a's job replaced, b's added
  for (int i = 0; i < 3000 && results.size() < 3; ++i) loop.run_once(0.01);
  EXPECT_EQ(results.size(), 3u);  // both ran at once after the reload
  checks.configure({}, record);
  EXPECT_EQ(checks.states().size(), 0u);
  EXPECT_FALSE(checks.find("a"));
  EXPECT_EQ(loop.job_count(), jobs - 1);
}
