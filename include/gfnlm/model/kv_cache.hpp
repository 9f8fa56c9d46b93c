#pragma once
// The decode cache of a GPT-2 Transformer. Separate from the model: a policy and the frozen
// reward (the same Transformer with adapters off) can each hold their own cache. The storage,
// row lengths and workspace reuse are KvStore's; this adds the workspace layout of
// Transformer::decode.
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/kv_store.hpp>

#include <cstdint>

namespace gfnlm {

template <class Bk, class S>
class KvCache : public KvStore<Bk, S> {
 public:
  // Pointers into the decode workspace for N tokens.
  struct Workspace {
    S *x, *ln, *qkv, *atty, *proj, *fch, *u, *logits, *scores;
    int32_t *tokens, *rows, *positions;
  };

  KvCache(const TransformerConfig& config, int rows)
      : KvStore<Bk, S>(rows, validated(config).n_layer, config.max_seq_len, config.d_model,
                       kInitialCapacity),
        config_(config) {}

  // Positions per row allocated up front; the store grows on demand (Transformer::decode reads
  // capacity() after place()).
  static constexpr int kInitialCapacity = 64;

  const TransformerConfig& config() const { return config_; }

  Workspace workspace(int n, int lora_rank) {
    const std::size_t N = n, C = config_.d_model, V = config_.vocab_size, NH = config_.n_head,
                      T = config_.max_seq_len, r = lora_rank;
    auto a = this->arena(N * (11 * C + r + V + NH * T), n);
    Workspace w;
    w.x = a.take(N * C);
    w.ln = a.take(N * C);
    w.qkv = a.take(N * 3 * C);
    w.atty = a.take(N * C);
    w.proj = a.take(N * C);
    w.fch = a.take(N * 4 * C);
    w.u = a.take(N * r);
    w.logits = a.take(N * V);
    w.scores = a.take(N * NH * T);
    w.tokens = a.ints();
    w.rows = a.ints() + N;
    w.positions = a.ints() + 2 * N;
    return w;
  }

 private:
  TransformerConfig config_;
};

}  // namespace gfnlm
