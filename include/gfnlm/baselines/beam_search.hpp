#pragma once
// Beam search and diverse beam search over any DecodablePolicy (gfn/policy.hpp): the
// maximisation baselines of the paper's continuation experiment (SPEC section 6, Figure 3).
// Every prompt keeps `beams` rows in the policy; each step asks the policy for every live beam's
// best continuations (top_tokens, masks applied), keeps the best extensions, and moves the rows
// onto them (reorder_rows: the KV cache follows the beams), so a step costs one decoded position
// per live beam, batched over prompts.
//
// Diverse beam search (Vijayakumar et al. 2018, Hugging Face's num_beam_groups and
// diversity_penalty) splits the beams into groups searched one after another at each step; a
// group's candidate scores lose `diversity_penalty` for each time an earlier group chose the same
// token at that step (Hamming diversity), and its beams accumulate the penalised scores, as
// Hugging Face's do. With one group, or a zero penalty, each group is a plain beam search.
//
// Scores are sums of temperature-1 log-probabilities under the masks (no length normalisation:
// with a width covering the support the search returns exactly the most likely sequences, the
// property tests/baselines check by enumeration). Unlike Hugging Face, which looks only at the
// best 2 x beams candidates of a step, every beam's STOP extension among its candidates joins
// the finished hypotheses; the search of a group ends when it holds `group size` finished
// hypotheses and no live beam can beat the worst of them (scores only fall as beams grow), or at
// max_len, where live beams finish without STOP (rollout engine's convention, q(STOP) = 1).
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <vector>

namespace gfnlm {

struct BeamSearchConfig {
  int beams = 4;                 // W: beams per prompt, all groups together
  int groups = 1;                // G: divides W; > 1 with a penalty is diverse beam search
  double diversity_penalty = 0;  // lambda >= 0, per earlier choice of a token at the same step
  int max_len = 0;               // actions; a beam that reaches it finishes without STOP
  int return_sequences = 0;      // per prompt, best score first; 0: all W (at most W)
  // A beam that takes one of these tokens is finished (no STOP factor), as the rollout engine's
  // RolloutSpec::end_after: a sentence is over at its end token.
  std::vector<int32_t> end_after = {};
};

struct Hypothesis {
  std::vector<int32_t> actions;  // STOP excluded
  double log_q = 0;              // temperature-1 log q of the sequence, STOP included if stopped
  double score = 0;              // what the search ranked: log_q less the diversity penalties
  bool stopped = true;           // false: reached max_len (true: STOP or an end_after token)
  int group = 0;
};

namespace detail {
inline void check_beam_config(const BeamSearchConfig& c) {
  GFNLM_CHECK(c.beams >= 1, "beam search: beams = {} must be >= 1", c.beams);
  GFNLM_CHECK(c.groups >= 1 && c.beams % c.groups == 0,
              "beam search: groups = {} must be >= 1 and divide beams = {}", c.groups, c.beams);
  GFNLM_CHECK(c.diversity_penalty >= 0 && std::isfinite(c.diversity_penalty),
              "beam search: diversity_penalty = {} must be finite and >= 0", c.diversity_penalty);
  GFNLM_CHECK(c.max_len >= 0, "beam search: max_len = {} is negative", c.max_len);
  GFNLM_CHECK(c.return_sequences >= 0 && c.return_sequences <= c.beams,
              "beam search: return_sequences = {} must be in [0, beams = {}]", c.return_sequences,
              c.beams);
}
}  // namespace detail

// out[p]: prompt p's hypotheses, best score first.
template <DecodablePolicy P>
std::vector<std::vector<Hypothesis>> beam_search(P& policy,
                                                 std::span<const typename P::Query> prompts,
                                                 const LogitMask& mask,
                                                 const BeamSearchConfig& config) {
  detail::check_beam_config(config);
  GFNLM_CHECK(mask.vocab_size() == policy.vocab_size() && mask.stop_token() == policy.stop_token(),
              "beam search: the mask is for vocabulary {} / stop {}, the policy has {} / {}",
              mask.vocab_size(), mask.stop_token(), policy.vocab_size(), policy.stop_token());
  const int P_ = static_cast<int>(prompts.size()), W = config.beams, G = config.groups;
  const int Wg = W / G, V = policy.vocab_size(), rows = P_ * W;
  const int32_t stop = policy.stop_token();
  std::vector<std::vector<Hypothesis>> out(P_);
  if (P_ == 0) return out;
  const double ninf = -std::numeric_limits<double>::infinity();

  struct Beam {
    std::vector<int32_t> actions;
    double log_q = 0, score = 0;
  };
  std::vector<typename P::Query> row_queries;
  row_queries.reserve(rows);
  for (int p = 0; p < P_; ++p)
    for (int j = 0; j < W; ++j) row_queries.push_back(prompts[p]);
  policy.start_rollout(std::span<const typename P::Query>(row_queries));

  std::vector<Beam> beams(rows);
  std::vector<uint8_t> live(rows, 0), group_done(std::size_t(P_) * G, 0);
  for (int p = 0; p < P_; ++p)
    for (int g = 0; g < G; ++g) live[p * W + g * Wg] = 1;  // each group starts from the prompt
  std::vector<std::vector<Hypothesis>> finished(std::size_t(P_) * G);
  const auto keep_best = [&](std::vector<Hypothesis>& list) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
    if (static_cast<int>(list.size()) > Wg) list.resize(Wg);
  };
  const std::vector<double> ones(rows, 1.0), no_uniforms(rows, 0.0);
  std::vector<int32_t> last(rows, -1), parents(rows), next_tokens(rows);
  // A beam's candidates: at most Wg of its extensions continue, and earlier groups' choices can
  // push at most (G - 1) x Wg tokens below others, so W + 1 candidates (one for STOP) hold all a
  // step can keep.
  const int k = std::min(V, (G > 1 && config.diversity_penalty > 0 ? W : Wg) + 1);
  std::vector<int32_t> cand_tokens(std::size_t(rows) * k);
  std::vector<double> cand_logq(std::size_t(rows) * k), cand_tempered(std::size_t(rows) * k);

  struct Candidate {
    double score, log_q;
    int beam;  // row
    int32_t token;
  };
  std::vector<Candidate> cands;
  std::vector<uint8_t> ends(config.end_after.empty() ? 0 : V, 0);
  for (int32_t token : config.end_after) {
    GFNLM_CHECK(token >= 0 && token < V && token != stop,
                "beam search: end_after token {} is the stop token or outside [0, {})", token, V);
    ends[token] = 1;
  }
  for (int t = 0;; ++t) {
    if (std::none_of(live.begin(), live.end(), [](uint8_t l) { return l != 0; })) break;
    if (t == config.max_len) {  // max length: live beams finish without STOP
      for (int r = 0; r < rows; ++r) {
        if (!live[r]) continue;
        const int p = r / W, g = (r % W) / Wg;
        finished[p * G + g].push_back({beams[r].actions, beams[r].log_q, beams[r].score, false, g});
      }
      break;
    }
    policy.top_tokens(mask, DrawStep{t, live, ones, no_uniforms, last}, k,
                      std::span<int32_t>(cand_tokens), std::span<double>(cand_logq),
                      std::span<double>(cand_tempered));
    std::vector<Beam> next(rows);
    std::vector<uint8_t> next_live(rows, 0);
    for (int r = 0; r < rows; ++r) parents[r] = r, next_tokens[r] = -1;
    for (int p = 0; p < P_; ++p) {
      std::map<int32_t, int> chosen;  // tokens earlier groups continued with at this step
      for (int g = 0; g < G; ++g) {
        const int first = p * W + g * Wg;
        auto& done = finished[p * G + g];
        if (group_done[p * G + g]) continue;
        cands.clear();
        for (int r = first; r < first + Wg; ++r) {
          if (!live[r]) continue;
          for (int i = 0; i < k; ++i) {
            const int32_t token = cand_tokens[std::size_t(r) * k + i];
            if (token < 0) break;
            const double lq = cand_logq[std::size_t(r) * k + i];
            const auto seen = chosen.find(token);
            const double penalty =
                seen == chosen.end() ? 0.0 : config.diversity_penalty * seen->second;
            cands.push_back({beams[r].score + lq - penalty, lq, r, token});
          }
        }
        std::stable_sort(cands.begin(), cands.end(),
                         [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
        int slot = first;
        for (const auto& c : cands) {
          if (c.token == stop) {
            done.push_back(
                {beams[c.beam].actions, beams[c.beam].log_q + c.log_q, c.score, true, g});
            continue;
          }
          if (!ends.empty() && ends[c.token]) {
            auto actions = beams[c.beam].actions;
            actions.push_back(c.token);
            done.push_back({std::move(actions), beams[c.beam].log_q + c.log_q, c.score, true, g});
            continue;
          }
          if (slot == first + Wg) continue;  // the group is full; later STOPs may still finish
          next[slot].actions = beams[c.beam].actions;
          next[slot].actions.push_back(c.token);
          next[slot].log_q = beams[c.beam].log_q + c.log_q;
          next[slot].score = c.score;
          next_live[slot] = 1;
          parents[slot] = c.beam;
          next_tokens[slot] = c.token;
          ++chosen[c.token];
          ++slot;
        }
        keep_best(done);
        double best_live = ninf;
        for (int r = first; r < slot; ++r) best_live = std::max(best_live, next[r].score);
        if (slot == first ||
            (static_cast<int>(done.size()) == Wg && best_live <= done.back().score)) {
          group_done[p * G + g] = 1;
          for (int r = first; r < first + Wg; ++r) next_live[r] = 0, next_tokens[r] = -1;
        }
      }
    }
    policy.reorder_rows(std::span<const int32_t>(parents));
    policy.advance(std::span<const int32_t>(next_tokens));
    beams = std::move(next);
    live = next_live;
    for (int r = 0; r < rows; ++r) last[r] = next_tokens[r];
  }
  const int n_out = config.return_sequences > 0 ? config.return_sequences : W;
  for (int p = 0; p < P_; ++p) {
    for (int g = 0; g < G; ++g) {
      keep_best(finished[p * G + g]);
      for (auto& h : finished[p * G + g]) out[p].push_back(std::move(h));
    }
    std::stable_sort(out[p].begin(), out[p].end(),
                     [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
    if (static_cast<int>(out[p].size()) > n_out) out[p].resize(n_out);
  }
  return out;
}

}  // namespace gfnlm
