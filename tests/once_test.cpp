// The real binary end to end: `imwatch --once` against every fixture tree,
// diffed against a checked-in golden output, and against procps' free(1) on
// the live machine. IMWATCH_UPDATE_GOLDEN=1 rewrites the golden files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "run_process.h"

namespace fs = std::filesystem;
using imwatch::test::run_process;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Expected exit status: 1 where a probe must fail.
int expected_status(const std::string& scenario) { return scenario == "malformed" || scenario == "missing" ? 1 : 0; }

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, OnceJsonMatches) {
  const std::string scenario = GetParam();
  auto r = run_process({kBinary, "--once", "--format", "json", "--hostname", "fixture", "--proc-root",
                        kFixtures + "/proc/" + scenario, "--config", "/dev/null"});
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, expected_status(scenario)) << r.err;
  if (expected_status(scenario) == 0)
    EXPECT_EQ(r.err, "");
  else
    EXPECT_NE(r.err.find("imwatch: probe "), std::string::npos) << r.err;

  const std::string golden = kFixtures + "/golden/" + scenario + ".json";
  if (std::getenv("IMWATCH_UPDATE_GOLDEN")) {
    std::ofstream(golden) << r.out;
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " (run with IMWATCH_UPDATE_GOLDEN=1)";
  EXPECT_EQ(r.out, slurp(golden));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden,
                         ::testing::Values("current", "linux-2.6.32", "no-swap", "many-cpus", "no-pressure",
                                           "psi-cpu-some-only", "malformed", "missing"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(Once, TextViewShowsUnitsAndUnknowns) {
  auto r = run_process({kBinary, "--once", "--hostname", "fixture", "--proc-root", kFixtures + "/proc/missing",
                        "--config", "/dev/null"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("load      0.12 0.08 0.05"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("memory    used ? of ?"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not available"), std::string::npos) << r.out;  // no PSI
  EXPECT_NE(r.err.find("meminfo"), std::string::npos) << r.err;

  r = run_process({kBinary, "--once", "--hostname", "fixture", "--proc-root", kFixtures + "/proc/current", "--config",
                   "/dev/null"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("used 5.0 GiB of 15.5 GiB (31.9%)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KiB/s"), std::string::npos);
}

TEST(Once, BadOptionsExitTwo) {
  EXPECT_EQ(run_process({kBinary, "--no-such-option"}).status, 2);
  EXPECT_EQ(run_process({kBinary, "--once", "--format", "yaml"}).status, 2);
  auto r = run_process({kBinary, "--config", "/nonexistent.conf", "--once"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("/nonexistent.conf"), std::string::npos);
  EXPECT_EQ(run_process({kBinary, "--version"}).out.rfind("imwatch ", 0), 0u);
}

TEST(CheckConfig, ShippedDefaultConfigIsValid) {
  auto r = run_process({kBinary, "--check-config", "--config", IMWATCH_DEFAULT_CONFIG});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(": 10 rules"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("load: warning when load5_per_cpu > 1.5, critical when > 3, held for 5m"), std::string::npos);
}

TEST(CheckConfig, EveryErrorWithFileLineAndExitTwo) {
  char tmpl[] = "/tmp/imwatch-check-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/c.conf") << "[alert]\nrule = a: load5_per_cpux > 1\nrule = b: load1 > 1 for 5\n";
  auto r = run_process({kBinary, "--check-config", "--config", dir + "/c.conf"});
  fs::remove_all(dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("c.conf:2: rule 'a': unknown metric 'load5_per_cpux' (did you mean 'load5_per_cpu'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("c.conf:3: rule 'b': bad duration '5'"), std::string::npos) << r.err;
}

// The real binary never shows the password: not for a line that fails to
// parse, not for a config full of other mistakes; and it warns about a
// password in a config others can read.
TEST(CheckConfig, NeverShowsThePasswordAndWarnsWhenOthersCanReadIt) {
  char tmpl[] = "/tmp/imwatch-check-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  const std::string conf = dir + "/c.conf";
  const std::string secret = "Hunter2-Secret";
  std::ofstream(conf) << "[xmpp]\njid = agent@example.org\nadmin = alice@example.org\npassword: " << secret << "\n";
  auto r = run_process({kBinary, "--check-config", "--config", conf});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("c.conf:4: expected 'key = value' or '[section]', got a line starting 'password:' (rest not "
                       "shown)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ((r.out + r.err).find("Hunter2"), std::string::npos) << r.out << r.err;

  std::ofstream(conf) << "[xmpp]\njid = agent@example.org\npassword = " << secret
                      << "\nadmin = agent@example.org\nadmin = a b@c\nca_file = /nonexistent.pem\npassword_file = x\n";
  r = run_process({kBinary, "--check-config", "--config", conf});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("c.conf:4: xmpp.admin: 'agent@example.org' is the agent's own account"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("c.conf:7: set xmpp.password or xmpp.password_file, not both"), std::string::npos) << r.err;
  EXPECT_EQ((r.out + r.err).find("Hunter2"), std::string::npos) << r.out << r.err;

  std::ofstream(conf) << "[xmpp]\njid = agent@example.org\npassword = " << secret << "\nadmin = alice@example.org\n";
  ::chmod(conf.c_str(), 0644);
  r = run_process({kBinary, "--check-config", "--config", conf});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("c.conf:3: warning: xmpp.password is in a file others can read (mode 0644)"), std::string::npos)
      << r.err;
  EXPECT_EQ((r.out + r.err).find("Hunter2"), std::string::npos) << r.out << r.err;
  ::chmod(conf.c_str(), 0600);
  r = run_process({kBinary, "--check-config", "--config", conf});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// What would fail at run time fails --check-config, with file:line.
TEST(CheckConfig, RejectsWhatWouldFailAtRunTime) {
  char tmpl[] = "/tmp/imwatch-check-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  const std::string conf = dir + "/c.conf";
  std::ofstream(conf) << "[xmpp]\njid = @\npassword = pw\nadmin = @\nadmin = alice@\nadmin = a b@c\nca_file = " << dir
                      << "/none.pem\npin = sha256:" << std::string(43, '!') << "=\n";
  ::chmod(conf.c_str(), 0600);
  auto r = run_process({kBinary, "--check-config", "--config", conf});
  fs::remove_all(dir);
  EXPECT_EQ(r.status, 2);
  for (const char* e :
       {"c.conf:2: xmpp.jid: expected a bare JID like agent@example.org, got '@'",
        "c.conf:4: xmpp.admin: expected a bare JID like admin@example.org, got '@'",
        "c.conf:5: xmpp.admin: expected a bare JID like admin@example.org, got 'alice@'",
        "c.conf:6: xmpp.admin: expected a bare JID like admin@example.org, got 'a b@c'",
        "c.conf:7: xmpp.ca_file: cannot read '", "c.conf:8: xmpp.pin: expected sha256: and the base64 of 32 bytes"})
    EXPECT_NE(r.err.find(e), std::string::npos) << e << "\n" << r.err;
}

// A number from "key":value in our JSON.
double json_number(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\":([0-9.e+-]+)");
  if (!std::regex_search(json, m, re)) return -1;
  return std::stod(m[1]);
}

TEST(Once, AgreesWithFreeOnThisMachine) {
  auto free = run_process({"/usr/bin/free", "-k"});
  ASSERT_EQ(free.status, 0) << "procps' free(1) is needed for this test";
  auto ours = run_process({kBinary, "--once", "--format", "json", "--config", "/dev/null"});
  ASSERT_EQ(ours.status, 0) << ours.err;

  // free -k: "Mem:  total used free shared buff/cache available"
  std::istringstream in(free.out);
  std::string line;
  double total = -1, available = -1, swap_total = -1;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string label;
    f >> label;
    if (label == "Mem:") {
      double used, fr, shared, cache;
      f >> total >> used >> fr >> shared >> cache >> available;
    } else if (label == "Swap:") {
      f >> swap_total;
    }
  }
  ASSERT_GT(total, 0) << free.out;
  EXPECT_EQ(json_number(ours.out, "mem_total_kb"), total);
  EXPECT_EQ(json_number(ours.out, "swap_total_kb"), swap_total);
  // Memory moves between the two reads; 2% of RAM is a generous bound for
  // that and still catches a wrong formula (buffers/cache counted as used).
  EXPECT_NEAR(json_number(ours.out, "mem_available_kb"), available, total * 0.02);
}

}  // namespace
