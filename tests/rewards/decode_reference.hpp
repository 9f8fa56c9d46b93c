#pragma once
// The independent path the reward tests check LM likelihoods against: a tiny Transformer, and
// log p(tokens[from..] | tokens[..from]) decoded one token at a time on a KV cache.
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/model/transformer.hpp>

#include <span>
#include <vector>

namespace gfnlm::test {

inline TransformerConfig tiny_lm_config() {
  TransformerConfig c;
  c.vocab_size = 13;
  c.max_seq_len = 32;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  return c;
}

inline double decode_log_prob(Transformer<>& model, const std::vector<int32_t>& tokens, int from) {
  KvCache<Cpu, float> cache(model.config(), 1);
  const int V = model.config().vocab_size;
  double total = 0;
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    const DecodeToken tok{0, tokens[i]};
    const auto logits = model.decode(cache, std::span<const DecodeToken>(&tok, 1));
    if (static_cast<int>(i) + 1 < from) continue;
    std::vector<float> row(logits.begin(), logits.end());
    total += row[tokens[i + 1]] - logsumexp(std::span<const float>(row.data(), V));
  }
  return total;
}

}  // namespace gfnlm::test
