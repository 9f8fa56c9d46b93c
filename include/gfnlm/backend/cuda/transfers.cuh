#pragma once
// Host <-> device traffic per call site (issue 17, item 6): every Cuda::to_host / from_host adds
// its bytes to a process-wide table keyed by the caller's file, line and direction, so a test or a
// benchmark can assert what a train step moves (tokens and gathered log-probs, never logits) and
// name the line that moves too much.
//
//   auto& counter = gfnlm::cuda::transfer_counter();
//   counter.reset();
//   sampler.train_step(queries);
//   std::size_t bytes = counter.bytes();           // both directions
//   for (const auto& site : counter.snapshot()) ... // file:line, direction, calls, bytes, largest
//   std::fputs(counter.report().c_str(), stderr);  // the same as a table, largest first
//
// The site is the direct caller of to_host / from_host (std::source_location); a helper that
// wraps them (LmPolicy's upload / download, the optimiser's checkpoint copies) counts as one site.
// Counting takes a mutex and a map lookup per copy, negligible beside a cudaMemcpy.
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <source_location>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace gfnlm::cuda {

enum class TransferDirection { to_host, from_host };

inline const char* to_string(TransferDirection d) {
  return d == TransferDirection::to_host ? "to_host" : "from_host";
}

struct TransferSite {
  std::string file;
  unsigned line = 0;
  TransferDirection direction = TransferDirection::to_host;
  std::size_t calls = 0, bytes = 0;
  std::size_t largest = 0;  // bytes of the largest single copy
};

class TransferCounter {
 public:
  void add(const std::source_location& where, TransferDirection direction, std::size_t bytes) {
    const std::lock_guard lock(mutex_);
    auto& c = sites_[Key{where.file_name(), where.line(), direction}];
    ++c.calls;
    c.bytes += bytes;
    c.largest = std::max(c.largest, bytes);
  }

  void reset() {
    const std::lock_guard lock(mutex_);
    sites_.clear();
  }

  // Every site since the last reset, the most bytes first.
  std::vector<TransferSite> snapshot() const {
    std::vector<TransferSite> out;
    {
      const std::lock_guard lock(mutex_);
      out.reserve(sites_.size());
      for (const auto& [key, c] : sites_)
        out.push_back({std::string(std::get<0>(key)), std::get<1>(key), std::get<2>(key), c.calls,
                       c.bytes, c.largest});
    }
    std::stable_sort(out.begin(), out.end(), [](const TransferSite& a, const TransferSite& b) {
      return a.bytes > b.bytes;
    });
    return out;
  }

  // Bytes (calls) since the last reset, both directions or one.
  std::size_t bytes() const { return total(nullptr, &Counts::bytes); }
  std::size_t bytes(TransferDirection d) const { return total(&d, &Counts::bytes); }
  std::size_t calls() const { return total(nullptr, &Counts::calls); }
  std::size_t calls(TransferDirection d) const { return total(&d, &Counts::calls); }
  // The largest single copy since the last reset.
  std::size_t largest() const {
    const std::lock_guard lock(mutex_);
    std::size_t m = 0;
    for (const auto& [key, c] : sites_) m = std::max(m, c.largest);
    return m;
  }

  // The snapshot as a table, one site a line.
  std::string report() const {
    std::string out =
        fmt::format("host-device transfers: {} bytes in {} calls\n", bytes(), calls());
    for (const auto& s : snapshot())
      out += fmt::format("  {:>12} B {:>7} calls (largest {:>10} B)  {:<9}  {}:{}\n", s.bytes,
                         s.calls, s.largest, to_string(s.direction), s.file, s.line);
    return out;
  }

 private:
  // source_location's file names are static strings: a view of one lives as long as the program.
  using Key = std::tuple<std::string_view, unsigned, TransferDirection>;
  struct Counts {
    std::size_t calls = 0, bytes = 0, largest = 0;
  };

  std::size_t total(const TransferDirection* d, std::size_t Counts::*field) const {
    const std::lock_guard lock(mutex_);
    std::size_t sum = 0;
    for (const auto& [key, c] : sites_)
      if (!d || std::get<2>(key) == *d) sum += c.*field;
    return sum;
  }

  mutable std::mutex mutex_;
  std::map<Key, Counts> sites_;
};

// The process-wide counter Cuda::to_host / from_host add to.
inline TransferCounter& transfer_counter() {
  static TransferCounter counter;
  return counter;
}

}  // namespace gfnlm::cuda
