// Parser tables on literal strings, and each probe against the fixture trees.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "probes/loadavg.h"
#include "probes/meminfo.h"
#include "probes/pressure.h"
#include "probes/probes.h"
#include "probes/stat.h"
#include "probes/text.h"
#include "probes/uptime.h"
#include "probes/vmstat.h"

namespace fs = std::filesystem;
using namespace imwatch::probes;

namespace {

const std::string kFixtures = IMWATCH_FIXTURES "/proc/";

std::optional<double> metric(Probe& p, const Values& v, std::string_view name) {
  auto i = find_metric(p, name);
  EXPECT_TRUE(i.has_value()) << name;
  return i ? v[*i] : std::nullopt;
}

struct ParseCase {
  const char* name;
  std::string text;
  std::string error_substring;  // "" = must parse
};

// ---- loadavg ----

TEST(ParseLoadAvg, Valid) {
  LoadAvgData d;
  ASSERT_EQ(parse_loadavg("0.22 0.12 0.09 1/68 12621\n", d), "");
  EXPECT_DOUBLE_EQ(d.load1, 0.22);
  EXPECT_DOUBLE_EQ(d.load5, 0.12);
  EXPECT_DOUBLE_EQ(d.load15, 0.09);
  EXPECT_EQ(d.runnable, 1);
  EXPECT_EQ(d.total, 68);
}

TEST(ParseLoadAvg, Table) {
  const ParseCase cases[] = {
      {"empty", "", "fewer"},
      {"too few fields", "0.22 0.12\n", "fewer"},
      {"no tasks field", "0.22 0.12 0.09\n", "runnable/total"},
      {"garbage load", "0.22 abc 0.09 1/68 1\n", "'abc'"},
      {"negative", "-1 0 0 1/2 3\n", "'-1'"},
      {"tasks without slash", "0.1 0.1 0.1 168 3\n", "'168'"},
      {"huge tasks", "0.1 0.1 0.1 1/99999999999999999999999 3\n", "runnable/total"},
      {"garbage bytes", std::string("\xff\x00\x01 1 1 1/1", 10), "bad load"},
      {"no trailing newline", "1.00 2.00 3.00 4/5 6", ""},
      {"huge load", "1e308 0 0 1/1 1", "bad load"},  // not fixed notation
  };
  for (const auto& c : cases) {
    LoadAvgData d;
    std::string err = parse_loadavg(c.text, d);
    if (c.error_substring.empty())
      EXPECT_EQ(err, "") << c.name;
    else
      EXPECT_NE(err.find(c.error_substring), std::string::npos) << c.name << ": " << err;
  }
}

// ---- meminfo ----

TEST(ParseMeminfo, Table) {
  const ParseCase cases[] = {
      {"empty", "", "no MemTotal"},
      {"minimal", "MemTotal: 100 kB\n", ""},
      {"unknown keys ignored, any order", "Foo: 1 kB\nHugePages_Total: 0\nMemTotal: 100 kB\n", ""},
      {"missing unit", "MemTotal: 100\n", "missing unit"},
      {"wrong unit", "MemTotal: 100 MB\n", "unexpected unit 'MB'"},
      {"bad value", "MemTotal:       12x4 kB\n", "'12x4'"},
      {"no colon", "MemTotal 100 kB\n", "line 1"},
      {"missing value", "MemTotal:\n", "missing value"},
      {"huge number", "MemTotal: 18446744073709551616 kB\n", "bad value"},
      {"max u64", "MemTotal: 18446744073709551615 kB\n", ""},
      {"garbage bytes", std::string("\x01\x02:\xff\n", 5), "no MemTotal"},
      {"trailing junk", "MemTotal: 1 kB x\n", "unexpected 'x'"},
  };
  for (const auto& c : cases) {
    MeminfoData d;
    std::string err = parse_meminfo(c.text, d);
    if (c.error_substring.empty())
      EXPECT_EQ(err, "") << c.name;
    else
      EXPECT_NE(err.find(c.error_substring), std::string::npos) << c.name << ": " << err;
  }
}

TEST(EstimateAvailable, KernelFormulaWithoutMemAvailable) {
  MeminfoData m;
  m.mem_total = 2054860;
  m.mem_free = 222380;
  m.buffers = 187624;
  m.cached = 918452;
  m.active_file = 605668;
  m.inactive_file = 495548;
  m.sreclaimable = 12416;
  // low = 5664 * 5/4 = 7080; 222380 - 7080 + 1101216 - 7080 + 12416 - 6208
  EXPECT_DOUBLE_EQ(*estimate_available(m, 5664), 1315644);
  // Without min_free_kbytes: free + buffers + cached.
  EXPECT_DOUBLE_EQ(*estimate_available(m, std::nullopt), 1328456);
  // Floored at 0 when the reserve exceeds what is free.
  m.mem_free = 0;
  m.active_file = m.inactive_file = 0;
  m.sreclaimable = 0;
  EXPECT_DOUBLE_EQ(*estimate_available(m, 100000), 0);
  // MemAvailable wins when the kernel has it.
  m.mem_available = 42;
  EXPECT_DOUBLE_EQ(*estimate_available(m, 5664), 42);
}

// ---- stat, vmstat, uptime ----

TEST(ParseStat, Valid) {
  StatData d;
  ASSERT_EQ(parse_stat("cpu  1 2 3 4 5 6 7 8 9\ncpu0 1 2 3 4 5 6 7 8 9\ncpu1 0 0 0 0 0 0 0 0 0\n"
                       "intr 100 1 2 3\nctxt 55\nbtime 1\nprocs_running 3\nprocs_blocked 1\n",
                       d),
            "");
  EXPECT_EQ(d.cpu_count, 2u);
  EXPECT_EQ(d.cpu[user], 1u);
  EXPECT_EQ(d.cpu[guest], 9u);
  EXPECT_FALSE(d.cpu[guest_nice].has_value());  // 2.6.32 has 9 columns
  EXPECT_EQ(d.intr, 100u);
  EXPECT_EQ(d.ctxt, 55u);
  EXPECT_EQ(d.procs_running, 3u);
  EXPECT_EQ(d.procs_blocked, 1u);
}

TEST(ParseStat, Table) {
  const ParseCase cases[] = {
      {"empty", "", "no cpu line"},
      {"truncated cpu line", "cpu  1685 0\n", "2 columns"},
      {"garbage in cpu", "cpu 1 2 x 4\n", "'x'"},
      {"intr without value", "cpu 1 2 3 4\nintr\n", "intr: missing value"},
      {"bad ctxt", "cpu 1 2 3 4\nctxt -5\n", "'-5'"},
      {"huge counter", "cpu 1 2 3 4\nctxt 99999999999999999999\n", "bad value"},
      {"unknown lines ignored", "cpu 1 2 3 4\nsoftirq 1 2\nfoo bar\n", ""},
      {"cpuX is not a cpu line", "cpu 1 2 3 4\ncpux 1\n", ""},
      {"garbage bytes", std::string("\xff\xfe\x00cpu", 6), "no cpu line"},
  };
  for (const auto& c : cases) {
    StatData d;
    std::string err = parse_stat(c.text, d);
    if (c.error_substring.empty())
      EXPECT_EQ(err, "") << c.name;
    else
      EXPECT_NE(err.find(c.error_substring), std::string::npos) << c.name << ": " << err;
  }
  EXPECT_EQ(count_cpu_lines("cpu 1 2 3 4\ncpu0 1\ncpu1 2\ncpux 3\ncpu12 4\n"), 3u);
}

TEST(ParseVmstat, Table) {
  const ParseCase cases[] = {
      {"empty", "", "empty file"},
      {"missing value", "pswpin\n", "pswpin: missing value"},
      {"bad value", "pgpgin 12a\n", "'12a'"},
      {"unknown keys ignored", "nr_free_pages 1\nfoo\n", ""},
      {"no oom_kill (before 4.13)", "pswpin 1\npswpout 2\n", ""},
  };
  for (const auto& c : cases) {
    VmstatData d;
    std::string err = parse_vmstat(c.text, d);
    if (c.error_substring.empty())
      EXPECT_EQ(err, "") << c.name;
    else
      EXPECT_NE(err.find(c.error_substring), std::string::npos) << c.name << ": " << err;
  }
  VmstatData d;
  ASSERT_EQ(parse_vmstat("pswpin 1\npgmajfault 7\noom_kill 2\n", d), "");
  EXPECT_EQ(d.pswpin, 1u);
  EXPECT_EQ(d.pgmajfault, 7u);
  EXPECT_EQ(d.oom_kill, 2u);
  EXPECT_FALSE(d.pgpgin.has_value());
}

TEST(ParseUptime, Table) {
  double s = 0;
  EXPECT_EQ(parse_uptime("350735.47 234388.90\n", s), "");
  EXPECT_DOUBLE_EQ(s, 350735.47);
  EXPECT_NE(parse_uptime("", s), "");
  EXPECT_NE(parse_uptime("12a45.67 nan\n", s).find("'12a45.67'"), std::string::npos);
}

// ---- pressure ----

TEST(ParsePressure, Table) {
  const ParseCase cases[] = {
      {"both lines", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\nfull avg10=0.5 avg60=0 avg300=0 total=1\n", ""},
      {"some only (cpu before 5.13)", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n", ""},
      {"empty", "", "no 'some' line"},
      {"bad value", "some avg10=zz avg60=0.00 avg300=0.00 total=0\n", "'zz'"},
      {"missing avg300", "some avg10=0.10 avg60=0.0\n", "lacks"},
      {"no equals", "some avg10\n", "key=value"},
      {"unknown kind", "most avg10=1 avg60=1 avg300=1\n", "'most'"},
      {"huge total ignored", "some avg10=1 avg60=1 avg300=1 total=18446744073709551616\n", ""},
  };
  for (const auto& c : cases) {
    PressureData d;
    std::string err = parse_pressure(c.text, d);
    if (c.error_substring.empty())
      EXPECT_EQ(err, "") << c.name;
    else
      EXPECT_NE(err.find(c.error_substring), std::string::npos) << c.name << ": " << err;
  }
}

// ---- probes on fixture trees ----

TEST(LoadAvgProbe, PerCpuFromStat) {
  ProcRoot root(kFixtures + "current");
  LoadAvgProbe p(root);
  Values v;
  ASSERT_EQ(p.collect(1, v), "");
  EXPECT_DOUBLE_EQ(*metric(p, v, "load1"), 0.84);
  EXPECT_DOUBLE_EQ(*metric(p, v, "load1_per_cpu"), 0.84 / 4);
  EXPECT_EQ(*metric(p, v, "tasks_runnable"), 2);
  EXPECT_EQ(*metric(p, v, "tasks_total"), 412);

  ProcRoot big(kFixtures + "many-cpus");
  LoadAvgProbe q(big);
  ASSERT_EQ(q.collect(1, v), "");
  EXPECT_DOUBLE_EQ(*metric(q, v, "load1_per_cpu"), 48.2 / 64);
}

TEST(MeminfoProbe, FreeSemantics) {
  ProcRoot root(kFixtures + "current");
  MeminfoProbe p(root);
  Values v;
  ASSERT_EQ(p.collect(1, v), "");
  EXPECT_EQ(*metric(p, v, "mem_total_kb"), 16284324);
  EXPECT_EQ(*metric(p, v, "mem_available_kb"), 11089852);
  EXPECT_EQ(*metric(p, v, "mem_used_kb"), 16284324 - 11089852);
  EXPECT_NEAR(*metric(p, v, "mem_used_pct"), 5194472.0 * 100 / 16284324, 1e-9);
  EXPECT_EQ(*metric(p, v, "mem_buff_cache_kb"), 10091720);
  EXPECT_EQ(*metric(p, v, "swap_used_kb"), 4194300 - 3117452);
}

TEST(MeminfoProbe, OldKernelEstimatesAvailable) {
  ProcRoot root(kFixtures + "linux-2.6.32");
  MeminfoProbe p(root);
  Values v;
  ASSERT_EQ(p.collect(1, v), "");
  EXPECT_EQ(*metric(p, v, "mem_available_kb"), 1315644);
  EXPECT_EQ(*metric(p, v, "mem_used_kb"), 2054860 - 1315644);
}

TEST(MeminfoProbe, NoSwapIsZeroPercentNotUnknown) {
  ProcRoot root(kFixtures + "no-swap");
  MeminfoProbe p(root);
  Values v;
  ASSERT_EQ(p.collect(1, v), "");
  EXPECT_EQ(*metric(p, v, "swap_total_kb"), 0);
  EXPECT_EQ(*metric(p, v, "swap_used_pct"), 0);
}

TEST(MeminfoProbe, MissingAndMalformedAreErrorsOfThisProbeOnly) {
  Values v;
  ProcRoot missing(kFixtures + "missing");
  MeminfoProbe p(missing);
  std::string err = p.collect(1, v);
  EXPECT_NE(err.find("meminfo"), std::string::npos) << err;
  for (const auto& x : v) EXPECT_FALSE(x.has_value());

  ProcRoot bad(kFixtures + "malformed");
  MeminfoProbe q(bad);
  err = q.collect(1, v);
  EXPECT_NE(err.find("'12x4'"), std::string::npos) << err;

  // The loadavg probe of the same "missing" tree is fine.
  LoadAvgProbe l(missing);
  EXPECT_EQ(l.collect(1, v), "");
}

TEST(VmstatProbe, FirstSampleIsSinceBootAverage) {
  ProcRoot root(kFixtures + "current");
  VmstatProbe p(root);
  Values v;
  ASSERT_EQ(p.collect(100, v), "");
  const double uptime = 1296345.67;
  EXPECT_EQ(*metric(p, v, "cpu_count"), 4);
  EXPECT_NEAR(*metric(p, v, "io_in_kbps"), 48213576 / uptime, 1e-9);
  EXPECT_NEAR(*metric(p, v, "swap_in_kbps"), 187342 * 4.0 / uptime, 1e-9);  // 4 KiB pages
  EXPECT_NEAR(*metric(p, v, "ctx_switches_ps"), 4537209845 / uptime, 1e-6);
  EXPECT_EQ(*metric(p, v, "oom_kills_total"), 2);
  EXPECT_EQ(*metric(p, v, "oom_kills"), 0);  // no predecessor
  // vmstat's first line: us 5.96 sy 2.94 id 90.26 wa 0.84 (guest not counted twice).
  EXPECT_NEAR(*metric(p, v, "cpu_user_pct"), 5.96, 0.01);
  EXPECT_NEAR(*metric(p, v, "cpu_system_pct"), 2.94, 0.01);
  EXPECT_NEAR(*metric(p, v, "cpu_idle_pct"), 90.26, 0.01);
  EXPECT_NEAR(*metric(p, v, "cpu_iowait_pct"), 0.84, 0.01);
}

TEST(VmstatProbe, OldKernelHasNoOomCounter) {
  ProcRoot root(kFixtures + "linux-2.6.32");
  VmstatProbe p(root);
  Values v;
  ASSERT_EQ(p.collect(1, v), "");
  EXPECT_FALSE(metric(p, v, "oom_kills_total").has_value());
  EXPECT_FALSE(metric(p, v, "oom_kills").has_value());
  EXPECT_NEAR(*metric(p, v, "cpu_steal_pct"), 0.45, 0.01);
}

// A writable copy of a fixture tree whose files a test rewrites.
class TempTree {
 public:
  explicit TempTree(const std::string& fixture) {
    char tmpl[] = "/tmp/imwatch-probes-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::copy(kFixtures + fixture, dir_, fs::copy_options::recursive);
  }
  ~TempTree() { fs::remove_all(dir_); }
  const std::string& dir() const { return dir_; }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ + "/" + rel + ".tmp") << text;
    fs::rename(dir_ + "/" + rel + ".tmp", dir_ + "/" + rel);
  }

 private:
  std::string dir_;
};

std::string stat_text(uint64_t user, uint64_t idle, uint64_t intr, uint64_t ctxt) {
  return "cpu  " + std::to_string(user) + " 0 0 " + std::to_string(idle) + " 0 0 0 0 0 0\ncpu0 " +
         std::to_string(user) + " 0 0 " + std::to_string(idle) + " 0 0 0 0 0 0\nintr " + std::to_string(intr) +
         "\nctxt " + std::to_string(ctxt) + "\nprocs_running 1\nprocs_blocked 0\n";
}

std::string vmstat_text(uint64_t pswpin, uint64_t pgpgin, uint64_t oom) {
  return "pswpin " + std::to_string(pswpin) + "\npswpout 0\npgpgin " + std::to_string(pgpgin) +
         "\npgpgout 0\npgmajfault 0\noom_kill " + std::to_string(oom) + "\n";
}

TEST(VmstatProbe, RatesBetweenSamplesAndBackwardsCounters) {
  TempTree t("current");
  t.write("uptime", "1000.00 0.00\n");
  t.write("stat", stat_text(100, 900, 5000, 10000));
  t.write("vmstat", vmstat_text(10, 2000, 1));
  VmstatProbe p{ProcRoot(t.dir())};
  Values v;
  ASSERT_EQ(p.collect(50, v), "");
  EXPECT_DOUBLE_EQ(*metric(p, v, "io_in_kbps"), 2.0);  // 2000 KiB / 1000 s since boot

  // 10 s later: 300 more ticks of user, 100 of idle; counters grow.
  t.write("stat", stat_text(400, 1000, 6000, 13000));
  t.write("vmstat", vmstat_text(20, 2500, 4));
  ASSERT_EQ(p.collect(60, v), "");
  EXPECT_DOUBLE_EQ(*metric(p, v, "io_in_kbps"), 50.0);
  EXPECT_DOUBLE_EQ(*metric(p, v, "swap_in_kbps"), 10 * 4.0 / 10);
  EXPECT_DOUBLE_EQ(*metric(p, v, "interrupts_ps"), 100.0);
  EXPECT_DOUBLE_EQ(*metric(p, v, "ctx_switches_ps"), 300.0);
  EXPECT_DOUBLE_EQ(*metric(p, v, "oom_kills"), 3.0);
  EXPECT_DOUBLE_EQ(*metric(p, v, "cpu_user_pct"), 75.0);
  EXPECT_DOUBLE_EQ(*metric(p, v, "cpu_idle_pct"), 25.0);

  // The counters go backwards (a reboot's worth): since-boot average again,
  // never a negative rate; oom_kills is 0, not negative.
  t.write("stat", stat_text(10, 90, 50, 100));
  t.write("vmstat", vmstat_text(0, 500, 0));
  ASSERT_EQ(p.collect(70, v), "");
  EXPECT_DOUBLE_EQ(*metric(p, v, "io_in_kbps"), 0.5);
  EXPECT_DOUBLE_EQ(*metric(p, v, "ctx_switches_ps"), 0.1);
  EXPECT_DOUBLE_EQ(*metric(p, v, "oom_kills"), 0.0);
  EXPECT_DOUBLE_EQ(*metric(p, v, "cpu_user_pct"), 10.0);

  // No tick elapsed: CPU shares are unknown rather than 0/0.
  ASSERT_EQ(p.collect(70.001, v), "");
  EXPECT_FALSE(metric(p, v, "cpu_user_pct").has_value());
  EXPECT_DOUBLE_EQ(*metric(p, v, "io_in_kbps"), 0.0);
}

TEST(VmstatProbe, TinyUptimeMakesNoInfiniteRate) {
  TempTree t("current");
  t.write("uptime", "0." + std::string(320, '0') + "1 0\n");  // subnormal, found by the fuzzer
  VmstatProbe p{ProcRoot(t.dir())};
  Values v;
  p.collect(1, v);
  for (const auto& x : v)
    if (x) EXPECT_TRUE(std::isfinite(*x));
  EXPECT_FALSE(metric(p, v, "interrupts_ps").has_value());
}

TEST(VmstatProbe, VanishingFileIsAnErrorThenRecovers) {
  TempTree t("current");
  VmstatProbe p{ProcRoot(t.dir())};
  Values v;
  ASSERT_EQ(p.collect(1, v), "");
  fs::remove(t.dir() + "/vmstat");
  std::string err = p.collect(2, v);
  EXPECT_NE(err.find("vmstat"), std::string::npos);
  EXPECT_FALSE(metric(p, v, "io_in_kbps").has_value());
  EXPECT_TRUE(metric(p, v, "cpu_count").has_value());  // /proc/stat still read
  fs::copy_file(kFixtures + "current/vmstat", t.dir() + "/vmstat");
  EXPECT_EQ(p.collect(3, v), "");
  EXPECT_TRUE(metric(p, v, "io_in_kbps").has_value());
}

TEST(PressureProbe, AbsentIsUnknownNotError) {
  Values v;
  ProcRoot none(kFixtures + "no-pressure");
  PressureProbe p(none);
  EXPECT_EQ(p.collect(1, v), "");
  for (const auto& x : v) EXPECT_FALSE(x.has_value());

  ProcRoot some_only(kFixtures + "psi-cpu-some-only");
  PressureProbe q(some_only);
  EXPECT_EQ(q.collect(1, v), "");
  EXPECT_DOUBLE_EQ(*metric(q, v, "psi_cpu_some_avg10"), 3.21);
  EXPECT_FALSE(metric(q, v, "psi_cpu_full_avg10").has_value());

  ProcRoot bad(kFixtures + "malformed");
  PressureProbe r(bad);
  std::string err = r.collect(1, v);
  EXPECT_NE(err.find("pressure/memory"), std::string::npos) << err;
  EXPECT_NE(err.find("'zz'"), std::string::npos) << err;
}

TEST(Probes, EveryFixtureEveryProbeNeverCrashes) {
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    ProcRoot root(entry.path().string());
    for (auto& p : make_probes(root)) {
      Values v;
      p->collect(1, v);
      p->collect(2, v);
      // A labelled probe: its metrics for each of its instances.
      EXPECT_EQ(v.size(), p->metrics().size() * (p->metrics()[0].labelled ? p->instances().size() : 1))
          << entry.path() << " " << p->name();
    }
  }
}

// The static catalogue is what config and rules check names against: it
// must be exactly what the probes report, in make_probes() order.
TEST(Probes, CatalogueMatchesTheProbes) {
  auto list = make_probes(ProcRoot("/nonexistent"));
  auto cat = catalogue();
  ASSERT_EQ(cat.size(), list.size());
  std::vector<std::string> metrics;
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(cat[i].name, list[i]->name());
    ASSERT_EQ(cat[i].metrics.size(), list[i]->metrics().size()) << cat[i].name;
    for (size_t m = 0; m < cat[i].metrics.size(); ++m) {
      EXPECT_EQ(cat[i].metrics[m].name, list[i]->metrics()[m].name);
      metrics.emplace_back(cat[i].metrics[m].name);
    }
  }
  EXPECT_EQ(probe_names(), (std::vector<std::string>{"loadavg", "meminfo", "vmstat", "pressure", "filesystem"}));
  EXPECT_EQ(metric_names(), metrics);
  EXPECT_EQ(metrics.front(), "load1");
}

TEST(Text, SharedHelpers) {
  Fields f(" a\tbb  c ");
  std::string_view w;
  std::vector<std::string> words;
  while (f.next(w)) words.emplace_back(w);
  EXPECT_EQ(words, (std::vector<std::string>{"a", "bb", "c"}));
  EXPECT_EQ(to_u64("18446744073709551615"), 18446744073709551615u);
  EXPECT_FALSE(to_u64("1x").has_value());
  EXPECT_FALSE(to_double("1e5").has_value());  // fixed notation only, as /proc writes
  EXPECT_EQ(quote("a'\x01"), "'a\\x27\\x01'");
  EXPECT_EQ(quote(std::string(50, 'x')), "'" + std::string(40, 'x') + "...'");
}

TEST(ProcFile, BoundsTheRead) {
  TempTree t("current");
  std::ofstream(t.dir() + "/big") << std::string(ProcFile::max_size + 10, 'x');
  ProcFile f(ProcRoot(t.dir()), "big");
  EXPECT_EQ(f.read(), ReadStatus::error);
  EXPECT_NE(f.error().find("larger than"), std::string::npos);
  ProcFile g(ProcRoot(t.dir()), "nope");
  EXPECT_EQ(g.read(), ReadStatus::missing);
}

// A FIFO in the proc root blocked open() until a writer came: the agent was
// wedged, SIGTERM with it. Now it is refused at once, naming the file.
TEST(ProcFile, FifoOrDirectoryIsRefusedWithoutBlocking) {
  TempTree t("current");
  fs::remove(t.dir() + "/loadavg");
  ASSERT_EQ(::mkfifo((t.dir() + "/loadavg").c_str(), 0600), 0);
  fs::remove(t.dir() + "/meminfo");
  fs::create_directory(t.dir() + "/meminfo");
  // Should open() block again, SIGALRM ends this test binary instead of
  // leaving it hanging until ctest's timeout.
  ::alarm(30);
  ProcFile f(ProcRoot(t.dir()), "loadavg");
  EXPECT_EQ(f.read(), ReadStatus::error);
  EXPECT_EQ(f.error(), t.dir() + "/loadavg: not a regular file");
  LoadAvgProbe p{ProcRoot(t.dir())};
  Values v;
  EXPECT_EQ(p.collect(1, v), t.dir() + "/loadavg: not a regular file");
  for (const auto& x : v) EXPECT_FALSE(x.has_value());
  MeminfoProbe m{ProcRoot(t.dir())};
  EXPECT_EQ(m.collect(1, v), t.dir() + "/meminfo: not a regular file");
  ::alarm(0);
}

}  // namespace
