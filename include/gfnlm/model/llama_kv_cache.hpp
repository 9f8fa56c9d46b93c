#pragma once
// The decode cache of a LlamaTransformer: KvStore with [rows, maxT, KV] per layer, where
// KV = n_kv_head * head_size (grouped-query attention caches only the shared heads), plus the
// workspace layout of LlamaTransformer::decode.
#include <gfnlm/model/kv_store.hpp>
#include <gfnlm/model/llama_layout.hpp>

#include <cstdint>

namespace gfnlm {

template <class Bk, class S>
class LlamaKvCache : public KvStore<Bk, S> {
 public:
  struct Workspace {
    S *x, *ln, *q, *k, *v, *atty, *proj, *h1, *h3, *u, *logits, *scores;
    int32_t *tokens, *rows, *positions;
  };

  LlamaKvCache(const LlamaConfig& config, int rows)
      : KvStore<Bk, S>(rows, validated(config).n_layer, config.max_seq_len, config.kv_dim()),
        config_(config) {}

  const LlamaConfig& config() const { return config_; }

  Workspace workspace(int n, int lora_rank) {
    const std::size_t N = n, C = config_.d_model, KV = config_.kv_dim(), H = config_.d_ff,
                      V = config_.vocab_size, NH = config_.n_head, T = config_.max_seq_len,
                      r = lora_rank;
    auto a = this->arena(N * (5 * C + 2 * KV + 2 * H + r + V + NH * T), n);
    Workspace w;
    w.x = a.take(N * C);
    w.ln = a.take(N * C);
    w.q = a.take(N * C);
    w.k = a.take(N * KV);
    w.v = a.take(N * KV);
    w.atty = a.take(N * C);
    w.proj = a.take(N * C);
    w.h1 = a.take(N * H);
    w.h3 = a.take(N * H);
    w.u = a.take(N * r);
    w.logits = a.take(N * V);
    w.scores = a.take(N * NH * T);
    w.tokens = a.ints();
    w.rows = a.ints() + N;
    w.positions = a.ints() + 2 * N;
    return w;
  }

 private:
  LlamaConfig config_;
};

}  // namespace gfnlm
