// A real prosody (Debian's 0.12) for tests of the XMPP path, owned by the test.
//
// Construction makes a private temp dir and generates in it, with openssl, a
// throwaway CA and every certificate the TLS tests need (see CertKind). It
// starts nothing. start() writes a private config (loopback only, a free
// non-default c2s port, no s2s, no HTTP, TLS required) and runs
// `prosody --config FILE -F` as a child; the server is ready when its c2s
// port accepts a TCP connection (the PID alone proves nothing: a prosody
// that half-failed keeps running without ever opening c2s; see docs/xmpp.md).
// The child gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the test process
// even on a crash; the destructor stops it by PID and removes the temp dir,
// also when the test failed.
//
// Typical use:
//   ProsodyServer server;
//   ASSERT_TRUE(server.register_user("agent", "secret")) << server.error();
//   ASSERT_TRUE(server.start()) << server.error();
//
// Not thread-safe; use from the test's main thread (PR_SET_PDEATHSIG fires
// when the *thread* that forked exits).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace imwatch::test {

// Which certificate prosody presents. All are for test.local unless stated.
enum class CertKind {
  good,         // signed by ca_file(); SANs test.local, *.test.local, localhost, IP 127.0.0.1
  wrong_name,   // signed by ca_file(), but for other.example only
  self_signed,  // test.local, signed by its own key
  expired,      // signed by ca_file(), valid 2023-01-01 .. 2024-01-01
};

class ProsodyServer {
 public:
  // Generates the certificates (about 0.5 s). Failure is reported by ok()
  // and error(), and makes start() fail, so a test can ASSERT on it.
  ProsodyServer();
  ~ProsodyServer();
  ProsodyServer(const ProsodyServer&) = delete;
  ProsodyServer& operator=(const ProsodyServer&) = delete;

  bool ok() const { return ok_; }
  // What the last failing call reported (with the tail of prosody's log when
  // the server did not come up). Never contains a password.
  const std::string& error() const { return error_; }

  // Chooses the certificate for the next start(); a running server keeps its
  // current one until restarted.
  void use_certificate(CertKind kind);

  // Adds the MUC component conference.DOMAIN to the next start(): rooms are
  // created by joining (unlocked), and show occupants' real JIDs to every
  // occupant unless `public_jids` is false (semi-anonymous: moderators only).
  void enable_muc(bool public_jids = true) {
    muc_ = true;
    muc_public_jids_ = public_jids;
  }
  std::string muc_domain() const { return "conference." + domain_; }

  // Starts prosody and waits (at most `timeout`) until the c2s port accepts
  // a connection. Restarting after stop()/kill() reuses port and data, so
  // accounts persist. True if it is running.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGTERM by PID, then SIGKILL if it has not exited within `grace`.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // SIGKILL by PID, for fault tests (clients see ConnStreamClosed).
  void kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // `prosodyctl --config FILE register USER DOMAIN PASS`; works whether or
  // not the server runs. The password is not logged (it does appear on the
  // prosodyctl command line, acceptable for throwaway test accounts only).
  bool register_user(const std::string& user, const std::string& password);

  const std::string& domain() const { return domain_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& config_file() const { return config_file_; }
  const std::string& log_file() const { return log_file_; }
  // The throwaway CA that signed good, wrong_name and expired.
  std::string ca_file() const;
  // An unrelated CA that signed nothing prosody presents.
  std::string other_ca_file() const;
  // The certificate (PEM) of `kind`, and the one chosen by use_certificate().
  std::string cert_file(CertKind kind) const;
  std::string server_cert_file() const { return cert_file(cert_kind_); }
  // "sha256:BASE64" of the public key of server_cert_file() / of `kind`.
  std::string pin_of_server_cert() const { return pin_of(cert_kind_); }
  std::string pin_of(CertKind kind) const;

 private:
  bool generate_certificates();
  bool write_config();
  std::string key_file(CertKind kind) const;
  std::string log_tail() const;
  bool run(const std::vector<std::string>& argv, const std::string& what,
           std::chrono::milliseconds timeout = std::chrono::seconds(20));

  std::string domain_ = "test.local";
  std::string dir_;
  std::string config_file_;
  std::string log_file_;
  std::string error_;
  CertKind cert_kind_ = CertKind::good;
  int port_ = 0;
  pid_t pid_ = -1;
  bool ok_ = false;
  bool muc_ = false, muc_public_jids_ = true;
};

}  // namespace imwatch::test
