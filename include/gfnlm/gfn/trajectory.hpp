#pragma once
// What a rollout produces and every objective consumes (SPEC section 2). Row b took length[b]
// actions; state s_t is the prefix after t actions (plus any tool context inserted so far).
#include <gfnlm/core/tensor.hpp>

#include <cstdint>
#include <vector>

namespace gfnlm {

// Tokens a tool appended after `after_action` actions (0: right after the prompt). They are
// context for the policy and the reward, never actions, never scored by q (SPEC section 5).
struct ContextInsert {
  int after_action = 0;
  std::vector<int32_t> tokens;
};

template <class Scalar>
struct BasicTrajectoryBatch {
  Tensor<int32_t, 2> actions;  // [B, L] chosen tokens; -1 past the row's length
  Tensor<Scalar, 2> log_pf;    // [B, L]   log q(a_t | s_t) at temperature 1
  Tensor<Scalar, 2> log_stop;  // [B, L+1] log q(STOP | s_t)
  Tensor<Scalar, 2> log_r;     // [B, L+1] tempered log R(s_t STOP); -inf = zero reward
  std::vector<int> length;     // actions taken before STOP (or before hitting max length)
  std::vector<bool> stopped;   // false: the row hit max length; it counts as stopped there
                               // with q(STOP) = 1, so log_stop[b][length] is ignored
  std::vector<int> query;      // which query each row answers
  std::vector<std::vector<ContextInsert>> context;  // tool output per row, in order
  // Optional: a learned state flow log F(s_t) [B, L+1] for SubTB / DB with a flow head
  // (SPEC section 2). Empty when unused; resize() leaves it empty.
  Tensor<Scalar, 2> log_flow;

  int rows() const { return static_cast<int>(length.size()); }
  int max_len() const { return static_cast<int>(actions.shape()[1]); }

  // Sizes every tensor for `rows` x `max_len` with padding values.
  void resize(int rows, int max_len) {
    actions = Tensor<int32_t, 2>({std::size_t(rows), std::size_t(max_len)}, -1);
    log_pf = Tensor<Scalar, 2>({std::size_t(rows), std::size_t(max_len)}, Scalar(0));
    log_stop = Tensor<Scalar, 2>({std::size_t(rows), std::size_t(max_len + 1)}, Scalar(0));
    log_r = Tensor<Scalar, 2>({std::size_t(rows), std::size_t(max_len + 1)}, Scalar(0));
    length.assign(rows, 0);
    stopped.assign(rows, true);
    query.assign(rows, 0);
    context.assign(rows, {});
  }
};

// d loss / d log q for every entry of a batch (zero where an entry does not enter the loss).
template <class Scalar>
struct BasicTrajectoryGrad {
  Tensor<Scalar, 2> log_pf;    // [B, L]
  Tensor<Scalar, 2> log_stop;  // [B, L+1]
  Tensor<Scalar, 2> log_flow;  // [B, L+1] when the batch carries log_flow, else empty

  template <class BatchScalar>
  void resize_like(const BasicTrajectoryBatch<BatchScalar>& batch) {
    log_pf = Tensor<Scalar, 2>(batch.log_pf.shape(), Scalar(0));
    log_stop = Tensor<Scalar, 2>(batch.log_stop.shape(), Scalar(0));
    log_flow = Tensor<Scalar, 2>(batch.log_flow.shape(), Scalar(0));
  }
};

using TrajectoryBatch = BasicTrajectoryBatch<float>;
using TrajectoryGrad = BasicTrajectoryGrad<float>;

}  // namespace gfnlm
