// STaR (baselines/star.hpp) on an enumerable TabularPolicy: one round with many samples and
// fine-tuning to convergence moves q to the base restricted to the accepted rationales,
// p(z | accepted), which enumeration gives exactly; the restart hook runs once per round that
// fine-tunes; a round with nothing accepted leaves the policy alone; bad settings are errors.
#include <gfnlm/baselines/star.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <span>
#include <vector>

using namespace gfnlm;

namespace {

constexpr int kVocab = 4, kStop = 3, kMaxLen = 3;

// Accepted: a finished rationale (shorter than max_len) whose tokens sum to an even number and
// that is not empty, for query 0; for query 1, one that ends with token 2.
bool accepted(int query, std::span<const int32_t> z) {
  if (z.empty() || z.size() >= std::size_t(kMaxLen)) return false;
  if (query == 1) return z.back() == 2;
  int sum = 0;
  for (int32_t t : z) sum += t;
  return sum % 2 == 0;
}

void randomise(TabularPolicy& policy, uint64_t seed) {
  Rng rng(seed);
  for (const auto& p : policy.parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<float>(rng.normal());
}

// KL(p(. | query, accepted) under `base_log_q` || policy's terminal distribution).
double kl_to_accepted(const std::vector<double>& base_log_q, const TabularPolicy& policy,
                      int query) {
  const auto seqs = policy.enumerate_sequences();
  const auto log_q = policy.terminal_log_probs(query);
  std::vector<double> target;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    target.push_back(accepted(query, seqs[i]) ? base_log_q[i] : -INFINITY);
  const double log_z = logsumexp(std::span<const double>(target));
  double kl = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    if (std::isfinite(target[i]))
      kl += std::exp(target[i] - log_z) * (target[i] - log_z - log_q[i]);
  return kl;
}

double accepted_mass(const TabularPolicy& policy, int query) {
  const auto seqs = policy.enumerate_sequences();
  const auto log_q = policy.terminal_log_probs(query);
  double mass = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    if (accepted(query, seqs[i])) mass += std::exp(log_q[i]);
  return mass;
}

const StarTrainer<TabularPolicy>::Accept kAccept = [](const int& q, std::span<const int32_t> z,
                                                      std::span<const ContextInsert>) {
  return accepted(q, z);
};

}  // namespace

TEST_CASE("STaR: one round moves q to the base restricted to accepted rationales", "[baselines]") {
  TabularPolicy policy(2, kVocab, kStop, kMaxLen);
  randomise(policy, 11);
  const std::vector<double> base0 = policy.terminal_log_probs(0),
                            base1 = policy.terminal_log_probs(1);
  const double mass0 = accepted_mass(policy, 0), mass1 = accepted_mass(policy, 1);
  const LogitMask mask(kVocab, kStop, 0);
  StarConfig config;
  config.rounds = 1;
  config.samples_per_query = 20000;
  config.max_len = kMaxLen;
  config.sft_steps = 600;
  config.sft_batch = 0;  // every kept rationale each step: the MLE of the kept set
  config.sft.lr = 0.1;
  int restarts = 0;
  StarTrainer<TabularPolicy> star(policy, kAccept, config, mask, {}, [&] { ++restarts; });
  const std::vector<int> queries{0, 1};
  Rng rng(3);
  const double kl_before = kl_to_accepted(base0, policy, 0);
  const auto rounds = star.train(queries, rng);
  REQUIRE(rounds.size() == 1);
  CHECK(rounds[0].sampled == 40000);
  CHECK(rounds[0].queries_solved == 2);
  // The kept fraction is the base's accepted mass (binomial, 40000 draws).
  const double expected_kept = 20000 * (mass0 + mass1);
  CHECK(std::abs(rounds[0].kept - expected_kept) < 4 * std::sqrt(expected_kept));
  CHECK(restarts == 1);
  const double kl0 = kl_to_accepted(base0, policy, 0), kl1 = kl_to_accepted(base1, policy, 1);
  INFO("KL before " << kl_before << ", after: query 0 " << kl0 << ", query 1 " << kl1
                    << "; accepted mass before " << mass0 << " / " << mass1 << ", after "
                    << accepted_mass(policy, 0) << " / " << accepted_mass(policy, 1));
  CHECK(kl_before > 0.5);
  CHECK(kl0 < 0.01);
  CHECK(kl1 < 0.01);
  CHECK(accepted_mass(policy, 0) > 0.97);
}

TEST_CASE("STaR: minibatch rounds raise the accepted mass; a round with nothing kept is a no-op",
          "[baselines]") {
  TabularPolicy policy(2, kVocab, kStop, kMaxLen);
  randomise(policy, 5);
  const LogitMask mask(kVocab, kStop, 0);
  StarConfig config;
  config.rounds = 3;
  config.samples_per_query = 32;
  config.max_len = kMaxLen;
  config.sft_steps = 30;
  config.sft_batch = 16;
  config.distinct = true;
  config.sft.lr = 0.05;
  const double before = accepted_mass(policy, 0);
  StarTrainer<TabularPolicy> star(policy, kAccept, config, mask);
  Rng rng(8);
  const std::vector<int> queries{0};
  const auto rounds = star.train(queries, rng);
  for (const auto& r : rounds) CHECK(r.kept <= 7);  // distinct: the 7 accepted sequences at most
  CHECK(accepted_mass(policy, 0) > before + 0.2);

  const auto never = [](const int&, std::span<const int32_t>, std::span<const ContextInsert>) {
    return false;
  };
  const auto table = policy.terminal_log_probs(0);
  StarTrainer<TabularPolicy> none(policy, never, config, mask);
  const auto r = none.round(queries, rng);
  CHECK(r.kept == 0);
  CHECK(r.queries_solved == 0);
  CHECK(policy.terminal_log_probs(0) == table);
}

TEST_CASE("STaR: bad settings are errors", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, kMaxLen);
  const LogitMask mask(kVocab, kStop, 0);
  StarConfig config;
  config.rounds = 0;
  CHECK_THROWS_WITH(StarTrainer<TabularPolicy>(policy, kAccept, config, mask),
                    Catch::Contains("StarConfig: rounds 0"));
  config.rounds = 1;
  config.temperature = 0;
  CHECK_THROWS_WITH(StarTrainer<TabularPolicy>(policy, kAccept, config, mask),
                    Catch::Contains("temperature 0"));
  config.temperature = 1;
  CHECK_THROWS_WITH(StarTrainer<TabularPolicy>(policy, {}, config, mask),
                    Catch::Contains("no accept function"));
  StarTrainer<TabularPolicy> star(policy, kAccept, config, mask);
  Rng rng(1);
  CHECK_THROWS_WITH(star.round({}, rng), Catch::Contains("no queries"));
}
