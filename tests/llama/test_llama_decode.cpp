// KV-cache decoding of the Llama model equals its full forward (issue 4, first bullet: "KV-cache
// decoding ... exactly as for GPT-2 blocks"), the same schedule as tests/model/test_decode.cpp:
// ragged rows, several tokens of a row in one call (prefill, extra tokens mid-row), rows that get
// nothing, rows interleaved, a reset row reused; grouped-query attention; LoRA on and off.
#include <gfnlm/model/llama.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

using Model = gfnlm::LlamaTransformer<>;

namespace {

gfnlm::LlamaConfig config() {
  gfnlm::LlamaConfig c;
  c.vocab_size = 23;
  c.max_seq_len = 16;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 24;
  c.rope_theta = 50.0;  // positions matter visibly at this length
  c.init_std = 0.2;
  return c;
}

// Logits of the full forward for one sequence, [T, V].
std::vector<float> full_logits(Model& m, const std::vector<int32_t>& seq) {
  m.forward(seq.data(), 1, static_cast<int>(seq.size()));
  return {m.logits(), m.logits() + seq.size() * m.config().vocab_size};
}

// Decodes all sequences through one cache in a random schedule; returns the worst
// |decoded - full| / max(1, |full|) over every logit.
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

std::vector<std::vector<int32_t>> sequences(gfnlm::Rng& rng, int V) {
  std::vector<std::vector<int32_t>> seqs;
  for (int len : {9, 5, 16, 1}) {
    std::vector<int32_t> s(len);
    for (auto& t : s) t = static_cast<int32_t>(rng.below(V));
    seqs.push_back(s);
  }
  return seqs;
}

}  // namespace

TEST_CASE("Llama KV-cache decoding equals the full forward", "[llama][decode]") {
  gfnlm::Rng rng(21);
  Model m(config(), rng);
  const auto seqs = sequences(rng, 23);
  const double e = decode_error(m, seqs, rng);
  std::printf("llama decode vs full forward, base model: max error %.2e\n", e);
  CHECK(e < 1e-5);
}

TEST_CASE("Llama KV-cache decoding with LoRA adapters on and off", "[llama][decode][lora]") {
  gfnlm::Rng rng(22);
  Model m(config(), rng);
  const auto seqs = sequences(rng, 23);
  m.enable_lora({.rank = 4, .alpha = 8.0}, rng);
  for (const auto& p : m.lora_parameters())  // B = 0 at init: make the adapters matter
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] += 0.2f * float(rng.normal());
  for (bool on : {true, false}) {
    m.set_adapters_enabled(on);
    const double e = decode_error(m, seqs, rng);
    std::printf("llama decode vs full forward, LoRA %s: max error %.2e\n", on ? "on" : "off", e);
    CHECK(e < 1e-5);
  }
}

TEST_CASE("Llama decode rejects bad rows, tokens and overflow without side effects",
          "[llama][decode]") {
  gfnlm::Rng rng(23);
  Model m(config(), rng);
  auto cache = m.make_cache(2);
  const std::vector<gfnlm::DecodeToken> bad_row = {{0, 1}, {2, 1}};
  CHECK_THROWS_AS(m.decode(cache, bad_row), gfnlm::Error);
  const std::vector<gfnlm::DecodeToken> bad_token = {{0, 23}};
  CHECK_THROWS_AS(m.decode(cache, bad_token), gfnlm::Error);
  CHECK(cache.length(0) == 0);
  std::vector<gfnlm::DecodeToken> too_many(17, {1, 3});
  CHECK_THROWS_AS(m.decode(cache, too_many), gfnlm::Error);
  CHECK(cache.length(1) == 0);
  CHECK(m.decode(cache, std::span<const gfnlm::DecodeToken>{}).empty());
}
