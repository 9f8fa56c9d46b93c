#pragma once
// The story-infilling reward (paper section 4.2, SPEC section 3): log R(Z STOP) = log p_LM(Z Y | X)
// with the frozen base, Y the sentence after the held-out one. Two things differ from a plain
// BasicLmLikelihoodReward over the policy's queries:
// - the policy may be conditioned on more than X (InfillConditioning::y_then_x shows it Y too),
//   so the reward reads X from its own table, by query id, never from the policy's prompt;
// - Y is many tokens, so the plain reward scores every prefix with one forward row each (25-40
//   rows per trajectory). STOP is legal only right after a sentence-end token and from min_len
//   on (SamplerConfig::stop_after_tokens, min_len), and modified SubTB uses no state where STOP
//   is masked as an end point (gfn/objectives/objective.hpp), so only those states and the last
//   one (a max-length row counts as stopped there) are scored: 1-3 rows per trajectory. The rest
//   get -inf, which no objective term reads.
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/policies/lm_query.hpp>
#include <gfnlm/rewards/lm_likelihood.hpp>

#include <cstdint>
#include <limits>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gfnlm::stories {

template <class Model>
class InfillReward {
 public:
  using Query = LmQuery;

  // stop_after: the sentence-end tokens; STOP is legal after them from min_len actions on.
  // final_only: score the complete sequence alone (trajectory-level objectives: VarGrad TB).
  InfillReward(Model& base, std::vector<int32_t> stop_after, int min_len, bool final_only = false)
      : inner_(base, final_only_config()),
        stop_after_(std::move(stop_after)),
        min_len_(min_len),
        final_only_(final_only) {}

  // The reward's X and Y for the policy's query `id` (the policy's prompt may differ from X).
  void add(int64_t id, LmQuery reward_query) { queries_[id] = std::move(reward_query); }

  const LmQuery& reward_query(const LmQuery& q) const {
    const auto it = queries_.find(q.id);
    GFNLM_CHECK(it != queries_.end(), "InfillReward: no X and Y registered for query id {}", q.id);
    return it->second;
  }

  // BatchPrefixReward: out[t] = log p(z_<t Y | X) where STOP is legal at t or t is the last
  // state; -inf elsewhere.
  void prefix_log_rewards_batch(std::span<const RewardRequest<LmQuery>> rows) {
    requests_.clear(), where_.clear();
    for (std::size_t b = 0; b < rows.size(); ++b) {
      const auto& r = rows[b];
      std::fill(r.out.begin(), r.out.end(), -std::numeric_limits<double>::infinity());
      const std::size_t n = r.actions.size();
      for (std::size_t t = 0; t <= n; ++t)
        if (t == n ||
            (!final_only_ && t >= std::size_t(min_len_) && t > 0 && ends(r.actions[t - 1])))
          where_.push_back({b, t});
    }
    // final_only scores out[t] of a request over the first t actions: t + 1 entries each.
    std::size_t total = 0;
    for (const auto& [b, t] : where_) total += t + 1;
    scratch_.assign(total, 0.0);
    std::size_t offset = 0;
    for (const auto& [b, t] : where_) {
      const auto& r = rows[b];
      requests_.push_back({&reward_query(*r.query), r.actions.first(t), r.context,
                           std::span<double>(scratch_).subspan(offset, t + 1)});
      offset += t + 1;
    }
    if (requests_.empty()) return;
    inner_.prefix_log_rewards_batch(std::span<const RewardRequest<LmQuery>>(requests_));
    for (std::size_t i = 0; i < requests_.size(); ++i)
      rows[where_[i].first].out[where_[i].second] = requests_[i].out.back();
  }

  // Plain form: log R of the whole sequence.
  double operator()(const LmQuery& q, std::span<const int32_t> actions) {
    std::vector<double> out(actions.size() + 1);
    const RewardRequest<LmQuery> request{&q, actions, {}, out};
    prefix_log_rewards_batch(std::span<const RewardRequest<LmQuery>>(&request, 1));
    return out.back();
  }

 private:
  static LmLikelihoodConfig final_only_config() {
    LmLikelihoodConfig c;
    c.final_only = true;
    return c;
  }

  bool ends(int32_t token) const {
    for (const int32_t s : stop_after_)
      if (s == token) return true;
    return false;
  }

  BasicLmLikelihoodReward<Model> inner_;
  std::vector<int32_t> stop_after_;
  int min_len_;
  bool final_only_;
  std::unordered_map<int64_t, LmQuery> queries_;
  std::vector<RewardRequest<LmQuery>> requests_;
  std::vector<std::pair<std::size_t, std::size_t>> where_;
  std::vector<double> scratch_;
};

}  // namespace gfnlm::stories
