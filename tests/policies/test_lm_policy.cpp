#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/llama.hpp>
#include <gfnlm/policies/lm_policy.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>
#include <vector>

using gfnlm::LmPolicy;
using gfnlm::LmQuery;
using gfnlm::LogitMask;

static_assert(gfnlm::Policy<LmPolicy<>>);
static_assert(gfnlm::Policy<gfnlm::BasicLmPolicy<gfnlm::LlamaTransformer<>>>);

namespace {

constexpr int kVocab = 11;
constexpr int32_t kStop = 10;

gfnlm::TransformerConfig tiny_config() {
  gfnlm::TransformerConfig c;
  c.vocab_size = kVocab;
  c.max_seq_len = 24;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  return c;
}

// The Llama counterpart: grouped-query attention (4 query heads over 2 key/value heads).
gfnlm::LlamaConfig tiny_llama_config() {
  gfnlm::LlamaConfig c;
  c.vocab_size = kVocab;
  c.max_seq_len = 24;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 40;
  return c;
}

// Adapters start with B = 0; give every adapter weight a value so they change the logits.
template <class Model>
void randomize_adapters(Model& model, gfnlm::Rng& rng, float scale) {
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = scale * static_cast<float>(rng.normal());
}

// Rows to roll out with given actions: one query, action sequence and tool context each.
struct Rows {
  std::vector<LmQuery> queries;
  std::vector<std::vector<int32_t>> actions;
  std::vector<std::vector<gfnlm::ContextInsert>> context;
  int size() const { return static_cast<int>(queries.size()); }
  int max_len() const {
    std::size_t L = 0;
    for (const auto& a : actions) L = std::max(L, a.size());
    return static_cast<int>(L);
  }
};

// Two rows with different prompts; row 0 gets tool context after its first action.
Rows tool_rows() {
  return {{{{1, 2, 3}, {}}, {{4}, {}}}, {{3, 4, 5}, {6, 7, 8, 9}}, {{{1, {2, 2}}}, {}}};
}

// Rows 0-1 and 2-3 share their prompts, so start_rollout decodes each prompt once and forks the
// cache; every row then takes its own actions.
Rows shared_prompt_rows() {
  return {{{{1, 2, 3}, {}}, {{1, 2, 3}, {}}, {{4}, {}}, {{4}, {}}},
          {{3, 4, 5}, {6, 7, 8, 9}, {5, 5}, {9, 8, 7, 6}},
          {{}, {}, {}, {}}};
}

// Every token but 1 allowed, STOP banned before two actions.
LogitMask restrictive_mask() {
  std::vector<int32_t> allowed;
  for (int32_t v = 0; v < kVocab; ++v)
    if (v != 1) allowed.push_back(v);
  return LogitMask(kVocab, kStop, 2, allowed);
}

// log q(v | s_t) at temperature 1, masks applied, of every token v at state t of row b, by
// teacher forcing: one probe row per non-stop token (the row's first t actions, then v) and a
// row stopping at s_t for STOP.
template <class Policy>
std::vector<double> scored_distribution(Policy& policy, const Rows& rows, int b, int t,
                                        const LogitMask& mask) {
  gfnlm::TrajectoryBatch batch;
  batch.resize(kVocab, t + 1);
  const std::vector<LmQuery> queries(kVocab, rows.queries[b]);
  for (int v = 0; v < kVocab; ++v) {
    for (int i = 0; i < t; ++i) batch.actions(v, i) = rows.actions[b][i];
    batch.length[v] = v == kStop ? t : t + 1;
    if (v != kStop) batch.actions(v, t) = v;
    for (const auto& insert : rows.context[b])
      if (insert.after_action <= t) batch.context[v].push_back(insert);
  }
  policy.score(queries, mask, batch);
  std::vector<double> log_q(kVocab);
  for (int v = 0; v < kVocab; ++v)
    log_q[v] = v == kStop ? batch.log_stop(v, t) : batch.log_pf(v, t);
  return log_q;
}

struct DrawReport {
  double worst_log_q = 0;  // max |draw()'s log q - score()'s| over every draw
  int draws = 0;
  int mismatches = 0;  // draws whose token is not categorical_at of the scored distribution
  int near_edge = 0;   // draws left unchecked: u within 1e-5 of a boundary of the scored CDF
  int forbidden = 0;   // draws of a token the mask forbids at that state
  int bad_mass = 0;    // states whose scored distribution does not sum to one
  int stop_banned_states = 0;  // states where the mask bans STOP
  std::set<int32_t> tokens;
};

// Rolls every row out with its given actions (tool context appended where it belongs) and, at
// every state, draws with a grid of uniforms at two temperatures. Each draw must be core/rng's
// categorical_at over the teacher-forced distribution softmax(log q / T), and the log q it
// reports score()'s temperature-1 value for that token: rollouts and scoring see one policy.
template <class Model>
DrawReport draws_vs_score(Model& model, const Rows& rows, const LogitMask& mask) {
  gfnlm::BasicLmPolicy<Model> policy(model, kStop);
  const int B = rows.size(), L = rows.max_len();
  // Teacher forcing first: score() reuses model activations a rollout's decode may read.
  std::map<std::pair<int, int>, std::vector<double>> scored;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t <= static_cast<int>(rows.actions[b].size()); ++t)
      scored[{b, t}] = scored_distribution(policy, rows, b, t, mask);

  DrawReport report;
  auto append_context = [&](int b, int after_action) {
    for (const auto& insert : rows.context[b])
      if (insert.after_action == after_action) policy.append_context(b, insert.tokens);
  };
  policy.start_rollout(rows.queries);
  for (int b = 0; b < B; ++b) append_context(b, 0);
  std::vector<int32_t> drawn(B);
  std::vector<double> log_q(B);
  for (int t = 0; t <= L; ++t) {
    std::vector<uint8_t> live(B);
    std::vector<int32_t> last(B, -1);
    for (int b = 0; b < B; ++b) {
      live[b] = t <= static_cast<int>(rows.actions[b].size());
      if (t > 0 && live[b]) last[b] = rows.actions[b][t - 1];
    }
    for (const double temperature : {1.0, 0.6}) {
      for (int k = 0; k < 12; ++k) {
        const double u = (k + 0.5) / 12;
        const std::vector<double> temps(B, temperature), uniforms(B, u);
        const gfnlm::DrawStep step_ctx{t, live, temps, uniforms, last};
        policy.draw(mask, step_ctx, drawn, log_q);
        for (int b = 0; b < B; ++b) {
          if (!live[b]) {
            report.mismatches += drawn[b] != -1;
            continue;
          }
          const auto& lq = scored.at({b, t});
          std::vector<double> weights(kVocab);
          double mass = 0;
          for (int v = 0; v < kVocab; ++v) {
            weights[v] = std::exp(lq[v] / temperature);
            mass += std::exp(lq[v]);
          }
          if (temperature == 1.0 && k == 0) report.bad_mass += std::abs(mass - 1) > 1e-5;
          double total = 0, edge = 1;
          for (double w : weights) total += w;
          for (double cdf = 0; double w : weights)
            edge = std::min(edge, std::abs(u - (cdf += w) / total));
          ++report.draws;
          if (edge < 1e-5) {
            ++report.near_edge;
            continue;
          }
          const int32_t token = drawn[b];
          report.tokens.insert(token);
          if (token != gfnlm::categorical_at(std::span<const double>(weights), u) || token < 0 ||
              token >= kVocab) {
            ++report.mismatches;
            continue;
          }
          report.stop_banned_states += k == 0 && temperature == 1.0 && step_ctx.bans_stop(mask, b);
          // A banned STOP must have zero probability in the scored distribution too.
          report.forbidden += k == 0 && temperature == 1.0 && step_ctx.bans_stop(mask, b) &&
                              lq[kStop] != -std::numeric_limits<double>::infinity();
          report.forbidden +=
              !mask.allowed(token) || (token == kStop && step_ctx.bans_stop(mask, b));
          report.worst_log_q = std::max(report.worst_log_q, std::abs(log_q[b] - lq[token]));
        }
      }
    }
    if (t == L) break;
    std::vector<int32_t> step(B, -1);
    for (int b = 0; b < B; ++b)
      if (t < static_cast<int>(rows.actions[b].size())) step[b] = rows.actions[b][t];
    policy.advance(step);
    for (int b = 0; b < B; ++b)
      if (step[b] >= 0) append_context(b, t + 1);
  }
  return report;
}

void require_consistent(const DrawReport& r, double tolerance) {
  INFO("draws " << r.draws << ", mismatches " << r.mismatches << ", near an edge " << r.near_edge
                << ", forbidden " << r.forbidden << ", states with bad mass " << r.bad_mass
                << ", distinct tokens " << r.tokens.size() << ", max |log q diff| "
                << r.worst_log_q);
  REQUIRE(r.draws > 100);
  REQUIRE(r.mismatches == 0);
  REQUIRE(r.forbidden == 0);
  REQUIRE(r.bad_mass == 0);
  REQUIRE(r.near_edge * 20 < r.draws);
  REQUIRE(r.tokens.size() >= 5);  // the grid reaches across each distribution
  REQUIRE(r.worst_log_q < tolerance);
}

}  // namespace

TEST_CASE("LmPolicy draws equal teacher forcing: tokens and log q, tool context, masks",
          "[policies]") {
  gfnlm::Rng rng(3);
  gfnlm::Transformer<> model(tiny_config(), rng);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  randomize_adapters(model, rng, 0.3f);
  SECTION("no mask") {
    require_consistent(draws_vs_score(model, tool_rows(), {kVocab, kStop, 0}), 1e-5);
  }
  SECTION("vocabulary and min-length masks") {
    require_consistent(draws_vs_score(model, tool_rows(), restrictive_mask()), 1e-5);
  }
  SECTION("STOP only right after some tokens (stop_after)") {
    // Rows take 3 4 5 and 6 7 8 9: STOP is legal only after the 4 and the 7, 2 of 9 states.
    const std::vector<int32_t> after{4, 7};
    const LogitMask mask(kVocab, kStop, 0, {}, after);
    const auto report = draws_vs_score(model, tool_rows(), mask);
    require_consistent(report, 1e-5);
    REQUIRE(report.stop_banned_states == 7);
  }
}

TEST_CASE("LmPolicy over a Llama model (GQA, RoPE): draws equal teacher forcing", "[policies]") {
  gfnlm::Rng rng(4);
  gfnlm::LlamaTransformer<> model(tiny_llama_config(), rng);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  randomize_adapters(model, rng, 0.3f);
  require_consistent(draws_vs_score(model, tool_rows(), restrictive_mask()), 1e-5);
}

TEST_CASE("LmPolicy decodes a shared prompt once and forks it: draws equal teacher forcing",
          "[policies]") {
  gfnlm::Rng rng(6);
  gfnlm::Transformer<> model(tiny_config(), rng);
  model.enable_lora({.rank = 4, .alpha = 8}, rng);
  randomize_adapters(model, rng, 0.3f);
  require_consistent(draws_vs_score(model, shared_prompt_rows(), {kVocab, kStop, 0}), 1e-5);

  gfnlm::LlamaTransformer<> llama(tiny_llama_config(), rng);
  llama.enable_lora({.rank = 4, .alpha = 8}, rng);
  randomize_adapters(llama, rng, 0.3f);
  require_consistent(draws_vs_score(llama, shared_prompt_rows(), {kVocab, kStop, 0}), 1e-5);
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
  randomize_adapters(model, rng, 0.3f);
  std::vector<int32_t> prompt(120);
  for (auto& t : prompt) t = static_cast<int32_t>(rng.below(10));
  Rows rows{{{prompt, {}}, {prompt, {}}, {{1, 2}, {}}}, {{}, {}, {3, 4, 5}}, {{}, {}, {}}};
  for (int k = 0; k < 12; ++k) {
    rows.actions[0].push_back(static_cast<int32_t>(rng.below(10)));
    rows.actions[1].push_back(static_cast<int32_t>(rng.below(10)));
  }
  require_consistent(draws_vs_score(model, rows, {kVocab, kStop, 0}), 1e-4);
}

TEST_CASE("LmPolicy backward matches finite differences of a loss on gathered log q",
          "[policies]") {
  gfnlm::Rng rng(5);
  gfnlm::Transformer<> model(tiny_config(), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  randomize_adapters(model, rng, 0.2f);
  LmPolicy<> policy(model, kStop);
  const Rows rows = tool_rows();
  const LogitMask mask = restrictive_mask();  // STOP banned at s_0 and s_1: log q = -inf there
  gfnlm::TrajectoryBatch batch;
  batch.resize(2, 4);
  for (int b = 0; b < 2; ++b) {
    batch.length[b] = static_cast<int>(rows.actions[b].size());
    for (int t = 0; t < batch.length[b]; ++t) batch.actions(b, t) = rows.actions[b][t];
    batch.context[b] = rows.context[b];
  }
  batch.stopped = {true, false};  // row 1 hit max length: its last log_stop is not in the loss

  auto counts_pf = [&](int b, int t) { return t < batch.length[b]; };
  auto counts_stop = [&](int b, int t) {
    return t <= batch.length[b] && !(t == batch.length[b] && !batch.stopped[b]) &&
           !mask.bans_stop(t, t > 0 ? batch.actions(b, t - 1) : -1);
  };
  // loss = sum of w . log q over the entries the contract reads, with fixed random weights; the
  // gradient carries garbage where the contract says it is ignored, zero at banned STOPs.
  gfnlm::TrajectoryGrad grad;
  grad.resize_like(batch);
  for (int b = 0; b < 2; ++b) {
    for (int t = 0; t < 4; ++t) grad.log_pf(b, t) = static_cast<float>(rng.normal());
    for (int t = 0; t <= 4; ++t)
      grad.log_stop(b, t) =
          mask.bans_stop(t, t > 0 && t <= batch.length[b] ? batch.actions(b, t - 1) : -1)
              ? 0.0f
              : static_cast<float>(rng.normal());
  }
  auto loss = [&] {
    policy.score(rows.queries, mask, batch);
    double total = 0;
    for (int b = 0; b < 2; ++b)
      for (int t = 0; t <= 4; ++t) {
        if (counts_pf(b, t)) total += double(grad.log_pf(b, t)) * batch.log_pf(b, t);
        if (counts_stop(b, t)) total += double(grad.log_stop(b, t)) * batch.log_stop(b, t);
      }
    return total;
  };
  auto params = policy.parameters();
  gfnlm::zero_grad(params);
  loss();
  const double scale = 0.5;
  policy.backward(grad, scale);

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
      const double fd = scale * (up - down) / (2 * h);
      INFO(p.name << "[" << i << "] analytic " << p.grad[i] << " fd " << fd);
      REQUIRE(std::isfinite(p.grad[i]));
      REQUIRE(std::abs(fd - p.grad[i]) <= 2e-2 * std::max(1.0, std::abs(fd)));
      ++checked;
    }
  }
  REQUIRE(checked > 10);
}

TEST_CASE("LmPolicy reports empty prompts, overlong rows and mismatched masks", "[policies]") {
  gfnlm::Rng rng(1);
  gfnlm::Transformer<> model(tiny_config(), rng);
  LmPolicy<> policy(model, kStop);
  const LogitMask mask(kVocab, kStop, 0);
  const std::vector<LmQuery> empty{{{}, {}}};
  REQUIRE_THROWS_WITH(policy.start_rollout(empty), Catch::Contains("empty prompt"));
  REQUIRE_THROWS_WITH(LmPolicy<>(model, kVocab), Catch::Contains("outside the vocabulary"));
  REQUIRE_THROWS_WITH(policy.backward({}, 1.0), Catch::Contains("before score"));

  gfnlm::TrajectoryBatch batch;
  batch.resize(2, 1);
  batch.length = {1, 0};
  batch.actions(0, 0) = 3;
  const std::vector<LmQuery> long_prompt{{std::vector<int32_t>(24, 1), {}}, {{4}, {}}};
  REQUIRE_THROWS_WITH(policy.score(long_prompt, mask, batch), Catch::Contains("max_seq_len"));
  const std::vector<LmQuery> two{{{1}, {}}, {{4}, {}}};
  REQUIRE_THROWS_WITH(policy.score(two, LogitMask(kVocab + 1, kStop, 0), batch),
                      Catch::Contains("the mask is for vocabulary 12"));

  policy.start_rollout(two);
  std::vector<int32_t> drawn(2);
  std::vector<double> log_q(2);
  const std::vector<uint8_t> live{1};
  const std::vector<double> one{1.0}, half{0.5};
  REQUIRE_THROWS_WITH(policy.draw(mask, {0, live, one, half}, drawn, log_q),
                      Catch::Contains("must have 2 rows"));
}
