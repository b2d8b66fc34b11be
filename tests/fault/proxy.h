// A loopback TCP proxy that can cut a link without a FIN, for fault tests.
//
// It listens on 127.0.0.1 (a port the kernel picks) and forwards every
// connection to 127.0.0.1:`upstream_port`, from its own thread with one
// poll() loop. Two faults:
//   stall(): the connections open now stop forwarding both ways, and their
//            sockets stay open: no FIN, no RST, nothing. Only an
//            application-level ping notices. New connections flow, as after
//            a NAT or firewall forgot a flow.
//   drop():  every connection is reset at once (SO_LINGER 0: RST, no FIN).
// release_stalled() resets the stalled connections, discarding whatever they
// buffered, as a dead path would have. refuse(true) resets every new
// connection at once, as when the whole path is cut (a stall alone lets a
// reconnect through at once).
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imwatch::test {

class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // Binds 127.0.0.1:0 and starts the thread. False (and error()) on failure.
  bool start();
  int port() const { return port_; }
  const std::string& error() const { return error_; }

  void stall();
  void drop();
  void release_stalled();
  void refuse(bool on) { refuse_ = on; }

  int accepted() const { return accepted_; }
  int stalled_now() const { return stalled_now_; }

 private:
  struct Pair {
    int a = -1, b = -1;  // agent side, server side
    std::string a2b, b2a;
    bool stalled = false;
  };
  enum class Cmd { stall, drop, release };

  void run();
  void accept_one();
  void close_pair(Pair& p, bool reset);

  int upstream_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::string error_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Cmd> cmds_;
  std::atomic<bool> quit_{false};
  std::atomic<bool> refuse_{false};
  std::atomic<int> accepted_{0}, stalled_now_{0};
  std::vector<Pair> pairs_;  // the thread's alone
};

}  // namespace imwatch::test
