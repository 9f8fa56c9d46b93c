#pragma once
// What every model's decode cache shares: keys and values of every layer for `rows` independent
// sequences ([rows, maxT, kv_dim] per layer), each row's length, and a workspace that grows to
// the largest batch of tokens seen and is then reused (no allocation per decode step). The
// models' caches (KvCache, LlamaKvCache) add only their config and their workspace layout.
#include <gfnlm/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

// One token for a model's decode(): it goes to `row` at that row's next position.
struct DecodeToken {
  int row;
  int32_t token;
};

// Lets a cache validate its model config before the store's members are sized from it.
template <class Config>
const Config& validated(const Config& config) {
  config.validate();
  return config;
}

template <class Bk, class S>
class KvStore {
 public:
  // initial_capacity (positions per row, <= 0: max_seq_len) is what is allocated up front; place()
  // grows it, doubling up to max_seq_len, so a cache for short rollouts of a long-context model
  // stays small (GPT-2, 16 rows: 1024 positions = 1.2 GB, 64 = 75 MB). Decoders must
  // then use capacity(), not max_seq_len, as the row stride.
  KvStore(int rows, int n_layer, int max_seq_len, int kv_dim, int initial_capacity = 0)
      : rows_(rows), n_layer_(n_layer), max_seq_len_(max_seq_len), kv_dim_(kv_dim) {
    GFNLM_CHECK(rows > 0, "a decode cache needs a positive number of rows, not {}", rows);
    allocate(initial_capacity > 0 ? std::min(initial_capacity, max_seq_len) : max_seq_len);
    length_.assign(rows, 0);
  }

  int rows() const { return rows_; }
  // Positions allocated per row: the row stride of keys() / values().
  int capacity() const { return capacity_; }
  int length(int row) const { return length_.at(row); }
  void reset() { std::fill(length_.begin(), length_.end(), 0); }
  void reset_row(int row) { length_.at(row) = 0; }

  // Makes row dst a copy of row src: its keys and values up to src's length, and that length
  // (rows that share a prompt decode it once, then fork: LmPolicy::start_rollout).
  void copy_row(int src, int dst) {
    GFNLM_CHECK(src >= 0 && src < rows_ && dst >= 0 && dst < rows_,
                "copy_row: rows {} -> {} outside the cache's {} rows", src, dst, rows_);
    if (src == dst) return;
    const std::size_t row = static_cast<std::size_t>(capacity_) * kv_dim_;
    const std::size_t n = static_cast<std::size_t>(length_[src]) * kv_dim_;
    for (int l = 0; l < n_layer_; ++l) {
      Bk::copy(keys(l) + dst * row, keys(l) + src * row, n);
      Bk::copy(values(l) + dst * row, values(l) + src * row, n);
    }
    length_[dst] = length_[src];
  }

  // Row r becomes a copy of what row source[r] held (beam search keeps the best extensions of
  // its beams, LmPolicy::reorder_rows); source[r] == r leaves row r as it is. Rows that another
  // row reads are stashed first, so any map of rows onto rows works, duplicates included.
  void gather_rows(std::span<const int32_t> source) {
    GFNLM_CHECK(static_cast<int>(source.size()) == rows_,
                "gather_rows: {} sources for a cache of {} rows", source.size(), rows_);
    std::vector<int> slot(rows_, -1);
    int stashed = 0;
    for (int r = 0; r < rows_; ++r) {
      GFNLM_CHECK(source[r] >= 0 && source[r] < rows_,
                  "gather_rows: row {} names source row {} (cache has {} rows)", r, source[r],
                  rows_);
      if (source[r] != r && slot[source[r]] < 0) slot[source[r]] = stashed++;
    }
    if (stashed == 0) return;
    const std::size_t row = static_cast<std::size_t>(capacity_) * kv_dim_;
    const std::size_t half = static_cast<std::size_t>(n_layer_) * stashed * row;
    if (Bk::size(stash_) < 2 * half) stash_ = Bk::template alloc<S>(2 * half);
    S* stash = Bk::data(stash_);
    const std::vector<int32_t> old_length = length_;
    for (int r = 0; r < rows_; ++r) {
      if (slot[r] < 0) continue;
      const std::size_t n = static_cast<std::size_t>(old_length[r]) * kv_dim_;
      for (int l = 0; l < n_layer_; ++l) {
        const std::size_t at = (static_cast<std::size_t>(l) * stashed + slot[r]) * row;
        Bk::copy(stash + at, keys(l) + r * row, n);
        Bk::copy(stash + half + at, values(l) + r * row, n);
      }
    }
    for (int r = 0; r < rows_; ++r) {
      const int s = source[r];
      if (s == r) continue;
      const std::size_t n = static_cast<std::size_t>(old_length[s]) * kv_dim_;
      for (int l = 0; l < n_layer_; ++l) {
        const std::size_t at = (static_cast<std::size_t>(l) * stashed + slot[s]) * row;
        Bk::copy(keys(l) + r * row, stash + at, n);
        Bk::copy(values(l) + r * row, stash + half + at, n);
      }
      length_[r] = old_length[s];
    }
  }

  // [rows, capacity, kv_dim] keys / values of one layer.
  S* keys(int layer) { return Bk::data(keys_) + layer * layer_size_; }
  S* values(int layer) { return Bk::data(values_) + layer * layer_size_; }

  // Claims `n` positions per the tokens' rows (validating all before changing any) and returns
  // each token's position in `positions`.
  void place(const DecodeToken* tokens, int n, std::vector<int32_t>& positions) {
    positions.resize(n);
    for (int i = 0; i < n; ++i)
      GFNLM_CHECK(tokens[i].row >= 0 && tokens[i].row < rows_,
                  "decode token {} names row {} (cache has {} rows)", i, tokens[i].row, rows_);
    for (int i = 0; i < n; ++i) positions[i] = length_[tokens[i].row]++;
    for (int i = 0; i < n; ++i) {
      if (positions[i] < max_seq_len_) continue;
      for (int j = 0; j < n; ++j) length_[tokens[j].row]--;  // undo: nothing was placed
      fail("decode would place a token of row {} at position {} (max_seq_len {})", tokens[i].row,
           positions[i], max_seq_len_);
    }
    int need = 0;
    for (int i = 0; i < n; ++i) need = std::max(need, positions[i] + 1);
    if (need > capacity_) grow(std::min(max_seq_len_, std::max(need, 2 * capacity_)));
  }

 protected:
  // Hands out consecutive pieces of one reusable buffer of `scalars` values and 3 x `n` ints
  // (tokens, rows, positions of a decode batch).
  class Arena {
   public:
    S* take(std::size_t k) {
      S* q = next_;
      next_ += k;
      return q;
    }
    int32_t* ints() const { return ints_; }

   private:
    friend class KvStore;
    S* next_ = nullptr;
    int32_t* ints_ = nullptr;
  };

  Arena arena(std::size_t scalars, int n) {
    if (Bk::size(work_) < scalars) work_ = Bk::template alloc<S>(scalars);
    if (Bk::size(work_ints_) < 3 * static_cast<std::size_t>(n))
      work_ints_ = Bk::template alloc<int32_t>(3 * static_cast<std::size_t>(n));
    Arena a;
    a.next_ = Bk::data(work_);
    a.ints_ = Bk::data(work_ints_);
    return a;
  }

 private:
  void allocate(int capacity) {
    capacity_ = capacity;
    layer_size_ = static_cast<std::size_t>(rows_) * capacity * kv_dim_;
    keys_ = Bk::template alloc<S>(layer_size_ * n_layer_);
    values_ = Bk::template alloc<S>(layer_size_ * n_layer_);
  }

  // Re-lays every row out with the new stride (all old positions are copied: place() has already
  // claimed the new ones, which are written after it returns).
  void grow(int capacity) {
    auto old_keys = std::move(keys_), old_values = std::move(values_);
    const std::size_t old_row = static_cast<std::size_t>(capacity_) * kv_dim_;
    const std::size_t old_layer = layer_size_;
    allocate(capacity);
    const std::size_t row = static_cast<std::size_t>(capacity_) * kv_dim_;
    for (int l = 0; l < n_layer_; ++l)
      for (int r = 0; r < rows_; ++r) {
        const std::size_t from = l * old_layer + r * old_row, to = l * layer_size_ + r * row;
        Bk::copy(Bk::data(keys_) + to, Bk::data(old_keys) + from, old_row);
        Bk::copy(Bk::data(values_) + to, Bk::data(old_values) + from, old_row);
      }
  }

  int rows_, n_layer_, max_seq_len_, kv_dim_, capacity_ = 0;
  std::size_t layer_size_ = 0;
  typename Bk::template Buffer<S> keys_, values_, work_, stash_;  // stash_: gather_rows
  typename Bk::template Buffer<int32_t> work_ints_;
  std::vector<int32_t> length_;
};

}  // namespace gfnlm
