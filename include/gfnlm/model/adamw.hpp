#pragma once
// AdamW (Loshchilov & Hutter): Adam moments with bias correction, weight decay decoupled from
// the gradient. Plus global gradient-norm clipping. Works on any ParameterList (host memory).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/parameter.hpp>

#include <cmath>
#include <istream>
#include <ostream>
#include <vector>

namespace gfnlm {

struct AdamWConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

template <class Scalar>
class AdamW {
 public:
  AdamW(ParameterList<Scalar> params, AdamWConfig config)
      : params_(std::move(params)), config_(config) {
    for (const auto& p : params_) {
      m_.emplace_back(p.size, Scalar(0));
      v_.emplace_back(p.size, Scalar(0));
    }
  }

  // One update; lr_scale multiplies the base learning rate (warm-up / decay schedules).
  void step(double lr_scale = 1.0) {
    ++t_;
    const double lr = config_.lr * lr_scale;
    const double bc1 = 1.0 - std::pow(config_.beta1, t_);
    const double bc2 = 1.0 - std::pow(config_.beta2, t_);
    const auto b1 = static_cast<Scalar>(config_.beta1), b2 = static_cast<Scalar>(config_.beta2);
    std::size_t total = 0;
    for (const auto& p : params_) total += p.size;
      // One parallel region for all tensors (most are too small to split on their own); `nowait`:
      // every element is independent, so no thread waits at a tensor's end.
#pragma omp parallel if (total > 65536)
    for (std::size_t k = 0; k < params_.size(); ++k) {
      const auto& p = params_[k];
      Scalar* m = m_[k].data();
      Scalar* v = v_[k].data();
      const double decay = p.weight_decay ? lr * config_.weight_decay : 0.0;
#pragma omp for simd schedule(static) nowait
      for (std::size_t i = 0; i < p.size; ++i) {
        const Scalar g = p.grad[i];
        m[i] = b1 * m[i] + (Scalar(1) - b1) * g;
        v[i] = b2 * v[i] + (Scalar(1) - b2) * g * g;
        const double m_hat = m[i] / bc1, v_hat = v[i] / bc2;
        p.value[i] = static_cast<Scalar>(p.value[i] - decay * p.value[i] -
                                         lr * m_hat / (std::sqrt(v_hat) + config_.eps));
      }
    }
  }

  int steps_taken() const {
    return t_;
  }
  const AdamWConfig& config() const {
    return config_;
  }
  void set_lr(double lr) {
    config_.lr = lr;
  }

  void save(std::ostream& os) const {
    write_pod<int32_t>(os, t_);
    for (std::size_t k = 0; k < params_.size(); ++k) {
      write_array(os, m_[k].data(), m_[k].size());
      write_array(os, v_[k].data(), v_[k].size());
    }
  }
  void load(std::istream& is) {
    t_ = read_pod<int32_t>(is, "adamw.step");
    for (std::size_t k = 0; k < params_.size(); ++k) {
      read_array(is, m_[k].data(), m_[k].size(), "adamw.m");
      read_array(is, v_[k].data(), v_[k].size(), "adamw.v");
    }
  }

 private:
  ParameterList<Scalar> params_;
  AdamWConfig config_;
  std::vector<std::vector<Scalar>> m_, v_;
  int t_ = 0;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
template <class Scalar>
double clip_grad_norm(const ParameterList<Scalar>& params, double max_norm) {
  double sq = 0;
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.size; ++i) sq += double(p.grad[i]) * double(p.grad[i]);
  const double norm = std::sqrt(sq);
  GFNLM_CHECK(std::isfinite(norm), "gradient norm is {} (a NaN or inf gradient)", norm);
  if (max_norm > 0 && norm > max_norm) {
    const auto scale = static_cast<Scalar>(max_norm / (norm + 1e-12));
    for (const auto& p : params)
      for (std::size_t i = 0; i < p.size; ++i) p.grad[i] *= scale;
  }
  return norm;
}

}  // namespace gfnlm
