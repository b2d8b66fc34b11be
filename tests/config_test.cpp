#include "agent/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "agent/chat.h"
#include "agent/jid.h"
#include "agent/options.h"

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

  // Every error and warning, one per line.
  std::string all_output() const {
    std::string out;
    for (const auto& e : errors_) out += e + "\n";
    for (const auto& w : cfg_.warnings) out += w + "\n";
    return out;
  }
  // The file with a password, readable by its owner only (so no warning).
  ParseResult parse_private(const std::string& file_text) {
    std::ofstream(path_) << file_text;
    ::chmod(path_.c_str(), 0600);
    std::vector<const char*> argv = {"imwatch", "--config", path_.c_str()};
    errors_.clear();
    cfg_ = Config{};
    std::ostringstream out;
    return parse_config(static_cast<int>(argv.size()), argv.data(), kProbes, cfg_, errors_, out);
  }

  std::string dir_, path_;
  Config cfg_;
  std::vector<std::string> errors_;
};

const std::string kXmpp = "[xmpp]\njid = agent@example.org\npassword = pw\n";  // lines 1-3

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

// A line that is no `key = value` may be a password pasted in the wrong
// place: at most the option name it starts with is quoted, never the rest.
TEST_F(ConfigTest, MalformedLinesNeverEchoWhatCouldBeASecret) {
  const std::string secret = "Hunter2-Secret";
  EXPECT_EQ(parse("[xmpp]\njid = agent@example.org\nadmin = a@example.org\npassword: " + secret + "\n"),
            ParseResult::exit_usage);
  ASSERT_FALSE(errors_.empty());
  EXPECT_EQ(errors_[0], path_ +
                            ":4: expected 'key = value' or '[section]', got a line starting 'password:' "
                            "(rest not shown)");
  EXPECT_EQ(all_output().find("Hunter2"), std::string::npos) << all_output();

  // The secret alone on a line, as a key, after '=' with no key, as a section: never shown.
  for (const std::string& text : {secret + "\n", secret + "=x\n", "= " + secret + "\n", "[" + secret + "\n",
                                  "[xmpp]\n" + secret + " = 1\n", "[xmpp]\nadmin " + secret + "\n"}) {
    EXPECT_EQ(parse(text), ParseResult::exit_usage) << text;
    ASSERT_FALSE(errors_.empty()) << text;
    EXPECT_EQ(all_output().find("Hunter2"), std::string::npos) << all_output();
    EXPECT_EQ(errors_[0].rfind(path_ + ":", 0), 0u) << errors_[0];
  }
  EXPECT_EQ(parse(secret + "\n"), ParseResult::exit_usage);
  EXPECT_EQ(errors_[0],
            path_ + ":1: expected 'key = value' or '[section]' (the line is not shown: it may hold a secret)");
  EXPECT_EQ(parse("[xmpp]\n" + secret + " = 1\n"), ParseResult::exit_usage);
  EXPECT_EQ(errors_[0], path_ + ":2: unknown option (not shown: it is like no option's name)");

  // A key in the wrong section, or a typo, is an option's name: shown.
  EXPECT_EQ(parse("[alert]\nport = 5222\n"), ParseResult::exit_usage);
  EXPECT_EQ(errors_[0], path_ + ":2: unknown option 'alert.port'");
  EXPECT_EQ(parse("[xmpp]\nHunt = 1\n"), ParseResult::exit_usage);  // "host" is 3 edits away: not a typo
  EXPECT_EQ(errors_[0], path_ + ":2: unknown option (not shown: it is like no option's name)");

  // The value of a secret option is never echoed, whatever else is wrong.
  EXPECT_EQ(parse("[xmpp]\njid = agent@example.org\npassword = " + secret + "\npassword_file = /nonexistent\n"),
            ParseResult::exit_usage);
  EXPECT_EQ(all_output().find("Hunter2"), std::string::npos) << all_output();
}

TEST_F(ConfigTest, JidsAreCheckedAfterStringprep) {
  struct Case {
    std::string text;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {kXmpp + "admin = @\n", ":4: xmpp.admin: expected a bare JID like admin@example.org, got '@'"},
           {kXmpp + "admin = alice@\n", ":4: xmpp.admin: expected a bare JID like admin@example.org, got 'alice@'"},
           {kXmpp + "admin = a b@c\n", ":4: xmpp.admin: expected a bare JID like admin@example.org, got 'a b@c'"},
           {kXmpp + "admin = example.org\n", ":4: xmpp.admin: expected a bare JID"},
           {kXmpp + "admin = alice@example.org/phone\n", ":4: xmpp.admin: expected a bare JID"},
           {"[xmpp]\njid = @\npassword = pw\nadmin = a@example.org\n",
            ":2: xmpp.jid: expected a bare JID like agent@example.org, got '@'"},
           {"[xmpp]\njid = agent@exa mple.org\npassword = pw\nadmin = a@example.org\n", ":2: xmpp.jid: expected"},
       }) {
    EXPECT_EQ(parse_private(c.text), ParseResult::exit_usage) << c.text;
    ASSERT_EQ(errors_.size(), 1u) << all_output();
    EXPECT_EQ(errors_[0].rfind(path_ + c.error, 0), 0u) << errors_[0];
  }

  // Nodeprep case-folds Unicode: the admin is stored as the server stamps her.
  ASSERT_EQ(parse_private(kXmpp + "admin = Ålice@Example.ORG\n"), ParseResult::run) << all_output();
  ASSERT_EQ(cfg_.xmpp.admins.size(), 1u);
  EXPECT_EQ(cfg_.xmpp.admins[0].value, "ålice@example.org");
  EXPECT_EQ(cfg_.xmpp.admins[0].origin.str(), path_ + ":4");
  ChatHandler chat({cfg_.xmpp.admins[0].value});
  EXPECT_TRUE(chat.is_admin("ålice@example.org/gajim"));
  EXPECT_TRUE(chat.is_admin("ÅLICE@EXAMPLE.ORG/phone"));
  EXPECT_FALSE(chat.is_admin("alice@example.org"));
  EXPECT_FALSE(chat.is_admin("example.org"));
}

TEST_F(ConfigTest, TheAgentsOwnAccountIsNoAdmin) {
  EXPECT_EQ(parse_private(kXmpp + "admin = a@example.org\nadmin = Agent@Example.org\n"), ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u) << all_output();
  EXPECT_EQ(errors_[0], path_ +
                            ":5: xmpp.admin: 'agent@example.org' is the agent's own account (it would chat with "
                            "itself)");
}

TEST_F(ConfigTest, CaFileMustBeReadableUnlessPinned) {
  EXPECT_EQ(parse_private(kXmpp + "admin = a@example.org\nca_file = " + dir_ + "/missing.pem\n"),
            ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u) << all_output();
  EXPECT_EQ(errors_[0], path_ + ":5: xmpp.ca_file: cannot read '" + dir_ + "/missing.pem': No such file or directory");

  const std::string pin = "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";  // of an empty key: any 32 bytes
  EXPECT_EQ(parse_private(kXmpp + "admin = a@example.org\nca_file = " + dir_ + "/missing.pem\npin = " + pin + "\n"),
            ParseResult::run)
      << all_output();
  EXPECT_EQ(cfg_.xmpp.pin, pin);
}

TEST_F(ConfigTest, PinIsSha256AndTheBase64Of32Bytes) {
  for (const std::string& bad :
       {std::string("sha256:") + std::string(44, '!'), std::string("sha256:") + std::string(43, '*') + "=",
        std::string("sha1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        std::string("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"),   // no '='
        std::string("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV="),  // not canonical
        std::string("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA=="),  // 31 bytes
        std::string("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu FU=")}) {
    EXPECT_EQ(parse_private(kXmpp + "admin = a@example.org\npin = " + bad + "\n"), ParseResult::exit_usage) << bad;
    ASSERT_EQ(errors_.size(), 1u) << all_output();
    EXPECT_EQ(errors_[0].rfind(path_ + ":5: xmpp.pin: expected sha256: and the base64 of 32 bytes", 0), 0u)
        << errors_[0];
  }
}

TEST_F(ConfigTest, PasswordFileWithCrlfWorksWithANote) {
  const std::string pw = dir_ + "/pw";
  std::ofstream(pw) << "Hunter2-Secret \r\n";
  ::chmod(pw.c_str(), 0600);
  ASSERT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword_file = " + pw + "\nadmin = a@example.org\n"),
            ParseResult::run)
      << all_output();
  EXPECT_EQ(cfg_.xmpp.password, "Hunter2-Secret");
  ASSERT_EQ(cfg_.warnings.size(), 1u);
  EXPECT_EQ(cfg_.warnings[0],
            path_ + ":3: note: trailing whitespace (a CR, space or tab) removed from the password in '" + pw + "'");
  EXPECT_EQ(all_output().find("Hunter2"), std::string::npos);

  // A plain newline is no news; a file others can read is.
  std::ofstream(pw) << "Hunter2-Secret\n";
  ::chmod(pw.c_str(), 0644);
  ASSERT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword_file = " + pw + "\nadmin = a@example.org\n"),
            ParseResult::run);
  ASSERT_EQ(cfg_.warnings.size(), 1u);
  EXPECT_EQ(cfg_.warnings[0],
            path_ + ":3: warning: the password file '" + pw + "' is readable by others (mode 0644): chmod o-r it");
}

TEST_F(ConfigTest, InlinePasswordInAFileOthersCanReadIsWarnedAbout) {
  const std::string text = kXmpp + "admin = a@example.org\n";
  ASSERT_EQ(parse_private(text), ParseResult::run);
  EXPECT_TRUE(cfg_.warnings.empty());
  ::chmod(path_.c_str(), 0644);
  std::vector<const char*> argv = {"imwatch", "--config", path_.c_str()};
  std::ostringstream out;
  cfg_ = Config{};
  ASSERT_EQ(parse_config(3, argv.data(), kProbes, cfg_, errors_, out), ParseResult::run);
  ASSERT_EQ(cfg_.warnings.size(), 1u);
  EXPECT_EQ(cfg_.warnings[0], path_ +
                                  ":3: warning: xmpp.password is in a file others can read (mode 0644): chmod o-r " +
                                  path_ + ", or use password_file");
}

TEST(Jid, PrepBareJid) {
  EXPECT_EQ(prep_bare_jid("Alice@Example.ORG"), "alice@example.org");
  EXPECT_EQ(prep_bare_jid("Ålice@example.org"), "ålice@example.org");
  EXPECT_EQ(prep_bare_jid("STRASSE@example.org"), "strasse@example.org");
  for (const char* bad : {"", "@", "alice@", "@example.org", "a b@c", "alice@exa mple.org", "alice@example.org/r",
                          "example.org", "al\"ice@example.org", "alice@.example.org", "alice@example..org",
                          "alice@example.org.", "alice@ex@ample.org", "al:ice@example.org", "\xff@example.org"})
    EXPECT_FALSE(prep_bare_jid(bad)) << bad;
  EXPECT_FALSE(prep_bare_jid(std::string_view("a\0b@example.org", 15)));
  EXPECT_TRUE(prep_bare_jid(std::string(kMaxJidPart, 'a') + "@example.org"));
  EXPECT_FALSE(prep_bare_jid(std::string(kMaxJidPart + 1, 'a') + "@example.org"));
}

// Defaults live in the table only: Config and the table agree.
TEST(Options, DefaultsComeFromTheTable) {
  Config c;
  EXPECT_EQ(c.repeat, 3600);
  EXPECT_EQ(c.flap_changes, 6);
  EXPECT_EQ(c.flap_window, 3600);
  EXPECT_EQ(c.interval_of("loadavg"), 10);
  EXPECT_EQ(c.xmpp.ping_interval, 60);
  EXPECT_EQ(c.xmpp.outbox_max, 1000u);
  EXPECT_EQ(c.xmpp.ca_file, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(c.proc_root, "/proc");
  EXPECT_EQ(default_string(*find_option("probe.meminfo.interval")), "10s");
  EXPECT_EQ(find_option("probe..interval"), nullptr);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether `text` is the option's default as a file or page writes it ("60s"
// and "1m" are the same duration).
bool is_default(const Option& o, const std::string& text) {
  if (o.check == Check::duration) return parse_duration(text) == o.number;
  return text == default_string(o);
}

// The docs cannot drift from the table: every option of the file is in the
// shipped imwatch.conf (commented, with its default) and in imwatch.conf(5)
// (with its default); every command-line option is in imwatch(8).
TEST(Options, EveryOptionIsInTheShippedConfigAndTheManPages) {
  const std::string root = IMWATCH_SOURCE_DIR;
  // "section.name" -> the values of its lines, commented or not.
  std::map<std::string, std::vector<std::string>> conf;
  {
    std::istringstream in(slurp(root + "/packaging/imwatch.conf"));
    std::string line, section;
    while (std::getline(in, line)) {
      if (line.starts_with("[")) section = line.substr(1, line.find(']') - 1);
      std::string body = line.starts_with("#") ? line.substr(1) : line;
      size_t eq = body.find(" =");
      if (eq == std::string::npos || eq == 0 || body.find(' ') < eq) continue;
      std::string value = eq + 3 <= body.size() ? body.substr(eq + 3) : "";
      conf[(section.empty() ? "" : section + ".") + body.substr(0, eq)].push_back(value);
    }
  }
  const std::string page = slurp(root + "/packaging/man/imwatch.conf.5");
  const std::string page8 = slurp(root + "/packaging/man/imwatch.8");
  auto man = [](std::string_view s) {
    std::string out;
    for (char c : s) out += c == '-' ? "\\-" : std::string(1, c);
    return out;
  };
  for (const Option& o : kOptions) {
    if (o.where != Where::file) {
      EXPECT_NE(page8.find("\\-\\-" + man(o.key)), std::string::npos) << "imwatch.8 lacks --" << o.key;
      if (o.where == Where::command_line) continue;
    }
    std::vector<std::string> keys;
    if (o.key == kProbeIntervalKey)
      for (const auto& p : kProbes) keys.push_back("probe." + p + ".interval");
    else
      keys.push_back(std::string(o.key));
    for (const auto& key : keys) {
      auto it = conf.find(key);
      ASSERT_NE(it, conf.end()) << "packaging/imwatch.conf lacks " << key;
      if (default_string(o).empty()) continue;
      bool found = false;
      for (const auto& v : it->second) found |= is_default(o, v);
      EXPECT_TRUE(found) << "packaging/imwatch.conf: " << key << " is not at its default " << default_string(o);
    }
    // The page: ".BI name" and, in that entry (up to the next .TP or .SH), the default.
    const std::string name = split_file_key(o.key).name;
    size_t at = page.find(".BI " + man(name) + " \"");
    ASSERT_NE(at, std::string::npos) << "imwatch.conf.5 lacks " << o.key;
    if (default_string(o).empty()) continue;
    size_t end = std::min(page.find("\n.TP", at), page.find("\n.SH", at));
    std::string entry = page.substr(at, end - at);
    std::vector<std::string> forms = {man(default_string(o))};
    if (o.check == Check::duration) forms.push_back(std::to_string(static_cast<long>(o.number)) + "s");
    bool found = false;
    for (const auto& f : forms) found |= entry.find(f) != std::string::npos;
    EXPECT_TRUE(found) << "imwatch.conf.5: the entry of " << o.key << " does not give its default "
                       << default_string(o);
  }
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

// The fleet: the room, its nick and password, and a least severity per
// destination; a bad severity word is a file:line error.
TEST_F(ConfigTest, RoomAndSeverityPerDestination) {
  ASSERT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword = x\n"
                          "admin = a@example.org\nadmin = Carol@example.org critical\n"
                          "admin = dave@example.org none\nroom = Ops@conference.example.org warning\n"
                          "room_password = s3cret\n"),
            ParseResult::run)
      << all_output();
  const XmppConfig& x = cfg_.xmpp;
  EXPECT_EQ(x.admins.size(), 3u);
  EXPECT_EQ(x.admins[1].value, "carol@example.org");
  EXPECT_EQ(x.min_of("a@example.org"), MinSeverity::all);
  EXPECT_EQ(x.min_of("carol@example.org"), MinSeverity::critical);
  EXPECT_EQ(x.min_of("dave@example.org"), MinSeverity::none);
  EXPECT_EQ(x.room, "ops@conference.example.org");
  EXPECT_EQ(x.room_min, MinSeverity::warning);
  EXPECT_EQ(x.room_nick, cfg_.hostname);  // the default
  EXPECT_EQ(x.room_password, "s3cret");

  std::ofstream(dir_ + "/rpw") << "r00m\r\n";
  ASSERT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword = x\nadmin = a@example.org\n"
                          "room = ops@conference.example.org\nroom_nick = web1\nroom_password_file = " +
                          dir_ + "/rpw\n"),
            ParseResult::run)
      << all_output();
  EXPECT_EQ(cfg_.xmpp.room_min, MinSeverity::all);
  EXPECT_EQ(cfg_.xmpp.room_nick, "web1");
  EXPECT_EQ(cfg_.xmpp.room_password, "r00m");

  EXPECT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword = x\nadmin = a@example.org crit\n"),
            ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find(":4: xmpp.admin: expected a severity"), std::string::npos) << errors_[0];
  EXPECT_NE(errors_[0].find("'crit'"), std::string::npos) << errors_[0];
  EXPECT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword = x\nadmin = a@example.org\n"
                          "room = ops@conference.example.org loud\n"),
            ParseResult::exit_usage);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find(":5: xmpp.room: expected a severity"), std::string::npos) << errors_[0];
  EXPECT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword = x\nadmin = a@example.org\n"
                          "room = ops@conference.example.org warning extra\n"),
            ParseResult::exit_usage);
  EXPECT_NE(errors_[0].find(":5: xmpp.room"), std::string::npos) << errors_[0];
  // Both forms of the room password: an error that shows neither.
  EXPECT_EQ(parse_private("[xmpp]\njid = agent@example.org\npassword = x\nadmin = a@example.org\n"
                          "room = ops@conference.example.org\nroom_password = Hunter2\nroom_password_file = " +
                          dir_ + "/rpw\n"),
            ParseResult::exit_usage);
  for (const auto& e : errors_) EXPECT_EQ(e.find("Hunter2"), std::string::npos) << e;
  EXPECT_NE(all_output().find("not both"), std::string::npos) << all_output();
}
