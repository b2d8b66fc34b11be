#include "agent/daemon.h"

#include "probes/vmstat.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace imwatch::agent {

std::vector<std::string> metric_catalogue() {
  std::vector<std::string> names;
  for (const auto& p : probes::make_probes(probes::ProcRoot()))
    for (const auto& m : p->metrics()) names.emplace_back(m.name);
  return names;
}

bool system_shutting_down(const std::string& run_dir) {
  // SIGTERM looks the same whether an admin stopped the service or the
  // machine is going down; systemd's manager knows ("stopping" from
  // `systemctl is-system-running`), but asking it means D-Bus (no
  // libsystemd here) or a subprocess in the middle of a shutdown, from a
  // sandboxed service. Two files say it instead, for free:
  // - run/systemd/shutdown/scheduled: logind's record of a shutdown that
  //   `shutdown` or a PowerOff/Reboot call scheduled; removed if cancelled;
  // - run/nologin: created by systemd-user-sessions.service when it stops,
  //   which only happens on the way down (and by logind shortly before a
  //   scheduled shutdown). It also exists early in boot, before logins are
  //   allowed; an agent stopped in that window is mislabelled, which is
  //   harmless.
  // Both are best effort: a shutdown that has created neither yet (its
  // stop jobs run in parallel with ours) still says "stopping: SIGTERM",
  // which is true as well. Only where systemd runs the system.
  struct stat st {};
  auto exists = [&](const std::string& p) { return ::stat((run_dir + p).c_str(), &st) == 0; };
  if (!exists("/systemd/system")) return false;
  return exists("/systemd/shutdown/scheduled") || exists("/nologin");
}

namespace {
std::vector<std::string> probe_names() {
  std::vector<std::string> names;
  for (const auto& p : probes::make_probes(probes::ProcRoot())) names.emplace_back(p->name());
  return names;
}
}  // namespace

Daemon::Daemon(std::vector<std::string> args, Config cfg, Clock& clock, Waiter& waiter)
    : args_(std::move(args)), cfg_(std::move(cfg)), clock_(clock), loop_(clock, waiter), root_(cfg_.proc_root) {}

Daemon::~Daemon() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

bool Daemon::start(std::vector<std::string>& errors) {
  auto rules = compile_rules(cfg_, metric_catalogue(), errors);
  if (!errors.empty()) return false;
  if (rules.empty()) spdlog::warn("no rules configured: only probe failures will be notified");

  // Signals arrive as a readable descriptor in the loop, so handlers never
  // run in the middle of anything.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ >= 0) loop_.add_fd(signal_fd_, [this] { on_signal(); });

  if (::mkdir(cfg_.state_dir.c_str(), 0700) != 0 && errno != EEXIST)
    spdlog::error("state dir {}: {}; alert state will not survive a restart", cfg_.state_dir, std::strerror(errno));
  store_ = std::make_unique<StateStore>(cfg_.state_dir);
  apply(cfg_, std::move(rules));
  store_->load(engine_);
  engine_.take_dirty();
  loop_.set_before_wait([this] { flush(); });
  spdlog::info("imwatch {} started: {} rules, {} probes, proc root {}", IMWATCH_VERSION, engine_.rules().size(),
               probes_.size(), cfg_.proc_root);
  return true;
}

void Daemon::apply(Config cfg, std::vector<Rule> rules) {
  bool new_root = cfg.proc_root != root_.dir() || probes_.empty();
  cfg_ = std::move(cfg);
  for (auto id : jobs_) loop_.cancel(id);
  jobs_.clear();
  std::vector<std::string> admins;
  for (const auto& a : cfg_.xmpp.admins) admins.push_back(a.value);
  chat_ = std::make_unique<ChatHandler>(std::move(admins));
  if (new_root) {
    root_ = probes::ProcRoot(cfg_.proc_root);
    uptime_ = std::make_unique<probes::ProcFile>(root_, "uptime");
    probes_ = probes::make_probes(root_);
    snapshot_.probes.clear();
    for (auto& p : probes_) snapshot_.probes.push_back({p->name(), p->metrics(), {}, {}, false});
  }
  engine_.configure(std::move(rules), {cfg_.repeat, cfg_.flap_changes, cfg_.flap_window});
  for (size_t r = 0; r < engine_.rules().size(); ++r)
    for (auto& p : probes_)
      if (probes::find_metric(*p, engine_.rules()[r].metric)) engine_.set_metric_owner(r, std::string(p->name()));
  for (size_t i = 0; i < probes_.size(); ++i) {
    double every = cfg_.probe_interval.count(std::string(probes_[i]->name()))
                       ? cfg_.probe_interval.at(std::string(probes_[i]->name()))
                       : 10.0;
    jobs_.push_back(loop_.add_job(every, [this, i] { sample(i); }));
  }
}

void Daemon::sample(size_t i) {
  auto& p = *probes_[i];
  ProbeSample& s = snapshot_.probes[i];
  const double now = clock_.now(), wall = clock_.wall();
  std::string error = p.collect(now, s.values);
  spdlog::trace("probe {}: sampled", p.name());  // lets tests count samples
  if (!error.empty() && error != s.error) spdlog::warn("probe {}: {}", p.name(), error);
  s.error = std::move(error);
  s.sampled = true;
  engine_.probe_result(std::string(p.name()), s.error, wall);
  auto lookup = [&](const std::string& metric) -> std::optional<double> {
    auto idx = probes::find_metric(p, metric);
    return idx && *idx < s.values.size() ? s.values[*idx] : std::nullopt;
  };
  engine_.evaluate(p.name(), lookup, now, wall);
}

void Daemon::flush() {
  const double wall = clock_.wall();
  engine_.remind(wall);
  if (engine_.has_events()) {
    Notification n;
    n.wall = wall;
    n.events = engine_.take_events();
    n.text = format_notification(cfg_.hostname, n.events);
    spdlog::debug("notify: {}", n.text);
    notifier_->notify(n);
  }
  if (engine_.take_dirty() && store_) store_->save(engine_);
  if (on_flush_) on_flush_();
}

std::optional<std::string> Daemon::chat(const std::string& from, const std::string& body) {
  std::optional<double> up;
  double secs = 0;
  if (uptime_ && uptime_->read() == probes::ReadStatus::ok && probes::parse_uptime(uptime_->data(), secs).empty())
    up = secs;
  ChatContext ctx{snapshot_, engine_, cfg_.hostname, up, clock_.wall()};
  return chat_->handle(from, body, clock_.now(), ctx);
}

bool Daemon::reload() {
  spdlog::info("SIGHUP: reloading {}", cfg_.config_file);
  std::vector<const char*> argv;
  for (const auto& a : args_) argv.push_back(a.c_str());
  Config next;
  std::vector<std::string> errors;
  std::ostringstream ignored;
  auto r = parse_config(static_cast<int>(argv.size()), argv.data(), probe_names(), next, errors, ignored);
  std::vector<Rule> rules;
  if (r == ParseResult::run) rules = compile_rules(next, metric_catalogue(), errors);
  if (r != ParseResult::run || !errors.empty()) {
    for (const auto& e : errors) spdlog::error("{}", e);
    spdlog::error("reload rejected: keeping the configuration in force");
    return false;
  }
  if (next.state_dir != cfg_.state_dir) spdlog::warn("state-dir changes take effect at the next start");
  next.state_dir = cfg_.state_dir;
  Config before = cfg_;
  apply(std::move(next), std::move(rules));
  spdlog::info("reloaded: {} rules", engine_.rules().size());
  if (on_reload_) on_reload_(before, cfg_);
  return true;
}

void Daemon::on_signal() {
  signalfd_siginfo si{};
  while (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGHUP) {
      reload();
    } else {
      const char* name = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
      stop_reason_ = system_shutting_down() ? "system shutdown" : std::string("stopping: ") + name;
      spdlog::info("{}: {}", name, stop_reason_);
      loop_.stop();
    }
  }
}

int Daemon::run() {
  loop_.run();
  if (store_) store_->save(engine_);
  spdlog::info("stopped");
  return 0;
}

}  // namespace imwatch::agent
