#pragma once
// What every model's decode cache shares: keys and values of every layer for `rows` independent
// sequences ([rows, maxT, kv_dim] per layer), each row's length, and a workspace that grows to
// the largest batch of tokens seen and is then reused (no allocation per decode step). The
// models' caches (KvCache, LlamaKvCache) add only their config and their workspace layout.
#include <gfnlm/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
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
  KvStore(int rows, int n_layer, int max_seq_len, int kv_dim)
      : rows_(rows), max_seq_len_(max_seq_len) {
    GFNLM_CHECK(rows > 0, "a decode cache needs a positive number of rows, not {}", rows);
    layer_size_ = static_cast<std::size_t>(rows) * max_seq_len * kv_dim;
    keys_ = Bk::template alloc<S>(layer_size_ * n_layer);
    values_ = Bk::template alloc<S>(layer_size_ * n_layer);
    length_.assign(rows, 0);
  }

  int rows() const { return rows_; }
  int length(int row) const { return length_.at(row); }
  void reset() { std::fill(length_.begin(), length_.end(), 0); }
  void reset_row(int row) { length_.at(row) = 0; }

  // [rows, maxT, kv_dim] keys / values of one layer.
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
  int rows_, max_seq_len_;
  std::size_t layer_size_ = 0;
  typename Bk::template Buffer<S> keys_, values_, work_;
  typename Bk::template Buffer<int32_t> work_ints_;
  std::vector<int32_t> length_;
};

}  // namespace gfnlm
