#include <gfnlm/model/llama.hpp>
#include <gfnlm/policies/lm_policy.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using gfnlm::LmPolicy;
using gfnlm::LmQuery;

static_assert(gfnlm::Policy<LmPolicy<>>);
static_assert(gfnlm::Policy<gfnlm::BasicLmPolicy<gfnlm::LlamaTransformer<>>>);

namespace {

gfnlm::TransformerConfig tiny_config() {
  gfnlm::TransformerConfig c;
  c.vocab_size = 11;
  c.max_seq_len = 24;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  return c;
}

// The Llama counterpart: grouped-query attention (4 query heads over 2 key/value heads).
gfnlm::LlamaConfig tiny_llama_config() {
  gfnlm::LlamaConfig c;
  c.vocab_size = 11;
  c.max_seq_len = 24;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 40;
  return c;
}

// Two rows with different prompts; row 0 gets tool context after its first action.
gfnlm::TrajectoryBatch make_batch() {
  gfnlm::TrajectoryBatch batch;
  batch.resize(2, 4);
  const int32_t a0[] = {3, 4, 5}, a1[] = {6, 7, 8, 9};
  for (int t = 0; t < 3; ++t) batch.actions(0, t) = a0[t];
  for (int t = 0; t < 4; ++t) batch.actions(1, t) = a1[t];
  batch.length = {3, 4};
  batch.stopped = {true, false};
  batch.context[0].push_back({1, {2, 2}});
  return batch;
}

}  // namespace

namespace {

// Largest |rollout logits - teacher-forced logits| over every state of make_batch().
template <class Model>
double rollout_vs_score(Model& model, gfnlm::Rng& rng) {
  // Make the adapters matter: B is zero at init, so give every adapter weight a value.
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.1f * static_cast<float>(rng.normal());
  gfnlm::BasicLmPolicy<Model> policy(model, 10);
  const std::vector<LmQuery> queries{{{1, 2, 3}, {}}, {{4}, {}}};
  const auto batch = make_batch();

  gfnlm::Tensor<float, 3> scored;
  policy.score(queries, batch, scored);

  const int V = policy.vocab_size();
  std::vector<float> logits(2 * V);
  policy.start_rollout(queries);
  double worst = 0;
  for (int t = 0; t <= 4; ++t) {
    policy.next_logits(logits);
    for (int b = 0; b < 2; ++b) {
      if (t > batch.length[b]) continue;
      for (int v = 0; v < V; ++v)
        worst = std::max(worst, double(std::abs(logits[b * V + v] - scored(b, t, v))));
    }
    if (t == 4) break;
    const int32_t step[] = {t < 3 ? batch.actions(0, t) : -1, batch.actions(1, t)};
    policy.advance(step);
    if (t == 0) policy.append_context(0, batch.context[0][0].tokens);
  }
  return worst;
}

}  // namespace

namespace {

// Rolls every row out with its given actions and returns the largest |rollout logits -
// teacher-forced logits| over all states. Rows with equal consecutive prompts share one prefill.
template <class Model>
double rows_rollout_vs_score(Model& model, const std::vector<LmQuery>& queries,
                             const std::vector<std::vector<int32_t>>& actions) {
  gfnlm::BasicLmPolicy<Model> policy(model, 10);
  const int B = static_cast<int>(queries.size());
  int L = 0;
  for (const auto& a : actions) L = std::max(L, static_cast<int>(a.size()));
  gfnlm::TrajectoryBatch batch;
  batch.resize(B, L);
  for (int b = 0; b < B; ++b) {
    batch.length[b] = static_cast<int>(actions[b].size());
    for (int t = 0; t < batch.length[b]; ++t) batch.actions(b, t) = actions[b][t];
  }
  gfnlm::Tensor<float, 3> scored;
  policy.score(queries, batch, scored);

  const int V = policy.vocab_size();
  std::vector<float> logits(B * V);
  policy.start_rollout(queries);
  double worst = 0;
  for (int t = 0; t <= L; ++t) {
    policy.next_logits(logits);
    std::vector<int32_t> step(B, -1);
    for (int b = 0; b < B; ++b) {
      if (t > batch.length[b]) continue;
      for (int v = 0; v < V; ++v)
        worst = std::max(worst, double(std::abs(logits[b * V + v] - scored(b, t, v))));
      if (t < batch.length[b]) step[b] = batch.actions(b, t);
    }
    if (t < L) policy.advance(step);
  }
  return worst;
}

// Rows 0-1 and 2-3 share their prompts, so start_rollout decodes each prompt once and forks the
// cache; every row then takes its own actions.
template <class Model>
double shared_prompt_rollout_vs_score(Model& model, gfnlm::Rng& rng) {
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.1f * static_cast<float>(rng.normal());
  const std::vector<LmQuery> queries{{{1, 2, 3}, {}}, {{1, 2, 3}, {}}, {{4}, {}}, {{4}, {}}};
  return rows_rollout_vs_score(model, queries, {{3, 4, 5}, {6, 7, 8, 9}, {5, 5}, {9, 8, 7, 6}});
}

}  // namespace

TEST_CASE("LmPolicy decodes a shared prompt once and forks it: logits equal teacher forcing",
          "[policies]") {
  gfnlm::Rng rng(6);
  gfnlm::Transformer<> model(tiny_config(), rng);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  const double worst = shared_prompt_rollout_vs_score(model, rng);
  INFO("max |rollout - scored| = " << worst);
  REQUIRE(worst < 1e-5);

  gfnlm::LlamaTransformer<> llama(tiny_llama_config(), rng);
  llama.enable_lora({.rank = 4, .alpha = 8}, rng);
  const double worst_llama = shared_prompt_rollout_vs_score(llama, rng);
  INFO("Llama: max |rollout - scored| = " << worst_llama);
  REQUIRE(worst_llama < 1e-5);
}

TEST_CASE(
    "LmPolicy rollouts past the KV cache's initial capacity (it grows, rows keep their "
    "keys)",
    "[policies]") {
  // Prompts of 120 tokens outgrow the initial 64 positions at the prefill and 128 while decoding.
  auto c = tiny_config();
  c.max_seq_len = 160;
  gfnlm::Rng rng(7);
  gfnlm::Transformer<> model(c, rng);
  REQUIRE(gfnlm::Transformer<>::Cache::kInitialCapacity < 120);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.1f * static_cast<float>(rng.normal());
  std::vector<int32_t> prompt(120);
  for (auto& t : prompt) t = static_cast<int32_t>(rng.below(10));
  const std::vector<LmQuery> queries{{prompt, {}}, {prompt, {}}, {{1, 2}, {}}};
  std::vector<std::vector<int32_t>> actions(3);
  for (int k = 0; k < 12; ++k) {
    actions[0].push_back(static_cast<int32_t>(rng.below(10)));
    actions[1].push_back(static_cast<int32_t>(rng.below(10)));
  }
  actions[2] = {3, 4, 5};
  const double worst = rows_rollout_vs_score(model, queries, actions);
  INFO("max |rollout - scored| = " << worst);
  REQUIRE(worst < 1e-4);
}

TEST_CASE("LmPolicy rollout logits equal teacher-forced logits, tool context included",
          "[policies]") {
  gfnlm::Rng rng(3);
  gfnlm::Transformer<> model(tiny_config(), rng);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  const double worst = rollout_vs_score(model, rng);
  INFO("max |rollout - scored| = " << worst);
  REQUIRE(worst < 1e-5);
}

TEST_CASE("LmPolicy over a Llama model (GQA, RoPE): rollout equals teacher forcing", "[policies]") {
  gfnlm::Rng rng(4);
  gfnlm::LlamaTransformer<> model(tiny_llama_config(), rng);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  const double worst = rollout_vs_score(model, rng);
  INFO("max |rollout - scored| = " << worst);
  REQUIRE(worst < 1e-5);
}

TEST_CASE("LmPolicy backward matches finite differences of a loss on state logits", "[policies]") {
  gfnlm::Rng rng(5);
  gfnlm::Transformer<> model(tiny_config(), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.2f * static_cast<float>(rng.normal());
  LmPolicy<> policy(model, 10);
  const std::vector<LmQuery> queries{{{1, 2, 3}, {}}, {{4}, {}}};
  const auto batch = make_batch();

  // loss = sum over valid states of w . logits, with fixed random weights w.
  gfnlm::Tensor<float, 3> w({2, 5, 11});
  for (auto& x : w) x = static_cast<float>(rng.normal());
  auto loss = [&] {
    gfnlm::Tensor<float, 3> s;
    policy.score(queries, batch, s);
    double total = 0;
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t <= batch.length[b]; ++t)
        for (int v = 0; v < 11; ++v) total += double(w(b, t, v)) * s(b, t, v);
    return total;
  };
  auto params = policy.parameters();
  gfnlm::zero_grad(params);
  loss();
  gfnlm::Tensor<float, 3> dl = w;
  for (int b = 0; b < 2; ++b)
    for (int t = batch.length[b] + 1; t <= 4; ++t)
      for (int v = 0; v < 11; ++v) dl(b, t, v) = 0;
  policy.backward(dl);

  // Float model: central differences with a step that balances rounding and curvature.
  int checked = 0;
  for (auto& p : params) {
    for (std::size_t i = 0; i < p.size; i += std::max<std::size_t>(1, p.size / 5)) {
      const float old = p.value[i];
      const float h = 3e-3f;
      p.value[i] = old + h;
      const double up = loss();
      p.value[i] = old - h;
      const double down = loss();
      p.value[i] = old;
      const double fd = (up - down) / (2 * h);
      INFO(p.name << "[" << i << "] analytic " << p.grad[i] << " fd " << fd);
      REQUIRE(std::abs(fd - p.grad[i]) <= 2e-2 * std::max(1.0, std::abs(fd)));
      ++checked;
    }
  }
  REQUIRE(checked > 10);
}

TEST_CASE("LmPolicy reports empty prompts and overlong rows", "[policies]") {
  gfnlm::Rng rng(1);
  gfnlm::Transformer<> model(tiny_config(), rng);
  LmPolicy<> policy(model, 10);
  const std::vector<LmQuery> empty{{{}, {}}};
  REQUIRE_THROWS_WITH(policy.start_rollout(empty), Catch::Contains("empty prompt"));
  REQUIRE_THROWS_WITH(LmPolicy<>(model, 11), Catch::Contains("outside the vocabulary"));
  const std::vector<LmQuery> long_prompt{{std::vector<int32_t>(23, 1), {}}, {{4}, {}}};
  gfnlm::Tensor<float, 3> s;
  REQUIRE_THROWS_WITH(policy.score(long_prompt, make_batch(), s), Catch::Contains("max_seq_len"));
}
