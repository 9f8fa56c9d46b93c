#pragma once
// Keys and values of every layer for `rows` independent sequences, so decoding a token costs one
// position instead of the whole prefix. Separate from the model: a policy and the frozen reward
// (the same Transformer with adapters off) can each hold their own cache. Also owns the
// workspace of Transformer::decode, which grows to the largest batch of tokens seen and is then
// reused (no allocation per step).
#include <gfnlm/core/error.hpp>
#include <gfnlm/model/config.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace gfnlm {

// One token for Transformer::decode: it goes to `row` at that row's next position.
struct DecodeToken {
  int row;
  int32_t token;
};

template <class Bk, class S>
class KvCache {
 public:
  // Pointers into the decode workspace for N tokens.
  struct Workspace {
    S *x, *ln, *qkv, *atty, *proj, *fch, *u, *logits, *scores;
    int32_t *tokens, *rows, *positions;
  };

  KvCache(const TransformerConfig& config, int rows) : config_(config), rows_(rows) {
    config_.validate();
    GFNLM_CHECK(rows > 0, "KvCache rows = {} must be positive", rows);
    layer_size_ = static_cast<std::size_t>(rows) * config_.max_seq_len * config_.d_model;
    keys_ = Bk::template alloc<S>(layer_size_ * config_.n_layer);
    values_ = Bk::template alloc<S>(layer_size_ * config_.n_layer);
    length_.assign(rows, 0);
  }

  const TransformerConfig& config() const { return config_; }
  int rows() const { return rows_; }
  int length(int row) const { return length_.at(row); }
  void reset() { std::fill(length_.begin(), length_.end(), 0); }
  void reset_row(int row) { length_.at(row) = 0; }

  // [rows, maxT, C] keys / values of one layer.
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
      if (positions[i] < config_.max_seq_len) continue;
      for (int j = 0; j < n; ++j) length_[tokens[j].row]--;  // undo: nothing was placed
      fail("decode would place a token of row {} at position {} (max_seq_len {})", tokens[i].row,
           positions[i], config_.max_seq_len);
    }
  }

  Workspace workspace(int n, int lora_rank) {
    const std::size_t N = n, C = config_.d_model, V = config_.vocab_size, NH = config_.n_head,
                      T = config_.max_seq_len, r = lora_rank;
    const std::size_t need = N * (11 * C + r + V + NH * T);
    if (Bk::size(work_) < need) work_ = Bk::template alloc<S>(need);
    if (Bk::size(work_ints_) < 3 * N) work_ints_ = Bk::template alloc<int32_t>(3 * N);
    S* p = Bk::data(work_);
    auto take = [&p](std::size_t k) {
      S* q = p;
      p += k;
      return q;
    };
    Workspace w;
    w.x = take(N * C);
    w.ln = take(N * C);
    w.qkv = take(N * 3 * C);
    w.atty = take(N * C);
    w.proj = take(N * C);
    w.fch = take(N * 4 * C);
    w.u = take(N * r);
    w.logits = take(N * V);
    w.scores = take(N * NH * T);
    int32_t* ints = Bk::data(work_ints_);
    w.tokens = ints;
    w.rows = ints + N;
    w.positions = ints + 2 * N;
    return w;
  }

 private:
  TransformerConfig config_;
  int rows_;
  std::size_t layer_size_ = 0;
  typename Bk::template Buffer<S> keys_, values_, work_;
  typename Bk::template Buffer<int32_t> work_ints_;
  std::vector<int32_t> length_;
};

}  // namespace gfnlm
