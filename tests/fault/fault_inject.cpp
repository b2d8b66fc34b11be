// Fault injection: the agent binary, a real prosody and a real admin client,
// with faults injected at random (seeded) moments while rules fire and
// resolve. Counts the notifications the agent raised against those the admin
// received, by stanza id, and fails on any loss or duplicate.
//
// Scenarios, run in sequence in one run (see tests/fault/README.md):
//   prosody-kill   SIGKILL the server, restart it (5 short / 20 long)
//   agent-kill     SIGKILL the agent, restart it (5 / 20)
//   link-stall     a proxy stops forwarding, sockets stay open (no FIN):
//                  only the agent's XEP-0199 pings can notice
//   link-drop      the proxy resets every connection (RST)
//   state-dir      the state dir read-only, then full (root only: a private
//                  tmpfs in a private mount namespace)
//   proc-garbage   fixture /proc files vanish, are truncated or garbled
//
// "Raised" comes from the agent's own log: "outbox: queued ID" is written
// once per notification, after it was saved in the outbox. "Delivered" is
// what the admin client received, by id. A message the outbox folded into a
// summary (fired and resolved while undelivered) counts as delivered when the
// summary that replaced it was.
//
// The agent is also in the fleet's room (fleet@conference.test.local, nick
// `faulty`), where alice sits too: every notification goes to her privately
// and to the room, and both are counted, each against what was raised. The
// room keeps its history, so what the agent said there while alice was out
// (she reconnects after a prosody restart like the agent) still reaches
// her, once, when she rejoins.
//
// Usage: fault_inject --short|--long [--seed N] [--keep]
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gloox/message.h>
#include <gloox/mucroom.h>
#include <gloox/mucroomhandler.h>

#include "tests/fault/proxy.h"
#include "tests/support/prosody_server.h"
#include "tests/support/xmpp_test_client.h"

namespace fs = std::filesystem;
using namespace imwatch::test;
using namespace std::chrono_literals;

namespace {

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

double wall_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string clock_text(double w) {
  time_t t = static_cast<time_t>(w);
  std::tm tm{};
  localtime_r(&t, &tm);
  char b[32];
  std::snprintf(b, sizeof b, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((w - std::floor(w)) * 1000));
  return b;
}

// A line on stderr with the wall time, to match against the agent's log.
void note(const std::string& what) {
  double w = wall_now();
  time_t t = static_cast<time_t>(w);
  std::tm tm{};
  localtime_r(&t, &tm);
  char b[64];
  std::snprintf(b, sizeof b, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((w - std::floor(w)) * 1000));
  std::cerr << "   [" << b << "] " << what << "\n";
}

std::string fmt_secs(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f s", s);
  return b;
}

// ---- the agent process ----

// fork + exec, never a shell; stdout and stderr appended to `log`. The
// child dies with us (PR_SET_PDEATHSIG), so nothing outlives a crash.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (in < 0 || out < 0) _exit(126);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  // Signals the parent ignores or blocks must not leak into the agent.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execv(args[0], args.data());
  _exit(127);
}

class Agent {
 public:
  Agent(std::string binary, std::string config, std::string log)
      : binary_(std::move(binary)), config_(std::move(config)), log_(std::move(log)) {}
  ~Agent() { kill9(); }

  bool start() {
    pid_ = spawn_logged({binary_, "--config", config_}, log_);
    ++starts_;
    return pid_ > 0;
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // False if it exited on its own (a crash, or an exit we did not ask for).
  bool check_alive(std::string& why) {
    if (pid_ <= 0) return true;
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r != pid_) return true;
    pid_ = -1;
    why = WIFSIGNALED(st) ? "killed by signal " + std::to_string(WTERMSIG(st))
                          : "exited with status " + std::to_string(WEXITSTATUS(st));
    return false;
  }
  bool running() const { return pid_ > 0; }
  int starts() const { return starts_; }

 private:
  std::string binary_, config_, log_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// ---- the agent's log, read as it grows ----

struct LogLine {
  double wall = 0;  // from the line's own time stamp
  std::string text;
};

class LogTail {
 public:
  explicit LogTail(std::string path) : path_(std::move(path)) {}
  // New complete lines since the last call.
  std::vector<LogLine> poll() {
    std::vector<LogLine> out;
    std::ifstream in(path_, std::ios::binary);
    if (!in) return out;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset_ += chunk.size();
    partial_ += chunk;
    size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      std::string line = partial_.substr(0, nl);
      partial_.erase(0, nl + 1);
      out.push_back({stamp(line), line});
      all_.push_back(line);
    }
    return out;
  }
  const std::vector<std::string>& all() const { return all_; }

 private:
  // "2026-11-21 11:05:54.123 info: ..." (local time, see agent/log.cpp);
  // lines without a stamp (a crash message) get the time they were read.
  static double stamp(const std::string& line) {
    std::tm tm{};
    int ms = 0;
    if (line.size() < 23 || std::sscanf(line.c_str(), "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
      return wall_now();
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    return static_cast<double>(std::mktime(&tm)) + ms / 1000.0;
  }
  std::string path_;
  size_t offset_ = 0;
  std::string partial_;
  std::vector<std::string> all_;
};

// ---- alice in the fleet's room ----

const char* const kRoom = "fleet@conference.test.local";
const char* const kAgentNick = "faulty";
// The agent keeps two outboxes, alice's (state/outbox) and the room's
// (state/room-outbox), each logging its own "cannot persist" and
// "persisting again".
const int kOutboxes = 2;

// Both outboxes log "outbox: queued ID"; an id is PREFIX-N with a random
// PREFIX per outbox and agent start, so the prefix tells which outbox (and
// so which destination) an id belongs to, once any id of it was delivered.
std::string id_prefix(const std::string& id) { return id.substr(0, id.rfind('-')); }

// Joins the room on alice's gloox client and records the agent's groupchat
// messages. gloox's MUCRoom cannot rejoin after a lost link, so a fresh one
// is made after every (re)connect; history replays what alice missed, and
// copies she already has are dropped by id.
class RoomWatcher : gloox::MUCRoomHandler {
 public:
  struct Heard {
    double wall = 0;
    std::string id, body;
  };
  void join(gloox::Client& client) {
    gloox::MUCRoomHandler* handler = this;  // a private base: converted here, not inside make_unique
    room_ = std::make_unique<gloox::MUCRoom>(&client, gloox::JID(std::string(kRoom) + "/alice"), handler);
    room_->setRequestHistory(1000, gloox::MUCRoom::HistoryMaxStanzas);
    room_->join();
  }
  void forget() { room_.reset(); }
  bool joined() const { return room_ != nullptr; }
  const std::vector<Heard>& heard() const { return heard_; }
  int history_copies_dropped() const { return dropped_; }

 private:
  void handleMUCMessage(gloox::MUCRoom*, const gloox::Message& msg, bool priv) override {
    if (priv || msg.from().resource() != kAgentNick || msg.body().empty()) return;
    if (msg.when() && seen_.count(msg.id())) {  // history alice already heard live
      ++dropped_;
      return;
    }
    seen_.insert(msg.id());
    heard_.push_back({wall_now(), msg.id(), msg.body()});
  }
  void handleMUCParticipantPresence(gloox::MUCRoom*, const gloox::MUCRoomParticipant, const gloox::Presence&) override {}
  bool handleMUCRoomCreation(gloox::MUCRoom*) override { return true; }
  void handleMUCSubject(gloox::MUCRoom*, const std::string&, const std::string&) override {}
  void handleMUCInviteDecline(gloox::MUCRoom*, const gloox::JID&, const std::string&) override {}
  void handleMUCError(gloox::MUCRoom*, gloox::StanzaError) override {}
  void handleMUCInfo(gloox::MUCRoom*, int, const std::string&, const gloox::DataForm*) override {}
  void handleMUCItems(gloox::MUCRoom*, const gloox::Disco::ItemList&) override {}

  std::unique_ptr<gloox::MUCRoom> room_;
  std::vector<Heard> heard_;
  std::set<std::string> seen_;
  int dropped_ = 0;
};

// ---- the fixture /proc tree ----

void replace_file(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path + ".new", std::ios::binary);
    out << text;
  }
  fs::rename(path + ".new", path);
}

std::string loadavg_text(bool high) {
  return high ? "9.00 8.00 7.00 3/412 3124605\n" : "0.50 0.40 0.30 1/412 3124605\n";
}

std::string meminfo_text(bool high) {
  long total = 1000000, used = total * (high ? 90 : 50) / 100, avail = total - used;
  return "MemTotal: " + std::to_string(total) + " kB\nMemFree: " + std::to_string(avail) +
         " kB\nMemAvailable: " + std::to_string(avail) +
         " kB\nBuffers: 0 kB\nCached: 0 kB\nSwapTotal: 0 kB\n"
         "SwapFree: 0 kB\n";
}

// ---- accounting ----

struct Raised {
  double wall = 0;
  int scenario = 0;
  std::vector<std::string> replaces;
};

struct Delivery {
  double wall = 0;
  std::string body;
};

struct ScenarioStats {
  std::string name;
  std::string faults_text;  // "5", "3 stalls + 3 drops", "skipped: not root"
  int faults = 0;
  double started = 0, ended = 0;
  std::vector<std::string> failures;
};

class Run {
 public:
  Run(uint64_t seed, bool long_run, std::string binary, std::string fixtures, bool keep, std::string only,
      std::string log_level)
      : rng_(seed),
        seed_(seed),
        long_(long_run),
        binary_(std::move(binary)),
        fixtures_(std::move(fixtures)),
        keep_(keep),
        only_(std::move(only)),
        log_level_(std::move(log_level)) {}
  ~Run() { cleanup(); }

  int main();

 private:
  // Setup and teardown.
  bool setup();
  void cleanup();
  bool register_user(const std::string& user, const std::string& password);
  void write_config();

  // The common heartbeat: pumps the admin, reads the log, toggles rules.
  void tick(double seconds);
  void tick_until(const std::function<bool()>& done, double timeout);
  void read_log();
  void record_deliveries();
  void maybe_toggle(double now);
  void set_load(bool high) {
    load_high_ = high;
    if (!load_frozen_) replace_file(proc_ + "/loadavg", loadavg_text(high));
  }
  void set_mem(bool high) {
    mem_high_ = high;
    if (!mem_frozen_) replace_file(proc_ + "/meminfo", meminfo_text(high));
  }
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  void fail(const std::string& why);

  // Scenarios.
  void scenario_prosody_kill(int n);
  void scenario_agent_kill(int n);
  void scenario_link(int n);
  void scenario_state_dir();
  void scenario_proc(int n);
  void drain(double timeout);
  ScenarioStats& begin(const std::string& name);
  void end();

  using Deliveries = std::map<std::string, std::vector<Delivery>>;
  struct Row {
    int raised = 0, delivered = 0, replaced = 0, lost = 0, resent = 0, dup = 0;
    double worst = 0;
    std::string worst_what;
  };
  // One destination's accounting: a row per scenario (0: setup), the total.
  struct Tally {
    std::vector<Row> rows;
    Row total;
    std::vector<std::string> lost_ids, resent_ids, dup_lines, unaccounted;
  };
  // The raised ids meant for `delivered`'s destination: those whose prefix
  // was delivered there, and those whose prefix was delivered nowhere (lost
  // for sure, so counted against both).
  bool meant_for(const std::string& id, const Deliveries& delivered, const Deliveries& other) const;
  Tally tally(const Deliveries& delivered, const Deliveries& other) const;
  void account(const std::string& id, const Raised& r, const Deliveries& delivered, Row& row, Tally& t,
               std::map<std::string, std::string>& line_ids) const;
  void print_table(std::ostream& o, const Tally& t, const Deliveries& delivered) const;
  int report(double started);
  bool covered(const std::string& id, int depth = 0) const { return covered_in(delivered_, id, depth); }
  bool covered_in(const Deliveries& delivered, const std::string& id, int depth = 0) const;
  size_t outstanding() const;

  std::mt19937_64 rng_;
  uint64_t seed_;
  bool long_;
  std::string binary_, fixtures_;
  bool keep_;
  std::string only_, log_level_;  // one scenario (for debugging); the agent's log level

  std::string dir_, proc_, state_, config_, agent_log_;
  bool root_ = false, mounted_ = false;
  std::unique_ptr<ProsodyServer> server_;
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<LogTail> log_;
  std::unique_ptr<TestClient> admin_;
  std::string admin_password_;

  bool toggling_ = true;
  bool load_high_ = false, mem_high_ = false;
  bool load_frozen_ = false, mem_frozen_ = false;  // the proc scenario owns the file
  double next_load_toggle_ = 0, next_mem_toggle_ = 0;

  std::map<std::string, Raised> raised_;
  Deliveries delivered_;       // privately to alice
  Deliveries room_delivered_;  // in the room, as alice heard it there
  RoomWatcher room_;
  size_t seen_messages_ = 0, seen_room_ = 0;
  std::vector<double> agent_ups_, admin_ups_;  // when each side (re)connected
  bool agent_link_up_ = false;                 // by the agent's log
  std::vector<double> link_losses_;            // the agent lost its link, or (re)started
  std::vector<double> infra_ups_;              // prosody (re)started, proxy fault over, agent (re)started
  bool admin_was_connected_ = false;
  int ping_detections_ = 0;
  std::vector<std::pair<double, std::string>> persist_lines_;  // cannot persist / persisting again
  int probe_errors_ = 0;

  std::vector<ScenarioStats> scenarios_;
  int current_ = -1;
  std::vector<std::string> failures_;
};

void Run::fail(const std::string& why) {
  std::string where = current_ >= 0 ? scenarios_[static_cast<size_t>(current_)].name + ": " : "";
  std::cerr << "FAIL " << where << why << "\n";
  failures_.push_back(where + why);
}

bool Run::register_user(const std::string& user, const std::string& password) {
  // prosodyctl adduser reads the password from stdin: it never shows up in
  // argv (ProsodyServer::register_user would put it there).
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return false;
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    int out = open((server_->dir() + "/adduser.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(in[0], 0);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    execlp("prosodyctl", "prosodyctl", "--config", server_->config_file().c_str(), "adduser",
           (user + "@" + server_->domain()).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  std::string twice = password + "\n" + password + "\n";
  (void)!write(in[1], twice.data(), twice.size());
  close(in[1]);
  if (pid < 0) return false;
  int st = 0;
  for (int i = 0; i < 200; ++i) {  // 20 s at most
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
    std::this_thread::sleep_for(100ms);
  }
  ::kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

std::string random_password(std::mt19937_64& rng) {
  static const char cs[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s;
  for (int i = 0; i < 24; ++i) s += cs[rng() % (sizeof cs - 1)];
  return s;
}

bool Run::setup() {
  char tmpl[] = "/tmp/imwatch-fault-XXXXXX";
  if (!mkdtemp(tmpl)) {
    fail(std::string("mkdtemp: ") + std::strerror(errno));
    return false;
  }
  dir_ = tmpl;
  proc_ = dir_ + "/proc";
  state_ = dir_ + "/state";
  config_ = dir_ + "/imwatch.conf";
  agent_log_ = dir_ + "/agent.log";
  fs::copy(fixtures_ + "/proc/current", proc_, fs::copy_options::recursive);
  fs::create_directories(state_);
  ::chmod(state_.c_str(), 0700);
  set_load(false);
  set_mem(false);

  root_ = geteuid() == 0;
  if (root_) {
    // A private mount namespace: the tmpfs below disappears with this
    // process and its children whatever happens, and nobody else sees it.
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      std::cerr << "note: no private mount namespace (" << std::strerror(errno)
                << "); the state-dir scenario will be skipped\n";
      root_ = false;
    } else if (mount("tmpfs", state_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") != 0) {
      std::cerr << "note: cannot mount a tmpfs (" << std::strerror(errno)
                << "); the state-dir scenario will be skipped\n";
      root_ = false;
    } else {
      mounted_ = true;
    }
  }

  server_ = std::make_unique<ProsodyServer>();
  if (!server_->ok()) {
    fail("prosody setup: " + server_->error());
    return false;
  }
  std::string agent_pw = random_password(rng_);
  admin_password_ = random_password(rng_);
  if (!register_user("agent", agent_pw) || !register_user("alice", admin_password_)) {
    fail("prosodyctl adduser failed (see " + server_->dir() + "/adduser.out)");
    return false;
  }
  {
    std::ofstream pw(dir_ + "/password");
    pw << agent_pw << "\n";
  }
  ::chmod((dir_ + "/password").c_str(), 0600);
  // Rooms made by their first joiner, real JIDs shown (the agent obeys only
  // admins it can identify), a history of 20: what the agent says there
  // between its rejoin and alice's after a prosody restart.
  server_->enable_muc();
  if (!server_->start()) {
    fail("prosody: " + server_->error());
    return false;
  }
  proxy_ = std::make_unique<FaultProxy>(server_->port());
  if (!proxy_->start()) {
    fail(proxy_->error());
    return false;
  }
  write_config();
  log_ = std::make_unique<LogTail>(agent_log_);
  agent_ = std::make_unique<Agent>(binary_, config_, agent_log_);
  admin_ = std::make_unique<TestClient>("alice@test.local", admin_password_, *server_);
  if (!admin_->connect()) {
    fail("the admin client cannot connect");
    return false;
  }
  admin_ups_.push_back(wall_now());
  admin_was_connected_ = true;
  room_.join(admin_->client());
  admin_->pump(std::chrono::milliseconds(300));  // in the room before the agent speaks
  if (!agent_->start()) {
    fail("cannot start the agent");
    return false;
  }
  infra_ups_.push_back(wall_now());
  tick_until([&] { return !agent_ups_.empty(); }, 15);
  if (agent_ups_.empty()) {
    fail("the agent did not connect within 15 s");
    return false;
  }
  return true;
}

void Run::write_config() {
  std::ofstream out(config_);
  // 500 ms samples and `for 1s`: a rule fires or resolves about 1-1.5 s after
  // the fixture changes. No reminders and no flap damping, so that every
  // change is one notification; a 1 s ping interval notices a dead link in
  // 1-2 s.
  out << "proc-root = " << proc_ << "\nstate-dir = " << state_ << "\nhostname = faulty\nlog-level = " << log_level_
      << "\n"
      << "[probe.loadavg]\ninterval = 500ms\n[probe.meminfo]\ninterval = 500ms\n"
      << "[probe.vmstat]\ninterval = 5s\n[probe.pressure]\ninterval = 5s\n"
      << "[alert]\nrule = load: load1 > 4 for 1s clear 3\nrule = memory: mem_used_pct > 80 for 1s clear 75\n"
      << "repeat = 0\nflap_changes = 1000\nflap_window = 1m\n"
      << "[xmpp]\njid = agent@test.local\npassword_file = " << dir_
      << "/password\nhost = 127.0.0.1\nport = " << proxy_->port()
      << "\nresource = faulty\nadmin = alice@test.local\nca_file = " << server_->ca_file() << "\nping_interval = 1s\n"
      << "room = " << kRoom << "\nroom_nick = " << kAgentNick << "\n";
}

void Run::cleanup() {
  room_.forget();  // it holds alice's client
  admin_.reset();
  agent_.reset();  // SIGKILL by PID
  proxy_.reset();
  server_.reset();  // stops prosody by PID, removes its dir
  if (mounted_) {
    if (umount2(state_.c_str(), MNT_DETACH) != 0)
      std::cerr << "warning: umount " << state_ << ": " << std::strerror(errno) << "\n";
    mounted_ = false;
  }
  if (!dir_.empty()) {
    if (keep_) {
      std::cerr << "kept " << dir_ << "\n";
    } else {
      std::error_code ec;
      ::chmod(state_.c_str(), 0700);
      fs::remove_all(dir_, ec);
    }
    dir_.clear();
  }
}

// ---- the heartbeat ----

void Run::read_log() {
  for (const auto& l : log_->poll()) {
    const std::string& t = l.text;
    size_t p;
    if ((p = t.find("outbox: queued ")) != std::string::npos) {
      std::istringstream in(t.substr(p + 15));
      std::string id, word;
      in >> id;
      Raised r{l.wall, current_, {}};
      if (in >> word && word == "replacing")
        while (in >> word) r.replaces.push_back(word);
      if (raised_.count(id))
        fail("the agent announced " + id + " twice");
      else
        raised_[id] = std::move(r);
    } else if (t.find("xmpp: connected as") != std::string::npos) {
      agent_ups_.push_back(l.wall);
      agent_link_up_ = true;
    } else if (t.find("xmpp: link lost") != std::string::npos || t.find(" started: ") != std::string::npos) {
      link_losses_.push_back(l.wall);  // what was in flight is sent again, same id
      agent_link_up_ = false;
    } else if (t.find("no answer to a ping") != std::string::npos) {
      ++ping_detections_;
    } else if (t.find("cannot persist") != std::string::npos || t.find("persisting again") != std::string::npos) {
      persist_lines_.emplace_back(l.wall, t);
    } else if (t.find(" probe ") != std::string::npos && t.find("warning:") != std::string::npos) {
      ++probe_errors_;
    }
  }
}

void Run::record_deliveries() {
  const auto& msgs = admin_->messages();
  for (; seen_messages_ < msgs.size(); ++seen_messages_) {
    const auto& m = msgs[seen_messages_];
    if (m.from.rfind("agent@test.local", 0) != 0) continue;
    delivered_[m.id].push_back({wall_now(), m.body});
  }
  const auto& heard = room_.heard();
  for (; seen_room_ < heard.size(); ++seen_room_) room_delivered_[heard[seen_room_].id].push_back(
      {heard[seen_room_].wall, heard[seen_room_].body});
}

void Run::maybe_toggle(double now) {
  if (!toggling_) return;
  // Each rule changes every 2-4 s: about one notification a second in all.
  if (now >= next_load_toggle_) {
    set_load(!load_high_);
    next_load_toggle_ = now + uniform(2, 4);
  }
  if (now >= next_mem_toggle_) {
    set_mem(!mem_high_);
    next_mem_toggle_ = now + uniform(2, 4);
  }
}

void Run::tick(double seconds) {
  tick_until([] { return false; }, seconds);
}

void Run::tick_until(const std::function<bool()>& done, double timeout) {
  const double deadline = wall_now() + timeout;
  for (;;) {
    read_log();
    record_deliveries();
    std::string why;
    if (agent_ && !agent_->check_alive(why)) {
      fail("the agent died on its own: " + why);
      agent_->start();  // keep counting; the run has failed anyway
    }
    if (done() || g_interrupted) return;
    double now = wall_now();
    if (now >= deadline) return;
    maybe_toggle(now);
    if (admin_->connected()) {
      admin_->pump(std::chrono::milliseconds(30));
    } else if (server_->running()) {
      if (admin_was_connected_) admin_was_connected_ = false;
      // Stamped before: what arrives during connect() (offline storage) is
      // only recorded, and stamped, once it returns.
      double attempt = wall_now();
      room_.forget();
      if (admin_->connect(std::chrono::seconds(3))) {
        admin_ups_.push_back(attempt);
        admin_was_connected_ = true;
        room_.join(admin_->client());
      }
    } else {
      std::this_thread::sleep_for(30ms);
    }
  }
}

bool Run::covered_in(const Deliveries& delivered, const std::string& id, int depth) const {
  if (delivered.count(id)) return true;
  if (depth > 8) return false;
  for (const auto& [sid, r] : raised_)
    if (std::find(r.replaces.begin(), r.replaces.end(), id) != r.replaces.end() &&
        covered_in(delivered, sid, depth + 1))
      return true;
  return false;
}

size_t Run::outstanding() const {
  size_t n = 0;
  for (const auto& [id, r] : raised_) {
    if (meant_for(id, delivered_, room_delivered_)) n += !covered(id);
    if (meant_for(id, room_delivered_, delivered_)) n += !covered_in(room_delivered_, id);
  }
  return n;
}

// Quiet fixture, everything up: waits until every raised id is delivered
// and nothing new comes for a while.
void Run::drain(double timeout) {
  toggling_ = false;
  const double deadline = wall_now() + timeout;
  size_t raised_before = 0;
  double stable_since = wall_now();
  while (wall_now() < deadline && !g_interrupted) {
    tick(0.2);
    if (raised_.size() != raised_before || outstanding() > 0) {
      raised_before = raised_.size();
      stable_since = wall_now();
    } else if (wall_now() - stable_since > 2.5) {  // `for 1s` + a sample: nothing pending
      break;
    }
  }
  toggling_ = true;
}

ScenarioStats& Run::begin(const std::string& name) {
  scenarios_.push_back({name, "", 0, wall_now(), 0, {}});
  current_ = static_cast<int>(scenarios_.size()) - 1;
  std::cerr << "== " << name << "\n";
  return scenarios_.back();
}

void Run::end() {
  drain(30);
  scenarios_[static_cast<size_t>(current_)].ended = wall_now();
}

// ---- scenarios ----

void Run::scenario_prosody_kill(int n) {
  auto& s = begin("prosody SIGKILL + restart");
  for (int i = 0; i < n && !g_interrupted; ++i) {
    tick(uniform(1.0, 4.0));
    server_->kill();
    note("prosody killed");
    ++s.faults;
    tick(uniform(0.2, 2.5));  // notifications pile up in the outbox meanwhile
    if (!server_->start()) {
      fail("prosody did not restart: " + server_->error());
      break;
    }
    note("prosody restarted");
    infra_ups_.push_back(wall_now());
  }
  s.faults_text = std::to_string(s.faults);
  end();
}

void Run::scenario_agent_kill(int n) {
  auto& s = begin("agent SIGKILL + restart");
  for (int i = 0; i < n && !g_interrupted; ++i) {
    tick(uniform(0.5, 4.0));
    agent_->kill9();
    note("agent killed");
    ++s.faults;
    tick(uniform(0.1, 1.5));
    if (!agent_->start()) {
      fail("cannot restart the agent");
      break;
    }
    note("agent restarted");
    infra_ups_.push_back(wall_now());
  }
  s.faults_text = std::to_string(s.faults);
  end();
}

void Run::scenario_link(int n) {
  auto& s = begin("link stalled / dropped (proxy)");
  int stalls = 0, drops = 0;
  for (int i = 0; i < n && !g_interrupted; ++i) {
    tick(uniform(1.0, 3.0));
    bool stall = i % 2 == 0;
    if (stall) {
      // A stall is about a session that is up: one that hits a handshake
      // (after the previous drop) just makes that attempt fail.
      tick_until([&] { return agent_link_up_; }, 15);
      tick(uniform(0.1, 1.0));
      size_t ups = agent_ups_.size();
      int detections = ping_detections_;
      double t0 = wall_now();
      proxy_->stall();
      note("link stalled");
      infra_ups_.push_back(wall_now());  // new connections flow at once
      ++stalls;
      // Only the pings can tell: the sockets stay open, nothing arrives.
      tick_until([&] { return ping_detections_ > detections && agent_ups_.size() > ups; }, 15);
      if (ping_detections_ == detections)
        fail("a stalled link was not detected by the pings within 15 s");
      else if (agent_ups_.size() == ups)
        fail("no reconnect within 15 s after a stalled link was detected");
      else
        note("stall detected and reconnected in " + fmt_secs(wall_now() - t0));
      tick(uniform(0.2, 1.5));
      proxy_->release_stalled();
      note("stalled connections reset");
    } else {
      proxy_->drop();
      note("link dropped (RST)");
      infra_ups_.push_back(wall_now());
      ++drops;
    }
    ++s.faults;
  }
  s.faults_text = std::to_string(stalls) + " stalls + " + std::to_string(drops) + " drops";
  end();
}

void Run::scenario_state_dir() {
  auto& s = begin("state dir read-only / full");
  if (!mounted_) {
    s.faults_text = geteuid() == 0 ? "skipped: no tmpfs mount" : "skipped: not root";
    scenarios_.back().ended = wall_now();
    return;
  }
  auto outage = [&](const std::string& what, const std::function<bool()>& inject, const std::function<bool()>& repair) {
    size_t mark = persist_lines_.size();
    size_t raised_before = raised_.size();
    if (!inject()) {
      fail(what + ": could not inject the fault: " + std::strerror(errno));
      return;
    }
    ++s.faults;
    tick(6);  // rules keep firing and resolving: saves fail, alerts must still go out
    size_t during = persist_lines_.size();
    if (!repair()) {
      fail(what + ": could not repair: " + std::strerror(errno));
      return;
    }
    // Saves happen when something changes; the toggling sees to that.
    tick_until(
        [&] {
          int again = 0;
          for (size_t i = during; i < persist_lines_.size(); ++i)
            again += persist_lines_[i].second.find("persisting again") != std::string::npos;
          return again >= 1 + kOutboxes;
        },
        10);
    int state_fail = 0, outbox_fail = 0, state_again = 0, outbox_again = 0;
    for (size_t i = mark; i < persist_lines_.size(); ++i) {
      const std::string& t = persist_lines_[i].second;
      state_fail += t.find("cannot persist state") != std::string::npos;
      outbox_fail += t.find("cannot persist the outbox") != std::string::npos;
      state_again += t.find("state ") != std::string::npos && t.find("persisting again") != std::string::npos;
      outbox_again += t.find("outbox ") != std::string::npos && t.find("persisting again") != std::string::npos;
    }
    std::cerr << "   " << what << ": 'cannot persist' state " << state_fail << ", outbox " << outbox_fail
              << "; 'persisting again' state " << state_again << ", outbox " << outbox_again << "; "
              << raised_.size() - raised_before << " notifications raised meanwhile\n";
    if (state_fail != 1 || outbox_fail != kOutboxes)
      fail(what + ": expected exactly one 'cannot persist' line for the state and one for each outbox, got " +
           std::to_string(state_fail) + " and " + std::to_string(outbox_fail));
    if (state_again != 1 || outbox_again != kOutboxes)
      fail(what + ": expected one 'persisting again' line for the state and one for each outbox, got " +
           std::to_string(state_again) + " and " + std::to_string(outbox_again));
    if (raised_.size() == raised_before) fail(what + ": no notification raised during the outage");
  };
  outage(
      "read-only",
      [&] {
        return mount(nullptr, state_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m") == 0;
      },
      [&] { return mount(nullptr, state_.c_str(), nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=1m") == 0; });
  const std::string filler = state_ + "/filler";
  outage(
      "disk full",
      [&] {
        int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return false;
        std::string block(4096, 'x');
        for (int i = 0; i < 100000; ++i)  // bounded: 1 MiB of tmpfs is 256 blocks
          if (write(fd, block.data(), block.size()) <= 0) break;
        close(fd);
        return errno == ENOSPC;
      },
      [&] { return ::unlink(filler.c_str()) == 0; });
  s.faults_text = std::to_string(s.faults);
  end();
}

void Run::scenario_proc(int n) {
  auto& s = begin("/proc files vanish / truncated / garbled");
  // Both alerts firing, then kept firing: whatever happens to the files,
  // nothing may say they resolved.
  toggling_ = false;
  set_load(true);
  set_mem(true);
  tick(2.5);
  double firm = wall_now();
  load_frozen_ = mem_frozen_ = true;
  int vanish = 0, truncate = 0, garble = 0;
  const std::vector<std::string> files = {"loadavg", "meminfo", "stat"};
  std::map<std::string, std::string> good;
  for (const auto& f : files) {
    std::ifstream in(proc_ + "/" + f, std::ios::binary);
    good[f] = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  int errors_before = probe_errors_;
  for (int i = 0; i < n && !g_interrupted; ++i) {
    const std::string f = files[rng_() % files.size()];
    const std::string path = proc_ + "/" + f;
    const std::string& text = good[f];
    switch (rng_() % 3) {
      case 0:
        fs::remove(path);
        ++vanish;
        break;
      case 1: {
        // Cut inside the first line: never a complete, valid file.
        size_t first_nl = text.find('\n');
        size_t cut = first_nl == std::string::npos ? 0 : rng_() % std::max<size_t>(first_nl, 1);
        replace_file(path, text.substr(0, cut));
        ++truncate;
        break;
      }
      default: {
        // Junk where the first number is: binary bytes and letters.
        std::string junk = text;
        size_t digit = junk.find_first_of("0123456789");
        if (digit == std::string::npos) digit = 0;
        std::string noise = "\xff\x01Zq";
        for (int k = 0; k < 6; ++k) noise += static_cast<char>(rng_() % 256);
        junk.replace(digit, std::min<size_t>(4, junk.size() - digit), noise);
        replace_file(path, junk);
        ++garble;
        break;
      }
    }
    ++s.faults;
    tick(uniform(0.3, 2.5));  // sometimes 3 failed samples: a PROBE failing notice
    replace_file(path, text);
    tick(uniform(0.6, 1.5));
  }
  drain(20);
  // The check: nothing raised since the alerts were firm says they resolved.
  for (const auto& [id, r] : raised_) {
    if (r.wall < firm || !delivered_.count(id)) continue;
    const std::string& body = delivered_[id].front().body;
    if (body.find("RESOLVED") != std::string::npos || body.find("SETTLED") != std::string::npos)
      fail("false recovery while the alerts still fired: " + id + " '" + body + "'");
  }
  if (probe_errors_ == errors_before) fail("the agent never noticed a broken /proc file");
  std::cerr << "   " << probe_errors_ - errors_before << " probe errors logged\n";
  s.faults_text = std::to_string(vanish) + " vanished, " + std::to_string(truncate) + " truncated, " +
                  std::to_string(garble) + " garbled";
  load_frozen_ = mem_frozen_ = false;
  set_load(false);
  set_mem(false);
  toggling_ = true;
  end();
}

// ---- report ----

// One raised id against one destination's deliveries, into its row.
void Run::account(const std::string& id, const Raised& r, const Deliveries& delivered, Row& row, Tally& t,
                  std::map<std::string, std::string>& line_ids) const {
  auto last_before = [](const std::vector<double>& v, double at, double floor) {
    for (double u : v)
      if (u <= at) floor = std::max(floor, u);
    return floor;
  };
  ++row.raised;
  auto d = delivered.find(id);
  if (d == delivered.end()) {
    if (covered_in(delivered, id)) {
      ++row.replaced;
    } else {
      ++row.lost;
      t.lost_ids.push_back(id);
    }
    return;
  }
  ++row.delivered;
  const auto& copies = d->second;
  if (copies.size() > 1) {
    // The same id again: the agent re-sent it because the link (or the
    // agent) went down before the server's answer came back. That is
    // at-least-once working as designed, visible as such to a client
    // that de-duplicates by id. Without a link loss in between, a bug.
    bool explained = true;
    for (size_t k = 1; k < copies.size(); ++k) {
      double loss = last_before(link_losses_, copies[k].wall, -1);
      explained = explained && loss >= copies[k - 1].wall - 1.0;
    }
    if (explained) {
      ++row.resent;
      t.resent_ids.push_back(id);
    } else {
      ++row.dup;
      t.dup_lines.push_back(id + " delivered " + std::to_string(copies.size()) + " times with no link loss in between");
    }
  }
  std::istringstream body(copies.front().body);
  std::string line;
  bool multi = copies.front().body.find('\n') != std::string::npos;
  for (bool first = true; std::getline(body, line); first = false) {
    if (multi && first) continue;  // "faulty: 2 changes"
    if (line.rfind("faulty: ", 0) == 0) line.erase(0, 8);
    if (line.find(" #") == std::string::npos) continue;  // no alert id: may recur legitimately
    auto [it, fresh] = line_ids.emplace(line, id);
    if (!fresh) {
      ++row.dup;
      t.dup_lines.push_back("'" + line + "' delivered under two ids: " + it->second + " and " + id);
    }
  }
  // From the moment the way was open again: prosody back, the agent
  // process back, the proxy fault over, the admin back; or from when it
  // was raised, if later. It includes the agent's own detection,
  // back-off and reconnect time.
  // A summary counts from when the first alert it replaced was raised:
  // it is made only when the link is back.
  std::function<double(const Raised&, int)> since = [&](const Raised& x, int depth) {
    double w = x.wall;
    for (const auto& rid : x.replaces)
      if (auto it = raised_.find(rid); it != raised_.end() && depth < 8) w = std::min(w, since(it->second, depth + 1));
    return w;
  };
  double at = copies.front().wall;
  double ready = last_before(admin_ups_, at, last_before(infra_ups_, at, since(r, 0)));
  if (at - ready >= row.worst) {
    row.worst = at - ready;
    row.worst_what = id + ": raised " + clock_text(since(r, 0)) + ", way open " + clock_text(ready) + ", delivered " +
                     clock_text(at);
  }
}

bool Run::meant_for(const std::string& id, const Deliveries& delivered, const Deliveries& other) const {
  const std::string p = id_prefix(id);
  auto has = [&](const Deliveries& d) {
    auto it = d.lower_bound(p + "-");
    return it != d.end() && it->first.rfind(p + "-", 0) == 0;
  };
  return has(delivered) || !has(other);
}

Run::Tally Run::tally(const Deliveries& delivered, const Deliveries& other) const {
  Tally t;
  t.rows.resize(scenarios_.size() + 1);
  // Alert lines ("WARNING load: ... #5") already shown under another id.
  std::map<std::string, std::string> line_ids;
  for (const auto& [id, r] : raised_)
    if (meant_for(id, delivered, other))
      account(id, r, delivered, t.rows[r.scenario >= 0 ? static_cast<size_t>(r.scenario) + 1 : 0], t, line_ids);
  for (const auto& [id, ds] : delivered)
    if (!raised_.count(id) || meant_for(id, other, delivered)) t.unaccounted.push_back(id);
  for (const auto& r : t.rows) {
    t.total.raised += r.raised;
    t.total.delivered += r.delivered;
    t.total.replaced += r.replaced;
    t.total.lost += r.lost;
    t.total.resent += r.resent;
    t.total.dup += r.dup;
    t.total.worst = std::max(t.total.worst, r.worst);
  }
  return t;
}

void Run::print_table(std::ostream& o, const Tally& t, const Deliveries& delivered) const {
  o << "| scenario | faults injected | raised | delivered | folded | lost | re-sent (same id) | duplicated | "
       "worst delay after link up |\n";
  o << "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  auto line = [&](const std::string& name, const std::string& faults, const Row& r) {
    o << "| " << name << " | " << faults << " | " << r.raised << " | " << r.delivered << " | " << r.replaced << " | "
      << r.lost << " | " << r.resent << " | " << r.dup << " | " << (r.delivered ? fmt_secs(r.worst) : "-") << " |\n";
  };
  if (t.rows[0].raised) line("(setup)", "-", t.rows[0]);
  int faults = 0;
  for (size_t i = 0; i < scenarios_.size(); ++i) {
    line(scenarios_[i].name, scenarios_[i].faults_text, t.rows[i + 1]);
    faults += scenarios_[i].faults;
  }
  line("**total**", std::to_string(faults), t.total);
  if (!t.lost_ids.empty()) {
    o << "lost:";
    for (const auto& id : t.lost_ids) o << " " << id;
    o << "\n";
  }
  for (const auto& id : t.resent_ids) {
    const auto& first = delivered.at(id).front().body;
    o << "re-sent after a lost answer: " << id << " delivered " << delivered.at(id).size() << " times: '"
      << first.substr(0, first.find('\n')) << "'\n";
  }
  for (const auto& d : t.dup_lines) o << "duplicated: " << d << "\n";
  for (const auto& id : t.unaccounted) o << "delivered but never raised: " << id << "\n";
}

int Run::report(double started) {
  const Tally priv = tally(delivered_, room_delivered_), room = tally(room_delivered_, delivered_);
  std::ostringstream o;
  const double took = wall_now() - started;
  o << "imwatch fault injection (" << (long_ ? "long" : "short") << "), seed " << seed_ << ", "
    << (root_ ? "as root" : "not root") << ", run time " << static_cast<int>(took) / 60 << "m"
    << static_cast<int>(took) % 60 << "s\n\n";
  o << "Privately to alice:\n\n";
  print_table(o, priv, delivered_);
  o << "\nIn the room " << kRoom << " (what alice heard there; " << room_.history_copies_dropped()
    << " copies from the room's history she had already heard live, dropped by id):\n\n";
  print_table(o, room, room_delivered_);
  for (size_t i = 0; i < scenarios_.size(); ++i) {
    if (!priv.rows[i + 1].worst_what.empty())
      std::cerr << "worst delay, " << scenarios_[i].name << ": " << priv.rows[i + 1].worst_what << "\n";
    if (!room.rows[i + 1].worst_what.empty())
      std::cerr << "worst delay in the room, " << scenarios_[i].name << ": " << room.rows[i + 1].worst_what << "\n";
  }
  o << "\nagent starts " << agent_->starts() << ", agent (re)connects " << agent_ups_.size()
    << ", dead links noticed by ping " << ping_detections_ << ", admin (re)connects " << admin_ups_.size() << "\n";
  std::vector<std::string> failures = failures_;
  for (const auto& [t, where] : {std::pair{&priv, "privately"}, std::pair{&room, "in the room"}}) {
    if (t->total.lost) failures.push_back(std::to_string(t->total.lost) + " notifications lost " + where);
    if (t->total.dup) failures.push_back(std::to_string(t->total.dup) + " notifications duplicated " + where);
    if (!t->unaccounted.empty())
      failures.push_back(std::to_string(t->unaccounted.size()) + " deliveries never raised " + where);
  }
  if (priv.total.raised == 0) failures.push_back("no notification raised at all");
  for (const auto& f : failures) o << "FAIL: " << f << "\n";
  o << (failures.empty() ? "result: PASS\n" : "result: FAIL\n");
  std::cout << o.str() << std::flush;
  if (!failures.empty()) {
    std::cerr << "--- last agent log lines ---\n";
    const auto& all = log_->all();
    for (size_t i = all.size() > 40 ? all.size() - 40 : 0; i < all.size(); ++i) std::cerr << all[i] << "\n";
  }
  return failures.empty() ? 0 : 1;
}

int Run::main() {
  const double started = wall_now();
  std::cerr << "imwatch fault injection: seed " << seed_ << " (--seed " << seed_ << " repeats it)\n";
  if (!setup()) {
    std::cout << "setup failed:";
    for (const auto& f : failures_) std::cout << " " << f;
    std::cout << "\nresult: FAIL\n";
    return 1;
  }
  const int kills = long_ ? 20 : 5;
  tick(2);
  auto want = [&](const char* name) { return !g_interrupted && (only_.empty() || only_ == name); };
  if (want("prosody")) scenario_prosody_kill(kills);
  if (want("agent")) scenario_agent_kill(kills);
  if (want("link")) scenario_link(long_ ? 20 : 6);
  if (want("state")) scenario_state_dir();
  if (want("proc")) scenario_proc(long_ ? 40 : 10);
  current_ = -1;
  drain(30);
  if (g_interrupted) failures_.push_back("interrupted");
  return report(started);
}

}  // namespace

int main(int argc, char** argv) {
  bool long_run = false, keep = false, mode = false;
  uint64_t seed = std::random_device{}();
  std::string binary = IMWATCH_BINARY, fixtures = IMWATCH_FIXTURES, only, log_level = "info";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--short")
      long_run = false, mode = true;
    else if (a == "--long")
      long_run = true, mode = true;
    else if (a == "--keep")
      keep = true;
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--binary" && i + 1 < argc)
      binary = argv[++i];
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--agent-log-level" && i + 1 < argc)
      log_level = argv[++i];
    else {
      std::cerr << "usage: fault_inject --short|--long [--seed N] [--keep] [--binary PATH] [--only "
                   "prosody|agent|link|state|proc]\n"
                   "             [--agent-log-level LEVEL]\n";
      return 2;
    }
  }
  if (!mode) {
    std::cerr << "usage: fault_inject --short|--long [--seed N] [--keep] [--binary PATH] [--only "
                 "prosody|agent|link|state|proc]\n"
                 "             [--agent-log-level LEVEL]\n";
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);    // a write to a socket the killed server dropped
  ::unsetenv("JOURNAL_STREAM");  // the agent's log lines must carry time stamps
  Run run(seed, long_run, binary, fixtures, keep, only, log_level);
  return run.main();
}
