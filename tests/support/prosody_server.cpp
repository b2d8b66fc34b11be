#include "tests/support/prosody_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/xmpp/tls_gnutls.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_net.h"

namespace imwatch::test {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* cert_name(CertKind kind) {
  switch (kind) {
    case CertKind::good: return "good";
    case CertKind::wrong_name: return "wrong_name";
    case CertKind::self_signed: return "self_signed";
    case CertKind::expired: return "expired";
  }
  return "good";
}

// fork + exec, never a shell. stdin is /dev/null, stdout and stderr go to
// `output` (appended). The child is killed if the forking thread dies, so
// nothing outlives a crashed test.
pid_t spawn(const std::vector<std::string>& argv, const std::string& output) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;  // parent, or -1
  // Child: only async-signal-safe calls from here on.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(126);
  if (getppid() != parent) _exit(126);  // parent already gone before prctl
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (in < 0 || out < 0) _exit(126);
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  execvp(args[0], args.data());
  _exit(127);
}

// Waits at most `timeout` for `pid`; returns its wait status or -1 on timeout.
int wait_for_exit(pid_t pid, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // not our child (any more)
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

std::string lua_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

ProsodyServer::ProsodyServer() {
  char tmpl[] = "/tmp/imwatch-prosody-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error_ = std::string("mkdtemp failed: ") + strerror(errno);
    return;
  }
  dir_ = tmpl;
  config_file_ = dir_ + "/prosody.cfg.lua";
  log_file_ = dir_ + "/prosody.log";
  std::filesystem::create_directories(dir_ + "/data");
  std::filesystem::create_directories(dir_ + "/certs");
  port_ = free_loopback_port();
  if (port_ == 0) {
    error_ = "no free loopback port";
    return;
  }
  ok_ = generate_certificates() && write_config();
}

ProsodyServer::~ProsodyServer() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool ProsodyServer::run(const std::vector<std::string>& argv, const std::string& what, milliseconds timeout) {
  const std::string output = dir_ + "/command.out";
  std::filesystem::remove(output);
  pid_t pid = spawn(argv, output);
  if (pid < 0) {
    error_ = what + ": fork failed: " + strerror(errno);
    return false;
  }
  int status = wait_for_exit(pid, timeout);
  if (status == -1) {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    error_ = what + ": timed out";
    return false;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  std::ifstream in(output);
  std::stringstream text;
  text << in.rdbuf();
  error_ = what + " failed (status " + std::to_string(status) + "): " + text.str();
  return false;
}

bool ProsodyServer::generate_certificates() {
  for (const auto& argv : test_certificate_commands(dir_ + "/certs", CertSet::tls_variants)) {
    if (!run(argv, "openssl " + argv[1])) return false;
  }
  return true;
}

std::string ProsodyServer::ca_file() const { return dir_ + "/certs/ca.pem"; }
std::string ProsodyServer::other_ca_file() const { return dir_ + "/certs/other_ca.pem"; }
std::string ProsodyServer::cert_file(CertKind kind) const { return dir_ + "/certs/" + cert_name(kind) + ".pem"; }
std::string ProsodyServer::key_file(CertKind kind) const { return dir_ + "/certs/" + cert_name(kind) + ".key"; }

std::string ProsodyServer::pin_of(CertKind kind) const {
  std::string err;
  return agent::pin_of_pem_certificate(cert_file(kind), &err).value_or("");
}

void ProsodyServer::use_certificate(CertKind kind) {
  cert_kind_ = kind;
  if (ok_) write_config();
}

bool ProsodyServer::write_config() {
  const std::string cert = lua_string(cert_file(cert_kind_));
  const std::string key = lua_string(key_file(cert_kind_));
  std::ofstream out(config_file_ + ".new");
  out << "-- Private prosody config written by imwatch's tests; nothing here is\n"
         "-- reachable from outside 127.0.0.1.\n"
         "run_as_root = true -- CI runs as root; without it prosody never opens c2s\n"
         "daemonize = false\n"
         "pidfile = "
      << lua_string(dir_ + "/prosody.pid") << "\n"
      << "data_path = " << lua_string(dir_ + "/data") << "\n"
      << "log = { info = " << lua_string(log_file_) << " }\n"
      << "interfaces = { \"127.0.0.1\" }\n"
         "local_interfaces = { \"127.0.0.1\" }\n"
         "c2s_ports = { "
      << port_ << " }\n"
      << "c2s_direct_tls_ports = { }\n"
         "s2s_ports = { }\n"
         "component_ports = { }\n"
         "http_ports = { }\n"
         "https_ports = { }\n"
         "modules_disabled = { \"s2s\" }\n"
         "c2s_require_encryption = true\n"
         "authentication = \"internal_hashed\"\n"
         "network_settings = { nagle = false }\n"
         "modules_enabled = {\n"
         "  \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; \"ping\"; \"presence\";\n"
         "  \"smacks\"; \"carbons\"; \"offline\"; \"posix\";\n"
         "}\n"
         "ssl = { certificate = "
      << cert << "; key = " << key << " }\n"
      << "VirtualHost " << lua_string(domain_) << "\n"
      << "  ssl = { certificate = " << cert << "; key = " << key << " }\n";
  if (muc_)
    out << "Component " << lua_string(muc_domain()) << " \"muc\"\n"
        << "  muc_room_locking = false\n"
        << "  muc_room_default_public_jids = " << (muc_public_jids_ ? "true" : "false") << "\n"
        << "  muc_room_default_history_length = 20\n";
  out.close();
  if (!out) {
    error_ = "cannot write " + config_file_;
    return false;
  }
  std::filesystem::rename(config_file_ + ".new", config_file_);
  return true;
}

std::string ProsodyServer::log_tail() const {
  std::ifstream in(log_file_);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

bool ProsodyServer::start(milliseconds timeout) {
  if (!ok_) {
    if (error_.empty()) error_ = "ProsodyServer setup failed";
    return false;
  }
  if (running()) return true;
  if (!write_config()) return false;
  pid_ = spawn({"prosody", "--config", config_file_, "-F"}, log_file_);
  if (pid_ < 0) {
    error_ = std::string("cannot fork prosody: ") + strerror(errno);
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "prosody exited during startup (status " + std::to_string(status) + "); log tail:\n" + log_tail();
      return false;
    }
    if (loopback_port_accepts(port_)) return true;
    if (Clock::now() >= deadline) {
      stop();
      error_ = "prosody did not open c2s port " + std::to_string(port_) + " within " + std::to_string(timeout.count()) +
               " ms; log tail:\n" + log_tail();
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

void ProsodyServer::stop(milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (wait_for_exit(pid_, grace) == -1) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

void ProsodyServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool ProsodyServer::register_user(const std::string& user, const std::string& password) {
  if (!ok_) return false;
  if (!run({"prosodyctl", "--config", config_file_, "register", user, domain_, password},
           "prosodyctl register " + user)) {
    return false;
  }
  return true;
}

}  // namespace imwatch::test
