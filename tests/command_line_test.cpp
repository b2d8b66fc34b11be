#include "agent/command_line.h"

#include <gtest/gtest.h>

using namespace imwatch::agent;

namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> w;
  std::string err = split_command_line(text, w);
  EXPECT_EQ(err, "") << text;
  return w;
}

std::string error_of(std::string_view text) {
  std::vector<std::string> w = {"stale"};
  std::string err = split_command_line(text, w);
  EXPECT_TRUE(w.empty()) << text;  // nothing half-split is ever used
  return err;
}

using W = std::vector<std::string>;

}  // namespace

TEST(CommandLine, Words) {
  EXPECT_EQ(split("/usr/lib/nagios/plugins/check_procs -C sshd -c 1:"),
            (W{"/usr/lib/nagios/plugins/check_procs", "-C", "sshd", "-c", "1:"}));
  EXPECT_EQ(split("  a \t b  "), (W{"a", "b"}));
  EXPECT_EQ(split(""), W{});
  EXPECT_EQ(split("   "), W{});
}

TEST(CommandLine, Quotes) {
  EXPECT_EQ(split("check_http -u '/a b' -s \"x y\""), (W{"check_http", "-u", "/a b", "-s", "x y"}));
  EXPECT_EQ(split("a'b'\"c\"d"), (W{"abcd"}));               // quoted parts join the word
  EXPECT_EQ(split("'' \"\" x"), (W{"", "", "x"}));             // empty words are words
  EXPECT_EQ(split("'a \"b\" \\n'"), (W{"a \"b\" \\n"}));       // single quotes keep all
  EXPECT_EQ(split("\"a \\\" \\\\ \\$ \\` \\n\""), (W{"a \" \\ $ ` \\n"}));  // POSIX double quotes
  EXPECT_EQ(split("a\\ b \\'c\\'"), (W{"a b", "'c'"}));
}

TEST(CommandLine, NothingIsExpanded) {
  EXPECT_EQ(split("x '$HOME' \"$PATH\" '~' '`id`' '|' ';' '&' '>' '<' \"$(id)\""),
            (W{"x", "$HOME", "$PATH", "~", "`id`", "|", ";", "&", ">", "<", "$(id)"}));
  EXPECT_EQ(split("x * ?.log [ab] a~b"), (W{"x", "*", "?.log", "[ab]", "a~b"}));  // globs stay literal
  EXPECT_EQ(split("x \\$HOME \\| \\~"), (W{"x", "$HOME", "|", "~"}));
}

TEST(CommandLine, ShellSyntaxIsRefusedUnlessQuoted) {
  for (std::string_view bad : {"a | b", "a;b", "a && b", "a > /tmp/x", "a < x", "a `id`", "a $HOME", "a $(id)",
                               "a ~/x", "a &"}) {
    std::string err = error_of(bad);
    EXPECT_NE(err.find("there is no shell"), std::string::npos) << bad << ": " << err;
  }
  EXPECT_EQ(error_of("a | b"), "'|' at column 3: there is no shell (nothing is expanded, piped or redirected); "
                               "quote it to pass it as an argument");
}

TEST(CommandLine, Errors) {
  EXPECT_EQ(error_of("a 'b"), "an unclosed single quote at column 3");
  EXPECT_EQ(error_of("a \"b\\\""), "an unclosed double quote at column 3");
  EXPECT_EQ(error_of("a\\"), "a backslash at the end (nothing to escape)");
  EXPECT_EQ(error_of(std::string("a\nb")), "a control character at column 2");
  EXPECT_EQ(error_of(std::string("a '\x01'")), "a control character at column 4");
  EXPECT_EQ(error_of(std::string(kMaxCommandLine + 1, 'a')), "longer than 4096 bytes");
  std::string many;
  for (size_t i = 0; i <= kMaxCommandWords; ++i) many += "w ";
  EXPECT_EQ(error_of(many), "more than 64 words");
  std::string enough;
  for (size_t i = 0; i < kMaxCommandWords; ++i) enough += "'' ";
  EXPECT_EQ(split(enough).size(), kMaxCommandWords);
}
