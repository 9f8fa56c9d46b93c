#pragma once
// A minimal Policy that, unlike TabularPolicy, accepts tool context: its logits depend on the
// number of actions taken only (one trainable row per position), and it records every context
// insertion it receives, during rollouts and in score(), so a test can check the Sampler's
// bookkeeping of SPEC section 5.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/parameter.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm::test {

class MockContextPolicy {
 public:
  using Query = int;

  MockContextPolicy(int vocab, int32_t stop, int max_len)
      : vocab_(vocab),
        stop_(stop),
        table_(std::size_t(max_len + 1) * vocab, 0.0f),
        grad_(table_.size(), 0.0f) {}

  int vocab_size() const { return vocab_; }
  int32_t stop_token() const { return stop_; }

  void start_rollout(std::span<const Query> rows) {
    state_.assign(rows.size(), {});
    actions_.assign(rows.size(), 0);
    done_.assign(rows.size(), false);
  }
  void next_logits(std::span<float> logits) const {
    for (std::size_t r = 0; r < state_.size(); ++r)
      for (int v = 0; v < vocab_; ++v) logits[r * vocab_ + v] = table_[actions_[r] * vocab_ + v];
  }
  void advance(std::span<const int32_t> tokens) {
    for (std::size_t r = 0; r < tokens.size(); ++r) {
      if (tokens[r] < 0) {
        done_[r] = true;
        continue;
      }
      GFNLM_CHECK(!done_[r], "MockContextPolicy: row {} advanced after it finished", r);
      state_[r].push_back(tokens[r]);
      ++actions_[r];
    }
  }
  void append_context(int row, std::span<const int32_t> tokens) {
    state_.at(row).insert(state_[row].end(), tokens.begin(), tokens.end());
    appended.push_back({row, actions_[row], {tokens.begin(), tokens.end()}});
  }

  void score(std::span<const Query>, const TrajectoryBatch& batch, Tensor<float, 3>& logits) {
    const int rows = batch.rows(), len = batch.max_len();
    logits = Tensor<float, 3>({std::size_t(rows), std::size_t(len + 1), std::size_t(vocab_)}, 0.f);
    scored_context = batch.context;
    for (int b = 0; b < rows; ++b)
      for (int t = 0; t <= batch.length[b]; ++t)
        for (int v = 0; v < vocab_; ++v) logits(b, t, v) = table_[t * vocab_ + v];
    last_length_ = batch.length;
  }
  void backward(const Tensor<float, 3>& dlogits) {
    for (std::size_t b = 0; b < last_length_.size(); ++b)
      for (int t = 0; t <= last_length_[b]; ++t)
        for (int v = 0; v < vocab_; ++v) grad_[t * vocab_ + v] += dlogits(b, t, v);
  }
  ParameterList<float> parameters() {
    return {ParameterView<float>{"mock.logits", table_.data(), grad_.data(), table_.size(), false}};
  }

  // The full state (actions and context, in order) of rollout row r.
  const std::vector<int32_t>& state(int r) const { return state_.at(r); }

  struct Appended {
    int row;
    int after_action;
    std::vector<int32_t> tokens;
  };
  std::vector<Appended> appended;                          // every rollout insertion
  std::vector<std::vector<ContextInsert>> scored_context;  // context of the last score()

 private:
  int vocab_;
  int32_t stop_;
  std::vector<float> table_, grad_;
  std::vector<std::vector<int32_t>> state_;
  std::vector<int> actions_;
  std::vector<bool> done_;
  std::vector<int> last_length_;
};

static_assert(Policy<MockContextPolicy>);

}  // namespace gfnlm::test
