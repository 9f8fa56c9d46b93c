#pragma once
// Shapes of a GPT-2 style transformer and of its LoRA adapters.
#include <gfnlm/core/error.hpp>

#include <cstdint>

namespace gfnlm {

struct TransformerConfig {
  int vocab_size = 256;
  int max_seq_len = 256;
  int n_layer = 4;
  int n_head = 4;
  int d_model = 128;
  bool tied_head = true;   // output head shares the token embedding (GPT-2)
  double init_std = 0.02;  // N(0, init_std) for weights; residual projections / sqrt(2 L)

  int head_size() const { return d_model / n_head; }
  int d_ff() const { return 4 * d_model; }

  void validate() const {
    GFNLM_CHECK(vocab_size > 0, "TransformerConfig.vocab_size = {} must be positive", vocab_size);
    GFNLM_CHECK(max_seq_len > 0, "TransformerConfig.max_seq_len = {} must be positive",
                max_seq_len);
    GFNLM_CHECK(n_layer > 0, "TransformerConfig.n_layer = {} must be positive", n_layer);
    GFNLM_CHECK(n_head > 0 && d_model > 0 && d_model % n_head == 0,
                "TransformerConfig.d_model = {} must be a positive multiple of n_head = {}",
                d_model, n_head);
  }

  bool same_shape(const TransformerConfig& o) const {
    return vocab_size == o.vocab_size && max_seq_len == o.max_seq_len && n_layer == o.n_layer &&
           n_head == o.n_head && d_model == o.d_model && tied_head == o.tied_head;
  }

  // GPT-2 small (124M parameters).
  static TransformerConfig gpt2_small() { return {50257, 1024, 12, 12, 768, true, 0.02}; }
};

// Which projections of each block carry adapters (bit flags, combine with |).
struct LoraTargets {
  static constexpr uint32_t qkv = 1;        // attn.c_attn  [3C, C]
  static constexpr uint32_t attn_proj = 2;  // attn.c_proj  [C, C]
  static constexpr uint32_t fc = 4;         // mlp.c_fc     [4C, C]
  static constexpr uint32_t fc_proj = 8;    // mlp.c_proj   [C, 4C]
  static constexpr uint32_t all = 15;
};

struct LoraConfig {
  int rank = 64;        // SPEC section 4: r = 64, alpha = 16
  double alpha = 16.0;  // the low-rank update is scaled by alpha / rank
  uint32_t targets = LoraTargets::all;

  double scale() const { return alpha / rank; }
  void validate() const {
    GFNLM_CHECK(rank > 0, "LoraConfig.rank = {} must be positive", rank);
    GFNLM_CHECK(targets != 0 && (targets & ~LoraTargets::all) == 0,
                "LoraConfig.targets = {} must be a non-empty combination of LoraTargets bits",
                targets);
  }
};

}  // namespace gfnlm
