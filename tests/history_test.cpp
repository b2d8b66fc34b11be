// The history rings on a fake clock: wrap, down-sampling, gaps, restore,
// corrupt files, metrics that come and go, and the sparklines drawn from
// them.
#include "agent/history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "agent/rule.h"
#include "agent/state_dir.h"

using namespace imwatch::agent;
namespace fs = std::filesystem;

namespace {

// A multiple of 300: 5-minute buckets start on it.
constexpr double kT0 = 1'700'000'100;

// Columns a line takes: UTF-8 code points (the bars are one column each).
size_t columns(std::string_view line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(s.substr(start, nl - start));
  out.push_back(s.substr(start));
  return out;
}

size_t known(const std::vector<Cell>& cells) {
  return static_cast<size_t>(std::count_if(cells.begin(), cells.end(), [](const Cell& c) { return c.known(); }));
}

Cell cell(float v) {
  Cell c;
  c.add(v, v, v);
  return c;
}

TEST(History, FitsTheBudget) {
  EXPECT_LE(sizeof(Series), 8192u);
  EXPECT_GE(sizeof(Series), (kFineSlots + 2 * kCoarseSlots) * sizeof(float) + kCoarseSlots * 2);
}

TEST(History, TheHourRingWrapsAndKeepsTheNewestHour) {
  Series s(10);
  for (int i = 0; i < 400; ++i) s.record(kT0 + 10 * i, i);
  const double now = kT0 + 3990;
  auto cells = s.window(now, 3600, 32);
  ASSERT_EQ(cells.size(), 32u);
  EXPECT_EQ(known(cells), 32u);
  Cell all = s.summary(now, 3600);
  EXPECT_EQ(all.min, 40);  // 360 slots back: 399 - 359
  EXPECT_EQ(all.max, 399);
  EXPECT_EQ(all.count, 360u);
  EXPECT_EQ(s.current(now), 399);
  EXPECT_EQ(s.current(now + 60), std::nullopt);  // stale: no current value
  // Rising values draw a rising line.
  std::string line = sparkline(cells);
  EXPECT_EQ(line.substr(0, 3), "▁");
  EXPECT_EQ(line.substr(line.size() - 3), "█");
}

TEST(History, JitterInWhenAProbeRunsMakesNoGap) {
  Series s(10);
  for (int i = 0; i < 60; ++i) s.record(kT0 + 10 * i + (i % 2 ? 1.5 : -1.5), 1);
  EXPECT_EQ(known(s.window(kT0 + 600, 600, 32)), 32u);
}

TEST(History, FiveMinuteBucketsKeepMinAverageMax) {
  Series s(10);
  // Two hours; every bucket holds 0..29 (30 samples of 10 s).
  for (int i = 0; i < 720; ++i) s.record(kT0 + 10 * i, i % 30);
  const double now = kT0 + 7199;
  auto cells = s.window(now, 2 * 3600, 32);  // more than the hour: from the buckets
  ASSERT_EQ(cells.size(), 24u);              // one cell per bucket
  for (const Cell& c : cells) {
    ASSERT_TRUE(c.known());
    EXPECT_EQ(c.min, 0);
    EXPECT_EQ(c.max, 29);
    EXPECT_NEAR(c.avg, 14.5, 0.001);
  }
  // 48 h later the first day is gone, the newest buckets are there.
  for (int i = 720; i < 720 + 48 * 360; i += 30) s.record(kT0 + 10 * i, 100);
  const double later = kT0 + 10 * (720 + 48 * 360);
  Cell all = s.summary(later, 48 * 3600);
  EXPECT_EQ(all.min, 100);
  EXPECT_EQ(all.max, 100);
  EXPECT_EQ(known(s.window(later, 48 * 3600, 32)), 32u);
}

TEST(History, UnknownIsAGapNotAZero) {
  Series s(10);
  for (int i = 0; i < 30; ++i) s.record(kT0 + 10 * i, i >= 10 && i < 20 ? std::nullopt : std::optional<double>(50));
  auto cells = s.window(kT0 + 295, 300, 32);
  ASSERT_EQ(cells.size(), 30u);
  for (size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(cells[i].known(), i < 10 || i >= 20) << i;
  EXPECT_EQ(s.summary(kT0 + 295, 300).min, 50);
  EXPECT_EQ(sparkline(cells),
            std::string(10 * 3, ' ').substr(0, 0) + "▁▁▁▁▁▁▁▁▁▁" + std::string(10, ' ') + "▁▁▁▁▁▁▁▁▁▁");
  // Not finite is unknown too.
  s.record(kT0 + 300, std::nan(""));
  EXPECT_EQ(s.current(kT0 + 300), std::nullopt);
}

TEST(History, SilenceLeavesGapsInBothRings) {
  Series s(10);
  for (int i = 0; i < 6; ++i) s.record(kT0 + 10 * i, 1);
  for (int i = 0; i < 6; ++i) s.record(kT0 + 3000 + 10 * i, 2);  // 50 minutes later
  auto fine = s.window(kT0 + 3050, 3600, 32);
  EXPECT_GT(known(fine), 0u);
  EXPECT_LT(known(fine), 6u);
  auto coarse = s.window(kT0 + 3050, 3 * 3600, 36);
  EXPECT_EQ(known(coarse), 2u);
  EXPECT_EQ(s.summary(kT0 + 3050, 3 * 3600).min, 1);
}

TEST(History, TheClockGoingBackDropsSamplesUntilItCatchesUp) {
  Series s(10);
  for (int i = 0; i < 10; ++i) s.record(kT0 + 10 * i, 5);
  s.record(kT0 + 30, 1000);  // back by a minute: dropped
  EXPECT_EQ(s.summary(kT0 + 95, 3600).max, 5);
  s.record(kT0 - 5 * 86400, 7);  // back by days: the rings start afresh
  EXPECT_EQ(s.current(kT0 - 5 * 86400), 7);
  EXPECT_EQ(s.summary(kT0 - 5 * 86400, 3600).count, 1u);
}

TEST(History, AMetricThatAppearsOrVanishes) {
  History h;
  for (int i = 0; i < 60; ++i) h.record("old_metric", 10, kT0 + 10 * i, 1);
  for (int i = 30; i < 90; ++i) h.record("new_metric", 10, kT0 + 10 * i, 2);
  ASSERT_EQ(h.size(), 2u);
  // The vanished one is gaps after its last sample, not a flat line.
  auto cells = h.find("old_metric")->window(kT0 + 890, 900, 30);
  EXPECT_EQ(known(cells), 21u);
  EXPECT_FALSE(cells.back().known());
  EXPECT_EQ(h.find("old_metric")->current(kT0 + 890), std::nullopt);
  // The new one starts with gaps.
  EXPECT_EQ(known(h.find("new_metric")->window(kT0 + 890, 900, 30)), 20u);
  h.prune(kT0 + 48 * 3600 + 600);  // 48 h after the old one's last sample
  EXPECT_EQ(h.find("old_metric"), nullptr);
  EXPECT_NE(h.find("new_metric"), nullptr);
  h.prune(kT0 + 49 * 3600);
  EXPECT_EQ(h.size(), 0u);
}

TEST(History, TheNumberOfMetricsIsBounded) {
  History h;
  for (size_t i = 0; i < History::kMaxSeries + 10; ++i) h.record("m" + std::to_string(i), 10, kT0, 1);
  EXPECT_EQ(h.size(), History::kMaxSeries);
}

TEST(History, ANewIntervalClearsOnlyTheHour) {
  History h;
  for (int i = 0; i < 60; ++i) h.record("m", 10, kT0 + 10 * i, 3);
  h.record("m", 5, kT0 + 605, 4);
  EXPECT_EQ(h.find("m")->step(), 5);
  EXPECT_EQ(h.find("m")->summary(kT0 + 605, 1800).count, 1u);  // the hour: only the new sample
  EXPECT_EQ(h.find("m")->summary(kT0 + 605, 7200).min, 3);     // the buckets are kept
}

History sample_history() {
  History h;
  for (int i = 0; i < 1000; ++i) {
    h.record("load1_per_cpu", 10, kT0 + 10 * i, (i % 50) / 10.0);
    h.record("mem_used_pct", 10, kT0 + 10 * i, i % 7 ? std::optional<double>(40 + i % 13) : std::nullopt);
  }
  return h;
}

TEST(History, SerializeParseRoundTrip) {
  History h = sample_history();
  const std::string data = h.serialize();
  EXPECT_EQ(data.rfind("imwatch-history 1\n", 0), 0u);
  History back;
  ASSERT_EQ(back.parse(data), "");
  EXPECT_EQ(back.serialize(), data);
  const double now = kT0 + 9990;
  for (double span : {1800.0, 3600.0, 6 * 3600.0}) {
    auto a = h.find("mem_used_pct")->window(now, span, 32), b = back.find("mem_used_pct")->window(now, span, 32);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].count, b[i].count);
      if (a[i].known()) {
        EXPECT_EQ(a[i].avg, b[i].avg);
      }
    }
  }
}

TEST(History, CorruptOrForeignFilesAreRefusedAndChangeNothing) {
  History h = sample_history();
  const std::string good = h.serialize();
  History target = sample_history();
  const std::string before = target.serialize();
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  for (const std::string& bad :
       {std::string(), std::string("hello\n"), std::string("imwatch-history 2\n") + good.substr(18),
        good.substr(0, good.size() - 1), good + "x", flipped, std::string("imwatch-history 1\n")}) {
    EXPECT_NE(target.parse(bad), "") << bad.size();
    EXPECT_EQ(target.serialize(), before);
  }
  EXPECT_EQ(target.parse(flipped), "checksum mismatch (corrupt or truncated)");
}

class HistoryFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-history-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ASSERT_EQ(prepare_state_dir(dir_), "");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(HistoryFile, ARestartKeepsTheDaysHistory) {
  History h = sample_history();
  ASSERT_EQ(h.save(dir_ + "/history"), "");
  History after;
  EXPECT_EQ(after.load(dir_ + "/nothing-here"), "");  // missing: no history yet, no error
  ASSERT_EQ(after.load(dir_ + "/history"), "");
  EXPECT_EQ(after.names(), h.names());
  // Two minutes down, then samples again: the downtime is a gap.
  const double back = kT0 + 10 * 1000 + 120;
  for (int i = 0; i < 6; ++i) after.record("mem_used_pct", 10, back + 10 * i, 50);
  auto cells = after.find("mem_used_pct")->window(back + 50, 300, 30);
  EXPECT_FALSE(cells[cells.size() - 7].known());
  EXPECT_TRUE(cells.back().known());
  EXPECT_EQ(after.find("mem_used_pct")->summary(back + 50, 6 * 3600).count,
            h.find("mem_used_pct")->summary(back + 50, 6 * 3600).count + 0)
      << "the buckets of before the restart are there";
}

TEST_F(HistoryFile, ACorruptFileIsAnErrorNamingIt) {
  std::ofstream(dir_ + "/history") << "imwatch-history 1\ngarbage";
  History h = sample_history();
  std::string err = h.load(dir_ + "/history");
  EXPECT_NE(err.find(dir_ + "/history"), std::string::npos) << err;
  EXPECT_EQ(h.size(), 2u);  // unchanged
}

TEST(Sparkline, ScalesBetweenLowestAndHighest) {
  std::vector<Cell> cells;
  for (int i = 0; i < 8; ++i) cells.push_back(cell(100 + i * 10.f));
  EXPECT_EQ(sparkline(cells), "▁▂▃▄▅▆▇█");
  std::reverse(cells.begin(), cells.end());
  EXPECT_EQ(sparkline(cells), "█▇▆▅▄▃▂▁");
}

TEST(Sparkline, FlatGapsAndTheCap) {
  EXPECT_EQ(sparkline(std::vector<Cell>{cell(3), cell(3), cell(3)}), "▁▁▁");
  EXPECT_EQ(sparkline(std::vector<Cell>{cell(0), Cell{}, cell(1)}), "▁ █");
  EXPECT_EQ(sparkline(std::vector<Cell>{Cell{}, Cell{}}), "  ");
  EXPECT_EQ(sparkline(std::vector<Cell>{}), "");
  std::vector<Cell> many(40, cell(1));
  EXPECT_EQ(columns(sparkline(many)), kMaxCells);
  Series s(10);
  for (int i = 0; i < 2000; ++i) s.record(kT0 + 10 * i, i);
  EXPECT_EQ(s.window(kT0 + 20000, 3600, 1000).size(), kMaxCells);
}

TEST(Sparkline, CompactValuesStayShort) {
  EXPECT_EQ(compact_value(0), "0");
  EXPECT_EQ(compact_value(0.125), "0.12");
  EXPECT_EQ(compact_value(97.54), "97.5");
  EXPECT_EQ(compact_value(1234), "1234");
  EXPECT_EQ(compact_value(16'000'000), "16M");
  EXPECT_EQ(compact_value(123'456), "123k");
  EXPECT_EQ(compact_value(std::nan("")), "?");
  EXPECT_EQ(compact_value(3.4e38), "3e+38");  // found by the fuzzer: a float's largest
  for (double v : {9.999, 99.99, 9999.9, 99'999.0, 999'999.0, 1e15, 123456789.0, 3e38, -3e38})
    EXPECT_LE(compact_value(v).size(), v < 0 ? 6u : 5u) << v;
}

TEST(Graph, FitsFortyColumnsInAFencedBlock) {
  History h = sample_history();
  const double now = kT0 + 9990;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"graph"}, {"graph", "mem"}, {"graph", "mem_used_pct", "24h"}, {"graph", "load", "30m"}, {"graph", "2d"}}) {
    std::string reply = graph_reply(args, &h, "web1", now);
    auto ls = lines(reply);
    ASSERT_GE(ls.size(), 3u) << reply;
    EXPECT_EQ(ls[0].rfind("web1: last ", 0), 0u) << reply;  // the title, outside the block
    EXPECT_EQ(ls[1], "```");
    EXPECT_EQ(ls.back(), "```");
    for (const auto& l : ls) EXPECT_LE(columns(l), 40u) << l;
  }
  std::string reply = graph_reply({"graph", "mem_used_pct", "24h"}, &h, "web1", now);
  auto ls = lines(reply);
  ASSERT_EQ(ls.size(), 6u) << reply;
  EXPECT_EQ(ls[0], "web1: last 1d, 45m a cell");
  EXPECT_EQ(ls[2], "mem_used_pct");
  EXPECT_EQ(columns(ls[3]), 32u);
  // Under three hours of data in a day: gaps first, then the data up to now.
  EXPECT_EQ(ls[3][0], ' ');
  EXPECT_EQ(ls[3].substr(ls[3].size() - 3, 1), "\xE2");
  EXPECT_EQ(ls[4].rfind("min 40 avg ", 0), 0u) << ls[4];
  EXPECT_NE(ls[4].find(" max 52 now "), std::string::npos) << ls[4];
}

TEST(Graph, ErrorsAreShort) {
  History h = sample_history();
  EXPECT_EQ(graph_reply({"graph"}, nullptr, "web1", kT0), "no history is kept");
  EXPECT_EQ(graph_reply({"graph", "nope"}, &h, "web1", kT0),
            "no metric 'nope' in the history\nusage: graph [WHAT] [DURATION]\nWHAT: load mem cpu psi disk or a metric");
  EXPECT_EQ(graph_reply({"graph", "mem", "3d"}, &h, "web1", kT0), "history goes back 2d");
  EXPECT_EQ(graph_reply({"graph", "psi"}, &h, "web1", kT0), "no history yet");
  History empty;
  EXPECT_EQ(graph_reply({"graph"}, &empty, "web1", kT0), "no history yet");
  for (const auto& args : std::vector<std::vector<std::string>>{{"graph", "nope"}, {"graph", "a", "b", "c"}})
    for (const auto& l : lines(graph_reply(args, &h, "web1", kT0))) EXPECT_LE(columns(l), 40u) << l;
}

TEST(Graph, AlertAndStatusTrends) {
  History h;
  EXPECT_EQ(alert_trend(h, "mem_used_pct", kT0), "");
  EXPECT_EQ(status_trend(&h, kT0), "");
  for (int i = 0; i < 180; ++i) h.record("mem_used_pct", 10, kT0 + 10 * i, 50 + i / 4);
  EXPECT_EQ(alert_trend(h, "mem_used_pct", kT0 + 1795), " ▁▂▃▄▅▆▇█");
  EXPECT_EQ(alert_trend(h, "nope", kT0 + 1795), "");
  EXPECT_EQ(status_trend(&h, kT0 + 1795), "trend 1h: mem ▁▃▆█");
  // One known cell is no trend.
  History fresh;
  fresh.record("mem_used_pct", 10, kT0, 50);
  EXPECT_EQ(alert_trend(fresh, "mem_used_pct", kT0 + 1), "");
}

}  // namespace

// fs_full_in_hours: a least-squares fit of the available space.
TEST(FullInHours, FitsTheRateNeverWhenNotFillingUnknownWhenTooShort) {
  using imwatch::agent::History;
  using imwatch::agent::hours_until_full;
  const double t0 = 1'700'000'000;
  const double gib = 1 << 30;
  History h;
  // 1 GiB an hour used, from 20 GiB available, a sample a minute, with noise.
  for (int i = 0; i <= 120; ++i)
    h.record("fs_avail_bytes{/var}", 60, t0 + i * 60, 20 * gib - i / 60.0 * gib + (i % 2 ? 1e6 : -1e6));
  auto hours = hours_until_full(h, "fs_avail_bytes{/var}", 18 * gib, t0 + 121 * 60);
  ASSERT_TRUE(hours);
  EXPECT_NEAR(*hours, 18, 0.2);
  // Not filling (freeing, or steady): +inf, a known "never", not unknown and
  // never negative.
  const double never = std::numeric_limits<double>::infinity();
  History freeing;
  for (int i = 0; i <= 120; ++i) freeing.record("a", 60, t0 + i * 60, 10 * gib + i * 1e6);
  EXPECT_EQ(hours_until_full(freeing, "a", 10 * gib, t0 + 121 * 60), never);
  History steady;
  for (int i = 0; i <= 120; ++i) steady.record("a", 60, t0 + i * 60, 10 * gib);
  EXPECT_EQ(hours_until_full(steady, "a", 10 * gib, t0 + 121 * 60), never);
  // Under an hour of history: unknown.
  History young;
  for (int i = 0; i <= 30; ++i) young.record("a", 60, t0 + i * 60, 10 * gib - i * 1e8);
  EXPECT_FALSE(hours_until_full(young, "a", 7 * gib, t0 + 31 * 60));
  EXPECT_FALSE(hours_until_full(young, "nothing", 7 * gib, t0 + 31 * 60));
  // A 10 s interval: the fit spans 6 h of 5-minute averages.
  History fine;
  for (int i = 0; i <= 6 * 360; ++i) fine.record("a", 10, t0 + i * 10, 100 * gib - i * 10 * (gib / 3600));
  hours = hours_until_full(fine, "a", 94 * gib, t0 + 6 * 3600);
  ASSERT_TRUE(hours);
  EXPECT_NEAR(*hours, 94, 2);
}

// +inf (not filling) is recorded as a gap: min, max and graphs stay finite.
TEST(FullInHours, NeverIsAGapInTheHistory) {
  using namespace imwatch::agent;
  const double t0 = 1'700'000'000;
  History h;
  h.record("fs_full_in_hours{/var}", 60, t0, 30);
  h.record("fs_full_in_hours{/var}", 60, t0 + 60, std::numeric_limits<double>::infinity());
  const Series* s = h.find("fs_full_in_hours{/var}");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->newest(), t0);  // the last known cell is the finite one
  std::string g = graph_reply({"graph", "fs_full_in_hours{/var}", "1h"}, &h, "web1", t0 + 60);
  EXPECT_EQ(g.find("inf"), std::string::npos) << g;
  EXPECT_NE(g.find("max 30 now ?"), std::string::npos) << g;  // +inf would make them "?"
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "never");
  EXPECT_EQ(format_value(23.5), "23.5");
}

// `graph disk`: the fullest filesystems first; `graph` alone adds the fullest.
TEST(Graph, DiskShowsTheFullestFilesystems) {
  using namespace imwatch::agent;
  const double t0 = 1'700'000'000;
  History h;
  for (int i = 0; i < 30; ++i) {
    h.record("load1_per_cpu", 60, t0 + i * 60, 0.5);
    h.record("fs_used_pct{/}", 60, t0 + i * 60, 40);
    h.record("fs_used_pct{/var}", 60, t0 + i * 60, 80 + i * 0.5);
    h.record("fs_used_pct{/srv}", 60, t0 + i * 60, std::nullopt);
  }
  const double now = t0 + 29 * 60;
  std::string disk = graph_reply({"graph", "disk"}, &h, "web1", now);
  auto var = disk.find("fs_used_pct{/var}"), root = disk.find("fs_used_pct{/}\n");
  ASSERT_NE(var, std::string::npos) << disk;
  ASSERT_NE(root, std::string::npos) << disk;
  EXPECT_LT(var, root) << disk;  // fullest first
  EXPECT_NE(disk.find("fs_used_pct{/srv}\nno data"), std::string::npos) << disk;
  std::string all = graph_reply({"graph"}, &h, "web1", now);
  EXPECT_NE(all.find("load1_per_cpu"), std::string::npos) << all;
  EXPECT_NE(all.find("fs_used_pct{/var}"), std::string::npos) << all;
  EXPECT_EQ(all.find("fs_used_pct{/}"), std::string::npos) << all;
  std::string one = graph_reply({"graph", "fs_used_pct{/var}", "1h"}, &h, "web1", now);
  EXPECT_NE(one.find("now 94.5"), std::string::npos) << one;
}

// A value past float's range: its bucket's average is infinite or NaN. The
// sparkline draws an infinite cell at its end and a NaN one as a gap, and
// the others keep their scale (the history fuzz target found the cast of
// NaN to an integer).
TEST(Sparkline, CellsPastFloatsRangeNeitherCrashNorRescale) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<Cell> cells(4);
  const float avgs[] = {0, 1, inf, std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < cells.size(); ++i) {
    cells[i].avg = avgs[i];
    cells[i].count = 1;
  }
  EXPECT_EQ(sparkline(cells), "▁██ ");
  imwatch::agent::Series s;
  s.record(1000, 1e300);  // past float: not a crash
  s.record(1300, 1e300);
  s.record(1600, -1e300);
}
