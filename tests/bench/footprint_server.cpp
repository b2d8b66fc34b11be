// A private prosody on loopback for scripts (tests/bench/footprint.sh):
// the same ProsodyServer the XMPP tests use (throwaway CA, TLS required,
// loopback only, a free non-default port), with two accounts, `agent` and
// `admin`, and an [xmpp] section for the agent's config.
//
// Usage: footprint_server DIR [MAX_SECONDS]
//   Writes DIR/password (mode 0600, the agent's password; never on a command
//   line of the agent) and DIR/xmpp.conf (an [xmpp] section that reads it
//   through password_file), prints "ready PROSODY_PID PORT" on stdout, then
//   waits until stdin is closed, SIGTERM/SIGINT arrives, or MAX_SECONDS
//   (default 3600) have passed. On the way out prosody is stopped by its PID
//   and its temp dir removed (ProsodyServer's destructor); prosody also dies
//   with this process on a crash (PR_SET_PDEATHSIG).
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/prosody_server.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// Throwaway accounts on a throwaway server; the agent reads its password from
// a file, so it appears in no argv of the agent. (ProsodyServer's register
// puts it on prosodyctl's command line, acceptable for test accounts only.)
constexpr const char* kAgentPassword = "footprint-agent-pw";
constexpr const char* kAdminPassword = "footprint-admin-pw";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s DIR [MAX_SECONDS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const long max_seconds = argc == 3 ? std::strtol(argv[2], nullptr, 10) : 3600;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  imwatch::test::ProsodyServer server;
  if (!server.ok()) {
    std::fprintf(stderr, "footprint_server: prosody setup: %s\n", server.error().c_str());
    return 1;
  }
  if (!server.register_user("agent", kAgentPassword) || !server.register_user("admin", kAdminPassword)) {
    std::fprintf(stderr, "footprint_server: register: %s\n", server.error().c_str());
    return 1;
  }
  if (!server.start()) {
    std::fprintf(stderr, "footprint_server: prosody: %s\n", server.error().c_str());
    return 1;
  }
  const std::string pw = dir + "/password";
  {
    std::ofstream(pw) << kAgentPassword << "\n";
    ::chmod(pw.c_str(), 0600);
    std::ofstream conf(dir + "/xmpp.conf");
    conf << "[xmpp]\njid = agent@" << server.domain() << "\npassword_file = " << pw
         << "\nhost = 127.0.0.1\nport = " << server.port() << "\nresource = footprint\nca_file = " << server.ca_file()
         << "\nadmin = admin@" << server.domain() << "\n";
    if (!conf) {
      std::fprintf(stderr, "footprint_server: cannot write %s/xmpp.conf\n", dir.c_str());
      return 1;
    }
  }
  std::printf("ready %d %d\n", static_cast<int>(server.pid()), server.port());
  std::fflush(stdout);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  while (!g_stop && std::chrono::steady_clock::now() < deadline) {
    pollfd p{0, POLLIN, 0};
    int n = ::poll(&p, 1, 500);
    if (n > 0) {
      char buf[256];
      if (::read(0, buf, sizeof buf) <= 0) break;  // stdin closed: the script is done
    }
  }
  server.stop();
  return 0;
}
