// eval/ metrics against hand-worked values.
#include <gfnlm/eval/distribution.hpp>
#include <gfnlm/eval/diversity.hpp>
#include <gfnlm/eval/majority_vote.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

TEST_CASE("kl_divergence and total_variation on small supports", "[eval]") {
  // p = (1/2, 1/2, 0), q = (1/4, 1/4, 1/2): KL(p||q) = log 2; KL(q||p) = inf (q has mass where p
  // has none); TV = 0.5 (1/4 + 1/4 + 1/2) = 1/2.
  const std::vector<int> p{2, 2, 0};
  const std::array<double, 3> q{0.25, 0.25, 0.5};
  CHECK(gfnlm::kl_divergence(p, q) == Approx(std::log(2.0)));
  CHECK(std::isinf(gfnlm::kl_divergence(q, p)));
  CHECK(gfnlm::total_variation(p, q) == Approx(0.5));
  CHECK(gfnlm::total_variation(q, p) == Approx(0.5));
  CHECK(gfnlm::kl_divergence(q, q) == 0.0);
  CHECK(gfnlm::total_variation(p, p) == 0.0);
  CHECK_THROWS_AS(gfnlm::kl_divergence(p, std::vector<double>{1, 1}), gfnlm::Error);
  CHECK_THROWS_AS(gfnlm::kl_divergence(std::vector<int>{0, 0}, std::vector<int>{1, 1}),
                  gfnlm::Error);
  CHECK_THROWS_AS(gfnlm::total_variation(std::vector<double>{-1, 2}, std::vector<int>{1, 1}),
                  gfnlm::Error);
}

TEST_CASE("KL and TV of counts to the uniform distribution", "[eval]") {
  // Counts (1, 1, 2): empirical (1/4, 1/4, 1/2), uniform 1/3 each.
  const std::vector<long> counts{1, 1, 2};
  // KL(emp || U) = 2 (1/4) log(3/4) + (1/2) log(3/2) = (1/2) log(9/8).
  CHECK(gfnlm::kl_empirical_uniform(counts) == Approx(0.5 * std::log(9.0 / 8.0)));
  // KL(U || emp) = (1/3) [2 log(4/3) + log(2/3)] = (1/3) log(32/27).
  CHECK(gfnlm::kl_uniform_empirical(counts) == Approx(std::log(32.0 / 27.0) / 3));
  // TV = 0.5 (1/12 + 1/12 + 1/6) = 1/6.
  CHECK(gfnlm::tv_empirical_uniform(counts) == Approx(1.0 / 6));
  // A uniform sample scores 0.
  CHECK(gfnlm::kl_empirical_uniform(std::vector<int>(101, 7)) == Approx(0.0).margin(1e-15));
  // One unseen bin: KL(U || emp) is infinite; smoothing 1 on (0, 1, 3) gives q = (1, 2, 4) / 7
  // and KL = (1/3) log((7/3)^3 / 8) = log(343 / 216) / 3.
  const std::vector<int> gap{0, 1, 3};
  CHECK(std::isinf(gfnlm::kl_uniform_empirical(gap)));
  CHECK(gfnlm::kl_uniform_empirical(gap, 1.0) == Approx(std::log(343.0 / 216.0) / 3));
  // All mass on one of K bins: KL(emp || U) = log K, TV = 1 - 1/K.
  std::vector<int> spike(101, 0);
  spike[42] = 1000;
  CHECK(gfnlm::kl_empirical_uniform(spike) == Approx(std::log(101.0)));
  CHECK(gfnlm::tv_empirical_uniform(spike) == Approx(100.0 / 101));
}

TEST_CASE("invalid mass as its own bin", "[eval]") {
  // Valid counts (1, 1, 2) and 4 invalid: N = 8, p = (1/8, 1/8, 1/4), m = 1/2.
  const std::vector<int> counts{1, 1, 2};
  const double eps = 1e-6;
  // Direct sum against target_eps = ((1-eps)/3, (1-eps)/3, (1-eps)/3, eps).
  const double direct = 2 * (1.0 / 8) * std::log((1.0 / 8) * 3 / (1 - eps)) +
                        (1.0 / 4) * std::log((1.0 / 4) * 3 / (1 - eps)) + 0.5 * std::log(0.5 / eps);
  // The header's decomposition: (1 - m) KL(p_v || U) + KL(Ber(m) || Ber(eps)).
  const double split = 0.5 * (0.5 * std::log(9.0 / 8.0)) + 0.5 * std::log(0.5 / eps) +
                       0.5 * std::log(0.5 / (1 - eps));
  CHECK(direct == Approx(split));
  CHECK(gfnlm::kl_empirical_uniform_with_invalid(counts, 4) == Approx(direct));
  CHECK(gfnlm::kl_empirical_uniform_with_invalid(counts, 4, 1e-3) ==
        Approx(0.25 * std::log(9.0 / 8.0) + 0.5 * std::log(0.5 / 1e-3) +
               0.5 * std::log(0.5 / (1 - 1e-3))));
  // No invalid sample: (1 - 0) KL(p_v || U) + KL(Ber(0) || Ber(eps)) = KL + log(1 / (1 - eps)).
  CHECK(gfnlm::kl_empirical_uniform_with_invalid(counts, 0) ==
        Approx(0.5 * std::log(9.0 / 8.0) - std::log(1 - eps)));
  // Reverse direction: KL(U || p_v) - log(valid fraction) = (1/3) log(32/27) + log 2.
  CHECK(gfnlm::kl_uniform_empirical_with_invalid(counts, 4) ==
        Approx(std::log(32.0 / 27.0) / 3 + std::log(2.0)));
  // Smoothing 1 over 4 bins on (0, 1, 3 | 2): total 10, q = (0.1, 0.2, 0.4):
  // (1/3) log((10/3)^3 / 8) = log(1000 / 216) / 3.
  CHECK(gfnlm::kl_uniform_empirical_with_invalid(std::vector<int>{0, 1, 3}, 2, 1.0) ==
        Approx(std::log(1000.0 / 216.0) / 3));
  // TV: 0.5 (|1/8 - 1/3| x 2 + |1/4 - 1/3| + 1/2) = 1/2.
  CHECK(gfnlm::tv_empirical_uniform_with_invalid(counts, 4) == Approx(0.5));
  // All invalid: TV = 1.
  CHECK(gfnlm::tv_empirical_uniform_with_invalid(std::vector<int>{0, 0, 0}, 5) == Approx(1.0));
  CHECK_THROWS_AS(gfnlm::kl_empirical_uniform_with_invalid(counts, 4, 0.0), gfnlm::Error);
  CHECK_THROWS_AS(gfnlm::kl_empirical_uniform_with_invalid(counts, -1), gfnlm::Error);
}

TEST_CASE("uniformity_report gathers every figure", "[eval]") {
  const std::vector<int> counts{1, 1, 2, 0};
  const auto r = gfnlm::uniformity_report(counts, 4);
  CHECK(r.samples == 8);
  CHECK(r.valid_fraction == Approx(0.5));
  CHECK(r.support == 4);
  CHECK(r.distinct_valid == 3);
  CHECK(r.kl_valid == Approx(gfnlm::kl_empirical_uniform(counts)));
  CHECK(r.kl_with_invalid == Approx(gfnlm::kl_empirical_uniform_with_invalid(counts, 4)));
  CHECK(std::isinf(r.kl_uniform_valid));
  CHECK(r.tv_valid == Approx(gfnlm::tv_empirical_uniform(counts)));
  CHECK(r.tv_with_invalid == Approx(gfnlm::tv_empirical_uniform_with_invalid(counts, 4)));
  // Nothing valid: the valid-only figures are NaN, the others still defined.
  const auto none = gfnlm::uniformity_report(std::vector<int>{0, 0}, 3);
  CHECK(none.valid_fraction == 0);
  CHECK(std::isnan(none.kl_valid));
  CHECK(none.tv_with_invalid == Approx(1.0));
  CHECK_THROWS_AS(gfnlm::uniformity_report(std::vector<int>{0, 0}, 0), gfnlm::Error);
}

TEST_CASE("distinct-n and distinct values", "[eval]") {
  const std::vector<std::vector<int32_t>> seqs{{1, 2, 1, 2}, {1, 2, 3}, {7}};
  // Unigrams: 8 in all, {1, 2, 3, 7} distinct.
  CHECK(gfnlm::count_ngrams(seqs, 1) == 8);
  CHECK(gfnlm::distinct_n(seqs, 1) == Approx(4.0 / 8));
  // Bigrams: (1,2) (2,1) (1,2) | (1,2) (2,3): 5 in all, 3 distinct; {7} has none.
  CHECK(gfnlm::count_ngrams(seqs, 2) == 5);
  CHECK(gfnlm::count_distinct_ngrams(seqs, 2) == 3);
  CHECK(gfnlm::distinct_n(seqs, 2) == Approx(3.0 / 5));
  // Trigrams: (1,2,1) (2,1,2) (1,2,3): all distinct.
  CHECK(gfnlm::distinct_n(seqs, 3) == Approx(1.0));
  CHECK(gfnlm::distinct_n(seqs, 5) == 0.0);
  CHECK_THROWS_AS(gfnlm::distinct_n(seqs, 0), gfnlm::Error);
  // Strings are sequences of characters; "abab" has bigrams ab, ba, ab.
  CHECK(gfnlm::distinct_n(std::vector<std::string>{"abab"}, 2) == Approx(2.0 / 3));
  // Words as tokens.
  const std::vector<std::vector<std::string>> words{{"the", "cat"}, {"the", "dog"}};
  CHECK(gfnlm::distinct_n(words, 1) == Approx(3.0 / 4));
  CHECK(gfnlm::count_distinct(std::vector<int>{42, 7, 42, 100, 7}) == 3);
  CHECK(gfnlm::count_distinct(std::vector<int>{}) == 0);
}

TEST_CASE("majority vote with deterministic ties and abstentions", "[eval]") {
  CHECK(gfnlm::majority_vote(std::vector<int>{3, 5, 5, 3, 5}) == 5);
  // Tie 2-2: the answer seen first wins, whatever the values.
  CHECK(gfnlm::majority_vote(std::vector<int>{9, 1, 1, 9}) == 9);
  CHECK(gfnlm::majority_vote(std::vector<int>{1, 9, 9, 1}) == 1);
  CHECK(gfnlm::majority_vote(std::vector<int>{4, 8, 6}) == 4);
  CHECK_FALSE(gfnlm::majority_vote(std::vector<int>{}).has_value());
  // Abstentions are ignored: two nullopt do not outvote one answer.
  using A = std::optional<int>;
  const std::vector<A> votes{std::nullopt, -6, std::nullopt, 2, -6};
  CHECK(gfnlm::majority_vote(votes) == -6);
  CHECK_FALSE(gfnlm::majority_vote(std::vector<A>{std::nullopt, std::nullopt}).has_value());
  CHECK(gfnlm::majority_vote(std::vector<std::string>{"b", "a", "a"}) == std::string("a"));
}

TEST_CASE("accuracy and majority-vote accuracy", "[eval]") {
  CHECK(gfnlm::accuracy(std::vector<int>{1, 2, 3, 4}, std::vector<int>{1, 0, 3, 0}) == Approx(0.5));
  using A = std::optional<int>;
  // An abstention is wrong even if the target were "no answer".
  CHECK(gfnlm::accuracy(std::vector<A>{1, std::nullopt, 3}, std::vector<int>{1, 2, 0}) ==
        Approx(1.0 / 3));
  CHECK_THROWS_AS(gfnlm::accuracy(std::vector<int>{1}, std::vector<int>{1, 2}), gfnlm::Error);
  CHECK_THROWS_AS(gfnlm::accuracy(std::vector<int>{}, std::vector<int>{}), gfnlm::Error);
  // Three problems, answers per problem: votes 5 (right), 2 (tie -> first seen, wrong), none.
  const std::vector<std::vector<A>> sets{{5, 5, 4}, {2, 7, 7, 2}, {std::nullopt, std::nullopt}};
  CHECK(gfnlm::majority_vote_accuracy(sets, std::vector<int>{5, 7, 0}) == Approx(1.0 / 3));
}
