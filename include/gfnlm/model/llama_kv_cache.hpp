#pragma once
// Keys and values of every layer of a LlamaTransformer for `rows` sequences, [rows, maxT, KV]
// per layer with KV = n_kv_head * head_size (grouped-query attention caches only the shared
// heads), plus the decode workspace, grown to the largest batch seen and then reused. Same
// contract as KvCache (kv_cache.hpp), whose DecodeToken it takes.
#include <gfnlm/core/error.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/llama_layout.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace gfnlm {

template <class Bk, class S>
class LlamaKvCache {
 public:
  struct Workspace {
    S *x, *ln, *q, *k, *v, *atty, *proj, *h1, *h3, *u, *logits, *scores;
    int32_t *tokens, *rows, *positions;
  };

  LlamaKvCache(const LlamaConfig& config, int rows) : config_(config), rows_(rows) {
    config_.validate();
    GFNLM_CHECK(rows > 0, "LlamaKvCache rows = {} must be positive", rows);
    layer_size_ = static_cast<std::size_t>(rows) * config_.max_seq_len * config_.kv_dim();
    keys_ = Bk::template alloc<S>(layer_size_ * config_.n_layer);
    values_ = Bk::template alloc<S>(layer_size_ * config_.n_layer);
    length_.assign(rows, 0);
  }

  const LlamaConfig& config() const { return config_; }
  int rows() const { return rows_; }
  int length(int row) const { return length_.at(row); }
  void reset() { std::fill(length_.begin(), length_.end(), 0); }
  void reset_row(int row) { length_.at(row) = 0; }

  S* keys(int layer) { return Bk::data(keys_) + layer * layer_size_; }
  S* values(int layer) { return Bk::data(values_) + layer * layer_size_; }

  // As KvCache::place: validates every token before claiming positions.
  void place(const DecodeToken* tokens, int n, std::vector<int32_t>& positions) {
    positions.resize(n);
    for (int i = 0; i < n; ++i)
      GFNLM_CHECK(tokens[i].row >= 0 && tokens[i].row < rows_,
                  "decode token {} names row {} (cache has {} rows)", i, tokens[i].row, rows_);
    for (int i = 0; i < n; ++i) positions[i] = length_[tokens[i].row]++;
    for (int i = 0; i < n; ++i) {
      if (positions[i] < config_.max_seq_len) continue;
      for (int j = 0; j < n; ++j) length_[tokens[j].row]--;
      fail("decode would place a token of row {} at position {} (max_seq_len {})", tokens[i].row,
           positions[i], config_.max_seq_len);
    }
  }

  Workspace workspace(int n, int lora_rank) {
    const std::size_t N = n, C = config_.d_model, KV = config_.kv_dim(), H = config_.d_ff,
                      V = config_.vocab_size, NH = config_.n_head, T = config_.max_seq_len,
                      r = lora_rank;
    const std::size_t need = N * (5 * C + 2 * KV + 2 * H + r + V + NH * T);
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
    w.q = take(N * C);
    w.k = take(N * KV);
    w.v = take(N * KV);
    w.atty = take(N * C);
    w.proj = take(N * C);
    w.h1 = take(N * H);
    w.h3 = take(N * H);
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
  LlamaConfig config_;
  int rows_;
  std::size_t layer_size_ = 0;
  typename Bk::template Buffer<S> keys_, values_, work_;
  typename Bk::template Buffer<int32_t> work_ints_;
  std::vector<int32_t> length_;
};

}  // namespace gfnlm
