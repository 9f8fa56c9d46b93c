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
  bool stopped = true;                 // false: cut at max_len
};

template <class Query>
struct RolloutSpec {
  const LogitMask* mask = nullptr;            // the policy's masks (required)
  int max_len = 0;                            // actions before STOP is forced
  const ToolFunction<Query>* tool = nullptr;  // null or empty: no tool
};

// Samples out[k] from q(. | queries[k]) with logits / temperatures[k]. Appends to out[k], which
// the caller passes empty.
template <Policy P>
void rollout(P& policy, std::span<const typename P::Query> queries,
             std::span<const double> temperatures, const RolloutSpec<typename P::Query>& spec,
             Rng& rng, std::span<Trajectory* const> out) {
  const int n = static_cast<int>(out.size());
  GFNLM_CHECK(spec.mask != nullptr, "rollout: no mask given");
  GFNLM_CHECK(static_cast<int>(queries.size()) == n && static_cast<int>(temperatures.size()) == n,
              "rollout: {} queries and {} temperatures for {} rows", queries.size(),
              temperatures.size(), n);
  GFNLM_CHECK(spec.max_len >= 0, "rollout: max_len {} is negative", spec.max_len);
  for (int k = 0; k < n; ++k)
    GFNLM_CHECK(temperatures[k] > 0 && std::isfinite(temperatures[k]),
                "rollout: row {} has temperature {} (must be finite and > 0)", k, temperatures[k]);
  if (n == 0) return;
  const bool has_tool = spec.tool && *spec.tool;
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
    for (int k = 0; k < n; ++k) uniforms[k] = live[k] ? rng.uniform() : 0.0;
    policy.draw(*spec.mask, DrawStep{t, live, temperatures, uniforms, last_action},
                std::span<int32_t>(drawn), std::span<double>(drawn_log_q));
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
      tokens[k] = choice;
      last_action[k] = choice;
      out[k]->actions.push_back(choice);
      out[k]->log_pf.push_back(drawn_log_q[k]);
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
