#pragma once
// What every example program shares at its edges (issue 18): flag validators whose messages
// read as sentences, output and cache paths proven writable before any work, a bound on
// --threads, and a main() wrapper through which every exception becomes one line on stderr and
// exit status 1. CLI11 prefixes a validator's message with the flag's name.
//
// Flag vocabulary, the same in every program (docs/programs.md):
//   --out DIR        where results are written (created; must be writable)
//   --cache-dir DIR  where a pretrained base model is cached;  --no-cache: never read or write it
//   --model PATH, --tokenizer PATH   a checkpoint someone else trained
//   --seed N, --threads N, --samples N, --quick
#include <gfnlm/core/error.hpp>

#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <thread>

namespace gfnlm::program {

// Parses a whole flag value as a finite number; false (and `error` set) otherwise.
inline bool parse_finite(const std::string& text, double& value, std::string& error) {
  errno = 0;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    error = fmt::format("'{}' is not a number", text);
    return false;
  }
  if (!std::isfinite(value) || errno == ERANGE) {
    error = fmt::format("{} is not a finite number", text);
    return false;
  }
  return true;
}

// A number in [lo, hi] (either bound may be infinite: "at least", "at most"); NaN and inf are
// rejected too, which CLI11's own Range does not do (NaN compares false with both bounds).
inline CLI::Validator in_range(double lo, double hi, std::string description = "") {
  if (description.empty()) {
    if (std::isinf(hi))
      description = fmt::format("at least {}", lo);
    else if (std::isinf(lo))
      description = fmt::format("at most {}", hi);
    else
      description = fmt::format("from {} to {}", lo, hi);
  }
  return CLI::Validator(
      [lo, hi, description](std::string& text) -> std::string {
        double v = 0;
        std::string error;
        if (!parse_finite(text, v, error)) return error + ": must be " + description;
        if (v < lo || v > hi) return fmt::format("{} is not {}", text, description);
        return {};
      },
      description);
}

inline constexpr double kInf = std::numeric_limits<double>::infinity();

inline CLI::Validator at_least(double lo) {
  return in_range(lo, kInf);
}
// > 0 for a real value (learning rates, temperatures): the smallest positive double is allowed.
inline CLI::Validator positive_real() {
  return in_range(std::numeric_limits<double>::denorm_min(), kInf, "greater than 0");
}
inline CLI::Validator probability() {
  return in_range(0.0, 1.0);
}

// A text that must not be empty (a prompt).
inline CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; },
      "not empty");
}

// OpenMP thread count: 0 is OpenMP's default (OMP_NUM_THREADS or one per core). The bound keeps
// libgomp from failing half-way through creating threads (100000 crashed); 256 threads run here.
inline constexpr int kMaxThreads = 256;
inline CLI::Validator threads() {
  return in_range(0, kMaxThreads,
                  fmt::format("from 0 (OpenMP's default) to {}; this machine has {} cores",
                              kMaxThreads, std::thread::hardware_concurrency()));
}
inline void apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

// A directory the program will write into: created now and probed with a file, so an
// unwritable --out or --cache-dir fails before hours of training rather than after.
inline void require_writable_directory(const std::filesystem::path& dir, std::string_view flag) {
  namespace fs = std::filesystem;
  GFNLM_CHECK(!dir.empty(), "{}: an empty path", flag);
  std::error_code ec;
  fs::create_directories(dir, ec);
  GFNLM_CHECK(!ec, "{} '{}': cannot create the directory: {}", flag, dir.string(), ec.message());
  GFNLM_CHECK(fs::is_directory(dir), "{} '{}' exists and is not a directory", flag, dir.string());
  const auto probe = dir / ".gfnlm_write_probe";
  {
    std::ofstream os(probe, std::ios::binary | std::ios::trunc);
    os << "probe";
    os.flush();
    GFNLM_CHECK(os.good(), "{} '{}': the directory is not writable", flag, dir.string());
  }
  fs::remove(probe, ec);
}

// A file the program will write at the end: its directory must be writable now.
inline void require_writable_file(const std::filesystem::path& file, std::string_view flag) {
  namespace fs = std::filesystem;
  GFNLM_CHECK(!file.empty() && file.has_filename(), "{} '{}': not a file name", flag,
              file.string());
  GFNLM_CHECK(!fs::is_directory(file), "{} '{}' is a directory; give a file name", flag,
              file.string());
  require_writable_directory(file.has_parent_path() ? file.parent_path() : fs::path("."), flag);
}

// An input that must exist (a file, or a directory when directory_ok).
inline void require_existing(const std::filesystem::path& path, std::string_view flag,
                             bool directory_ok = true) {
  namespace fs = std::filesystem;
  std::error_code ec;
  GFNLM_CHECK(fs::exists(path, ec), "{} '{}': no such file or directory", flag, path.string());
  GFNLM_CHECK(directory_ok || !fs::is_directory(path), "{} '{}' is a directory; give a file", flag,
              path.string());
  if (!fs::is_directory(path)) {
    std::ifstream is(path, std::ios::binary);
    GFNLM_CHECK(is.good(), "{} '{}': cannot be read", flag, path.string());
  }
}

// Where run() writes an error: stderr, or on a data-parallel rank whose output is muted the
// stderr it started with (examples/world.hpp).
inline int& error_fd() {
  static int fd = STDERR_FILENO;
  return fd;
}

// Runs a program's body: every exception reaches here and becomes "program: message", exit 1.
inline int run(std::string_view name, const std::function<int()>& body) {
  std::string line;
  try {
    return body();
  } catch (const std::exception& e) {
    line = fmt::format("{}: error: {}\n", name, e.what());
  } catch (...) {
    line = fmt::format("{}: error: an unknown exception\n", name);
  }
  std::fflush(stderr);
  for (std::size_t done = 0; done < line.size();) {
    const auto n = ::write(error_fd(), line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += std::size_t(n);
  }
  return 1;
}

}  // namespace gfnlm::program
