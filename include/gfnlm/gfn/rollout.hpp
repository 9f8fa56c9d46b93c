#pragma once
// The rollout engine: the one loop that samples trajectories from any gfnlm::Policy, used by the
// Sampler's on-policy and tempered rows, PPO's episodes, the evaluation of every fine-tune and
// Sampler::sample. One step draws every live row's next token inside the policy (masks and the
// row's temperature applied there, SPEC section 4) from one uniform per live row, in row order,
// from the caller's Rng; the tool, when set, runs after each action and its output joins the
// row's state as context (SPEC section 5). A row stops when it draws the stop token; a row that
// reaches max_len stops there without a draw (stopped = false, q(STOP) = 1; SPEC section 2).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

// What one row of a rollout produced.
struct Trajectory {
  std::vector<int32_t> actions;        // tokens drawn, STOP excluded
  std::vector<ContextInsert> context;  // tool output, in order
  std::vector<double> log_pf;          // log q(a_t | s_t) of each action, temperature 1
  double log_q = 0;                    // log q of the whole trajectory (with its STOP if stopped)
  bool stopped = true;                 // false: cut at max_len (true: STOP, or end_after)
};

// Truncated sampling, as Hugging Face's warpers apply it after the temperature: only the top_k
// most likely tokens (0: no limit), then only the smallest set of the most likely whose tempered
// probability reaches top_p (nucleus sampling, Holtzman et al. 2020; 1: no limit), renormalised.
// top_k = 1 is greedy decoding. Needs a DecodablePolicy (gfn/policy.hpp). The trajectory's
// log_pf stays the policy's temperature-1 log q of each token, untruncated.
struct Truncation {
  int top_k = 0;
  double top_p = 1.0;
  bool active() const { return top_k > 0 || top_p < 1.0; }
};

template <class Query>
struct RolloutSpec {
  const LogitMask* mask = nullptr;            // the policy's masks (required)
  int max_len = 0;                            // actions before STOP is forced
  const ToolFunction<Query>* tool = nullptr;  // null or empty: no tool
  Truncation truncation = {};                 // default: draw from the whole tempered softmax
  // A row ends right after drawing one of these tokens, without a STOP draw (stopped = true, no
  // STOP factor in log_q): the decoders' "the sentence is over", for a base LM that has no STOP
  // of its own there (baselines/sample_decode.hpp). Empty: rows end by STOP or max_len only.
  std::span<const int32_t> end_after = {};
};

namespace detail {

// One truncated draw per live row (Truncation): the policy's best tokens, grown until each live
// row's kept set is complete, then an inverse-CDF draw at the row's uniform over their tempered
// weights (core/rng.hpp's categorical_at, like every draw here).
template <DecodablePolicy P>
void draw_truncated(P& policy, const LogitMask& mask, const DrawStep& step, const Truncation& cut,
                    std::span<int32_t> drawn, std::span<double> drawn_log_q) {
  const int V = policy.vocab_size();
  const std::size_t n = drawn.size();
  const int most = cut.top_k > 0 ? std::min(cut.top_k, V) : V;
  // With top_k, the nucleus is taken within the top k renormalised (Hugging Face's order), so all
  // k are needed; without it, 64 candidates usually hold the nucleus and k grows when not.
  int k = cut.top_k > 0 || cut.top_p >= 1.0 ? most : std::min(most, 64);
  std::vector<int32_t> tokens;
  std::vector<double> log_q, log_q_t, weights;
  std::vector<int> kept(n, 0);
  for (;;) {
    tokens.resize(n * k), log_q.resize(n * k), log_q_t.resize(n * k);
    policy.top_tokens(mask, step, k, std::span<int32_t>(tokens), std::span<double>(log_q),
                      std::span<double>(log_q_t));
    bool complete = true;
    for (std::size_t r = 0; r < n; ++r) {
      if (!step.live[r]) continue;
      double norm = 1;
      if (cut.top_k > 0) {
        norm = 0;
        for (int i = 0; i < k && tokens[r * k + i] >= 0; ++i) norm += std::exp(log_q_t[r * k + i]);
      }
      double mass = 0;
      int i = 0;
      for (; i < k && tokens[r * k + i] >= 0 && (cut.top_p >= 1.0 || mass < cut.top_p); ++i)
        mass += std::exp(log_q_t[r * k + i]) / norm;
      kept[r] = i;
      // The set may go on past the k candidates: ask for more, unless they were all there were.
      if (i == k && mass < cut.top_p && k < most) complete = false;
    }
    if (complete) break;
    k = std::min(most, 2 * k);
  }
  for (std::size_t r = 0; r < n; ++r) {
    drawn[r] = -1;
    if (!step.live[r]) continue;
    GFNLM_CHECK(kept[r] > 0, "rollout: row {} has no allowed token at step {}", r, step.length);
    weights.resize(kept[r]);
    for (int i = 0; i < kept[r]; ++i) weights[i] = std::exp(log_q_t[r * k + i] - log_q_t[r * k]);
    const int choice = categorical_at(std::span<const double>(weights), step.uniform[r]);
    drawn[r] = tokens[r * k + choice];
    drawn_log_q[r] = log_q[r * k + choice];
  }
}

}  // namespace detail

namespace detail {

// The loop of both rollout() overloads; uniform(k) is row k's next uniform.
template <Policy P, class UniformOfRow>
void rollout_rows(P& policy, std::span<const typename P::Query> queries,
                  std::span<const double> temperatures, const RolloutSpec<typename P::Query>& spec,
                  UniformOfRow&& uniform, std::span<Trajectory* const> out) {
  const int n = static_cast<int>(out.size());
  GFNLM_CHECK(spec.mask != nullptr, "rollout: no mask given");
  GFNLM_CHECK(static_cast<int>(queries.size()) == n && static_cast<int>(temperatures.size()) == n,
              "rollout: {} queries and {} temperatures for {} rows", queries.size(),
              temperatures.size(), n);
  GFNLM_CHECK(spec.max_len >= 0, "rollout: max_len {} is negative", spec.max_len);
  const Truncation& cut = spec.truncation;
  GFNLM_CHECK(cut.top_k >= 0 && cut.top_p > 0 && cut.top_p <= 1,
              "rollout: top_k {} must be >= 0 and top_p {} in (0, 1]", cut.top_k, cut.top_p);
  if constexpr (!DecodablePolicy<P>)
    GFNLM_CHECK(!cut.active(),
                "rollout: top-k / nucleus sampling needs a policy with top_tokens() "
                "(gfn/policy.hpp, DecodablePolicy)");
  for (int k = 0; k < n; ++k)
    GFNLM_CHECK(temperatures[k] > 0 && std::isfinite(temperatures[k]),
                "rollout: row {} has temperature {} (must be finite and > 0)", k, temperatures[k]);
  if (n == 0) return;
  const bool has_tool = spec.tool && *spec.tool;
  std::vector<uint8_t> ends(spec.end_after.empty() ? 0 : policy.vocab_size(), 0);
  for (int32_t token : spec.end_after) {
    GFNLM_CHECK(token >= 0 && token < policy.vocab_size() && token != policy.stop_token(),
                "rollout: end_after token {} is the stop token or outside the vocabulary [0, {})",
                token, policy.vocab_size());
    ends[token] = 1;
  }
  const int32_t stop = policy.stop_token();
  policy.start_rollout(queries);
  std::vector<uint8_t> live(n, 1);
  std::vector<double> uniforms(n, 0.0), drawn_log_q(n, 0.0);
  std::vector<int32_t> drawn(n, -1), tokens(n, -1), last_action(n, -1);
  int remaining = n;
  for (int t = 0; remaining > 0; ++t) {
    if (t == spec.max_len) {  // max length: stopped there with q(STOP) = 1
      for (int k = 0; k < n; ++k)
        if (live[k]) out[k]->stopped = false;
      break;
    }
    for (int k = 0; k < n; ++k) uniforms[k] = live[k] ? uniform(k) : 0.0;
    const DrawStep step{t, live, temperatures, uniforms, last_action};
    if constexpr (DecodablePolicy<P>) {
      if (cut.active())
        detail::draw_truncated(policy, *spec.mask, step, cut, std::span<int32_t>(drawn),
                               std::span<double>(drawn_log_q));
      else
        policy.draw(*spec.mask, step, std::span<int32_t>(drawn), std::span<double>(drawn_log_q));
    } else {
      policy.draw(*spec.mask, step, std::span<int32_t>(drawn), std::span<double>(drawn_log_q));
    }
    int advanced = 0;
    for (int k = 0; k < n; ++k) {
      tokens[k] = -1;
      if (!live[k]) continue;
      const int32_t choice = drawn[k];
      GFNLM_CHECK(choice >= 0 && choice < policy.vocab_size(),
                  "rollout: the policy drew token {} for row {} at step {} (vocabulary {})", choice,
                  k, t, policy.vocab_size());
      out[k]->log_q += drawn_log_q[k];
      if (choice == stop) {
        live[k] = 0;
        --remaining;
        continue;
      }
      out[k]->actions.push_back(choice);
      out[k]->log_pf.push_back(drawn_log_q[k]);
      if (!ends.empty() && ends[choice]) {  // the row is over: nothing more to decode
        live[k] = 0;
        --remaining;
        continue;
      }
      tokens[k] = choice;
      last_action[k] = choice;
      ++advanced;
    }
    if (advanced == 0) continue;
    policy.advance(std::span<const int32_t>(tokens));
    if (!has_tool) continue;
    for (int k = 0; k < n; ++k) {
      if (tokens[k] < 0) continue;
      auto inserted = (*spec.tool)(queries[k], out[k]->actions);
      if (inserted.empty()) continue;
      policy.append_context(k, std::span<const int32_t>(inserted));
      out[k]->context.push_back({static_cast<int>(out[k]->actions.size()), std::move(inserted)});
    }
  }
}

}  // namespace detail

// Samples out[k] from q(. | queries[k]) with logits / temperatures[k]. Appends to out[k], which
// the caller passes empty.
template <Policy P>
void rollout(P& policy, std::span<const typename P::Query> queries,
             std::span<const double> temperatures, const RolloutSpec<typename P::Query>& spec,
             Rng& rng, std::span<Trajectory* const> out) {
  detail::rollout_rows(
      policy, queries, temperatures, spec, [&](int) { return rng.uniform(); }, out);
}

// The same, with row k's uniforms from *row_rngs[k] (rows may share a generator: each step draws
// the live rows' uniforms in row order). The data-parallel Sampler gives each query its own
// stream, so a query's rows do not depend on which other queries share its rollout or rank.
template <Policy P>
void rollout(P& policy, std::span<const typename P::Query> queries,
             std::span<const double> temperatures, const RolloutSpec<typename P::Query>& spec,
             std::span<Rng* const> row_rngs, std::span<Trajectory* const> out) {
  GFNLM_CHECK(row_rngs.size() == out.size(), "rollout: {} generators for {} rows", row_rngs.size(),
              out.size());
  detail::rollout_rows(
      policy, queries, temperatures, spec, [&](int k) { return row_rngs[k]->uniform(); }, out);
}

// The rows of a rollout as a TrajectoryBatch of max length L (query[b] = b; log_r zero; log_stop
// left at zero: score the batch for it). Rows longer than L are an error.
inline TrajectoryBatch to_batch(std::span<const Trajectory> rows, int max_len) {
  TrajectoryBatch batch;
  batch.resize(static_cast<int>(rows.size()), max_len);
  for (std::size_t b = 0; b < rows.size(); ++b) {
    const auto& row = rows[b];
    GFNLM_CHECK(static_cast<int>(row.actions.size()) <= max_len,
                "to_batch: row {} has {} actions, more than max_len {}", b, row.actions.size(),
                max_len);
    for (std::size_t t = 0; t < row.actions.size(); ++t) {
      batch.actions(b, t) = row.actions[t];
      batch.log_pf(b, t) = static_cast<float>(row.log_pf[t]);
    }
    batch.length[b] = static_cast<int>(row.actions.size());
    batch.stopped[b] = row.stopped;
    batch.query[b] = static_cast<int>(b);
    batch.context[b] = row.context;
  }
  return batch;
}

}  // namespace gfnlm
