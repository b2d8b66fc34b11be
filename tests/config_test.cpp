#include "agent/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace imwatch::agent;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kProbes = {"loadavg", "meminfo", "vmstat", "pressure"};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-config-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/imwatch.conf";
  }
  void TearDown() override { fs::remove_all(dir_); }

  ParseResult parse(const std::string& file_text, std::vector<std::string> args = {}) {
    std::ofstream(path_) << file_text;
    std::vector<const char*> argv = {"imwatch", "--config", path_.c_str()};
    for (const auto& a : args) argv.push_back(a.c_str());
    errors_.clear();
    cfg_ = Config{};
    std::ostringstream out;
    return parse_config(static_cast<int>(argv.size()), argv.data(), kProbes, cfg_, errors_, out);
  }

  std::string dir_, path_;
  Config cfg_;
  std::vector<std::string> errors_;
};

TEST_F(ConfigTest, ReadsSectionsAndDefaults) {
  ASSERT_EQ(parse("# comment\n; another\nproc-root = /fixture\n\n[probe.meminfo]\ninterval = 30s\n"
                  "[alert]\nrule = load: load5_per_cpu > 1.5\nrule = oom: oom_kills > 0\nrepeat = 2h\n"),
            ParseResult::run);
  EXPECT_EQ(cfg_.proc_root, "/fixture");
  EXPECT_EQ(cfg_.probe_interval["meminfo"], 30);
  EXPECT_EQ(cfg_.probe_interval["loadavg"], 10);  // default
  ASSERT_EQ(cfg_.rules.size(), 2u);
  EXPECT_EQ(cfg_.rules[1].value, "oom: oom_kills > 0");
  EXPECT_EQ(cfg_.rules[1].origin.str(), path_ + ":9");
  EXPECT_EQ(cfg_.repeat, 7200);
  EXPECT_FALSE(cfg_.xmpp.configured());
}

TEST_F(ConfigTest, CommandLineWins) {
  ASSERT_EQ(parse("proc-root = /from-file\nlog-level = debug\n", {"--proc-root", "/from-cli"}), ParseResult::run);
  EXPECT_EQ(cfg_.proc_root, "/from-cli");
  EXPECT_EQ(cfg_.log_level, "debug");
}

TEST_F(ConfigTest, ErrorsNameFileAndLine) {
  EXPECT_EQ(parse("[probe.meminfo]\ninterval = 30\n"), ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].rfind(path_ + ":2: ", 0), 0u) << errors_[0];
  EXPECT_NE(errors_[0].find("'30'"), std::string::npos);

  EXPECT_EQ(parse("[xmpp]\nprot = 5222\n"), ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find(path_ + ":2: unknown option 'xmpp.prot'"), std::string::npos) << errors_[0];
  EXPECT_NE(errors_[0].find("'xmpp.port'"), std::string::npos) << errors_[0];  // did you mean

  EXPECT_EQ(parse("just words\n"), ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find(":1: expected 'key = value'"), std::string::npos) << errors_[0];

  EXPECT_EQ(parse("log-level = loud\n"), ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find(":1: log-level"), std::string::npos) << errors_[0];

  EXPECT_EQ(parse("[alert]\nrepeat = 1h\nrepeat = 2h\n"), ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find(":3: 'alert.repeat' is already set on line 2"), std::string::npos) << errors_[0];

  // Found by the fuzzer: an empty key used to escape as an exception.
  EXPECT_EQ(parse("=\n"), ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find(":1: missing key before '='"), std::string::npos) << errors_[0];

  // Every error is reported, not just the first.
  EXPECT_EQ(parse("a = 1\nb = 2\n"), ParseResult::exit_usage);
  EXPECT_EQ(errors_.size(), 2u);
}

TEST_F(ConfigTest, UnreadableFileIsAUsageError) {
  std::vector<const char*> argv = {"imwatch", "--config", "/nonexistent/imwatch.conf"};
  std::ostringstream out;
  EXPECT_EQ(parse_config(3, argv.data(), kProbes, cfg_, errors_, out), ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("/nonexistent/imwatch.conf: cannot read"), std::string::npos);
}

TEST_F(ConfigTest, BadCommandLine) {
  EXPECT_EQ(parse("", {"--bogus"}), ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find("--bogus"), std::string::npos);
  EXPECT_EQ(parse("", {"--once", "--format", "xml"}), ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find("'xml'"), std::string::npos);
  EXPECT_EQ(parse("", {"--help"}), ParseResult::exit_ok);
}

TEST_F(ConfigTest, XmppNeedsAdminsAndAPassword) {
  EXPECT_EQ(parse("[xmpp]\njid = agent@example.org\n"), ParseResult::exit_usage);
  EXPECT_EQ(errors_.size(), 2u);  // no admin, no password

  std::ofstream(dir_ + "/pw") << "s3cret\n";
  ASSERT_EQ(parse("[xmpp]\njid = agent@example.org\npassword_file = " + dir_ +
                  "/pw\nadmin = a@example.org\n"
                  "admin = b@example.org\nport = 15222\n"),
            ParseResult::run)
      << errors_[0];
  EXPECT_EQ(cfg_.xmpp.password, "s3cret");
  EXPECT_EQ(cfg_.xmpp.admins.size(), 2u);
  EXPECT_EQ(cfg_.xmpp.port, 15222);

  EXPECT_EQ(parse("[xmpp]\njid = agent@example.org\npassword = x\nadmin = a@example.org\nport = 99999\n"),
            ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find(":5: xmpp.port"), std::string::npos) << errors_[0];
  // The password itself never shows up in an error.
  EXPECT_EQ(parse("[xmpp]\njid = agent@example.org/res\npassword = hunter2\nadmin = a@example.org\n"),
            ParseResult::exit_usage);
  for (const auto& e : errors_) EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
}

TEST(Duration, ParseAndFormat) {
  EXPECT_EQ(parse_duration("30s"), 30);
  EXPECT_EQ(parse_duration("5m"), 300);
  EXPECT_EQ(parse_duration("2h"), 7200);
  EXPECT_EQ(parse_duration("1d"), 86400);
  EXPECT_EQ(parse_duration("500ms"), 0.5);
  EXPECT_EQ(parse_duration("0"), 0);
  EXPECT_FALSE(parse_duration("30"));
  EXPECT_FALSE(parse_duration("5 m"));
  EXPECT_FALSE(parse_duration("m"));
  EXPECT_FALSE(parse_duration("-5s"));
  EXPECT_FALSE(parse_duration("5w"));
  EXPECT_FALSE(parse_duration(std::string(305, '9') + "d"));  // finite, then infinite once scaled
  EXPECT_FALSE(parse_duration("3651d"));                      // over ten years
  EXPECT_EQ(format_duration(1e300), "?");
  // What format_duration writes reads back to the same value (found by the fuzzer).
  for (const char* d : {"51ms", "0.0000001s", "1.0000001s", "90s", "2h", "1.5h", "7d"}) {
    auto v = parse_duration(d);
    ASSERT_TRUE(v) << d;
    EXPECT_EQ(parse_duration(format_duration(*v)), v) << d << " -> " << format_duration(*v);
  }
  EXPECT_EQ(format_duration(300), "5m");
  EXPECT_EQ(format_duration(90), "90s");
  EXPECT_EQ(format_duration(86400), "1d");
  EXPECT_EQ(format_duration(0.5), "500ms");
}

}  // namespace
