#include "agent/outbox.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

using namespace imwatch::agent;

namespace {

Notification note(const std::string& host, std::vector<Event> events, double wall) { return {wall, host, events}; }

Event ev(Event::Kind k, const std::string& rule, uint64_t id) {
  Event e;
  e.kind = k;
  e.rule = rule;
  e.id = id;
  e.severity = k == Event::resolved ? Severity::ok : Severity::warning;
  e.metric = "load1";
  e.op = ">";
  e.threshold = 1;
  e.value = 2;
  e.duration = 60;
  return e;
}

TEST(Outbox, LeavesOnlyWhenAcknowledged) {
  Outbox o("web1", 1000, "p");
  o.add(note("web1", {ev(Event::fired, "load", 1)}, 100));
  auto s = o.to_send(200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->text, "web1: WARNING load: load1 2 > 1, held 1m #1");
  o.mark_sent(s[0]->id, 7);
  EXPECT_TRUE(o.to_send(200).empty());  // in flight
  o.link_lost();                        // no answer: it goes again, same id
  auto again = o.to_send(300);
  ASSERT_EQ(again.size(), 1u);
  std::string id = again[0]->id;
  o.mark_sent(id, 8);
  EXPECT_EQ(o.acknowledge(7), 0u);  // an older round trip proves nothing
  EXPECT_EQ(o.acknowledge(8), 1u);
  EXPECT_EQ(o.size(), 0u);
}

TEST(Outbox, IdsAreUniqueAcrossProcesses) {
  std::set<std::string> ids;
  for (int p = 0; p < 50; ++p) {
    Outbox o("h", 10, random_id_prefix());
    for (int i = 0; i < 20; ++i) ids.insert(o.new_id());
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(Outbox, FiredAndResolvedWhileDownBecomeOneLine) {
  Outbox o("web1", 1000, "p");
  o.add(note("web1", {ev(Event::fired, "load", 1), ev(Event::fired, "memory", 2)}, 100));
  o.add(note("web1", {ev(Event::resolved, "load", 1)}, 200));
  auto s = o.to_send(300);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]->text, "web1: while undelivered, 1 alert fired and resolved: load #1");
  EXPECT_EQ(s[0]->wall, 100);
  EXPECT_EQ(s[1]->text, "web1: WARNING memory: load1 2 > 1, held 1m #2");
}

TEST(Outbox, BoundedWithOneDroppedLine) {
  Outbox o("web1", 10, "p");
  for (uint64_t i = 1; i <= 25; ++i) o.add(note("web1", {ev(Event::reminder, "load", i)}, static_cast<double>(i)));
  EXPECT_EQ(o.size(), 10u);
  EXPECT_EQ(o.dropped(), 15u);
  auto s = o.to_send(100);
  ASSERT_EQ(s.size(), 11u);
  EXPECT_EQ(s[0]->text, "web1: 15 notifications dropped while the link was down (outbox limit 10)");
  EXPECT_NE(s[1]->text.find("#16"), std::string::npos);  // the newest are kept
}

TEST(Outbox, SurvivesARestartAndRejectsCorruptFiles) {
  char tmpl[] = "/tmp/imwatch-outbox-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  {
    Outbox o("web1", 1000, "p");
    o.add(note("web1", {ev(Event::fired, "load", 1), ev(Event::fired, "mem", 2)}, 100));
    o.save(dir + "/outbox");
  }
  Outbox o("web1", 1000, "q");
  o.load(dir + "/outbox");
  auto s = o.to_send(200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->id, "p-1");  // the same id as before the restart
  EXPECT_EQ(s[0]->text, "web1: 2 changes\nWARNING load: load1 2 > 1, held 1m #1\nWARNING mem: load1 2 > 1, held 1m #2");
  EXPECT_EQ(s[0]->wall, 100);

  for (std::string bad :
       {"", "junk\n", "imwatch-outbox 1\nmsg\tx\n", "imwatch-outbox 1\nmsg\ti\t1\tt\\q\t\tl\n",
        "imwatch-outbox 2\ncounter\t1", "imwatch-outbox 2\nmsg\tx\n", "imwatch-outbox 2\nmsg\ti\t1\th\n",
        "imwatch-outbox 2\nline\tfired\t1\t1\tr\tt\n", "imwatch-outbox 2\nmsg\ti\t1\th\nline\tnope\t1\t1\tr\tt\n",
        "imwatch-outbox 2\nmsg\ti\t1\th\nline\tfired\t1\t3\tr\tt\n",
        "imwatch-outbox 2\nmsg\ti\t1\th\nline\tfired\t1\t1\tr\tt\\q\n",
        "imwatch-outbox 2\nmsg\ti\tinf\th\nline\tfired\t1\t1\tr\tt\n"}) {
    Outbox b("web1", 1000, "r");
    EXPECT_NE(b.parse(bad), "") << bad;
    EXPECT_EQ(b.size(), 0u);
  }
  std::filesystem::remove_all(dir);
}

// Folding reads kind, alert id and rule, never the words: lines whose text
// says nothing about either still fold.
TEST(Outbox, FoldingUsesFieldsNotText) {
  Outbox o("web1", 1000, "p");
  ASSERT_EQ(o.parse("imwatch-outbox 2\ncounter\t2\ndropped\t0\t0\n"
                    "msg\tp-1\t100\tweb1\nline\tfired\t5\t1\tdisk\tsomething: else entirely\n"
                    "line\treminder\t6\t1\tcpu\tkept\n"
                    "msg\tp-2\t200\tweb1\nline\tresolved\t5\t0\tdisk\tworded differently\n"),
            "");
  auto s = o.to_send(300);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]->text, "web1: while undelivered, 1 alert fired and resolved: disk #5");
  EXPECT_EQ(s[0]->lines[0].kind, Event::folded);
  EXPECT_EQ(s[1]->text, "web1: kept");  // the header is rendered again from what is left
  EXPECT_EQ(s[1]->id, "p-1");
}

TEST(Outbox, Version1FilesAreConverted) {
  Outbox o("web1", 1000, "q");
  ASSERT_EQ(o.parse("imwatch-outbox 1\ncounter\t3\ndropped\t0\t0\n"
                    "msg\tp-1\t100\tweb1: WARNING load: load1 2 > 1 #1\tfired:1\tWARNING load: load1 2 > 1 #1\n"
                    "msg\tp-2\t150\tweb1: 2 changes\\nstill x #2\\nPROBE y failing: z\tother:2\tstill x #2\t\tPROBE y "
                    "failing: z\n"
                    "msg\tp-3\t200\tweb1: RESOLVED load: load1 0 after 1m #1\tresolved:1\tRESOLVED load: load1 0 after "
                    "1m #1\n"),
            "");
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o.messages()[1].lines[0].kind, Event::converted);
  EXPECT_EQ(o.messages()[1].lines[0].alert, 2u);
  EXPECT_EQ(o.messages()[1].text, "web1: 2 changes\nstill x #2\nPROBE y failing: z");
  auto s = o.to_send(300);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]->text, "web1: while undelivered, 1 alert fired and resolved: #1");
  EXPECT_EQ(s[1]->id, "p-2");
  EXPECT_EQ(o.serialize().rfind("imwatch-outbox 2\n", 0), 0u);  // saved as version 2
}

// The log of one call, at every level.
class LogCapture {
 public:
  LogCapture() : old_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    spdlog::set_level(spdlog::level::trace);
  }
  ~LogCapture() { spdlog::set_default_logger(old_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> old_;
};

long peak_rss_kb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

class OutboxFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-outbox-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/outbox";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string dir, path;
};

TEST_F(OutboxFile, AHugeFileIsRefusedUnread) {
  // 300 MB, sparse: no disk used, and reading it whole would show in the peak RSS.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 300L << 20), 0);
  ::close(fd);
  const long before = peak_rss_kb();
  Outbox o("web1", 1000, "p");
  EXPECT_EQ(o.file_limit(), 1000u * 4096);
  LogCapture log;
  o.load(path);
  EXPECT_EQ(o.size(), 0u);
  EXPECT_NE(log.text().find("314572800 bytes, more than the 4096000 allowed"), std::string::npos) << log.text();
  EXPECT_LT(peak_rss_kb() - before, 100 * 1024);  // far less than the file
}

TEST_F(OutboxFile, GarbageAndFifosAreRefused) {
  {
    std::ofstream out(path);
    for (int i = 0; i < 100000; ++i) out << "\x01garbage\t" << i << "\xff\n";
  }
  Outbox o("web1", 1000, "p");
  {
    LogCapture log;
    o.load(path);
    EXPECT_NE(log.text().find("not an imwatch outbox file"), std::string::npos) << log.text();
  }
  EXPECT_EQ(o.size(), 0u);
  // A FIFO planted in its place must not block the load (O_NONBLOCK).
  std::filesystem::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  {
    LogCapture log;
    o.load(path);
    EXPECT_NE(log.text().find("not a regular file"), std::string::npos) << log.text();
  }
  EXPECT_EQ(o.size(), 0u);
}

TEST_F(OutboxFile, TheLimitAppliesOnLoad) {
  {
    Outbox big("web1", 100000, "p");
    for (uint64_t i = 1; i <= 5000; ++i) big.add(note("web1", {ev(Event::fired, "load", i)}, static_cast<double>(i)));
    big.save(path);
  }
  Outbox o("web1", 1000, "q");
  LogCapture log;
  o.load(path);
  EXPECT_EQ(o.size(), 1000u);
  EXPECT_EQ(o.dropped(), 4000u);
  EXPECT_NE(log.text().find("4000 messages over outbox_max 1000"), std::string::npos) << log.text();
  auto s = o.to_send(10000);
  ASSERT_EQ(s.size(), 1001u);
  EXPECT_EQ(s[0]->text, "web1: 4000 notifications dropped while the link was down (outbox limit 1000)");
  EXPECT_EQ(s[0]->wall, 1);       // since the oldest dropped one
  EXPECT_EQ(s[1]->id, "p-4001");  // the newest are kept
}

// Not a timing assertion: prints how long the largest file load() accepts
// takes to parse at the default limit (README: the loop is held that long
// at start, before it reads SIGTERM).
TEST_F(OutboxFile, WorstCaseParseTimeAtTheDefaultLimit) {
  Outbox o("web1", 1000, "p");
  std::string text = "imwatch-outbox 2\ncounter\t1\ndropped\t0\t0\n";
  // Many short lines cost the most per byte; 1000 messages share them.
  for (int m = 0; text.size() < o.file_limit() - 200; ++m) {
    text += "msg\tp-" + std::to_string(m) + "\t1700000000\tweb1\n";
    for (int l = 0; l < 50 && text.size() < o.file_limit() - 200; ++l)
      text += "line\tfired\t" + std::to_string(m * 100 + l) + "\t1\tr\tWARNING r: x 1 > 0\n";
  }
  std::ofstream(path) << text;
  auto t0 = std::chrono::steady_clock::now();
  o.load(path);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(o.size(), 1000u);
  std::cout << "outbox load of " << text.size() << " bytes (the default limit): " << ms << " ms\n";
}

}  // namespace
