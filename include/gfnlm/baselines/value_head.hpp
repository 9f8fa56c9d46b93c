#pragma once
// PPO's critic. TRL puts a linear value head on the LM's last hidden state; our Policy concept
// exposes tokens and log-probabilities only (gfn/policy.hpp), no hidden states, so the critic
// here is a separate table V(t, previous action) over (position, last token) features: exact for
// the states PPO meets early on, tiny, and usable with any policy (tabular or transformer).
// Trained by the clipped value loss (ppo_math.hpp) with its own AdamW. For short answers (the
// random-integer task) the first tokens carry most of the value, which the table represents
// exactly; longer tasks would want a hidden-state head.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/model/parameter.hpp>

#include <array>
#include <cstdint>

namespace gfnlm {

class TabularValueHead {
 public:
  // States s_0 .. s_max_len; previous action -1 (none) or a token id in [0, vocab_size).
  TabularValueHead(int max_len, int vocab_size)
      : max_len_(max_len),
        vocab_(vocab_size),
        table_({std::size_t(max_len + 1), std::size_t(vocab_size + 1)}, 0.0f),
        grad_(table_.shape(), 0.0f) {
    GFNLM_CHECK(max_len >= 0 && vocab_size > 0,
                "TabularValueHead: max_len {} and vocab_size {} must be >= 0 and > 0", max_len,
                vocab_size);
  }
  TabularValueHead(const TabularValueHead&) = delete;  // parameters() points into the table
  TabularValueHead& operator=(const TabularValueHead&) = delete;

  float value(int t, int32_t previous) const { return table_[index(t, previous)]; }
  // d loss / d V(t, previous) += g.
  void accumulate(int t, int32_t previous, float g) { grad_[index(t, previous)] += g; }

  ParameterList<float> parameters() {
    return {ParameterView<float>{"ppo.value_table", table_.data(), grad_.data(), table_.size(),
                                 /*weight_decay=*/false}};
  }

 private:
  std::array<std::size_t, 2> index(int t, int32_t previous) const {
    GFNLM_CHECK(t >= 0 && t <= max_len_ && previous >= -1 && previous < vocab_,
                "TabularValueHead: state (t = {}, previous = {}) outside [0, {}] x [-1, {})", t,
                previous, max_len_, vocab_);
    return {std::size_t(t), std::size_t(previous + 1)};
  }

  int max_len_, vocab_;
  Tensor<float, 2> table_, grad_;
};

}  // namespace gfnlm
