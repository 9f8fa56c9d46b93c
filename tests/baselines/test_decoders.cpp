// The decoders against enumeration (issue 19, acceptance 1): beam search with a width covering the
// support returns the exact most likely sequences, on the exact TabularPolicy and on LmPolicy
// (GPT-2 and Llama blocks, whose KV cache follows the beams); diverse beam search with penalty 0
// is beam search per group; top-k and nucleus draws match the truncated, renormalised
// distribution within 3 standard errors. The reference probabilities come from teacher forcing
// (Policy::score) or from the table's logits directly, never from the decoders' own code.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/baselines/beam_search.hpp>
#include <gfnlm/baselines/sample_decode.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/llama.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <vector>

using gfnlm::BeamSearchConfig;
using gfnlm::LogitMask;

static_assert(gfnlm::DecodablePolicy<gfnlm::TabularPolicy>);
static_assert(gfnlm::DecodablePolicy<gfnlm::LmPolicy<>>);
static_assert(gfnlm::DecodablePolicy<gfnlm::BasicLmPolicy<gfnlm::LlamaTransformer<>>>);

namespace {

using Seq = std::vector<int32_t>;

// Every sequence of non-stop tokens of length 0..max_len.
std::vector<Seq> all_sequences(int V, int32_t stop, int max_len) {
  std::vector<Seq> out{{}};
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (static_cast<int>(out[i].size()) == max_len) continue;
    for (int32_t v = 0; v < V; ++v) {
      if (v == stop) continue;
      auto next = out[i];
      next.push_back(v);
      out.push_back(std::move(next));
    }
  }
  return out;
}

// log q of each finished sequence (STOP included below max_len) by teacher forcing.
template <class P>
std::vector<double> score_all(P& policy, const typename P::Query& query, const LogitMask& mask,
                              const std::vector<Seq>& seqs, int max_len) {
  gfnlm::TrajectoryBatch batch;
  batch.resize(static_cast<int>(seqs.size()), max_len);
  for (std::size_t b = 0; b < seqs.size(); ++b) {
    for (std::size_t t = 0; t < seqs[b].size(); ++t) batch.actions(b, t) = seqs[b][t];
    batch.length[b] = static_cast<int>(seqs[b].size());
    batch.stopped[b] = static_cast<int>(seqs[b].size()) < max_len;
    batch.query[b] = static_cast<int>(b);
  }
  const std::vector<typename P::Query> queries(seqs.size(), query);
  policy.score(std::span<const typename P::Query>(queries), mask, batch);
  std::vector<double> out(seqs.size());
  for (std::size_t b = 0; b < seqs.size(); ++b) {
    double total = 0;
    for (std::size_t t = 0; t < seqs[b].size(); ++t) total += batch.log_pf(b, t);
    if (batch.stopped[b]) total += batch.log_stop(b, seqs[b].size());
    out[b] = total;
  }
  return out;
}

// The n most likely sequences with finite probability, best first.
std::vector<std::pair<double, Seq>> top_n(const std::vector<Seq>& seqs,
                                          const std::vector<double>& logq, std::size_t n) {
  std::vector<std::pair<double, Seq>> ranked;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    if (std::isfinite(logq[i])) ranked.push_back({logq[i], seqs[i]});
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (ranked.size() > n) ranked.resize(n);
  return ranked;
}

void require_exact_top(const std::vector<gfnlm::Hypothesis>& found,
                       const std::vector<std::pair<double, Seq>>& expected, double tol) {
  REQUIRE(found.size() == expected.size());
  for (std::size_t i = 0; i < found.size(); ++i) {
    INFO("rank " << i);
    REQUIRE(found[i].log_q == Approx(expected[i].first).margin(tol));
    REQUIRE(found[i].score == Approx(found[i].log_q).margin(1e-12));
    // Sequences of (nearly) tied probability may come in either order.
    if (i + 1 < found.size() && std::abs(expected[i].first - expected[i + 1].first) < 10 * tol)
      continue;
    if (i > 0 && std::abs(expected[i].first - expected[i - 1].first) < 10 * tol) continue;
    REQUIRE(found[i].actions == expected[i].second);
  }
}

}  // namespace

TEST_CASE("top_tokens: the K best allowed tokens, ties by id, log-probs at T = 1 and at T",
          "[decode]") {
  const int V = 7, K = 4;
  const std::vector<float> logits{0.5f, 2.0f, -1.0f, 2.0f, 0.1f, 3.0f, -0.5f,  // row 0
                                  1.0f, 1.0f, 1.0f,  1.0f, 1.0f, 1.0f, 1.0f};  // row 1
  const std::vector<uint8_t> allowed{1, 1, 1, 1, 1, 0, 1};                     // token 5 masked
  const std::vector<uint8_t> banned{0, 1};                                     // row 1: no STOP
  const gfnlm::RowMask mask{nullptr, allowed.data(), banned.data(), /*stop=*/0};
  const std::vector<double> temperature{1.0, 0.5};
  std::vector<int32_t> tokens(2 * K);
  std::vector<double> logp(2 * K), logp_t(2 * K);
  gfnlm::Cpu::top_tokens(tokens.data(), logp.data(), logp_t.data(), logits.data(), 2, V, K,
                         temperature.data(), mask);
  CHECK(std::vector<int32_t>(tokens.begin(), tokens.begin() + K) ==
        std::vector<int32_t>{1, 3, 0, 4});
  CHECK(std::vector<int32_t>(tokens.begin() + K, tokens.end()) == std::vector<int32_t>{1, 2, 3, 4});
  // Row 0 by hand: log-softmax over the 6 allowed logits.
  double z = 0;
  for (int v : {0, 1, 2, 3, 4, 6}) z += std::exp(double(logits[v]));
  CHECK(logp[0] == Approx(2.0 - std::log(z)).epsilon(1e-12));
  CHECK(logp[2] == Approx(0.5 - std::log(z)).epsilon(1e-12));
  CHECK(logp_t[0] == Approx(logp[0]).epsilon(1e-12));  // row 0 at T = 1
  // Row 1: 5 allowed equal logits (STOP and token 5 out): 1/5 each at any temperature.
  for (int i = 0; i < K; ++i) {
    CHECK(logp[K + i] == Approx(std::log(0.2)).epsilon(1e-12));
    CHECK(logp_t[K + i] == Approx(std::log(0.2)).epsilon(1e-12));
  }
  SECTION("fewer allowed tokens than K: -1 and -inf past them") {
    const std::vector<uint8_t> two{1, 0, 0, 1, 0, 0, 0};
    const gfnlm::RowMask narrow{nullptr, two.data(), nullptr, 0};
    gfnlm::Cpu::top_tokens(tokens.data(), logp.data(), nullptr, logits.data(), 1, V, K, nullptr,
                           narrow);
    CHECK(tokens[0] == 3);
    CHECK(tokens[1] == 0);
    CHECK(tokens[2] == -1);
    CHECK(std::isinf(logp[3]));
    CHECK(std::exp(logp[0]) + std::exp(logp[1]) == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("beam search with a width covering the support returns the exact top sequences",
          "[decode]") {
  const int V = 4, max_len = 3;
  const int32_t stop = 2;
  gfnlm::Rng rng(11);
  gfnlm::TabularPolicy policy(2, V, stop, max_len);
  policy.randomize(rng, 1.5);
  const auto seqs = all_sequences(V, stop, max_len);  // 1 + 3 + 9 + 27 = 40
  REQUIRE(seqs.size() == 40);
  // 27 beams hold every prefix of the deepest level, and 27 + 1 >= V candidates each: no pruning.
  BeamSearchConfig config{.beams = 40, .groups = 1, .max_len = max_len};
  const std::vector<LogitMask> masks{
      LogitMask(V, stop, 0), LogitMask(V, stop, 1),          // min length
      LogitMask(V, stop, 0, std::vector<int32_t>{0, 2, 3}),  // token 1 forbidden
      LogitMask(V, stop, 0, {}, std::vector<int32_t>{3})};   // STOP only after a 3
  for (std::size_t m = 0; m < masks.size(); ++m) {
    INFO("mask " << m);
    const std::vector<int> prompts{0, 1};
    const auto found = gfnlm::beam_search(policy, std::span<const int>(prompts), masks[m], config);
    for (int q : prompts) {
      const auto logq = score_all(policy, q, masks[m], seqs, max_len);
      require_exact_top(found[q], top_n(seqs, logq, 40), 1e-5);
    }
  }
  SECTION("return_sequences keeps the best; a narrower beam keeps the first best exactly") {
    const LogitMask mask(V, stop, 0);
    const auto logq = score_all(policy, 0, mask, seqs, max_len);
    const std::vector<int> prompt{0};
    config.return_sequences = 5;
    const auto found = gfnlm::beam_search(policy, std::span<const int>(prompt), mask, config);
    require_exact_top(found[0], top_n(seqs, logq, 5), 1e-5);
  }
}

TEST_CASE("diverse beam search: penalty 0 is beam search per group; a penalty separates groups",
          "[decode]") {
  const int V = 6, max_len = 4;
  const int32_t stop = 0;
  gfnlm::Rng rng(5);
  gfnlm::TabularPolicy policy(3, V, stop, max_len);
  policy.randomize(rng, 2.0);
  const LogitMask mask(V, stop, 1);
  const std::vector<int> prompts{0, 1, 2};
  const auto narrow = gfnlm::beam_search(policy, std::span<const int>(prompts), mask,
                                         {.beams = 2, .groups = 1, .max_len = max_len});
  const auto grouped =
      gfnlm::beam_search(policy, std::span<const int>(prompts), mask,
                         {.beams = 6, .groups = 3, .diversity_penalty = 0.0, .max_len = max_len});
  for (int p : prompts) {
    REQUIRE(grouped[p].size() == 6);
    for (int g = 0; g < 3; ++g) {
      std::vector<gfnlm::Hypothesis> mine;
      for (const auto& h : grouped[p])
        if (h.group == g) mine.push_back(h);
      REQUIRE(mine.size() == narrow[p].size());
      for (std::size_t i = 0; i < mine.size(); ++i) {
        CHECK(mine[i].actions == narrow[p][i].actions);
        CHECK(mine[i].log_q == narrow[p][i].log_q);
      }
    }
  }
  // One group ignores the penalty: plain beam search.
  const auto one =
      gfnlm::beam_search(policy, std::span<const int>(prompts), mask,
                         {.beams = 2, .groups = 1, .diversity_penalty = 3.0, .max_len = max_len});
  for (int p : prompts)
    for (std::size_t i = 0; i < one[p].size(); ++i)
      CHECK(one[p][i].actions == narrow[p][i].actions);
  // With a large penalty, two one-beam groups never open with the same token.
  const auto diverse =
      gfnlm::beam_search(policy, std::span<const int>(prompts), mask,
                         {.beams = 2, .groups = 2, .diversity_penalty = 100.0, .max_len = max_len});
  for (int p : prompts) {
    REQUIRE(diverse[p].size() == 2);
    CHECK(diverse[p][0].actions.front() != diverse[p][1].actions.front());
    for (const auto& h : diverse[p]) CHECK(h.score <= h.log_q);
  }
}

TEST_CASE("beam search on LmPolicy (GPT-2 and Llama): the KV cache follows the beams", "[decode]") {
  const int V = 4, max_len = 3;
  const int32_t stop = 3;
  gfnlm::Rng rng(21);
  gfnlm::TransformerConfig c;
  c.vocab_size = V, c.max_seq_len = 16, c.n_layer = 2, c.n_head = 2, c.d_model = 16;
  gfnlm::LlamaConfig lc;
  lc.vocab_size = V, lc.max_seq_len = 16, lc.n_layer = 2, lc.n_head = 4, lc.n_kv_head = 2;
  lc.d_model = 16, lc.d_ff = 40;
  gfnlm::Transformer<> gpt2(c, rng);
  gfnlm::LlamaTransformer<> llama(lc, rng);
  const auto seqs = all_sequences(V, stop, max_len);
  const std::vector<gfnlm::LmQuery> prompts{{{0, 1}, {}}, {{2}, {}}};
  const LogitMask mask(V, stop, 1);
  const auto check = [&](auto& model) {
    gfnlm::BasicLmPolicy policy(model, stop);
    const auto found = gfnlm::beam_search(policy, std::span<const gfnlm::LmQuery>(prompts), mask,
                                          {.beams = 40, .groups = 1, .max_len = max_len});
    for (std::size_t p = 0; p < prompts.size(); ++p) {
      INFO("prompt " << p);
      const auto logq = score_all(policy, prompts[p], mask, seqs, max_len);
      require_exact_top(found[p], top_n(seqs, logq, 40), 2e-5);
    }
  };
  check(gpt2);
  check(llama);
}

namespace {

// q(v | s) after temperature, top-k and top-p, from the table's logits and the mask (written
// independently of the rollout engine's truncation).
std::vector<double> truncated(std::span<const float> logits, const LogitMask& mask, int length,
                              int32_t last, double temperature, int top_k, double top_p) {
  std::vector<float> x(logits.begin(), logits.end());
  mask.apply(x, length, last);
  const int V = static_cast<int>(x.size());
  std::vector<double> p(V, 0.0);
  double hi = -1e300;
  for (float v : x) hi = std::max(hi, double(v));
  double z = 0;
  for (int v = 0; v < V; ++v) z += std::isinf(x[v]) ? 0.0 : std::exp((x[v] - hi) / temperature);
  for (int v = 0; v < V; ++v)
    p[v] = std::isinf(x[v]) ? 0.0 : std::exp((x[v] - hi) / temperature) / z;
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<double> kept(V, 0.0);
  const int k = top_k > 0 ? top_k : V;
  double in_k = 0;
  for (int i = 0; i < k; ++i) in_k += p[order[i]];
  double before = 0;
  for (int i = 0; i < k && p[order[i]] > 0; ++i) {
    if (before >= top_p) break;
    kept[order[i]] = p[order[i]];
    before += p[order[i]] / in_k;
  }
  const double total = std::accumulate(kept.begin(), kept.end(), 0.0);
  for (auto& v : kept) v /= total;
  return kept;
}

}  // namespace

TEST_CASE("top-k, nucleus and greedy draws match the truncated, renormalised distribution",
          "[decode]") {
  const int V = 6, max_len = 2;
  const int32_t stop = 5;
  gfnlm::Rng init(8);
  gfnlm::TabularPolicy policy(1, V, stop, max_len);
  policy.randomize(init, 1.2);
  const LogitMask mask(V, stop, 0, {}, std::vector<int32_t>{1, 2, 3});
  const auto seqs = all_sequences(V, stop, max_len);
  struct Setting {
    double temperature;
    int top_k;
    double top_p;
  };
  for (const Setting s : {Setting{1.0, 3, 1.0}, Setting{1.0, 0, 0.7}, Setting{0.7, 0, 0.9},
                          Setting{1.5, 4, 0.8}, Setting{1.0, 1, 1.0}}) {
    INFO("T " << s.temperature << " top_k " << s.top_k << " top_p " << s.top_p);
    // The exact law of a whole sequence: the product of the truncated conditionals.
    std::map<Seq, double> expected;
    for (const auto& z : seqs) {
      double prob = 1;
      for (std::size_t t = 0; t <= z.size(); ++t) {
        if (t == std::size_t(max_len)) break;  // STOP forced
        const Seq prefix(z.begin(), z.begin() + t);
        const auto q = truncated(policy.logits(0, prefix), mask, int(t), t ? z[t - 1] : -1,
                                 s.temperature, s.top_k, s.top_p);
        prob *= q[t < z.size() ? z[t] : stop];
      }
      if (prob > 0) expected[z] = prob;
    }
    const int n = 20000;
    gfnlm::Rng rng(99);
    const std::vector<int> prompt{0};
    const gfnlm::SamplingDecoder decoder{s.temperature, {s.top_k, s.top_p}, max_len};
    const auto drawn =
        gfnlm::sample_decode(policy, std::span<const int>(prompt), n, mask, decoder, rng);
    std::map<Seq, int> counts;
    for (const auto& traj : drawn[0]) ++counts[traj.actions];
    for (const auto& [z, count] : counts) CHECK(expected.count(z) == 1);  // never outside
    for (const auto& [z, p] : expected) {
      const double f = double(counts[z]) / n, se = std::sqrt(p * (1 - p) / n);
      INFO("sequence of length " << z.size() << ": p " << p << " observed " << f);
      CHECK(std::abs(f - p) <= 3 * se + 1e-12);
    }
    if (s.top_k == 1) CHECK(expected.size() == 1);  // greedy: one sequence
  }
  SECTION("log_pf is the untruncated temperature-1 log q") {
    gfnlm::Rng rng(3);
    const std::vector<int> prompt{0};
    const auto drawn = gfnlm::sample_decode(policy, std::span<const int>(prompt), 50, mask,
                                            {0.5, {2, 0.9}, max_len}, rng);
    for (const auto& traj : drawn[0]) {
      const auto logq = score_all(policy, 0, mask, {traj.actions}, max_len);
      CHECK(traj.log_q == Approx(logq[0]).margin(1e-5));
    }
  }
}

TEST_CASE("end_after: samples and beams end at their first end token, as the LM's next sentence",
          "[decode]") {
  // STOP is never drawn (min_len past max_len): a row ends at token 1 (the "."), or at max_len.
  const int V = 4, max_len = 3;
  const int32_t stop = 0, end = 1;
  gfnlm::Rng init(4);
  gfnlm::TabularPolicy policy(1, V, stop, max_len);
  policy.randomize(init, 1.0);
  const LogitMask mask(V, stop, max_len + 1);
  // The exact law: the sequences with no end token before their last position that end with it
  // or run to max_len, each with its product of masked conditionals (no STOP factor).
  std::map<Seq, double> law;
  for (const auto& z : all_sequences(V, stop, max_len)) {
    if (z.empty()) continue;
    if (std::find(z.begin(), z.end() - 1, end) != z.end() - 1) continue;
    if (z.back() != end && static_cast<int>(z.size()) < max_len) continue;
    double lp = 0;
    for (std::size_t t = 0; t < z.size(); ++t) {
      const auto q = truncated(policy.logits(0, Seq(z.begin(), z.begin() + t)), mask, int(t),
                               t ? z[t - 1] : -1, 1.0, 0, 1.0);
      lp += std::log(q[z[t]]);
    }
    law[z] = lp;
  }
  double total = 0;
  for (const auto& [z, lp] : law) total += std::exp(lp);
  REQUIRE(total == Approx(1.0).epsilon(1e-9));
  const std::vector<int> prompt{0};
  gfnlm::Rng rng(17);
  const int n = 20000;
  const auto drawn = gfnlm::sample_decode(policy, std::span<const int>(prompt), n, mask,
                                          {1.0, {}, max_len, {end}}, rng);
  std::map<Seq, int> counts;
  for (const auto& traj : drawn[0]) {
    ++counts[traj.actions];
    CHECK(traj.stopped == (traj.actions.back() == end));
    CHECK(traj.log_q == Approx(law.at(traj.actions)).margin(1e-5));
  }
  for (const auto& [z, lp] : law) {
    const double p = std::exp(lp), f = double(counts[z]) / n;
    CHECK(std::abs(f - p) <= 3 * std::sqrt(p * (1 - p) / n) + 1e-12);
  }
  // Beam search over the same law, with a covering width, ranks it exactly.
  const auto found = gfnlm::beam_search(
      policy, std::span<const int>(prompt), mask,
      {.beams = 16, .max_len = max_len, .return_sequences = 6, .end_after = {end}});
  std::vector<Seq> seqs;
  std::vector<double> logq;
  for (const auto& [z, lp] : law) seqs.push_back(z), logq.push_back(lp);
  require_exact_top(found[0], top_n(seqs, logq, 6), 1e-5);
}

TEST_CASE("decoders reject bad settings before any work", "[decode]") {
  gfnlm::TabularPolicy policy(1, 3, 0, 2);
  const LogitMask mask(3, 0, 0);
  const std::vector<int> prompt{0};
  const auto beam = [&](BeamSearchConfig c) {
    return gfnlm::beam_search(policy, std::span<const int>(prompt), mask, c);
  };
  CHECK_THROWS_WITH(beam({.beams = 0, .max_len = 2}), Catch::Contains("beams = 0"));
  CHECK_THROWS_WITH(beam({.beams = 4, .groups = 3, .max_len = 2}),
                    Catch::Contains("divide beams = 4"));
  CHECK_THROWS_WITH(beam({.beams = 2, .diversity_penalty = -1, .max_len = 2}),
                    Catch::Contains("diversity_penalty"));
  CHECK_THROWS_WITH(beam({.beams = 2, .max_len = 2, .return_sequences = 3}),
                    Catch::Contains("return_sequences = 3"));
  gfnlm::Rng rng(1);
  CHECK_THROWS_WITH(
      gfnlm::sample_decode(policy, std::span<const int>(prompt), 2, mask, {1.0, {0, 1.5}, 2}, rng),
      Catch::Contains("top_p 1.5"));
  CHECK_THROWS_WITH(
      gfnlm::sample_decode(policy, std::span<const int>(prompt), 2, mask, {1.0, {-1, 1.0}, 2}, rng),
      Catch::Contains("top_k -1"));
  CHECK_THROWS_WITH(
      gfnlm::sample_decode(policy, std::span<const int>(prompt), 2, mask, {1.0, {}, 2, {0}}, rng),
      Catch::Contains("end_after token 0 is the stop token"));
  CHECK_THROWS_WITH(beam({.beams = 2, .max_len = 2, .end_after = {7}}),
                    Catch::Contains("end_after token 7"));
}
