#include "agent/run_mute.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "agent/config.h"
#include "agent/control.h"

namespace imwatch::agent {

namespace {

constexpr const char* kUsage = "usage: imwatch run --mute RULE[,RULE...]|all [--max DURATION] -- COMMAND [ARGS...]";

// The command's name as the team sees it: its last path component.
std::string command_name(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.empty() ? "command" : name;
}

// How the child ended, for the agent ("exited 0", "killed by SIGKILL") and
// as our own exit status.
std::string ending(int status, int& exit_status) {
  if (WIFEXITED(status)) {
    exit_status = WEXITSTATUS(status);
    return "exited " + std::to_string(exit_status);
  }
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  exit_status = 128 + sig;
  const char* abbrev = sigabbrev_np(sig);
  return std::string("killed by SIG") + (abbrev ? abbrev : std::to_string(sig).c_str());
}

bool ask(const std::string& socket, const std::string& line, std::string& said) {
  Response r;
  std::string error;
  if (!ask_agent(socket, line, r, error)) {
    said = "no agent answers on " + socket + ": " + error;
    return false;
  }
  said = r.text;
  return r.status == "ok";
}

}  // namespace

std::string parse_run_args(const std::vector<std::string>& words, RunArgs& out) {
  size_t i = 0;
  for (; i < words.size() && words[i] != "--"; ++i) {
    const std::string& w = words[i];
    if ((w == "--mute" || w == "--max") && i + 1 >= words.size()) return w + " needs a value; " + kUsage;
    if (w == "--mute") {
      out.rules = words[++i];
    } else if (w == "--max") {
      auto d = parse_duration(words[++i]);
      if (!d || *d <= 0) return "--max: expected a duration like 2h, got '" + words[i] + "'";
      out.max = *d;
    } else {
      return "unexpected '" + w + "'; " + kUsage;
    }
  }
  if (out.rules.empty()) return std::string("--mute is required; ") + kUsage;
  if (i + 1 >= words.size()) return std::string("no command after --; ") + kUsage;
  out.command.assign(words.begin() + static_cast<long>(i) + 1, words.end());
  return {};
}

int find_run(int argc, const char* const argv[]) {
  for (int i = 1; i + 1 < argc; ++i) {
    std::string_view next = argv[i + 1];
    if (std::string_view(argv[i]) == "run" && (next == "--mute" || next == "--max" || next == "--")) return i;
  }
  return 0;
}

int run_muted(const std::string& socket_path, const RunArgs& args) {
  const std::string name = command_name(args.command[0]);
  std::string line = "hold " + args.rules;
  if (args.max) line += " max " + format_duration(*args.max);
  line += " cmd " + name;
  std::string said;
  const bool held = ask(socket_path, line, said);
  if (!held) std::fprintf(stderr, "imwatch run: %s; running %s unmuted\n", said.c_str(), name.c_str());

  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "imwatch run: fork: %s\n", std::strerror(errno));
    if (held) ask(socket_path, "unhold could not start", said);
    return 1;
  }
  if (child == 0) {
    std::vector<char*> argv;
    for (const auto& a : args.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "imwatch run: %s: %s\n", args.command[0].c_str(), std::strerror(errno));
    ::_exit(errno == ENOENT ? 127 : 126);
  }
  // Ctrl-C reaches the command (same process group); we stay to report.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGQUIT, SIG_IGN);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int exit_status = 0;
  const std::string how = ending(status, exit_status);
  if (held && !ask(socket_path, "unhold " + how, said))
    std::fprintf(stderr, "imwatch run: releasing the hold: %s\n", said.c_str());
  std::fprintf(stderr, "imwatch run: %s %s\n", name.c_str(), how.c_str());
  return exit_status;
}

}  // namespace imwatch::agent
