#pragma once
// The KV-cache decode checks shared by every model (tests/model/test_decode.cpp for GPT-2,
// tests/llama/test_llama_decode.cpp for Llama): decode a random schedule (ragged rows, several
// tokens of a row in one call, rows that get nothing, rows interleaved, a reset row reused) and
// compare every logit with the full forward.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/kv_store.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

namespace decode_check {

// Logits of the full forward for one sequence, [T, V].
template <class Model>
std::vector<float> full_logits(Model& m, const std::vector<int32_t>& seq) {
  m.forward(seq.data(), 1, static_cast<int>(seq.size()));
  return {m.logits(), m.logits() + seq.size() * m.config().vocab_size};
}

// Decodes all sequences through one cache in a random schedule; returns the worst
// |decoded - full| / max(1, |full|) over every logit.
template <class Model>
double decode_error(Model& m, const std::vector<std::vector<int32_t>>& seqs, gfnlm::Rng& rng) {
  const int V = m.config().vocab_size, rows = static_cast<int>(seqs.size());
  std::vector<std::vector<float>> ref;
  for (const auto& s : seqs) ref.push_back(full_logits(m, s));
  auto cache = m.make_cache(rows);
  std::vector<std::size_t> next(rows, 0);
  double worst = 0;
  bool done = false;
  while (!done) {
    // each unfinished row gets 0..3 tokens this call; rows interleave, each row in order
    std::vector<int> order;
    for (int r = 0; r < rows; ++r) {
      const std::size_t left = seqs[r].size() - next[r];
      const std::size_t k = std::min<std::size_t>(left, rng.below(4));
      for (std::size_t i = 0; i < k; ++i) order.push_back(r);
    }
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    std::vector<gfnlm::DecodeToken> batch;
    std::vector<std::size_t> pos;
    for (int r : order) {
      pos.push_back(next[r]);
      batch.push_back({r, seqs[r][next[r]++]});
    }
    const auto logits = m.decode(cache, batch);
    REQUIRE(logits.size() == batch.size() * V);
    for (std::size_t n = 0; n < batch.size(); ++n) {
      const float* want = ref[batch[n].row].data() + pos[n] * V;
      for (int v = 0; v < V; ++v)
        worst = std::max(worst, std::abs(double(logits[n * V + v]) - want[v]) /
                                    std::max(1.0, std::abs(double(want[v]))));
    }
    done = true;
    for (int r = 0; r < rows; ++r) {
      CHECK(cache.length(r) == static_cast<int>(next[r]));
      done = done && next[r] == seqs[r].size();
    }
  }
  // a finished row is reset and reused for a new sequence
  cache.reset_row(1);
  std::vector<int32_t> fresh = {4, 8, 15, 16, 2, 22};
  const auto ref_fresh = full_logits(m, fresh);
  for (std::size_t t = 0; t < fresh.size(); ++t) {
    const gfnlm::DecodeToken tok{1, fresh[t]};
    const auto logits = m.decode(cache, std::span(&tok, 1));
    for (int v = 0; v < V; ++v)
      worst = std::max(worst, std::abs(double(logits[v]) - ref_fresh[t * V + v]) /
                                  std::max(1.0, std::abs(double(ref_fresh[t * V + v]))));
  }
  return worst;
}

inline std::vector<std::vector<int32_t>> sequences(gfnlm::Rng& rng, int V) {
  std::vector<std::vector<int32_t>> seqs;
  for (int len : {9, 5, 16, 1}) {
    std::vector<int32_t> s(len);
    for (auto& t : s) t = static_cast<int32_t>(rng.below(V));
    seqs.push_back(s);
  }
  return seqs;
}

// Bad rows, tokens and overflow are rejected without side effects.
template <class Model>
void check_rejects_bad_input(Model& m) {
  const int V = m.config().vocab_size, max_t = m.config().max_seq_len;
  auto cache = m.make_cache(2);
  const std::vector<gfnlm::DecodeToken> bad_row = {{0, 1}, {2, 1}};
  CHECK_THROWS_AS(m.decode(cache, bad_row), gfnlm::Error);
  const std::vector<gfnlm::DecodeToken> bad_token = {{0, V}};
  CHECK_THROWS_AS(m.decode(cache, bad_token), gfnlm::Error);
  CHECK(cache.length(0) == 0);
  std::vector<gfnlm::DecodeToken> too_many(max_t + 1, {1, 3});
  CHECK_THROWS_AS(m.decode(cache, too_many), gfnlm::Error);
  CHECK(cache.length(1) == 0);
  CHECK(m.decode(cache, std::span<const gfnlm::DecodeToken>{}).empty());
}

}  // namespace decode_check
