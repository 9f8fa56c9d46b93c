#pragma once
// One exception type for the whole library, so callers can catch gfnlm failures apart from
// their own. Every message names the offending file, field or value (STYLE: errors).
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace gfnlm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown by loaders when a file is malformed: truncated, bad magic, offsets out of range.
class FormatError : public Error {
 public:
  using Error::Error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace gfnlm

// Checks a precondition that depends on user input; never compiled out.
#define GFNLM_CHECK(cond, ...)               \
  do {                                       \
    if (!(cond)) ::gfnlm::fail(__VA_ARGS__); \
  } while (false)
