#include <gfnlm/baselines/episode.hpp>
#include <gfnlm/baselines/ppo.hpp>
#include <gfnlm/baselines/rollout.hpp>
#include <gfnlm/baselines/sft.hpp>
#include <gfnlm/policies/tabular.hpp>

#include "tabular_rl.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

using gfnlm::TabularPolicy;

using gfnlm::test::exact_kl;
using gfnlm::test::kMaxLen;
using gfnlm::test::kStop;
using gfnlm::test::kVocab;
using gfnlm::test::target_reward;

namespace {

auto frozen(TabularPolicy& ref) {
  return gfnlm::frozen_reference(ref);
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
  // log_stop is not filled by the rollouts: score a copy for it (T = 1, all tokens allowed).
  auto scored = batch;
  policy.score(std::span<const int>(queries), gfnlm::LogitMask(kVocab, kStop, 0), scored);
  int zero = 0, stop = 0;
  for (int b = 0; b < batch.rows(); ++b) {
    REQUIRE(batch.query[b] == b);
    if (batch.length[b] == 0) {
      REQUIRE(batch.stopped[b]);
      ++stop;
      REQUIRE(scored.log_stop(b, 0) == Approx(std::log(0.25)));
    } else {
      REQUIRE(!batch.stopped[b]);  // max_len 1: cut there, STOP forced
      REQUIRE(batch.actions(b, 0) != 2);
      zero += batch.actions(b, 0) == 0;
      REQUIRE(batch.log_pf(b, 0) ==
              Approx(batch.actions(b, 0) == 0 ? std::log(0.5) : std::log(0.25)));
      REQUIRE(scored.log_pf(b, 0) == Approx(batch.log_pf(b, 0)));
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

TEST_CASE("episode_grad + TabularPolicy::backward match finite differences of the log-probs",
          "[baselines]") {
  // The gradient path of PPO and SFT: score, read log pi of every action (episode_log_probs),
  // place d J / d log pi (episode_grad), backward. Checked against central differences of
  // J = sum_i w_i log pi(a_i), computed in double from the table logits with the masks.
  TabularPolicy policy(1, kVocab, kStop, kMaxLen);
  gfnlm::Rng rng(5);
  policy.randomize(rng, 1.0);
  // min_len 1: STOP is masked at the root (its logit takes no gradient there).
  const gfnlm::LogitMask mask(kVocab, kStop, 1);
  gfnlm::TrajectoryBatch batch;
  batch.resize(3, kMaxLen);
  batch.actions(0, 0) = 1, batch.actions(0, 1) = 2, batch.length[0] = 2;  // 1 2 STOP
  batch.actions(1, 0) = 0, batch.actions(1, 1) = 2, batch.actions(1, 2) = 1;
  batch.length[1] = 3, batch.stopped[1] = false;  // 0 2 1 (cut at max_len)
  batch.actions(2, 0) = 1, batch.length[2] = 1;   // 1 STOP (shares s_1 with row 0)
  const auto actions = gfnlm::episode_actions(batch, kStop);
  REQUIRE(actions.size() == 8);
  REQUIRE(actions[2].token == kStop);
  REQUIRE(actions[2].t == 2);
  REQUIRE(actions[2].previous == 2);
  REQUIRE(actions[3].previous == -1);
  REQUIRE(actions[6].previous == -1);
  REQUIRE(actions[7].token == kStop);
  const std::vector<float> w{0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f, -2.0f, 0.6f};
  const std::vector<int> queries(3, 0);

  // J in double from a copy of the table: log_softmax over the allowed logits of each state.
  auto param = policy.parameters().at(0);
  const std::vector<double> table(param.value, param.value + param.size);
  auto log_pi = [&](const std::vector<double>& tab, const gfnlm::EpisodeAction& a) {
    const std::span<const int32_t> prefix(&batch.actions(a.row, 0), std::size_t(a.t));
    const std::size_t row = policy.row_index(0, prefix);
    double hi = -INFINITY;
    for (int v = 0; v < kVocab; ++v)
      if (!(v == kStop && mask.bans_stop_after(prefix))) hi = std::max(hi, tab[row * kVocab + v]);
    double sum = 0;
    for (int v = 0; v < kVocab; ++v)
      if (!(v == kStop && mask.bans_stop_after(prefix)))
        sum += std::exp(tab[row * kVocab + v] - hi);
    return tab[row * kVocab + a.token] - hi - std::log(sum);
  };
  auto objective = [&](const std::vector<double>& tab) {
    double j = 0;
    for (std::size_t i = 0; i < actions.size(); ++i) j += w[i] * log_pi(tab, actions[i]);
    return j;
  };

  policy.score(std::span<const int>(queries), mask, batch);
  const auto logp = gfnlm::episode_log_probs(batch, actions);
  REQUIRE(logp.size() == actions.size());
  for (std::size_t i = 0; i < actions.size(); ++i)
    REQUIRE(logp[i] == Approx(log_pi(table, actions[i])).margin(1e-5));
  const auto grad = gfnlm::episode_grad(batch, actions, w);
  REQUIRE(grad.log_stop(0, 2) == w[2]);  // the STOP of a stopped row lands on log_stop(b, length)
  REQUIRE(grad.log_pf(0, 1) == w[1]);
  REQUIRE(grad.log_stop(1, 3) == 0.0f);  // no STOP at the end of a cut row
  gfnlm::zero_grad(policy.parameters());
  policy.backward(grad, 1.0);

  int nonzero = 0;
  for (std::size_t i = 0; i < table.size(); ++i) {
    auto plus = table, minus = table;
    const double h = 1e-5;
    plus[i] += h;
    minus[i] -= h;
    const double fd = (objective(plus) - objective(minus)) / (2 * h);
    INFO("table entry " << i << " (row " << i / kVocab << ", token " << i % kVocab << ")");
    REQUIRE(double(param.grad[i]) == Approx(fd).margin(1e-5));
    nonzero += std::abs(fd) > 1e-3;
  }
  REQUIRE(nonzero >= 12);  // 5 states x the tokens they normalise over, minus the masked STOP
  const std::size_t root = policy.row_index(0, {});
  REQUIRE(param.grad[root * kVocab + kStop] == 0.0f);  // masked: no gradient

  // A STOP action at the end of a row that did not stop is no action.
  std::vector<gfnlm::EpisodeAction> bad{{1, 3, kStop, 1}};
  REQUIRE_THROWS_AS(gfnlm::episode_log_probs(batch, bad), gfnlm::Error);
  REQUIRE_THROWS_AS(gfnlm::episode_grad(batch, actions, std::vector<float>(3)), gfnlm::Error);
}

TEST_CASE("the tool reaches PPO's rollouts and SFT's scored answers", "[baselines]") {
  // TabularPolicy rejects context tokens, so a tool that inserts some must make both throw, and
  // one that inserts nothing must change nothing.
  TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
  const gfnlm::ToolFunction<int> inserts = [](const int&, std::span<const int32_t>) {
    return std::vector<int32_t>{0};
  };
  int calls = 0;
  const gfnlm::ToolFunction<int> silent = [&calls](const int&, std::span<const int32_t>) {
    ++calls;
    return std::vector<int32_t>{};
  };
  const std::vector<int> queries(8, 0);
  gfnlm::PpoConfig config{.max_len = kMaxLen, .minibatch_size = 4, .epochs = 1};
  gfnlm::PpoTrainer noisy(policy, frozen(reference), target_reward, config, 3, nullptr, inserts);
  REQUIRE_THROWS_AS(noisy.train_step(queries), gfnlm::Error);
  gfnlm::PpoTrainer quiet(policy, frozen(reference), target_reward, config, 3, nullptr, silent);
  const auto s = quiet.train_step(queries);
  REQUIRE(std::isfinite(s.policy_loss));
  int actions = 0;
  for (int b = 0; b < 8; ++b) actions += quiet.last_batch().length[b];
  REQUIRE(calls == actions);  // once after each action (STOP is none)

  const std::vector<std::vector<int32_t>> answers{{0}, {1, 2}};
  const std::vector<int> two(2, 0);
  gfnlm::SftTrainer sft_noisy(policy, {.lr = 0.05}, nullptr, inserts);
  REQUIRE_THROWS_AS(sft_noisy.train_step(two, answers), gfnlm::Error);
  calls = 0;
  gfnlm::SftTrainer sft_quiet(policy, {.lr = 0.05}, nullptr, silent);
  REQUIRE(std::isfinite(sft_quiet.train_step(two, answers)));
  REQUIRE(calls == 3);  // replayed after each answer action
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
