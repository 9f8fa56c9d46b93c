#include <gfnlm/baselines/episode.hpp>
#include <gfnlm/baselines/ppo.hpp>
#include <gfnlm/baselines/rollout.hpp>
#include <gfnlm/baselines/sft.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using gfnlm::TabularPolicy;

namespace {

// Vocabulary {0, 1, 2} plus STOP = 3, answers of at most 3 tokens, one query.
constexpr int kVocab = 4, kStop = 3, kMaxLen = 3;

// Exact KL(p || q) between two tabular policies' terminal distributions.
double exact_kl(const TabularPolicy& p, const TabularPolicy& q) {
  const auto lp = p.terminal_log_probs(0), lq = q.terminal_log_probs(0);
  double kl = 0;
  for (std::size_t i = 0; i < lp.size(); ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
  return kl;
}

auto frozen(TabularPolicy& ref) {
  return gfnlm::frozen_reference(ref);
}

// +1 for exactly "0 1 STOP", 0 otherwise.
double target_reward(int, std::span<const int32_t> z, bool stopped) {
  return (stopped && z.size() == 2 && z[0] == 0 && z[1] == 1) ? 1.0 : 0.0;
}

}  // namespace

TEST_CASE("sample_rollouts draws from the policy and records T = 1 log-probs", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, 1);
  // s_0: p(0) = 1/2, p(1) = 1/4, p(2) = 0, p(STOP) = 1/4 (logit of 2 is very low).
  auto root = policy.logits(0, {});
  root[0] = std::log(2.0f), root[1] = 0, root[2] = -80, root[3] = 0;
  gfnlm::Rng rng(3);
  const std::vector<int> queries(20000, 0);
  const auto batch = gfnlm::sample_rollouts(policy, std::span<const int>(queries), {1, 1.0}, rng);
  int zero = 0, stop = 0;
  for (int b = 0; b < batch.rows(); ++b) {
    if (batch.length[b] == 0) {
      REQUIRE(batch.stopped[b]);
      ++stop;
      REQUIRE(batch.log_stop(b, 0) == Approx(std::log(0.25)));
    } else {
      REQUIRE(!batch.stopped[b]);  // max_len 1: cut there, STOP forced
      REQUIRE(batch.actions(b, 0) != 2);
      zero += batch.actions(b, 0) == 0;
      REQUIRE(batch.log_pf(b, 0) ==
              Approx(batch.actions(b, 0) == 0 ? std::log(0.5) : std::log(0.25)));
    }
  }
  REQUIRE(zero / 20000.0 == Approx(0.5).margin(0.015));
  REQUIRE(stop / 20000.0 == Approx(0.25).margin(0.015));
  // Temperature 2 flattens: weights sqrt(2) : 1 : ~0 : 1.
  const auto hot = gfnlm::sample_rollouts(policy, std::span<const int>(queries), {1, 2.0}, rng);
  int hot_zero = 0;
  for (int b = 0; b < hot.rows(); ++b) hot_zero += hot.length[b] == 1 && hot.actions(b, 0) == 0;
  REQUIRE(hot_zero / 20000.0 == Approx(std::sqrt(2.0) / (std::sqrt(2.0) + 2)).margin(0.015));
}

TEST_CASE("action_log_probs gradient matches finite differences", "[baselines]") {
  gfnlm::Tensor<float, 3> logits({2, 3, kVocab});
  gfnlm::Rng rng(5);
  for (auto& v : logits) v = float(rng.normal());
  gfnlm::TrajectoryBatch batch;
  batch.resize(2, 2);
  batch.actions(0, 0) = 1, batch.actions(0, 1) = 2, batch.length[0] = 2;   // 1 2 STOP
  batch.actions(1, 0) = 0, batch.length[1] = 1, batch.stopped[1] = false;  // 0 (cut)
  const auto actions = gfnlm::episode_actions(batch, kStop);
  REQUIRE(actions.size() == 4);
  REQUIRE(actions[2].token == kStop);
  REQUIRE(actions[2].previous == 2);
  REQUIRE(actions[3].previous == -1);
  const std::vector<float> w{0.5f, -1.0f, 2.0f, 0.25f};
  gfnlm::Tensor<float, 3> d(logits.shape(), 0.0f);
  gfnlm::action_log_probs(logits, actions, nullptr, w, &d);
  auto objective = [&](const gfnlm::Tensor<float, 3>& l) {
    const auto lp = gfnlm::action_log_probs(l, actions);
    double s = 0;
    for (std::size_t i = 0; i < lp.size(); ++i) s += w[i] * lp[i];
    return s;
  };
  for (std::size_t i = 0; i < logits.size(); ++i) {
    auto plus = logits, minus = logits;
    plus.data()[i] += 1e-2f;
    minus.data()[i] -= 1e-2f;
    REQUIRE(d.data()[i] == Approx((objective(plus) - objective(minus)) / 2e-2).margin(2e-3));
  }
}

TEST_CASE("PPO raises the probability of the rewarded answer", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
  const std::vector<int> z{0, 1};
  const double before = std::exp(policy.log_prob(0, z, true));  // 1/64 under the uniform policy
  gfnlm::PpoConfig config{.max_len = kMaxLen,
                          .minibatch_size = 16,
                          .epochs = 4,
                          .lr = 0.05,
                          .init_kl_coef = 0.01,
                          .adaptive_kl = false};
  gfnlm::PpoTrainer trainer(policy, frozen(reference), target_reward, config, 11);
  const std::vector<int> queries(64, 0);
  double first_reward = -1, last_reward = -1;
  for (int step = 0; step < 40; ++step) {
    const auto s = trainer.train_step(queries);
    if (step == 0) first_reward = s.mean_reward;
    last_reward = s.mean_reward;
    REQUIRE(std::isfinite(s.policy_loss));
  }
  const double after = std::exp(policy.log_prob(0, z, true));
  INFO("p(0 1 STOP): " << before << " -> " << after);
  REQUIRE(before == Approx(1.0 / 64));
  REQUIRE(after > 0.7);
  REQUIRE(last_reward > first_reward);
  // The critic learnt something: the value of the start state moved toward the return.
  REQUIRE(trainer.value_head().value(0, -1) > 0.2f);
}

TEST_CASE("PPO's KL penalty holds the policy near the reference", "[baselines]") {
  auto run = [](double beta) {
    TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
    gfnlm::PpoConfig config{
        .max_len = kMaxLen, .lr = 0.05, .init_kl_coef = beta, .adaptive_kl = false};
    gfnlm::PpoTrainer trainer(policy, frozen(reference), target_reward, config, 17);
    const std::vector<int> queries(64, 0);
    for (int step = 0; step < 30; ++step) trainer.train_step(queries);
    return std::pair{std::exp(policy.log_prob(0, std::vector<int>{0, 1}, true)),
                     exact_kl(policy, reference)};
  };
  const auto [p_free, kl_free] = run(0.0);
  const auto [p_held, kl_held] = run(2.0);
  INFO("beta 0: p " << p_free << " KL " << kl_free << "; beta 2: p " << p_held << " KL "
                    << kl_held);
  REQUIRE(kl_held < 0.5 * kl_free);
  REQUIRE(p_held < p_free);
  // The KL-regularised optimum is pi* ~ pi_ref exp(R / beta): (e^0.5 / 64) / (e^0.5 / 64 + 63 /
  // 64).
  REQUIRE(p_held == Approx(std::exp(0.5) / (std::exp(0.5) + 63)).margin(0.008));
}

TEST_CASE("adaptive KL raises beta while the KL exceeds its target", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
  gfnlm::PpoConfig config{
      .max_len = kMaxLen, .lr = 0.05, .init_kl_coef = 0.05, .target_kl = 0.05, .kl_horizon = 256};
  gfnlm::PpoTrainer trainer(policy, frozen(reference), target_reward, config, 23);
  const std::vector<int> queries(64, 0);
  double kl = 0;
  for (int step = 0; step < 20; ++step) kl = trainer.train_step(queries).mean_kl;
  INFO("last KL " << kl << " beta " << trainer.kl_controller().beta());
  REQUIRE(trainer.kl_controller().beta() > 0.05);
}

TEST_CASE("SFT fits the target answers' distribution", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, kMaxLen);
  gfnlm::SftTrainer sft(policy, {.lr = 0.05});
  // Half "0 STOP", half "1 2 STOP".
  const std::vector<std::vector<int32_t>> answers{{0}, {1, 2}, {0}, {1, 2}};
  const std::vector<int> queries(answers.size(), 0);
  const double first = sft.train_step(queries, answers);
  double last = first;
  for (int step = 0; step < 300; ++step) last = sft.train_step(queries, answers);
  REQUIRE(last < first);
  REQUIRE(std::exp(policy.log_prob(0, std::vector<int>{0}, true)) == Approx(0.5).margin(0.03));
  REQUIRE(std::exp(policy.log_prob(0, std::vector<int>{1, 2}, true)) == Approx(0.5).margin(0.03));
  // Minimum NLL per token of this data: (ln 2 + 0 + ln 2 + 0 + 0) / 5 over the 2.5 tokens of
  // an average answer = 2 ln 2 / 5.
  REQUIRE(last == Approx(2 * std::log(2.0) / 5).margin(0.03));
  REQUIRE_THROWS_AS(sft.train_step(queries, std::vector<std::vector<int32_t>>{{kStop}}),
                    gfnlm::Error);
}
