// Whole-model finite-difference checks in double precision (issue 2, acceptance 1): every base
// parameter (tied and untied head), the cross-entropy path with ignored and masked positions, and
// LoRA adapters on all four projections with the base frozen and trainable.
#include "fd_check.hpp"

#include <gfnlm/model/transformer.hpp>

#include <catch2/catch.hpp>

#include <vector>

using Model = gfnlm::Transformer<gfnlm::Cpu, double>;
using gfnlm::test::fd_max_rel_err;
using gfnlm::test::report;

namespace {

constexpr double kTol = 1e-6;
constexpr int B = 2, T = 5;

gfnlm::TransformerConfig small(bool tied) {
  gfnlm::TransformerConfig c;
  c.vocab_size = 11;
  c.max_seq_len = 7;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 8;
  c.tied_head = tied;
  c.init_std = 0.3;  // larger than GPT-2's 0.02 so every path carries a visible gradient
  return c;
}

std::vector<int32_t> tokens(int V) {
  std::vector<int32_t> t(B * T);
  for (int i = 0; i < B * T; ++i) t[i] = (i * 7 + 3) % V;
  return t;
}

// LayerNorm gains and biases start at 1 and 0 and biases at 0; perturb them so their gradients
// are generic too.
void jitter(const gfnlm::ParameterList<double>& params, gfnlm::Rng& rng, double std) {
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] += std * rng.normal();
}

// Max FD error over all of `params` for loss(); grads must already hold the analytic gradient.
double check_all(const gfnlm::ParameterList<double>& params, const std::function<double()>& loss) {
  double worst = 0;
  for (const auto& p : params) {
    std::vector<double> g(p.grad, p.grad + p.size);
    worst = std::max(worst, fd_max_rel_err(p.value, g.data(), p.size, loss));
  }
  return worst;
}

// Max FD error over `params` for L = w . logits with random w on the fixed batch of tokens().
double weighted_logits_fd(Model& m, const gfnlm::ParameterList<double>& params, gfnlm::Rng& rng) {
  const auto tok = tokens(m.config().vocab_size);
  std::vector<double> w(B * T * m.config().vocab_size);
  for (auto& x : w) x = rng.normal();
  auto loss = [&] {
    m.forward(tok.data(), B, T);
    double s = 0;
    for (std::size_t i = 0; i < w.size(); ++i) s += w[i] * m.logits()[i];
    return s;
  };
  loss();
  m.zero_grad();
  m.backward(w.data());
  return check_all(params, loss);
}

}  // namespace

TEST_CASE("transformer gradients match finite differences for any dlogits", "[model][fd]") {
  for (bool tied : {true, false}) {
    gfnlm::Rng rng(11);
    Model m(small(tied), rng);
    jitter(m.base_parameters(), rng, 0.1);
    const double e = weighted_logits_fd(m, m.base_parameters(), rng);
    report(tied ? "whole model, tied head" : "whole model, untied head", e);
    CHECK(e < kTol);
  }
}

TEST_CASE("cross-entropy gradient matches finite differences", "[model][fd]") {
  gfnlm::Rng rng(12);
  Model m(small(true), rng);
  jitter(m.base_parameters(), rng, 0.1);
  const auto tok = tokens(11);
  std::vector<int32_t> targets(tok.begin() + 1, tok.end());
  targets.push_back(-1);
  targets[3] = -1;
  std::vector<uint8_t> mask(B * T, 1);
  mask[0] = mask[7] = 0;
  auto loss = [&] {
    m.forward(tok.data(), B, T);
    return m.cross_entropy(targets.data(), mask.data());
  };
  loss();
  m.zero_grad();
  m.backward_cross_entropy();
  const double e = check_all(m.base_parameters(), loss);
  report("cross-entropy with ignore + mask", e);
  CHECK(e < kTol);
}

TEST_CASE("LoRA gradients match finite differences", "[model][fd][lora]") {
  for (bool base_trainable : {false, true}) {
    gfnlm::Rng rng(13);
    Model m(small(true), rng);
    jitter(m.base_parameters(), rng, 0.1);
    m.enable_lora({.rank = 3, .alpha = 6.0, .targets = gfnlm::LoraTargets::all}, rng);
    jitter(m.lora_parameters(), rng, 0.3);  // B starts at zero: give A's gradient a signal
    m.set_base_trainable(base_trainable);
    const double e = weighted_logits_fd(m, m.parameters(), rng);
    report(base_trainable ? "LoRA + trainable base" : "LoRA adapters (base frozen)", e);
    CHECK(e < kTol);
    CHECK(m.parameters().size() ==
          (base_trainable ? m.base_parameters().size() : 0) + m.lora_parameters().size());
    if (!base_trainable) {
      std::size_t nonzero = 0;
      for (const auto& p : m.base_parameters())
        for (std::size_t i = 0; i < p.size; ++i) nonzero += p.grad[i] != 0.0;
      CHECK(nonzero == 0);  // a frozen base accumulates nothing
    }
  }
}

TEST_CASE("LoRA on a subset of projections", "[model][fd][lora]") {
  gfnlm::Rng rng(14);
  Model m(small(false), rng);
  m.enable_lora(
      {.rank = 2, .alpha = 4.0, .targets = gfnlm::LoraTargets::qkv | gfnlm::LoraTargets::fc_proj},
      rng);
  jitter(m.lora_parameters(), rng, 0.3);
  CHECK(m.lora_parameters().size() == 2u * 2 * 2);  // layers x targets x {A, B}
  const auto tok = tokens(11);
  std::vector<int32_t> targets(tok.rbegin(), tok.rend());
  auto loss = [&] {
    m.forward(tok.data(), B, T);
    return m.cross_entropy(targets.data(), nullptr);
  };
  loss();
  m.zero_grad();
  m.backward_cross_entropy();
  const double e = check_all(m.parameters(), loss);
  report("LoRA on qkv + fc_proj, untied", e);
  CHECK(e < kTol);
}

TEST_CASE("GPT-2 trainable token rows: gradients and KV-cache decoding", "[model][fd][lora]") {
  for (const bool tied : {true, false}) {
    INFO((tied ? "tied head" : "untied head"));
    gfnlm::Rng rng(14);
    Model m(small(tied), rng);
    jitter(m.base_parameters(), rng, 0.1);
    m.enable_lora({.rank = 3, .alpha = 6.0, .targets = gfnlm::LoraTargets::all}, rng);
    const auto tok = tokens(11);                // 3 0 7 4 1 8 5 2 9 6
    const std::vector<int32_t> rows{4, 9, 10};  // 10 never occurs: its input delta gets nothing
    m.enable_trainable_tokens(rows);
    jitter(m.parameters(), rng, 0.3);  // deltas and B start at zero
    const double e = weighted_logits_fd(m, m.parameters(), rng);
    report(tied ? "GPT-2 + LoRA + token rows, tied" : "GPT-2 + LoRA + token rows, untied", e);
    CHECK(e < kTol);

    m.forward(tok.data(), 1, T);
    const std::vector<double> full(m.logits(), m.logits() + T * 11);
    auto cache = m.make_cache(1);
    for (int t = 0; t < T; ++t) {
      const gfnlm::DecodeToken d{0, tok[t]};
      const auto out = m.decode(cache, std::span<const gfnlm::DecodeToken>(&d, 1));
      for (int v = 0; v < 11; ++v) CHECK(out[v] == Approx(full[t * 11 + v]).epsilon(1e-12));
    }
  }
}
