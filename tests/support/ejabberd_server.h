// A real ejabberd (Debian's 23.01) for tests of the XMPP path, owned by the
// test; the counterpart of ProsodyServer.
//
// Construction makes a private temp dir and generates in it, with openssl, a
// throwaway CA and a server certificate for test.local (SANs test.local,
// *.test.local, localhost, IP 127.0.0.1). It starts nothing. start() writes a
// private ejabberd.yml (one c2s listener on 127.0.0.1 on a free non-default
// port, STARTTLS required, no s2s/HTTP/STUN/MQTT listeners, no s2s at all)
// and an ejabberdctl.cfg (Erlang distribution on 127.0.0.1 on another free
// port via ERL_DIST_PORT, so no epmd is started or left behind; see
// docs/xmpp.md; mod_muc on muc_domain()), then runs
// `ejabberdctl ... foreground` as the `ejabberd` user. The server is ready
// when its c2s port accepts a TCP connection; startup fails fast when the
// wrapper exits or the log reports a [critical] error (a bad config).
//
// Process ownership: ejabberdctl is a shell script that forks erl, so
// beam.smp is a grandchild and PR_SET_PDEATHSIG on the direct child would
// not reach it. Each ejabberdctl call therefore runs under a small forked
// guard process: the guard leads a process group of its own, is a child
// subreaper (orphans of the group come back to it), and holds the read end
// of a pipe whose write end only the test process holds. When the test
// process goes away for any reason, even SIGKILL, the pipe reaches EOF and
// the guard SIGTERMs, then SIGKILLs, the whole group. The direct child also
// has PR_SET_PDEATHSIG(SIGKILL) tied to the guard. Normal shutdown (stop(),
// the destructor) sends SIGTERM to beam.smp's own PID (read from the pid
// file ejabberd writes, checked against /proc/PID/comm) and falls back to
// SIGKILL of the group after `grace`. A guard that outlives the test process
// also removes the temp dir.
//
// Typical use:
//   EjabberdServer server;
//   ASSERT_TRUE(server.start()) << server.error();
//   ASSERT_TRUE(server.register_user("agent", "secret")) << server.error();
//
// Needs root (ejabberdctl then runs as the ejabberd user; the temp dir is
// handed to that user) or to run as the ejabberd user. Unlike prosody,
// accounts can only be registered while the server runs (each
// `ejabberdctl register` boots an Erlang VM: about 1 s).
//
// Not thread-safe; use from the test's main thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace imwatch::test {

class EjabberdServer {
 public:
  // Generates the certificates (about 0.3 s). Failure is reported by ok()
  // and error(), and makes start() fail, so a test can ASSERT on it.
  EjabberdServer();
  ~EjabberdServer();
  EjabberdServer(const EjabberdServer&) = delete;
  EjabberdServer& operator=(const EjabberdServer&) = delete;

  bool ok() const { return ok_; }
  // What the last failing call reported (with the tail of ejabberd's log
  // when the server did not come up). Never contains a password.
  const std::string& error() const { return error_; }

  // Starts ejabberd and waits (at most `timeout`) until the c2s port accepts
  // a connection. Restarting reuses ports and the Mnesia spool: accounts
  // persist across stop(), but kill() may lose those registered in the last
  // minutes (Mnesia's dets files are saved lazily). True if it is running.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGTERM to beam.smp's PID, then SIGKILL to the whole group if it has not
  // exited within `grace`. Waits for every process of the server to be gone.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // SIGKILL to beam.smp, for fault tests (clients see ConnStreamClosed).
  void kill();
  bool running() const { return server_.guard > 0; }
  // beam.smp's PID while running, else -1.
  pid_t pid() const { return beam_pid_; }

  // `ejabberdctl register USER DOMAIN PASS`; needs a running server. The
  // password is not logged (it does appear on the command line of the
  // control VM, acceptable for throwaway test accounts only).
  bool register_user(const std::string& user, const std::string& password);

  const std::string& domain() const { return domain_; }
  // The MUC service (mod_muc): rooms are created by their first joiner and
  // show every occupant's real JID.
  std::string muc_domain() const { return "conference." + domain_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& config_file() const { return config_file_; }
  // ejabberd's own log (the foreground output is in dir()/ejabberd.out).
  const std::string& log_file() const { return log_file_; }
  // The throwaway CA that signed the server certificate.
  std::string ca_file() const { return dir_ + "/certs/ca.pem"; }
  std::string cert_file() const { return dir_ + "/certs/good.pem"; }

 private:
  struct Guarded {
    pid_t guard = -1;  // leads the process group; exits when all of it is gone
    int pipe_w = -1;   // closing it makes the guard kill the group
  };
  bool generate_certificates();
  bool write_config();
  std::vector<std::string> ctl_argv(const std::vector<std::string>& command) const;
  // Runs argv under a guard; `owns_dir`: the guard also removes dir() if
  // the test process dies without doing so.
  Guarded spawn_guarded(const std::vector<std::string>& argv, const std::string& output, bool owns_dir = false);
  // Waits at most `timeout` for the guard to exit; its status, or -1.
  static int wait_guard(Guarded& g, std::chrono::milliseconds timeout);
  static void kill_guarded(Guarded& g);
  bool run(const std::vector<std::string>& argv, const std::string& what, bool as_server_user,
           std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string log_tail() const;
  pid_t read_beam_pid() const;

  std::string domain_ = "test.local";
  std::string node_;
  std::string dir_;
  std::string config_file_;
  std::string ctl_config_file_;
  std::string log_file_;
  std::string error_;
  int port_ = 0;
  int dist_port_ = 0;
  uid_t uid_ = 0;  // the ejabberd user, when we run as root
  gid_t gid_ = 0;
  bool drop_privileges_ = false;
  Guarded server_;
  pid_t beam_pid_ = -1;
  bool ok_ = false;
};

}  // namespace imwatch::test
