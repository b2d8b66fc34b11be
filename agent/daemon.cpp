#include "agent/daemon.h"

#include "agent/client_process.h"
#include "agent/commands.h"
#include "agent/messages.h"
#include "agent/report.h"
#include "agent/text_util.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "probes/uptime.h"

namespace imwatch::agent {

namespace {
// How often the history goes to disk besides at stop: what a crash may lose.
// The file is about 7 KiB a metric (429 KB with a few mounts), written whole
// with an fsync; once a minute that was 600 MB a day of writes on every
// server for one minute's less loss. Five minutes is one coarse bucket, and
// rrdcached's default write delay.
constexpr double kHistorySaveEvery = 300;
}  // namespace

std::vector<std::string> metric_catalogue() { return probes::metric_names(); }

probes::FilesystemOptions filesystem_options(const Config& cfg) {
  return {split_words(cfg.fs_include_types), split_words(cfg.fs_exclude_mounts)};
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


Daemon::Daemon(std::vector<std::string> args, Config cfg, Clock& clock, Waiter& waiter)
    : args_(std::move(args)),
      cfg_(std::move(cfg)),
      clock_(clock),
      loop_(clock, waiter),
      checks_(loop_, clock),
      root_(cfg_.proc_root) {}

Daemon::~Daemon() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

namespace {

std::vector<std::string> rule_names(const std::vector<Rule>& rules) {
  std::vector<std::string> names;
  for (const auto& r : rules) names.push_back(r.name);
  return names;
}

constexpr std::string_view kMaintenancePrefix = "maintenance:";

}  // namespace

bool Daemon::start(std::vector<std::string>& errors) {
  auto rules = compile_rules(cfg_, metric_catalogue(), errors);
  auto windows = compile_windows(cfg_, rule_names(rules), errors);
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

  // An unusable state dir costs persistence, not monitoring: said once here,
  // and nothing is read from or written to it.
  if (auto err = prepare_state_dir(cfg_.state_dir); !err.empty())
    spdlog::error("{}; alert state will not survive a restart", err);
  else
    store_ = std::make_unique<StateStore>(cfg_.state_dir);
  if (store_) overrides_ = load_overrides(cfg_.state_dir);
  apply(cfg_, std::move(rules), std::move(windows));
  if (store_) store_->load(engine_);
  engine_.take_dirty();
  if (store_)
    if (auto err = history_.load(cfg_.state_dir + "/history"); !err.empty())
      spdlog::warn("history not restored: {}; starting afresh", err);
  history_saved_ = clock_.wall();
  loop_.set_before_wait([this] { flush(); });
  start_control();
  spdlog::info("imwatch {} started: {} rules, {} probes, proc root {}", IMWATCH_VERSION, engine_.rules().size(),
               probes_.size(), cfg_.proc_root);
  return true;
}

void Daemon::apply(Config cfg, std::vector<Rule> rules, std::vector<Window> windows) {
  windows_ = std::move(windows);
  // New probes for a new root or new filesystem lists (the probes keep
  // descriptors and state of their own).
  bool new_root = cfg.proc_root != root_.dir() || probes_.empty() || cfg.fs_include_types != cfg_.fs_include_types ||
                  cfg.fs_exclude_mounts != cfg_.fs_exclude_mounts;
  cfg_ = std::move(cfg);
  for (auto id : jobs_) loop_.cancel(id);
  jobs_.clear();
  steps_.clear();
  std::vector<std::string> admins;
  for (const auto& a : cfg_.xmpp.admins) admins.push_back(a.value);
  chat_ = std::make_unique<ChatHandler>(std::move(admins));
  if (new_root) {
    root_ = probes::ProcRoot(cfg_.proc_root);
    uptime_ = std::make_unique<probes::ProcFile>(root_, "uptime");
    probes_ = probes::make_probes(root_, filesystem_options(cfg_));
    snapshot_.probes.clear();
    for (auto& p : probes_) snapshot_.probes.push_back({p->name(), p->metrics(), {}, {}, false, {}});
  }
  file_rules_ = std::move(rules);
  configure_rules();
  for (size_t i = 0; i < probes_.size(); ++i) {
    double every = cfg_.interval_of(std::string(probes_[i]->name()));
    steps_.push_back(every);
    jobs_.push_back(loop_.add_job(every, [this, i] { sample(i); }));
  }
  checks_.configure(cfg_.checks, [this](const CheckConfig& c, const CheckOutcome& o) { on_check(c, o); });
}

// After each run of a check: its status and perfdata are the samples of a
// probe named check.NAME, fed to the engine and the history like any other.
// UNKNOWN is that probe failing (three in a row say so), and an unknown
// value: the check's alert neither fires nor resolves on it.
void Daemon::on_check(const CheckConfig& c, const CheckOutcome& o) {
  const std::string probe = "check." + c.name;
  const double now = clock_.now(), wall = clock_.wall();
  std::map<std::string, std::optional<double>> values;
  values[probe] = status_value(o.status);
  for (const auto& item : o.output.perfdata) {
    std::string metric = perf_metric(c.name, item.label);
    if (checks_.admit_metric(c.name, metric))
      values[metric] = item.value;
    else
      spdlog::debug("check {}: perfdata {} dropped: {} metrics already", c.name, quote(item.label), kMaxCheckMetrics);
  }
  if (const auto* st = checks_.find(c.name))
    for (const auto& m : st->metrics) values.try_emplace(m, std::nullopt);  // missing this run: unknown
  for (const auto& [metric, v] : values) history_.record(metric, c.interval, wall, v);
  engine_.set_message(c.name, o.message);
  engine_.probe_result(probe, o.status == CheckStatus::unknown ? o.message : "", wall);
  engine_.evaluate(
      probe,
      [&](const std::string& metric) {
        auto it = values.find(metric);
        return it == values.end() ? std::nullopt : it->second;
      },
      now, wall);
}

void Daemon::configure_rules() {
  auto probe_of = [this](const std::string& metric) {
    if (metric.starts_with("check.")) return metric.substr(0, metric.find('.', 6));  // check.NAME[.LABEL]
    for (auto& p : probes_)
      if (probes::find_metric(*p, probes::split_metric(metric).family)) return std::string(p->name());
    return std::string();
  };
  std::vector<std::string> dropped;
  auto rules = overridden_rules(file_rules_, overrides_, metric_catalogue(), dropped);
  engine_.configure(std::move(rules), {cfg_.repeat, cfg_.flap_changes, cfg_.flap_window}, probe_of);
  for (auto& why : dropped) {
    spdlog::warn("override {}", why);
    Event e;
    e.kind = Event::override_dropped;
    e.rule = why.substr(0, why.find(':'));
    e.detail = std::move(why);
    engine_.announce(std::move(e));
  }
  if (!dropped.empty()) save_overrides_file();
}

void Daemon::save_overrides_file() {
  if (!store_) return;
  if (auto err = save_overrides(cfg_.state_dir, overrides_); !err.empty())
    spdlog::error("overrides not saved: {}; they hold until the agent stops", err);
}

std::string Daemon::set_override(const std::string& rule, const std::map<std::string, std::string>& fields,
                                 const std::string& who) {
  auto file = std::find_if(file_rules_.begin(), file_rules_.end(), [&](const Rule& r) { return r.name == rule; });
  if (file == file_rules_.end()) return "no rule " + quote(rule);
  if (!overrides_.count(rule) && overrides_.size() >= kMaxOverrides) return "too many overrides; reset some";
  Override o = overrides_.count(rule) ? overrides_.at(rule) : Override{};
  o.rule = rule;
  for (const auto& [k, v] : fields) o.fields[k] = v;
  o.who = valid_utf8(who) && who.size() <= 256 ? who : "someone";
  for (char& c : o.who)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  o.when = clock_.wall();
  Rule checked;
  if (auto err = apply_override(*file, o, metric_catalogue(), checked); !err.empty()) return err;
  Event e;
  e.kind = Event::override_set;
  e.rule = rule;
  e.who = o.who;
  e.detail = fields_text(o);
  overrides_[rule] = std::move(o);
  save_overrides_file();
  configure_rules();
  spdlog::info("override {}: {} (by {})", rule, e.detail, e.who);
  engine_.announce(std::move(e));
  return {};
}

bool Daemon::reset_override(const std::string& rule, const std::string& who) {
  if (!overrides_.erase(rule)) return false;
  save_overrides_file();
  configure_rules();
  spdlog::info("override {}: reset (by {})", rule, who);
  Event e;
  e.kind = Event::override_reset;
  e.rule = rule;
  e.who = who;
  engine_.announce(std::move(e));
  return true;
}

void Daemon::sample(size_t i) {
  auto& p = *probes_[i];
  ProbeSample& s = snapshot_.probes[i];
  const double now = clock_.now(), wall = clock_.wall();
  std::string error = p.collect(now, s.values);
  auto inst = p.instances();
  s.instances.assign(inst.begin(), inst.end());
  spdlog::trace("probe {}: sampled", p.name());  // lets tests count samples
  if (!error.empty() && error != s.error) spdlog::warn("probe {}: {}", p.name(), error);
  s.error = std::move(error);
  s.sampled = true;
  engine_.probe_result(std::string(p.name()), s.error, wall);
  if (s.labelled() && p.name() == probes::FilesystemProbe::probe_name) fill_full_in_hours(s, wall);
  s.each([&](std::string_view name, const std::optional<double>& v) { history_.record(name, steps_[i], wall, v); });
  auto lookup = [&](const std::string& metric) { return s.get(metric); };
  sync_maintenance(wall);  // a window that just opened holds this very sample
  engine_.evaluate(p.name(), lookup, now, wall);
  if (s.labelled()) {
    auto value = [&](const std::string& family, size_t k) -> std::optional<double> {
      auto m = probes::find_metric(p, family);
      return m ? s.at(k, *m) : std::nullopt;
    };
    engine_.evaluate_instances(p.name(), s.instances, value, now, wall);
  }
}

// Before this sample goes into the history: the fit is over the samples
// before it, and the time to full counts from the space available now.
void Daemon::fill_full_in_hours(ProbeSample& s, double wall) {
  const size_t nm = s.metrics.size();
  for (size_t k = 0; k < s.instances.size() && (k + 1) * nm <= s.values.size(); ++k) {
    auto avail = s.at(k, probes::fs_avail_bytes);
    if (!avail) continue;
    s.values[k * nm + probes::fs_full_in_hours] =
        hours_until_full(history_, probes::labelled_name("fs_avail_bytes", s.instances[k]), *avail, wall);
  }
}

void Daemon::sync_maintenance(double wall) {
  for (const auto& w : windows_) {
    const std::string key = std::string(kMaintenancePrefix) + w.name;
    auto end = window_end(w, wall);
    auto it = engine_.holds().find(key);
    if (!end) {
      if (it != engine_.holds().end()) engine_.release(key, "ended");
      continue;
    }
    if (it != engine_.holds().end() && it->second.until == end && it->second.rules == w.rules) continue;
    Hold h;
    h.key = key;
    h.rules = w.rules;
    h.until = end;
    h.reason = "maintenance " + w.name;
    engine_.hold(std::move(h), wall);
  }
  std::vector<std::string> gone;
  for (const auto& [key, h] : engine_.holds()) {
    if (key.rfind(kMaintenancePrefix, 0) != 0) continue;
    const std::string name = key.substr(kMaintenancePrefix.size());
    if (std::none_of(windows_.begin(), windows_.end(), [&](const Window& w) { return w.name == name; }))
      gone.push_back(key);
  }
  for (const auto& key : gone) engine_.release(key, "removed from the configuration");
}

void Daemon::flush() {
  const double wall = clock_.wall();
  sync_maintenance(wall);
  check_clients();
  engine_.remind(wall);
  if (engine_.has_events()) {
    Notification n{wall, cfg_.hostname, engine_.take_events()};
    for (auto& e : n.events)
      if (e.kind == Event::fired || e.kind == Event::escalated) e.trend = alert_trend(history_, e.metric, wall);
    if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("notify: {}", notification_text(n));
    notifier_->notify(n);
  }
  if (engine_.take_dirty() && store_) store_->save(engine_);
  if (wall - history_saved_ >= kHistorySaveEvery || wall < history_saved_) save_history();
  if (on_flush_) on_flush_();
}

std::optional<double> Daemon::uptime() {
  double secs = 0;
  if (uptime_ && uptime_->read() == probes::ReadStatus::ok && probes::parse_uptime(uptime_->data(), secs).empty())
    return secs;
  return std::nullopt;
}

// What commands run in, for `from` (a full JID; "" for the local command
// and ad-hoc forms, whose `check NAME` answers at once that it started).
// Who did what goes to the other admins and the room, as a notification
// that skips `from` (who knows already).
ChatContext Daemon::context(const std::string& from) {
  ChatContext ctx{snapshot_, engine_, cfg_.hostname, uptime(), clock_.wall(), &history_};
  ctx.editor = this;
  ctx.checks = &checks_;
  ctx.run_check = [this, from](const std::string& name) { return run_check_for(from, name); };
  ctx.told = [this, from](const std::string& line) {
    Event e;
    e.kind = Event::audit;
    e.detail = line;
    notifier_->notify(Notification{clock_.wall(), cfg_.hostname, {e}, from.empty() ? "" : ChatHandler::bare(from)});
  };
  return ctx;
}

std::optional<std::string> Daemon::chat(const std::string& from, const std::string& body, bool brief) {
  ChatContext ctx = context(from);
  ctx.brief = brief;
  ctx.who = ChatHandler::bare(from);
  return chat_->handle(from, body, clock_.now(), ctx);
}

void Daemon::with_context(const std::function<void(ChatContext&)>& visit) {
  ChatContext ctx = context("");
  visit(ctx);
}

Reply Daemon::local(const Peer& peer, const std::string& line) {
  ChatContext ctx = context("");
  ctx.speaker = peer.user + " (local)";
  ctx.who = peer.user;
  ctx.peer_pid = static_cast<int>(peer.pid);  // imwatch run --mute holds for the life of this process
  Reply reply = run_command(line, ctx);
  audit("local", peer.user, line, reply);
  return reply;
}

Reply Daemon::local_command(int pid, const std::string& who, const std::string& line) {
  Peer peer;
  peer.pid = pid;
  peer.user = who;
  return local(peer, line);
}

void Daemon::client_closed(int pid) { engine_.release("run:" + std::to_string(pid), "gone (its connection closed)"); }

void Daemon::check_clients() {
  std::vector<std::string> gone;
  for (const auto& [key, h] : engine_.holds())
    if (h.pid > 0 && !process_alive(h.pid, h.pid_start)) gone.push_back(key);
  for (const auto& key : gone) engine_.release(key, "gone (its process ended)");
}

// A socket that cannot be set up costs the local command, not monitoring:
// said once here.
void Daemon::start_control() {
  if (cfg_.control_socket.empty()) return;
  auto server = std::make_unique<ControlServer>(loop_, [this](const Peer& p, const std::string& l) { return local(p, l); });
  if (auto err = server->listen(cfg_.control_socket, cfg_.control_group); !err.empty()) {
    spdlog::warn("control: {}; the local imwatch command will not reach this agent", err);
    return;
  }
  spdlog::info("control: listening on {}", cfg_.control_socket);
  control_ = std::move(server);
}

// `check NAME`: "" when the run started (its answer goes to `from` once the
// plugin has finished), or the reply to send now. Only a configured check:
// the name picks one, nothing of the chat reaches a command line.
std::string Daemon::run_check_for(const std::string& from, const std::string& name) {
  bool started = checks_.run_now(name, [this, from](const CheckConfig& c, const CheckOutcome& o) {
    std::string reply = check_reply(cfg_.hostname, c, o);
    if (late_reply_ && !from.empty())
      late_reply_(from, reply);
    else
      spdlog::info("check {} asked for: {}", c.name, one_line(reply));
  });
  if (started) return from.empty() ? fit({"check " + name + " started;", "see checks when it ends"}) : std::string();
  if (checks_.find(name)) return fit({"check " + name + " is busy:", "too many asked already"});
  return fit({"no check", quote(name)});
}

bool Daemon::reload() {
  spdlog::info("SIGHUP: reloading {}", cfg_.config_file);
  std::vector<const char*> argv;
  for (const auto& a : args_) argv.push_back(a.c_str());
  Config next;
  std::vector<std::string> errors;
  std::ostringstream ignored;
  auto r = parse_config(static_cast<int>(argv.size()), argv.data(), probes::probe_names(), next, errors, ignored);
  std::vector<Rule> rules;
  std::vector<Window> windows;
  if (r == ParseResult::run) {
    rules = compile_rules(next, metric_catalogue(), errors);
    windows = compile_windows(next, rule_names(rules), errors);
  }
  if (r != ParseResult::run || !errors.empty()) {
    for (const auto& e : errors) spdlog::error("{}", e);
    spdlog::error("reload rejected: keeping the configuration in force");
    return false;
  }
  for (const auto& w : next.warnings) spdlog::warn("{}", w);
  if (next.state_dir != cfg_.state_dir) spdlog::warn("state-dir changes take effect at the next start");
  next.state_dir = cfg_.state_dir;
  if (next.control_socket != cfg_.control_socket || next.control_group != cfg_.control_group)
    spdlog::warn("control-socket and control-group changes take effect at the next start");
  next.control_socket = cfg_.control_socket;
  next.control_group = cfg_.control_group;
  Config before = cfg_;
  apply(std::move(next), std::move(rules), std::move(windows));
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

// At most once a minute: the file is 7 KiB per metric, written and synced.
void Daemon::save_history() {
  history_saved_ = clock_.wall();
  if (!store_) return;
  history_.prune(history_saved_);
  if (auto err = history_.save(cfg_.state_dir + "/history"); !err.empty()) spdlog::warn("history not saved: {}", err);
}

int Daemon::run() {
  loop_.run();
  control_.reset();  // the socket goes first: nobody is answered by a stopping agent
  if (store_) store_->save(engine_);
  save_history();
  spdlog::info("stopped");
  return 0;
}

}  // namespace imwatch::agent
