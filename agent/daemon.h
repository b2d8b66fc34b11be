// Daemon mode: probes on their schedules, rules after each sample, one
// message per pass, state saved across restarts, SIGHUP reloads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/chat.h"
#include "agent/checks.h"
#include "agent/config.h"
#include "agent/control.h"
#include "agent/event_loop.h"
#include "agent/history.h"
#include "agent/maintenance.h"
#include "agent/overrides.h"
#include "agent/notifier.h"
#include "agent/alert_engine.h"
#include "agent/snapshot.h"
#include "agent/state_store.h"
#include "probes/probes.h"

namespace imwatch::agent {

// The metric names of all probes, in probe order (probes::metric_names()).
std::vector<std::string> metric_catalogue();

// [probe.filesystem]'s lists, split into words.
probes::FilesystemOptions filesystem_options(const Config& cfg);

// Whether systemd is taking the whole system down (as opposed to stopping
// this service), judged from what it leaves under `run_dir` (see daemon.cpp).
bool system_shutting_down(const std::string& run_dir = "/run");

class Daemon final : public RuleEditor {
 public:
  // `args` are the command line, re-parsed on reload so that it still wins.
  Daemon(std::vector<std::string> args, Config cfg, Clock& clock, Waiter& waiter);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Sets up rules, state, jobs and signals; false if the rules are bad.
  bool start(std::vector<std::string>& errors);
  // Runs until SIGTERM/SIGINT (or stop()). Returns the exit status.
  int run();
  // Re-reads the config; keeps the old one if the new one is bad.
  bool reload();
  void stop() { loop_.stop(); }

  // For tests and the chat commands.
  EventLoop& loop() { return loop_; }
  AlertEngine& engine() { return engine_; }
  const Snapshot& snapshot() const { return snapshot_; }
  const Config& config() const { return cfg_; }
  const History& history() const { return history_; }
  // False when start() refused the state dir (agent/state_dir.h).
  bool persistent() const { return store_ != nullptr; }
  void set_notifier(Notifier* n) { notifier_ = n; }
  // Runs after each pass's notifications went out (presence follows health).
  void set_on_flush(std::function<void()> fn) { on_flush_ = std::move(fn); }
  // Runs after a reload was applied, with the configuration before and
  // after it: how the parts that keep a copy (the XMPP link) follow the one
  // the daemon owns.
  using ReloadFn = std::function<void(const Config& before, const Config& after)>;
  void set_on_reload(ReloadFn fn) { on_reload_ = std::move(fn); }
  // Why run() returned, for the goodbye presence: "stopping: SIGTERM",
  // "system shutdown", or empty when stop() was called.
  const std::string& stop_reason() const { return stop_reason_; }
  // A chat message from `from` (full JID): the reply, or nothing to send.
  // With `brief`: asked of every agent in the room at once (ChatContext::brief).
  std::optional<std::string> chat(const std::string& from, const std::string& body, bool brief = false);
  // A local command (`imwatch mute 2h iowait`) from `peer`, allowed already
  // (agent/control.h): the same registry, audited under the user's name.
  Reply local(const Peer& peer, const std::string& line);
  // Calls `visit` with the context commands run in (XEP-0050 forms).
  void with_context(const std::function<void(ChatContext&)>& visit);
  // The local command's socket, or null when it is off or failed at start.
  const ControlServer* control() const { return control_.get(); }
  // Where a reply that comes later goes (`check NAME` answers once its
  // plugin has finished): to `to`, the full JID that asked. Unset: logged.
  using LateReplyFn = std::function<void(const std::string& to, const std::string& body)>;
  void set_late_reply(LateReplyFn fn) { late_reply_ = std::move(fn); }
  const Checks& checks() const { return checks_; }

  // Overrides (agent/overrides.h): `set` and `reset` from any front-end.
  std::string set_override(const std::string& rule, const std::map<std::string, std::string>& fields,
                           const std::string& who) override;
  bool reset_override(const std::string& rule, const std::string& who) override;
  const Overrides& overrides() const override { return overrides_; }
  const std::vector<Rule>& file_rules() const override { return file_rules_; }

  // A local command from the control socket's client `pid` (its
  // SO_PEERCRED), run as `who`: the reply. For `hold` and `release`
  // (imwatch run --mute) the hold is the client process's.
  Reply local_command(int pid, const std::string& who, const std::string& line);
  // The control socket's client `pid` closed its connection: its hold, if
  // any, ends.
  void client_closed(int pid);

 private:
  void apply(Config cfg, std::vector<Rule> rules, std::vector<Window> windows);
  // Maintenance windows open now hold their rules; those closed, or no
  // longer configured, release them.
  void sync_maintenance(double wall);
  // The engine's rules: the file's with the overrides over them; those that
  // no longer apply are dropped, logged and told.
  void configure_rules();
  void save_overrides_file();
  // Holds of local clients (imwatch run) whose process is gone end.
  void check_clients();
  void sample(size_t probe);
  void flush();
  void on_signal();
  void save_history();
  void start_control();
  std::optional<double> uptime();
  ChatContext context(const std::string& from);
  // fs_full_in_hours of a filesystem sample, fitted on the history.
  void fill_full_in_hours(ProbeSample& s, double wall);
  void on_check(const CheckConfig& check, const CheckOutcome& outcome);
  std::string run_check_for(const std::string& from, const std::string& name);

  std::vector<std::string> args_;
  Config cfg_;
  Clock& clock_;
  EventLoop loop_;
  // [check.NAME] plugins (after loop_: they leave it before it goes).
  Checks checks_;
  LateReplyFn late_reply_;
  probes::ProcRoot root_;
  std::vector<std::unique_ptr<probes::Probe>> probes_;
  std::vector<EventLoop::JobId> jobs_;
  Snapshot snapshot_;
  AlertEngine engine_;
  std::unique_ptr<StateStore> store_;
  ConsoleNotifier console_;
  Notifier* notifier_ = &console_;
  int signal_fd_ = -1;
  std::function<void()> on_flush_;
  ReloadFn on_reload_;
  std::string stop_reason_;
  std::unique_ptr<ChatHandler> chat_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<probes::ProcFile> uptime_;
  // Every metric's recent history (agent/history.h), fed after each sample,
  // saved at most once a minute and at stop.
  History history_;
  std::vector<double> steps_;  // the interval of probes_[i]
  std::vector<Window> windows_;  // [alert] maintenance
  std::vector<Rule> file_rules_;  // as the config file has them
  Overrides overrides_;           // set from chat, in the state dir
  double history_saved_ = 0;   // wall
};

}  // namespace imwatch::agent
