#pragma once
// The one LM sequence builder: the token row a transformer teacher-forces for a trajectory, shared
// by LmPolicy (q's states), LmLikelihoodReward (the base's prefix rewards, with a fixed context D
// before the prompt and terminal tokens after a state) and everything built on them. A row is
// D, the prompt, then the actions with the tool's context inserted where the rollout inserted it
// (SPEC section 5); state s_t is the row up to state_end[t], the index of its last token, whose
// logits give q(. | s_t).
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/trajectory.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

struct LmSequence {
  std::vector<int32_t> tokens;
  std::vector<int> state_end;  // [length + 1]
};

// out <- context, prompt, then actions with inserts in place. The first state needs a token.
inline void build_lm_sequence(std::span<const int32_t> context, std::span<const int32_t> prompt,
                              std::span<const int32_t> actions,
                              std::span<const ContextInsert> inserts, LmSequence& out) {
  out.tokens.assign(context.begin(), context.end());
  out.tokens.insert(out.tokens.end(), prompt.begin(), prompt.end());
  GFNLM_CHECK(!out.tokens.empty(),
              "LM sequence: empty context and prompt (the first state needs a token)");
  const int len = static_cast<int>(actions.size());
  out.state_end.assign(std::size_t(len) + 1, 0);
  std::size_t next = 0;
  for (int t = 0;; ++t) {
    while (next < inserts.size() && inserts[next].after_action == t) {
      out.tokens.insert(out.tokens.end(), inserts[next].tokens.begin(), inserts[next].tokens.end());
      ++next;
    }
    out.state_end[t] = static_cast<int>(out.tokens.size()) - 1;
    if (t == len) break;
    out.tokens.push_back(actions[t]);
  }
  GFNLM_CHECK(next == inserts.size(),
              "LM sequence: a context insert comes after action {}, past the {} actions",
              next < inserts.size() ? inserts[next].after_action : 0, len);
}

// Right-pads rows into one [B, T] token block (token 0: causal attention never lets padding
// reach an earlier position) and returns T, checked against the model's max_seq_len.
inline int pad_lm_batch(std::span<const std::vector<int32_t>* const> rows, int max_seq_len,
                        std::vector<int32_t>& tokens) {
  int T = 1;
  for (const auto* r : rows) T = std::max<int>(T, static_cast<int>(r->size()));
  GFNLM_CHECK(T <= max_seq_len, "a row needs {} positions but the model's max_seq_len is {}", T,
              max_seq_len);
  tokens.assign(rows.size() * std::size_t(T), 0);
  for (std::size_t b = 0; b < rows.size(); ++b)
    std::copy(rows[b]->begin(), rows[b]->end(), tokens.begin() + b * std::size_t(T));
  return T;
}

}  // namespace gfnlm
