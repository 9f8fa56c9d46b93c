// InfillReward (tasks/stories/infill_reward.hpp) against token-by-token decoding: log p(z_<t Y | X)
// at the states where STOP is legal and at the last one, -inf elsewhere, X and Y read from the
// reward's own table whatever the policy's prompt.
#include <gfnlm/tasks/stories/infill_reward.hpp>

#include "../rewards/decode_reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using gfnlm::test::decode_log_prob;

TEST_CASE("InfillReward scores log p(Z Y | X) where STOP is legal, from its own X and Y",
          "[tasks_stories]") {
  gfnlm::Rng rng(3);
  gfnlm::Transformer<> model(gfnlm::test::tiny_lm_config(), rng);
  const std::vector<int32_t> x{1, 2, 3}, y{7, 8};
  const int32_t end = 9;  // the sentence end: STOP is legal right after it, from min_len on
  const std::vector<int32_t> z{4, 9, 5, 6, 9, 4};
  const gfnlm::LmQuery policy_query{{7, 8, 1, 2, 3}, {}, 42};  // the policy is shown Y then X
  for (bool final_only : {false, true}) {
    gfnlm::stories::InfillReward<gfnlm::Transformer<>> reward(model, {end}, /*min_len=*/2,
                                                              final_only);
    reward.add(42, {x, y, 42});
    std::vector<double> out(z.size() + 1);
    const gfnlm::RewardRequest<gfnlm::LmQuery> req{&policy_query, z, {}, out};
    reward.prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<gfnlm::LmQuery>>(&req, 1));
    for (std::size_t t = 0; t <= z.size(); ++t) {
      // t = 2 follows the first 9 but t = 2 >= min_len; t = 5 follows the second; t = 6 is last.
      const bool scored = t == z.size() || (!final_only && (t == 2 || t == 5));
      INFO("final_only " << final_only << " t " << t);
      if (!scored) {
        CHECK(out[t] == -std::numeric_limits<double>::infinity());
        continue;
      }
      std::vector<int32_t> seq = x;
      seq.insert(seq.end(), z.begin(), z.begin() + std::ptrdiff_t(t));
      seq.insert(seq.end(), y.begin(), y.end());
      CHECK(out[t] == Approx(decode_log_prob(model, seq, int(x.size()))).epsilon(1e-4));
    }
    CHECK(reward(policy_query, z) == Approx(out.back()).epsilon(1e-9));
  }
  // A query id the reward was never given is an error naming it.
  gfnlm::stories::InfillReward<gfnlm::Transformer<>> reward(model, {end}, 2);
  const gfnlm::LmQuery unknown{{1}, {}, 5};
  REQUIRE_THROWS_WITH(reward(unknown, z), Catch::Contains("query id 5"));
}
