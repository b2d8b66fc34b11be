#include "agent/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace imwatch::agent {

namespace {

// Writes "<prio>message\n" to stderr; journald strips the prefix and files
// the line at that priority (sd-daemon(3)). Timestamps come from journald.
class JournalStderrSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    int prio = 6;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: prio = 7; break;
      case spdlog::level::info: prio = 6; break;
      case spdlog::level::warn: prio = 4; break;
      case spdlog::level::err: prio = 3; break;
      case spdlog::level::critical: prio = 2; break;
      default: break;
    }
    spdlog::memory_buf_t buf;
    fmt::format_to(std::back_inserter(buf), "<{}>", prio);
    buf.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    buf.push_back('\n');
    ::fwrite(buf.data(), 1, buf.size(), stderr);
  }
  void flush_() override { ::fflush(stderr); }
};

}  // namespace

void setup_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (std::getenv("JOURNAL_STREAM")) {
    logger = std::make_shared<spdlog::logger>("imwatch", std::make_shared<JournalStderrSink>());
  } else {
    logger = std::make_shared<spdlog::logger>("imwatch", std::make_shared<spdlog::sinks::stderr_sink_st>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l: %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);  // stderr is unbuffered for a reason
  spdlog::set_default_logger(logger);
}

}  // namespace imwatch::agent
