#pragma once
// AdamW and global gradient-norm clipping on device parameters: the device twins of
// model/adamw.hpp (which reads the ParameterList's pointers on the host). The same update, in the
// same precision mix (moments in Scalar, bias correction and the step in double), and the same
// save()/load() stream format, so a checkpoint moves between backends.
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/memory.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/adamw.hpp>  // AdamWConfig (host-only header, no kernels)
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>
#include <vector>

namespace gfnlm::cuda {

template <class S>
__global__ void adamw_kernel(S* value, const S* grad, S* m, S* v, std::size_t n, S b1, S b2,
                             double lr, double bc1, double bc2, double eps, double decay) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const S g = grad[i];
  m[i] = b1 * m[i] + (S(1) - b1) * g;
  v[i] = b2 * v[i] + (S(1) - b2) * g * g;
  const double m_hat = m[i] / bc1, v_hat = v[i] / bc2;
  value[i] = static_cast<S>(value[i] - decay * value[i] - lr * m_hat / (sqrt(v_hat) + eps));
}

// Sum of squares in double (as the host version), one atomic per block.
template <class S>
__global__ void sum_squares_kernel(double* out, const S* x, std::size_t n) {
  __shared__ double scratch[32];
  double s = 0;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

template <class S>
__global__ void scale_kernel(S* x, std::size_t n, S scale) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= scale;
}

// The optimiser state lives in one device arena (m then v for every parameter).
template <class Scalar>
class AdamW {
 public:
  AdamW(ParameterList<Scalar> params, AdamWConfig config)
      : params_(std::move(params)), config_(config) {
    std::size_t total = 0;
    for (const auto& p : params_) {
      offset_.push_back(total);
      total += p.size;
    }
    total_ = total;
    state_ = DeviceBuffer<Scalar>(2 * total);  // zero-filled
  }

  // One update; lr_scale multiplies the base learning rate (warm-up / decay schedules).
  void step(double lr_scale = 1.0) {
    ++t_;
    const double lr = config_.lr * lr_scale;
    const double bc1 = 1.0 - std::pow(config_.beta1, t_);
    const double bc2 = 1.0 - std::pow(config_.beta2, t_);
    const auto b1 = static_cast<Scalar>(config_.beta1), b2 = static_cast<Scalar>(config_.beta2);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      const auto& p = params_[k];
      if (p.size == 0) continue;
      Scalar* m = state_.data() + offset_[k];
      Scalar* v = state_.data() + total_ + offset_[k];
      const double decay = p.weight_decay ? lr * config_.weight_decay : 0.0;
      GFNLM_CUDA_LAUNCH(adamw_kernel<Scalar>, blocks_for(static_cast<long>(p.size), 256), 256, 0,
                        p.value, p.grad, m, v, p.size, b1, b2, lr, bc1, bc2, config_.eps, decay);
    }
  }

  int steps_taken() const { return t_; }
  const AdamWConfig& config() const { return config_; }
  void set_lr(double lr) { config_.lr = lr; }

  // The host AdamW's format: step, then m and v of each parameter in turn.
  void save(std::ostream& os) const {
    write_pod<int32_t>(os, t_);
    std::vector<Scalar> host(2 * total_);
    MemoryOps::to_host(host.data(), state_.data(), host.size());
    for (std::size_t k = 0; k < params_.size(); ++k) {
      write_array(os, host.data() + offset_[k], params_[k].size);
      write_array(os, host.data() + total_ + offset_[k], params_[k].size);
    }
  }
  void load(std::istream& is) {
    t_ = read_pod<int32_t>(is, "adamw.step");
    std::vector<Scalar> host(2 * total_);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      read_array(is, host.data() + offset_[k], params_[k].size, "adamw.m");
      read_array(is, host.data() + total_ + offset_[k], params_[k].size, "adamw.v");
    }
    MemoryOps::from_host(state_.data(), host.data(), host.size());
  }

 private:
  ParameterList<Scalar> params_;
  AdamWConfig config_;
  std::vector<std::size_t> offset_;
  std::size_t total_ = 0;
  DeviceBuffer<Scalar> state_;
  int t_ = 0;
};

// Scales all (device) gradients so their global L2 norm is at most max_norm; returns the norm
// before. One host round trip for the norm, as the host version's finiteness check needs it.
template <class Scalar>
double clip_grad_norm(const ParameterList<Scalar>& params, double max_norm) {
  DeviceBuffer<double> sq(1);
  for (const auto& p : params) {
    if (p.size == 0) continue;
    const unsigned grid = std::min(blocks_for(static_cast<long>(p.size), 256), 1024u);
    GFNLM_CUDA_LAUNCH(sum_squares_kernel<Scalar>, grid, 256, 0, sq.data(), p.grad, p.size);
  }
  double host_sq = 0;
  MemoryOps::to_host(&host_sq, sq.data(), 1);
  const double norm = std::sqrt(host_sq);
  GFNLM_CHECK(std::isfinite(norm), "gradient norm is {} (a NaN or inf gradient)", norm);
  if (max_norm > 0 && norm > max_norm) {
    const auto scale = static_cast<Scalar>(max_norm / (norm + 1e-12));
    for (const auto& p : params)
      if (p.size > 0)
        GFNLM_CUDA_LAUNCH(scale_kernel<Scalar>, blocks_for(static_cast<long>(p.size), 256), 256, 0,
                          p.grad, p.size, scale);
  }
  return norm;
}

}  // namespace gfnlm::cuda
