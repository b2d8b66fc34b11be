// Maintenance windows on a fake clock in a test time zone (Europe/Berlin,
// with both of its DST changes in 2026): the syntax, windows across
// midnight, and how a window's local times map to instants on the days the
// clock jumps. Instants are checked against UTC computed by timegm, which
// does not depend on the code under test.
#include "agent/maintenance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

using namespace imwatch::agent;

namespace {

// UTC instant, independent of TZ.
double utc(int y, int mo, int d, int h, int mi) {
  std::tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  return static_cast<double>(::timegm(&t));
}

class Berlin : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? std::optional<std::string>(tz) : std::nullopt;
    ::setenv("TZ", "Europe/Berlin", 1);
    ::tzset();
  }
  void TearDown() override {
    if (saved_)
      ::setenv("TZ", saved_->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
  }
  static Window window(const std::string& text) {
    Window w;
    EXPECT_EQ(parse_window(text, w), "") << text;
    return w;
  }

 private:
  std::optional<std::string> saved_;
};

TEST(MaintenanceSyntax, ParsesDaysTimesAndRules) {
  Window w;
  ASSERT_EQ(parse_window("backups: Sun 02:00-04:00 iowait, disk", w), "");
  EXPECT_EQ(w.name, "backups");
  EXPECT_TRUE(w.days[0]);
  EXPECT_FALSE(w.days[1]);
  EXPECT_EQ(w.start, 120);
  EXPECT_EQ(w.end, 240);
  EXPECT_EQ(w.rules, (std::vector<std::string>{"iowait", "disk"}));
  EXPECT_EQ(w.canonical(), "backups: Sun 02:00-04:00 iowait, disk");

  ASSERT_EQ(parse_window("nightly: daily 23:30-1:15", w), "");
  EXPECT_TRUE(w.rules.empty());
  EXPECT_EQ(w.canonical(), "nightly: daily 23:30-01:15");

  ASSERT_EQ(parse_window("work: Mon-Fri,sun 9:00-24:00 load,mem", w), "");
  EXPECT_EQ(w.canonical(), "work: Mon,Tue,Wed,Thu,Fri,Sun 09:00-24:00 load, mem");
  ASSERT_EQ(parse_window("wknd: Fri-Mon 00:00-06:00", w), "");  // wraps
  EXPECT_EQ(w.canonical(), "wknd: Mon,Fri,Sat,Sun 00:00-06:00");
}

TEST(MaintenanceSyntax, RejectsWithAMessageQuotingTheToken) {
  Window w;
  EXPECT_EQ(parse_window("no colon", w), "maintenance: expected 'NAME: DAYS HH:MM-HH:MM [RULES]', got 'no colon'");
  EXPECT_EQ(parse_window("b: Sunday 02:00-04:00", w),
            "maintenance 'b': bad days 'Sunday' (daily, or Mon..Sun, lists and ranges: Mon-Fri,Sun)");
  EXPECT_EQ(parse_window("b: Sun 2-4", w), "maintenance 'b': bad time '2-4' (HH:MM-HH:MM, local time)");
  EXPECT_EQ(parse_window("b: Sun 25:00-04:00", w), "maintenance 'b': bad time '25:00-04:00' (HH:MM-HH:MM, local time)");
  EXPECT_EQ(parse_window("b: Sun 24:00-04:00", w), "maintenance 'b': bad time '24:00-04:00' (HH:MM-HH:MM, local time)");
  EXPECT_EQ(parse_window("b: Sun 02:00-02:00", w),
            "maintenance 'b': empty window '02:00-02:00' (start and end are the same)");
  EXPECT_EQ(parse_window("b: Sun", w), "maintenance 'b': expected 'DAYS HH:MM-HH:MM' after the name");
  EXPECT_EQ(parse_window("b: Sun 02:00-04:00 io$wait", w), "maintenance 'b': bad rule name 'io$wait'");
  EXPECT_EQ(parse_window("b c: Sun 02:00-04:00", w),
            "maintenance: bad name 'b c' (letters, digits, '_', '-', '.'; at most 64)");
}

TEST(MaintenanceSyntax, CompileChecksRulesAndDuplicates) {
  Config cfg;
  cfg.maintenance = {{"a: daily 01:00-02:00 load", {"f", 3}}, {"a: daily 03:00-04:00", {"f", 4}},
                     {"b: daily 01:00-02:00 nope", {"f", 5}}};
  std::vector<std::string> errors;
  auto ws = compile_windows(cfg, {"load"}, errors);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].origin.line, 3);
  EXPECT_EQ(errors, (std::vector<std::string>{"f:4: maintenance 'a' is already defined at f:3",
                                              "f:5: maintenance 'b': no rule 'nope'"}));
}

TEST_F(Berlin, OpenFromStartToEndHalfOpen) {
  Window w = window("backups: Sun 02:00-04:00");
  // Sunday 2026-06-07, CEST (UTC+2): 02:00 local is 00:00 UTC.
  EXPECT_FALSE(window_end(w, utc(2026, 6, 6, 23, 59)));
  EXPECT_EQ(window_end(w, utc(2026, 6, 7, 0, 0)), utc(2026, 6, 7, 2, 0));
  EXPECT_EQ(window_end(w, utc(2026, 6, 7, 1, 59)), utc(2026, 6, 7, 2, 0));
  EXPECT_FALSE(window_end(w, utc(2026, 6, 7, 2, 0)));
  EXPECT_FALSE(window_end(w, utc(2026, 6, 8, 0, 30)));  // Monday
  EXPECT_EQ(window_next_start(w, utc(2026, 6, 7, 2, 0)), utc(2026, 6, 14, 0, 0));
}

TEST_F(Berlin, AcrossMidnightBelongsToTheStartDay) {
  Window w = window("late: Sat 23:00-01:30");
  // Saturday 2026-01-10, CET (UTC+1): 23:00 local is 22:00 UTC; it ends
  // Sunday 01:30 local, 00:30 UTC.
  EXPECT_FALSE(window_end(w, utc(2026, 1, 10, 21, 59)));
  EXPECT_EQ(window_end(w, utc(2026, 1, 10, 22, 0)), utc(2026, 1, 11, 0, 30));
  EXPECT_EQ(window_end(w, utc(2026, 1, 11, 0, 15)), utc(2026, 1, 11, 0, 30));  // Sunday now
  EXPECT_FALSE(window_end(w, utc(2026, 1, 11, 0, 30)));
  // Friday night is not Saturday's window.
  EXPECT_FALSE(window_end(w, utc(2026, 1, 9, 23, 30)));
  EXPECT_FALSE(window_end(w, utc(2026, 1, 10, 0, 15)));
}

TEST_F(Berlin, SpringForwardShortensAWindowOverTheSkippedHour) {
  // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). The C library
  // reads the skipped 02:00 as 03:00 CEST, so the window opens at the jump
  // and lasts one hour, to 04:00 CEST (02:00 UTC).
  Window w = window("backups: Sun 02:00-04:00");
  EXPECT_FALSE(window_end(w, utc(2026, 3, 29, 0, 59)));
  EXPECT_EQ(window_end(w, utc(2026, 3, 29, 1, 0)), utc(2026, 3, 29, 2, 0));
  EXPECT_FALSE(window_end(w, utc(2026, 3, 29, 2, 0)));
  // A daily window across midnight keeps its local times on both sides.
  Window d = window("night: daily 22:00-06:00");
  EXPECT_EQ(window_end(d, utc(2026, 3, 28, 21, 0)), utc(2026, 3, 29, 4, 0));  // 22:00 CET .. 06:00 CEST
  EXPECT_EQ(window_end(d, utc(2026, 3, 29, 20, 0)), utc(2026, 3, 30, 4, 0));  // 22:00 CEST
  EXPECT_FALSE(window_end(d, utc(2026, 3, 29, 19, 59)));
}

TEST_F(Berlin, FallBackLengthensAWindowOverTheRepeatedHour) {
  // 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC). 02:00 is
  // read as its first occurrence (CEST, 00:00 UTC), 04:00 is CET (03:00 UTC):
  // three hours.
  Window w = window("backups: Sun 02:00-04:00");
  EXPECT_FALSE(window_end(w, utc(2026, 10, 24, 23, 59)));
  EXPECT_EQ(window_end(w, utc(2026, 10, 25, 0, 0)), utc(2026, 10, 25, 3, 0));
  EXPECT_EQ(window_end(w, utc(2026, 10, 25, 1, 30)), utc(2026, 10, 25, 3, 0));  // 02:30 CET, the second time
  EXPECT_FALSE(window_end(w, utc(2026, 10, 25, 3, 0)));
  Window d = window("night: daily 22:00-06:00");
  EXPECT_EQ(window_end(d, utc(2026, 10, 24, 20, 0)), utc(2026, 10, 25, 5, 0));  // 22:00 CEST .. 06:00 CET
  EXPECT_FALSE(window_end(d, utc(2026, 10, 25, 5, 0)));
  EXPECT_EQ(window_next_start(d, utc(2026, 10, 25, 5, 0)), utc(2026, 10, 25, 21, 0));  // 22:00 CET
}

TEST_F(Berlin, NoDayNeverOpens) {
  Window w = window("x: Mon 01:00-02:00");
  w.days.fill(false);
  EXPECT_FALSE(window_end(w, utc(2026, 6, 8, 23, 30)));
  EXPECT_FALSE(window_next_start(w, utc(2026, 6, 8, 0, 0)));
}

}  // namespace
