#include "tests/support/ejabberd_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/test_certs.h"
#include "tests/support/test_net.h"

extern char** environ;

namespace imwatch::test {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* const kEjabberdctl = "/usr/sbin/ejabberdctl";

std::string read_file(const std::string& path, std::streamoff from = 0) {
  std::ifstream in(path);
  if (from > 0) in.seekg(from);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string tail(const std::string& s, size_t n = 2000) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; }

// YAML double-quoted scalar.
std::string yaml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe, unlike std::chrono
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000};
  nanosleep(&ts, nullptr);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}

// The guard (see the header). Runs in a forked copy of the test process,
// so only async-signal-safe calls: everything it needs was prepared by the
// parent. Never returns.
// `cleanup_dir`, if not null, is removed when the test process died
// without removing it itself.
[[noreturn]] void guard_main(pid_t test_pid, int pipe_r, char* const* argv, char* const* envp, const char* output,
                             const char* cwd, bool drop, uid_t uid, gid_t gid, const char* cleanup_dir) {
  setpgid(0, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, nullptr);  // a terminal's ^C is for the test; the pipe tells us
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  int in = open("/dev/null", O_RDONLY);
  int out = open(output, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0) _exit(126);
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  if (dup2(pipe_r, 3) != 3) _exit(126);
  fcntl(3, F_SETFD, FD_CLOEXEC);
  // Nothing else of the test process's: not its sockets (a client's TCP
  // connection must close when the test closes it), nor other guards' pipes.
  syscall(SYS_close_range, 4u, ~0u, 0u);
  if (getppid() != test_pid) _exit(126);  // the test is already gone

  const pid_t child = fork();
  if (child < 0) _exit(126);
  if (child == 0) {
    setpgid(0, 0);  // its own group: the guard signals the group, never itself
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(126);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, nullptr);
    close(3);
    if (drop && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
    if (chdir(cwd) != 0) _exit(126);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  setpgid(child, child);  // either side may run first

  auto finish = [&](int code) {
    if (cleanup_dir && getppid() != test_pid) {
      // The test is gone (we were reparented): nobody else will clean up.
      const char* rm[] = {"/bin/rm", "-rf", "--one-file-system", cleanup_dir, nullptr};
      execve(rm[0], const_cast<char* const*>(rm), envp);
    }
    _exit(code);
  };
  int child_code = -1;
  bool pipe_open = true, termed = false, killed = false;
  int64_t kill_at = -1, give_up_at = -1;
  for (;;) {
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(-1, &st, WNOHANG);
      if (r == child) child_code = exit_code(st);
      if (r > 0) continue;
      if (r < 0 && errno == ECHILD) finish(child_code < 0 ? 125 : child_code);  // all gone
      break;
    }
    if (pipe_open) {
      pollfd p{3, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) {
        char b;
        if (read(3, &b, 1) <= 0) pipe_open = false;  // the test closed it, or died
      }
    } else {
      sleep_ms(20);
    }
    const int64_t now = monotonic_ms();
    // The direct child is done: what is left of its group gets a while.
    if (child_code >= 0 && kill_at < 0) kill_at = now + 5000;
    if (!pipe_open && !termed) {
      kill(-child, SIGTERM);
      termed = true;
      if (kill_at < 0 || kill_at > now + 3000) kill_at = now + 3000;
    }
    if (!killed && kill_at >= 0 && kill_at <= now) {
      kill(-child, SIGKILL);
      killed = true;
      give_up_at = now + 2000;
    }
    // Survivors outside the group (erl_child_setup starts a session of its
    // own) are left to exit by themselves once beam is gone.
    if (killed && give_up_at <= now) finish(child_code < 0 ? 124 : child_code);
  }
}

}  // namespace

EjabberdServer::EjabberdServer() {
  char tmpl[] = "/tmp/imwatch-ejabberd-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error_ = std::string("mkdtemp failed: ") + strerror(errno);
    return;
  }
  dir_ = tmpl;
  config_file_ = dir_ + "/conf/ejabberd.yml";
  ctl_config_file_ = dir_ + "/conf/ejabberdctl.cfg";
  log_file_ = dir_ + "/logs/ejabberd.log";
  for (const char* sub : {"/conf", "/logs", "/spool", "/home", "/certs"})
    std::filesystem::create_directories(dir_ + sub);
  static std::atomic<unsigned> counter{0};
  node_ = "imwatch" + std::to_string(getpid()) + "x" + std::to_string(++counter) + "@localhost";
  if (access(kEjabberdctl, X_OK) != 0) {
    error_ = std::string(kEjabberdctl) + " not found: install ejabberd (packaging/install-deps.sh)";
    return;
  }
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("ejabberd");
    if (!pw) {
      error_ = "no user 'ejabberd' (is the ejabberd package installed?)";
      return;
    }
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    drop_privileges_ = true;
  } else {
    const passwd* pw = getpwuid(geteuid());
    if (!pw || std::string(pw->pw_name) != "ejabberd") {
      error_ = "ejabberdctl runs only as root or as the user ejabberd";
      return;
    }
  }
  port_ = free_loopback_port();
  dist_port_ = free_loopback_port(port_);
  if (port_ == 0 || dist_port_ == 0) {
    error_ = "no free loopback port";
    return;
  }
  ok_ = generate_certificates() && write_config();
}

EjabberdServer::~EjabberdServer() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

EjabberdServer::Guarded EjabberdServer::spawn_guarded(const std::vector<std::string>& argv, const std::string& output,
                                                      bool owns_dir) {
  // Everything the forked side needs, prepared before fork().
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("HOME=") || v.starts_with("PATH=") || v.starts_with("ERL_") || v.starts_with("EJABBERD") ||
        v.starts_with("ERLANG_"))
      continue;
    env_text.emplace_back(v);
  }
  env_text.push_back("HOME=" + dir_ + "/home");  // the Erlang cookie lives here
  env_text.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  std::vector<char*> env;
  for (auto& e : env_text) env.push_back(e.data());
  env.push_back(nullptr);

  Guarded g;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return g;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0)
    guard_main(parent, p[0], args.data(), env.data(), output.c_str(), dir_.c_str(), drop_privileges_, uid_, gid_,
               owns_dir ? dir_.c_str() : nullptr);
  close(p[0]);
  if (pid < 0) {
    close(p[1]);
    return g;
  }
  g.guard = pid;
  g.pipe_w = p[1];
  return g;
}

int EjabberdServer::wait_guard(Guarded& g, milliseconds timeout) {
  if (g.guard <= 0) return 0;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(g.guard, &status, WNOHANG);
    if (r == g.guard || (r < 0 && errno != EINTR)) {
      g.guard = -1;
      if (g.pipe_w >= 0) close(g.pipe_w);
      g.pipe_w = -1;
      return r < 0 ? 0 : exit_code(status);
    }
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void EjabberdServer::kill_guarded(Guarded& g) {
  if (g.guard <= 0) return;
  // EOF on the pipe: the guard SIGTERMs its group, SIGKILLs it 3 s later and
  // exits within about 5 s.
  if (g.pipe_w >= 0) close(g.pipe_w);
  g.pipe_w = -1;
  if (wait_guard(g, std::chrono::seconds(10)) == -1) {
    ::kill(g.guard, SIGKILL);  // a guard that hangs: should never happen
    waitpid(g.guard, nullptr, 0);
    g.guard = -1;
  }
}

std::vector<std::string> EjabberdServer::ctl_argv(const std::vector<std::string>& command) const {
  std::vector<std::string> argv = {kEjabberdctl,   "--config-dir", dir_ + "/conf",   "--config",
                                   config_file_,   "--ctl-config", ctl_config_file_, "--logs",
                                   dir_ + "/logs", "--spool",      dir_ + "/spool"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

bool EjabberdServer::run(const std::vector<std::string>& argv, const std::string& what, bool as_server_user,
                         milliseconds timeout) {
  const std::string output = dir_ + "/command.out";
  std::filesystem::remove(output);
  const bool drop = drop_privileges_;
  if (!as_server_user) drop_privileges_ = false;
  Guarded g = spawn_guarded(argv, output);
  drop_privileges_ = drop;
  if (g.guard < 0) {
    error_ = what + ": fork failed: " + strerror(errno);
    return false;
  }
  int code = wait_guard(g, timeout);
  if (code == -1) {
    kill_guarded(g);
    error_ = what + ": timed out";
    return false;
  }
  if (code == 0) return true;
  error_ = what + " failed (exit " + std::to_string(code) + "): " + tail(read_file(output));
  return false;
}

bool EjabberdServer::generate_certificates() {
  for (const auto& argv : test_certificate_commands(dir_ + "/certs", CertSet::server_only)) {
    if (!run(argv, "openssl " + argv[1], false)) return false;
  }
  std::filesystem::remove(dir_ + "/certs/ca.key");  // nothing else is ever signed with it
  return true;
}

bool EjabberdServer::write_config() {
  std::filesystem::copy_file("/etc/ejabberd/inetrc", dir_ + "/conf/inetrc",
                             std::filesystem::copy_options::overwrite_existing);
  {
    std::ofstream out(ctl_config_file_);
    // Sourced by ejabberdctl (sh). No epmd: the node listens on a fixed port,
    // on loopback only, and control VMs dial that port.
    out << "# Private ejabberdctl config written by imwatch's tests.\n"
        << "ERLANG_NODE=" << node_ << "\n"
        << "ERL_DIST_PORT=" << dist_port_ << "\n"
        << "INET_DIST_INTERFACE=127.0.0.1\n"
        << "EJABBERD_BYPASS_WARNINGS=true\n"
        << "EJABBERD_PID_PATH=" << dir_ << "/ejabberd.pid\n"
        << "ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0\"\n";
    if (!out) {
      error_ = "cannot write " + ctl_config_file_;
      return false;
    }
  }
  const std::string c = dir_ + "/certs/";
  std::ofstream out(config_file_ + ".new");
  out << "# Private ejabberd config written by imwatch's tests; nothing here is\n"
         "# reachable from outside 127.0.0.1.\n"
         "hosts:\n  - "
      << yaml_string(domain_) << "\n"
      << "loglevel: info\n"
         "log_rotate_count: 0\n"
         "hide_sensitive_log_data: true\n"
         "certfiles:\n"
         "  - "
      << yaml_string(c + "good.pem") << "\n  - " << yaml_string(c + "good.key") << "\n  - " << yaml_string(c + "ca.pem")
      << "\n"
      << "acme:\n  auto: false\n"
         "listen:\n"
         "  -\n"
         "    port: "
      << port_ << "\n"
      << "    ip: \"127.0.0.1\"\n"
         "    module: ejabberd_c2s\n"
         "    max_stanza_size: 262144\n"
         "    access: c2s\n"
         "    starttls_required: true\n"
         "s2s_access: none\n"
         "auth_method: internal\n"
         "auth_password_format: scram\n"
         "acl:\n"
         "  local:\n"
         "    user_regexp: \"\"\n"
         "access_rules:\n"
         "  local:\n"
         "    allow: local\n"
         "  c2s:\n"
         "    allow: all\n"
         "api_permissions:\n"
         "  \"console commands\":\n"
         "    from:\n"
         "      - ejabberd_ctl\n"
         "    who: all\n"
         "    what: \"*\"\n"
         "modules:\n"
         "  mod_caps: {}\n"
         "  mod_carboncopy: {}\n"
         "  mod_disco: {}\n"
         "  mod_offline: {}\n"
         "  mod_ping: {}\n"
         "  mod_roster: {}\n"
         "  mod_stream_mgmt: {}\n"
         // Rooms for the fleet: non-anonymous (agents judge authority by real
         // JID), created on first join, no history replayed to newcomers.
         "  mod_muc:\n"
         "    host: \"conference.@HOST@\"\n"
         "    access_create: all\n"
         "    history_size: 0\n"
         "    default_room_options:\n"
         "      anonymous: false\n"
         "      persistent: true\n";
  out.close();
  if (!out) {
    error_ = "cannot write " + config_file_;
    return false;
  }
  std::filesystem::rename(config_file_ + ".new", config_file_);
  if (drop_privileges_) {
    // The whole private tree belongs to the user ejabberd runs as.
    std::error_code ec;
    if (chown(dir_.c_str(), uid_, gid_) != 0) {
      error_ = "chown " + dir_ + ": " + strerror(errno);
      return false;
    }
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (lchown(it->path().c_str(), uid_, gid_) != 0) {
        error_ = "chown " + it->path().string() + ": " + strerror(errno);
        return false;
      }
    }
  }
  return true;
}

std::string EjabberdServer::log_tail() const {
  std::string s = read_file(log_file_);
  if (s.empty()) s = read_file(dir_ + "/ejabberd.out");
  return tail(s);
}

pid_t EjabberdServer::read_beam_pid() const {
  std::ifstream in(dir_ + "/ejabberd.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return -1;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name == "beam.smp" ? static_cast<pid_t>(pid) : -1;
}

bool EjabberdServer::start(milliseconds timeout) {
  if (!ok_) {
    if (error_.empty()) error_ = "EjabberdServer setup failed";
    return false;
  }
  if (running()) return true;
  if (!write_config()) return false;
  std::filesystem::remove(dir_ + "/ejabberd.pid");
  std::error_code ec;
  const auto log_start = static_cast<std::streamoff>(std::filesystem::file_size(log_file_, ec));
  server_ = spawn_guarded(ctl_argv({"foreground"}), dir_ + "/ejabberd.out", true);
  if (server_.guard < 0) {
    error_ = std::string("cannot fork ejabberdctl: ") + strerror(errno);
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(server_.guard, &status, WNOHANG) == server_.guard) {
      server_.guard = -1;
      close(server_.pipe_w);
      server_.pipe_w = -1;
      error_ = "ejabberd exited during startup (exit " + std::to_string(exit_code(status)) +
               "): " + tail(read_file(dir_ + "/ejabberd.out"));
      return false;
    }
    // A bad config is reported at once, but ejabberd may then sit for a
    // minute before it exits: fail fast instead.
    const std::string log = read_file(log_file_, log_start < 0 ? 0 : log_start);
    if (log.find("[critical]") != std::string::npos) {
      stop(std::chrono::seconds(3));
      error_ = "ejabberd failed to start: " + log.substr(log.find("[critical]"), 1500);
      return false;
    }
    if (loopback_port_accepts(port_)) {
      beam_pid_ = read_beam_pid();
      if (beam_pid_ > 0) return true;
    }
    if (Clock::now() >= deadline) {
      stop(std::chrono::seconds(3));
      error_ = "ejabberd did not open 127.0.0.1:" + std::to_string(port_) + " within " +
               std::to_string(timeout.count()) + " ms; log: " + log_tail();
      return false;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

void EjabberdServer::stop(milliseconds grace) {
  if (!running()) return;
  if (beam_pid_ <= 0) beam_pid_ = read_beam_pid();
  if (beam_pid_ > 0) ::kill(beam_pid_, SIGTERM);  // init:stop(); the wrapper follows
  if (wait_guard(server_, grace) == -1) kill_guarded(server_);
  beam_pid_ = -1;
}

void EjabberdServer::kill() {
  if (!running()) return;
  if (beam_pid_ <= 0) beam_pid_ = read_beam_pid();
  if (beam_pid_ > 0) ::kill(beam_pid_, SIGKILL);
  if (wait_guard(server_, std::chrono::seconds(10)) == -1) kill_guarded(server_);
  beam_pid_ = -1;
}

bool EjabberdServer::register_user(const std::string& user, const std::string& password) {
  if (!running()) {
    error_ = "register " + user + ": ejabberd is not running";
    return false;
  }
  return run(ctl_argv({"register", user, domain_, password}), "ejabberdctl register " + user, true);
}

}  // namespace imwatch::test
