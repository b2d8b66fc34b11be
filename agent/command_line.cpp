#include "agent/command_line.h"

#include <fmt/format.h>

namespace imwatch::agent {

namespace {

// Outside quotes, what a shell would act on: refused rather than passed on
// as an argument the admin did not mean.
constexpr std::string_view kShellOnly = "|;&<>`$";

std::string at(size_t i) { return fmt::format(" at column {}", i + 1); }

bool is_control(char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }

class Splitter {
 public:
  Splitter(std::string_view text, std::vector<std::string>& words) : t_(text), words_(words) {}

  std::string run() {
    for (i_ = 0; i_ < t_.size(); ++i_) {
      if (auto err = step(); !err.empty()) return err;
      if (words_.size() > kMaxCommandWords) return fmt::format("more than {} words", kMaxCommandWords);
    }
    end_word();
    if (words_.size() > kMaxCommandWords) return fmt::format("more than {} words", kMaxCommandWords);
    return {};
  }

 private:
  std::string step() {
    const char c = t_[i_];
    if (is_control(c)) return "a control character" + at(i_);
    if (c == ' ' || c == '\t') return end_word(), std::string();
    if (c == '\'') return single_quoted();
    if (c == '"') return double_quoted();
    if (c == '\\') {
      if (i_ + 1 >= t_.size()) return "a backslash at the end (nothing to escape)";
      ++i_;
      if (is_control(t_[i_])) return "a control character" + at(i_);
      return add(t_[i_]), std::string();
    }
    if (kShellOnly.find(c) != std::string_view::npos || (c == '~' && !in_word_))
      return fmt::format("'{}'{}: there is no shell (nothing is expanded, piped or redirected); quote it to pass it "
                         "as an argument",
                         c, at(i_));
    return add(c), std::string();
  }

  std::string single_quoted() {
    const size_t open = i_;
    in_word_ = true;
    for (++i_; i_ < t_.size() && t_[i_] != '\''; ++i_) {
      if (is_control(t_[i_])) return "a control character" + at(i_);
      word_ += t_[i_];
    }
    if (i_ >= t_.size()) return "an unclosed single quote" + at(open);
    return {};
  }

  std::string double_quoted() {
    const size_t open = i_;
    in_word_ = true;
    for (++i_; i_ < t_.size() && t_[i_] != '"'; ++i_) {
      char c = t_[i_];
      if (c == '\\' && i_ + 1 < t_.size() && std::string_view("\"\\$`").find(t_[i_ + 1]) != std::string_view::npos)
        c = t_[++i_];
      if (is_control(c)) return "a control character" + at(i_);
      word_ += c;
    }
    if (i_ >= t_.size()) return "an unclosed double quote" + at(open);
    return {};
  }

  void add(char c) {
    in_word_ = true;
    word_ += c;
  }
  void end_word() {
    if (in_word_) words_.push_back(std::move(word_));
    word_.clear();
    in_word_ = false;
  }

  std::string_view t_;
  std::vector<std::string>& words_;
  size_t i_ = 0;
  std::string word_;
  bool in_word_ = false;  // a word has begun (also an empty quoted one)
};

}  // namespace

std::string split_command_line(std::string_view text, std::vector<std::string>& words) {
  words.clear();
  if (text.size() > kMaxCommandLine) return fmt::format("longer than {} bytes", kMaxCommandLine);
  std::string err = Splitter(text, words).run();
  if (!err.empty()) words.clear();
  return err;
}

}  // namespace imwatch::agent
