#pragma once
// Trainable token rows beside a frozen base (PEFT's `trainable_token_indices`): for a few token
// ids, a delta added to each one's input embedding and to its row of the output head, trained
// with the adapters while every base weight stays frozen. With adapters off the model is the base
// again, deltas included.
//
// Why: a base may never have seen some tokens. stories260K (llama2.c, TinyStories) never saw its
// end-of-sequence token or the byte-fallback tokens, the ten digits among them: their embeddings
// are one and the same vector (pairwise distance 6e-4 at norm 2.77, measured), so no adapter of
// the blocks can tell a "4" from a "7" in the input, nor give STOP a different logit from a
// digit's: with the head tied to those rows, q(STOP | "42") = q("0" | "42") = ... = 1/11 under a
// digits-only mask, whatever the adapters do (docs/concepts.md, "When the base never succeeds").
//
// With a tied head one delta per token serves both uses; untied, each use has its own. Host
// memory only (the CPU backend); LoraHost::enable_trainable_tokens refuses other backends.
#include <gfnlm/core/error.hpp>
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gfnlm {

template <class S>
class TrainableTokens {
 public:
  TrainableTokens(int vocab_size, int d_model, bool tied_head, std::span<const int32_t> tokens)
      : C_(d_model),
        tied_(tied_head),
        tokens_(tokens.begin(), tokens.end()),
        slot_(vocab_size, -1) {
    GFNLM_CHECK(!tokens.empty(), "trainable tokens: the list is empty");
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const int32_t v = tokens[i];
      GFNLM_CHECK(v >= 0 && v < vocab_size,
                  "trainable tokens: entry {} is token {}, outside the vocabulary [0, {})", i, v,
                  vocab_size);
      GFNLM_CHECK(slot_[v] < 0, "trainable tokens: token {} is listed twice (entries {} and {})", v,
                  slot_[v], i);
      slot_[v] = static_cast<int>(i);
    }
    const std::size_t n = tokens_.size() * C_ * (tied_ ? 1 : 2);
    values_.assign(n, S(0));  // zero: the model starts as the base
    grads_.assign(n, S(0));
  }

  std::span<const int32_t> tokens() const { return tokens_; }

  // x[n] += delta_in[token n] for the listed tokens (x: [N, C] embeddings of `tokens`).
  void add_to_embeddings(S* x, const int32_t* tokens, int N) const {
    for (int n = 0; n < N; ++n) {
      const int i = slot_[tokens[n]];
      if (i < 0) continue;
      const S* d = in(i);
      for (int c = 0; c < C_; ++c) x[std::size_t(n) * C_ + c] += d[c];
    }
  }

  // logits[n, v_i] += h[n] . delta_out[i] (h: [N, C], the head's input; logits: [N, V]).
  void add_to_logits(S* logits, const S* h, int N) const {
    const std::size_t V = slot_.size();
    for (int n = 0; n < N; ++n)
      for (std::size_t i = 0; i < tokens_.size(); ++i) {
        const S* d = out(i);
        const S* hn = h + std::size_t(n) * C_;
        S dot = 0;
        for (int c = 0; c < C_; ++c) dot += hn[c] * d[c];
        logits[std::size_t(n) * V + tokens_[i]] += dot;
      }
  }

  // Backward of add_to_logits: grad delta_out[i] += sum_n dlogits[n, v_i] h[n], and dh[n] +=
  // sum_i dlogits[n, v_i] delta_out[i].
  void backward_logits(const S* dlogits, const S* h, S* dh, int N) {
    const std::size_t V = slot_.size();
    for (int n = 0; n < N; ++n)
      for (std::size_t i = 0; i < tokens_.size(); ++i) {
        const S g = dlogits[std::size_t(n) * V + tokens_[i]];
        if (g == S(0)) continue;
        const S* d = out(i);
        S* gd = out_grad(i);
        const S* hn = h + std::size_t(n) * C_;
        S* dhn = dh + std::size_t(n) * C_;
        for (int c = 0; c < C_; ++c) {
          gd[c] += g * hn[c];
          dhn[c] += g * d[c];
        }
      }
  }

  // Backward of add_to_embeddings: grad delta_in[token n] += dx[n].
  void backward_embeddings(const S* dx, const int32_t* tokens, int N) {
    for (int n = 0; n < N; ++n) {
      const int i = slot_[tokens[n]];
      if (i < 0) continue;
      S* g = grads_.data() + std::size_t(i) * C_;
      for (int c = 0; c < C_; ++c) g[c] += dx[std::size_t(n) * C_ + c];
    }
  }

  // "trainable_tokens.delta" [k, C] (tied), or ".embed_delta" and ".head_delta"; no weight decay.
  ParameterList<S> parameters() {
    const std::size_t block = tokens_.size() * C_;
    if (tied_) return {{"trainable_tokens.delta", values_.data(), grads_.data(), block, false}};
    return {{"trainable_tokens.embed_delta", values_.data(), grads_.data(), block, false},
            {"trainable_tokens.head_delta", values_.data() + block, grads_.data() + block, block,
             false}};
  }

  void zero_grad() { std::fill(grads_.begin(), grads_.end(), S(0)); }

 private:
  const S* in(std::size_t i) const { return values_.data() + i * C_; }
  const S* out(std::size_t i) const {
    return values_.data() + (tied_ ? 0 : tokens_.size() * C_) + i * C_;
  }
  S* out_grad(std::size_t i) { return grads_.data() + (tied_ ? 0 : tokens_.size() * C_) + i * C_; }

  int C_;
  bool tied_;
  std::vector<int32_t> tokens_;
  std::vector<int> slot_;  // [V] index into tokens_, -1 when not trainable
  std::vector<S> values_, grads_;
};

}  // namespace gfnlm
