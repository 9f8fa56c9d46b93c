#pragma once
// The prioritised replay buffer of SPEC section 4: per query, the top K trajectories by untempered
// log R, with near-duplicates collapsed so that replay keeps several distinct good answers rather
// than K copies of the best one, and sampling proportional to exp(log R / T_R).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/gfn/edit_distance.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <limits>
#include <map>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace gfnlm {

struct ReplayBufferConfig {
  int capacity = 50;                       // K trajectories kept per query key
  double near_duplicate_tolerance = 0.25;  // near duplicate: distance < tolerance x (len_a + len_b)
};

struct ReplayItem {
  std::vector<int32_t> actions;  // the policy's actions only (tool context is not stored)
  double log_r;                  // untempered log R(z STOP), finite
};

class ReplayBuffer {
 public:
  explicit ReplayBuffer(ReplayBufferConfig config = {}) : config_(config) { validate(config_); }

  // Offers one trajectory for `query_key`; returns true if the buffer changed. The rules, applied
  // in this order (SPEC section 4, the reference code's ReplayBuffer.add):
  //  - log R = NaN throws (a broken reward must not go unnoticed); log R = +inf throws too (it
  //    would make every other item's sampling weight zero). log R = -inf means zero reward: such a
  //    trajectory can never be replayed, so it is accepted and never stored (returns false).
  //  - an exact duplicate of a stored sequence is skipped, whatever its reward;
  //  - near duplicates (token edit distance < tolerance x (len_a + len_b)): if any stored near
  //    duplicate has log R >= the new one, the new one is skipped; otherwise it takes the place
  //    of the first near duplicate and every other (worse) near duplicate is removed. The
  //    reference stops at the first near duplicate it meets in heap order, which depends on the
  //    heap's layout; checking all of them keeps the invariant "no two stored items are near
  //    duplicates" and makes the result independent of storage order;
  //  - otherwise it is appended if there is room, else it replaces the worst stored item only if
  //    strictly better (min-heap semantics, like heapq.heappushpop).
  bool add(uint64_t query_key, std::span<const int32_t> actions, double log_r) {
    GFNLM_CHECK(!std::isnan(log_r), "ReplayBuffer::add: log R is NaN for query key {} ({} actions)",
                query_key, actions.size());
    GFNLM_CHECK(log_r != std::numeric_limits<double>::infinity(),
                "ReplayBuffer::add: log R is +inf for query key {} ({} actions)", query_key,
                actions.size());
    if (log_r == -std::numeric_limits<double>::infinity()) return false;

    auto& list = items_[query_key];
    const bool changed = add_to(list, actions, log_r);
    if (list.empty()) items_.erase(query_key);  // keep no empty entries (save stays canonical)
    return changed;
  }

  std::size_t size(uint64_t query_key) const { return items(query_key).size(); }
  bool empty(uint64_t query_key) const { return size(query_key) == 0; }
  std::size_t total_size() const {
    std::size_t total = 0;
    for (const auto& [key, list] : items_) total += list.size();
    return total;
  }

  // The stored items of one key, in storage order (no ranking implied); empty for an unknown key.
  // Invalidated by add() and load().
  std::span<const ReplayItem> items(uint64_t query_key) const {
    const auto it = items_.find(query_key);
    if (it == items_.end()) return {};
    return it->second;
  }

  // Keys that hold at least one item, ascending.
  std::vector<uint64_t> keys() const {
    std::vector<uint64_t> out;
    for (const auto& [key, list] : items_) out.push_back(key);
    return out;
  }

  // n draws with replacement, P(i) proportional to exp((log_r_i - max_j log_r_j) / temperature):
  // stored rewards are untempered and re-tempered with the current reward temperature (SPEC
  // section 4). Each draw uses one rng.uniform(). Throws if the key holds nothing (callers fall
  // back to another behaviour policy: check empty() first). The pointers are invalidated by add().
  std::vector<const ReplayItem*> sample(uint64_t query_key, int n, Rng& rng,
                                        double temperature = 1.0) const {
    GFNLM_CHECK(n >= 0, "ReplayBuffer::sample: n = {} draws for query key {}", n, query_key);
    GFNLM_CHECK(temperature > 0 && std::isfinite(temperature),
                "ReplayBuffer::sample: temperature must be finite and > 0, got {}", temperature);
    if (n == 0) return {};
    const auto list = items(query_key);
    GFNLM_CHECK(!list.empty(), "ReplayBuffer::sample: no items stored for query key {}", query_key);
    double top = list[0].log_r;
    for (const auto& item : list) top = std::max(top, item.log_r);
    // Cumulative weights; the best item has weight 1, so the total is >= 1.
    std::vector<double> cumulative(list.size());
    double total = 0;
    std::size_t last_positive = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const double w = std::exp((list[i].log_r - top) / temperature);
      if (w > 0) last_positive = i;
      total += w;
      cumulative[i] = total;
    }
    std::vector<const ReplayItem*> out;
    out.reserve(n);
    for (int k = 0; k < n; ++k) {
      const double u = rng.uniform() * total;
      auto i = static_cast<std::size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                        cumulative.begin());
      out.push_back(&list[std::min(i, last_positive)]);  // rounding sliver: last non-zero item
    }
    return out;
  }

  const ReplayBufferConfig& config() const { return config_; }
  void clear() { items_.clear(); }

  // Binary format (little-endian host layout, core/serialize.hpp): magic string, version, the
  // config, then per key (ascending): key, item count, and per item log R and actions. Keys and
  // items keep their order, so a resumed run samples exactly as the original would have.
  void save(std::ostream& os) const {
    write_string(os, kMagic);
    write_pod<uint32_t>(os, kVersion);
    write_pod<int32_t>(os, config_.capacity);
    write_pod<double>(os, config_.near_duplicate_tolerance);
    write_pod<uint64_t>(os, items_.size());
    for (const auto& [key, list] : items_) {
      write_pod<uint64_t>(os, key);
      write_pod<uint64_t>(os, list.size());
      for (const auto& item : list) {
        write_pod<double>(os, item.log_r);
        write_array(os, item.actions.data(), item.actions.size());
      }
    }
    GFNLM_CHECK(os.good(), "ReplayBuffer::save: the stream failed");
  }

  // Restores contents and config from a stream written by save(); the checkpoint is the truth, so
  // a config given to the constructor is replaced. Every field is validated; on error nothing is
  // changed (the strong guarantee) and the message names the field.
  void load(std::istream& is) {
    const std::string magic = read_string(is, "replay_buffer.magic");
    GFNLM_CHECK(magic == kMagic, "not a replay buffer checkpoint (magic '{}', expected '{}')",
                magic, kMagic);
    const auto version = read_pod<uint32_t>(is, "replay_buffer.version");
    GFNLM_CHECK(version == kVersion, "replay buffer checkpoint version {} (this build reads {})",
                version, kVersion);
    ReplayBufferConfig config;
    config.capacity = read_pod<int32_t>(is, "replay_buffer.capacity");
    config.near_duplicate_tolerance = read_pod<double>(is, "replay_buffer.tolerance");
    validate(config);
    const auto key_count = read_pod<uint64_t>(is, "replay_buffer.key_count");
    std::map<uint64_t, std::vector<ReplayItem>> loaded;
    for (uint64_t k = 0; k < key_count; ++k) {
      const auto key = read_pod<uint64_t>(is, "replay_buffer.key");
      GFNLM_CHECK(loaded.empty() || key > loaded.rbegin()->first,
                  "replay buffer checkpoint: query key {} out of order or repeated", key);
      const auto count = read_pod<uint64_t>(is, "replay_buffer.item_count");
      GFNLM_CHECK(count >= 1 && count <= static_cast<uint64_t>(config.capacity),
                  "replay buffer checkpoint: query key {} holds {} items (capacity {})", key, count,
                  config.capacity);
      auto& list = loaded[key];
      for (uint64_t i = 0; i < count; ++i) {
        const auto log_r = read_pod<double>(is, "replay_buffer.log_r");
        GFNLM_CHECK(std::isfinite(log_r),
                    "replay buffer checkpoint: log R {} of item {} for query key {} is not finite",
                    log_r, i, key);
        list.push_back({read_vector<int32_t>(is, "replay_buffer.actions", 1u << 24), log_r});
      }
    }
    config_ = config;
    items_ = std::move(loaded);
  }

 private:
  static constexpr const char* kMagic = "gfnlm.ReplayBuffer";
  static constexpr uint32_t kVersion = 1;

  static void validate(const ReplayBufferConfig& c) {
    GFNLM_CHECK(c.capacity >= 1, "ReplayBufferConfig.capacity must be >= 1, got {}", c.capacity);
    GFNLM_CHECK(std::isfinite(c.near_duplicate_tolerance) && c.near_duplicate_tolerance >= 0,
                "ReplayBufferConfig.near_duplicate_tolerance must be finite and >= 0, got {}",
                c.near_duplicate_tolerance);
  }

  bool near_duplicate(std::span<const int32_t> a, std::span<const int32_t> b) const {
    const double limit = config_.near_duplicate_tolerance * double(a.size() + b.size());
    const std::size_t gap = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
    if (double(gap) >= limit) return false;  // the distance is at least the length gap
    return double(edit_distance(a, b)) < limit;
  }

  bool add_to(std::vector<ReplayItem>& list, std::span<const int32_t> actions, double log_r) {
    for (const auto& item : list)
      if (std::ranges::equal(item.actions, actions)) return false;

    std::vector<std::size_t> near;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!near_duplicate(list[i].actions, actions)) continue;
      if (list[i].log_r >= log_r) return false;  // a similar sequence is at least as good
      near.push_back(i);
    }
    ReplayItem item{{actions.begin(), actions.end()}, log_r};
    if (!near.empty()) {
      list[near[0]] = std::move(item);
      for (std::size_t k = near.size() - 1; k >= 1; --k)
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(near[k]));
      return true;
    }
    if (list.size() < static_cast<std::size_t>(config_.capacity)) {
      list.push_back(std::move(item));
      return true;
    }
    auto worst = std::ranges::min_element(list, {}, &ReplayItem::log_r);
    if (log_r <= worst->log_r) return false;
    *worst = std::move(item);
    return true;
  }

  ReplayBufferConfig config_;
  std::map<uint64_t, std::vector<ReplayItem>> items_;
};

}  // namespace gfnlm
