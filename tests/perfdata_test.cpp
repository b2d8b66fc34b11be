#include "agent/perfdata.h"

#include <gtest/gtest.h>

using namespace imwatch::agent;

namespace {

std::vector<PerfItem> perf(std::string_view text, std::string* error = nullptr) {
  std::vector<PerfItem> items;
  std::string err = parse_perfdata(text, items);
  if (error)
    *error = err;
  else
    EXPECT_EQ(err, "") << text;
  return items;
}

}  // namespace

TEST(Perfdata, RealPluginsOutput) {
  // check_procs, check_http, check_disk, check_load as monitoring-plugins 2.3 print them.
  auto p = perf("procs=1;;1:;0;");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].label, "procs");
  EXPECT_EQ(p[0].value, 1);
  EXPECT_EQ(p[0].unit, "");
  EXPECT_FALSE(p[0].warn);
  ASSERT_TRUE(p[0].crit);
  EXPECT_EQ(*p[0].crit, (PerfRange{false, 1.0, std::nullopt}));
  EXPECT_EQ(p[0].min, 0);
  EXPECT_FALSE(p[0].max);

  p = perf("time=0.000512s;;;0.000000;10.000000 size=612B;;;0");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].value, 0.000512);
  EXPECT_EQ(p[0].unit, "s");
  EXPECT_EQ(p[0].max, 10);
  EXPECT_EQ(p[1].label, "size");
  EXPECT_EQ(p[1].unit, "B");

  p = perf("/=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].label, "/");
  EXPECT_EQ(p[0].unit, "MB");
  EXPECT_EQ(*p[0].warn, (PerfRange{false, 0.0, 5948.0}));

  p = perf("load1=0.100;15.000;30.000;0; load5=0.2;10;20;0; load15=-0.5;~:10;@5:20;;");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].value, -0.5);
  EXPECT_EQ(*p[2].warn, (PerfRange{false, std::nullopt, 10.0}));
  EXPECT_EQ(*p[2].crit, (PerfRange{true, 5.0, 20.0}));
}

TEST(Perfdata, QuotedLabels) {
  auto p = perf("'user time'=12c 'it''s'=3% ''''=1");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].label, "user time");
  EXPECT_EQ(p[0].unit, "c");
  EXPECT_EQ(p[1].label, "it's");
  EXPECT_EQ(p[2].label, "'");
}

TEST(Perfdata, UnknownIsNotZero) {
  auto p = perf("rta=U;;;; pl=0%");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_FALSE(p[0].value);
  EXPECT_EQ(p[1].value, 0);
}

TEST(Perfdata, Units) {
  for (std::string_view u : {"s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}) {
    auto p = perf("x=1" + std::string(u));
    ASSERT_EQ(p.size(), 1u) << u;
    EXPECT_EQ(p[0].unit, u);
  }
  std::string err;
  EXPECT_TRUE(perf("x=1furlongs", &err).empty());
  EXPECT_EQ(err, "unknown unit 'furlongs' (expected s, ms, us, %, B, KB, MB, GB, TB or c)");
}

TEST(Perfdata, BadItemsAreSkippedOthersKept) {
  std::string err;
  auto p = perf("a=1 b=x c=2 =3 d e=nan f=inf 'g=4 h=5", &err);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].label, "a");
  EXPECT_EQ(p[1].label, "c");
  EXPECT_EQ(err, "bad value 'x'");
  // A bad threshold loses the threshold, not the value.
  p = perf("a=1;5:2;z;q;", &err);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].value, 1);
  EXPECT_FALSE(p[0].warn);
  EXPECT_FALSE(p[0].crit);
  EXPECT_EQ(err, "bad warn range '5:2'");
}

TEST(Perfdata, Bounded) {
  std::string many;
  for (int i = 0; i < 100; ++i) many += "m" + std::to_string(i) + "=1 ";
  std::string err;
  EXPECT_EQ(perf(many, &err).size(), kMaxPerfdata);
  EXPECT_EQ(err, "more than 32 items");
  EXPECT_TRUE(perf(std::string(kMaxPerfLabel + 1, 'l') + "=1", &err).empty());
  EXPECT_EQ(err, "a label longer than 64 bytes");
}

TEST(Perfdata, Ranges) {
  EXPECT_EQ(parse_range("10"), (PerfRange{false, 0.0, 10.0}));
  EXPECT_EQ(parse_range("10:"), (PerfRange{false, 10.0, std::nullopt}));
  EXPECT_EQ(parse_range("~:10"), (PerfRange{false, std::nullopt, 10.0}));
  EXPECT_EQ(parse_range("10:20"), (PerfRange{false, 10.0, 20.0}));
  EXPECT_EQ(parse_range("@10:20"), (PerfRange{true, 10.0, 20.0}));
  for (std::string_view bad : {"", "@", ":", "a", "20:10", "1:2:3", "~", "10:x"})
    EXPECT_FALSE(parse_range(bad)) << bad;
}

TEST(PluginOutput, FirstLineLongTextAndPerfdataOnLaterLines) {
  auto o = parse_plugin_output(
      "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
      "/ 15272 MB (77%);\n"
      "/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n"
      "/home=69357MB;253404;253409;0;253414\n");
  EXPECT_EQ(o.message, "DISK OK - free space: / 3326 MB (56%);");
  EXPECT_EQ(o.detail, (std::vector<std::string>{"/ 15272 MB (77%);", "/boot 68 MB (69%);"}));
  ASSERT_EQ(o.perfdata.size(), 3u);
  EXPECT_EQ(o.perfdata[2].label, "/home");
  EXPECT_EQ(o.perf_error, "");
}

TEST(PluginOutput, MessageIsCleanedAndBounded) {
  EXPECT_EQ(parse_plugin_output("  a\x1b[31m  b\tc\x7f \xff\xfe ok  \n").message, "a[31m b c ok");
  EXPECT_EQ(parse_plugin_output("").message, "");
  auto long_line = parse_plugin_output(std::string(1000, 'x')).message;
  EXPECT_EQ(long_line.size(), kMaxPluginMessage);
  EXPECT_TRUE(long_line.ends_with("..."));
  // Cut at a code point boundary: 'é' is two bytes.
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "\xc3\xa9";
  auto cut = parse_plugin_output(accents).message;
  EXPECT_LE(cut.size(), kMaxPluginMessage);
  EXPECT_EQ(cut.substr(cut.size() - 5), "\xc3\xa9...");
}

TEST(PluginOutput, MetricNames) {
  EXPECT_EQ(perf_metric("sshd", "procs"), "check.sshd.procs");
  EXPECT_EQ(perf_metric("disk", "/boot"), "check.disk./boot");
  EXPECT_EQ(perf_metric("x", "user time=é"), "check.x.user_time___");
}
