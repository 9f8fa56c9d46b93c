// Finite-difference checks in double precision of the Llama kernels and of the whole model with
// and without LoRA (issue 4, acceptance 1): L = sum(w * output) for random w.
#include "../model/fd_check.hpp"

#include <gfnlm/backend/cpu/gqa_attention.hpp>
#include <gfnlm/backend/cpu/rmsnorm.hpp>
#include <gfnlm/backend/cpu/rope.hpp>
#include <gfnlm/backend/cpu/swiglu.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/llama.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <vector>

using gfnlm::test::dot;
using gfnlm::test::fd_max_rel_err;
using gfnlm::test::randn;
using gfnlm::test::report;
using Vec = std::vector<double>;

namespace {

constexpr double kTol = 1e-6;

}  // namespace

TEST_CASE("rmsnorm gradients match finite differences", "[llama][fd]") {
  gfnlm::Rng rng(11);
  const int N = 5, C = 8;
  Vec x = randn(rng, N * C, 1.5, 0.3), g = randn(rng, C, 0.3, 1.0), w = randn(rng, N * C),
      out(N * C), rstd(N);
  auto loss = [&] {
    gfnlm::cpu::RmsNormKernels::rmsnorm_forward(out.data(), rstd.data(), x.data(), g.data(), N, C,
                                                1e-5);
    return dot(out, w);
  };
  loss();
  Vec dx(N * C, 0), dg(C, 0);
  gfnlm::cpu::RmsNormKernels::rmsnorm_backward(dx.data(), dg.data(), w.data(), x.data(), g.data(),
                                               rstd.data(), N, C);
  const double e = std::max(fd_max_rel_err(x.data(), dx.data(), x.size(), loss),
                            fd_max_rel_err(g.data(), dg.data(), g.size(), loss));
  report("rmsnorm (x, gain)", e);
  CHECK(e < kTol);
}

TEST_CASE("rope gradients match finite differences and rotations preserve norms", "[llama][fd]") {
  gfnlm::Rng rng(12);
  const int N = 6, NH = 3, hs = 6;
  std::vector<int32_t> pos = {0, 1, 2, 7, 30, 5};
  Vec x = randn(rng, N * NH * hs), w = randn(rng, x.size()), y;
  auto loss = [&] {
    y = x;
    gfnlm::cpu::RopeKernels::rope_forward(y.data(), pos.data(), N, NH, hs, 10000.0);
    return dot(y, w);
  };
  loss();
  CHECK(dot(y, y) == Approx(dot(x, x)).epsilon(1e-12));
  CHECK(y[0] == x[0]);  // position 0 is the identity
  Vec dx = w;
  gfnlm::cpu::RopeKernels::rope_backward(dx.data(), pos.data(), N, NH, hs, 10000.0);
  const double e = fd_max_rel_err(x.data(), dx.data(), x.size(), loss);
  report("rope", e);
  CHECK(e < kTol);
}

TEST_CASE("swiglu gradients match finite differences", "[llama][fd]") {
  gfnlm::Rng rng(13);
  const long n = 40;
  Vec gate = randn(rng, n, 2.0), up = randn(rng, n), w = randn(rng, n), out(n);
  auto loss = [&] {
    gfnlm::cpu::SwiGluKernels::swiglu_forward(out.data(), gate.data(), up.data(), n);
    return dot(out, w);
  };
  Vec dgate(n), dup(n);
  gfnlm::cpu::SwiGluKernels::swiglu_backward(dgate.data(), dup.data(), w.data(), gate.data(),
                                             up.data(), n);
  const double e = std::max(fd_max_rel_err(gate.data(), dgate.data(), n, loss),
                            fd_max_rel_err(up.data(), dup.data(), n, loss));
  report("swiglu (gate, up)", e);
  CHECK(e < kTol);
}

TEST_CASE("grouped-query attention gradients match finite differences", "[llama][fd]") {
  gfnlm::Rng rng(14);
  const int B = 2, T = 4, NH = 4, NKV = 2, hs = 3, C = NH * hs, KV = NKV * hs;
  Vec q = randn(rng, B * T * C), k = randn(rng, B * T * KV), v = randn(rng, B * T * KV),
      w = randn(rng, B * T * C), out(B * T * C), att(B * NH * T * T);
  using A = gfnlm::cpu::GqaAttentionKernels;
  auto loss = [&] {
    A::gqa_attention_forward(out.data(), att.data(), q.data(), k.data(), v.data(), B, T, NH, NKV,
                             hs);
    return dot(out, w);
  };
  loss();
  Vec dq(q.size()), dk(k.size()), dv(v.size()), datt(att.size());
  A::gqa_attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), w.data(), q.data(),
                            k.data(), v.data(), att.data(), B, T, NH, NKV, hs);
  const double e = std::max({fd_max_rel_err(q.data(), dq.data(), q.size(), loss),
                             fd_max_rel_err(k.data(), dk.data(), k.size(), loss),
                             fd_max_rel_err(v.data(), dv.data(), v.size(), loss)});
  report("gqa attention (q, k, v; 4 heads, 2 kv)", e);
  CHECK(e < kTol);
}

namespace {

gfnlm::LlamaConfig tiny(bool tied) {
  gfnlm::LlamaConfig c;
  c.vocab_size = 11;
  c.max_seq_len = 8;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 12;
  c.tied_head = tied;
  c.norm_eps = 1e-5;
  c.rope_theta = 100.0;  // small theta: every pair rotates visibly over a few positions
  c.init_std = 0.3;      // large weights: non-trivial attention and gating
  return c;
}

// Max relative FD error over every parameter in `params` for L = sum(w * logits).
double model_fd(gfnlm::LlamaTransformer<gfnlm::Cpu, double>& m,
                const gfnlm::ParameterList<double>& params, gfnlm::Rng& rng) {
  const int B = 2, T = 5;
  std::vector<int32_t> tok = {1, 4, 1, 9, 0, 3, 3, 10, 2, 7};
  const int V = m.config().vocab_size;
  Vec w = randn(rng, B * T * V);
  auto loss = [&] {
    m.forward(tok.data(), B, T);
    double s = 0;
    for (int i = 0; i < B * T * V; ++i) s += w[i] * m.logits()[i];
    return s;
  };
  m.zero_grad();
  loss();
  m.backward(w.data());
  double worst = 0;
  for (const auto& p : params) {
    Vec g(p.grad, p.grad + p.size);  // FD forwards do not touch grads, but copy for clarity
    worst = std::max(worst, fd_max_rel_err(p.value, g.data(), p.size, loss));
  }
  return worst;
}

}  // namespace

TEST_CASE("Llama model gradients match finite differences", "[llama][fd]") {
  for (const bool tied : {true, false}) {
    gfnlm::Rng rng(21);
    gfnlm::LlamaTransformer<gfnlm::Cpu, double> m(tiny(tied), rng);
    const double e = model_fd(m, m.base_parameters(), rng);
    report(tied ? "llama model, tied head" : "llama model, untied head", e);
    CHECK(e < kTol);
  }
}

TEST_CASE("Llama LoRA gradients match finite differences", "[llama][fd][lora]") {
  gfnlm::Rng rng(22);
  gfnlm::LlamaTransformer<gfnlm::Cpu, double> m(tiny(false), rng);
  gfnlm::LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 3.0;
  m.enable_lora(lc, rng);
  auto lora = m.lora_parameters();
  REQUIRE(lora.size() == 2u * 7u * 2u);  // A and B of 7 projections in 2 layers
  for (const auto& p : lora)             // B = 0 at init would hide A's gradient
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.4 * rng.normal();
  m.set_base_trainable(true);  // both paths at once: the base's gradient must include the adapter
  const double e = model_fd(m, m.parameters(), rng);
  report("llama model + LoRA (base and adapters)", e);
  CHECK(e < kTol);

  // Adapters off: the model is the base again and adapter gradients stay zero.
  gfnlm::LlamaTransformer<gfnlm::Cpu, double> base(tiny(false), rng);
  gfnlm::Rng r2(22);
  gfnlm::LlamaTransformer<gfnlm::Cpu, double> same(tiny(false), r2);
  same.enable_lora(lc, r2);
  for (const auto& p : same.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.4 * rng.normal();
  gfnlm::Rng r3(22);
  gfnlm::LlamaTransformer<gfnlm::Cpu, double> plain(tiny(false), r3);
  std::vector<int32_t> tok = {1, 2, 3, 4};
  plain.forward(tok.data(), 1, 4);
  same.forward(tok.data(), 1, 4);
  double diff_on = 0;
  for (int i = 0; i < 4 * 11; ++i)
    diff_on = std::max(diff_on, std::abs(plain.logits()[i] - same.logits()[i]));
  CHECK(diff_on > 1e-3);
  same.set_adapters_enabled(false);
  same.forward(tok.data(), 1, 4);
  // Equal up to rounding: the arena layout (and so GEMM alignment) differs once adapters exist.
  for (int i = 0; i < 4 * 11; ++i)
    CHECK(plain.logits()[i] == Approx(same.logits()[i]).epsilon(1e-13));
  same.zero_grad();
  Vec w(4 * 11, 1.0);
  same.backward(w.data());
  for (const auto& p : same.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) REQUIRE(p.grad[i] == 0.0);
}

TEST_CASE("Llama save / load and adapter round trips give identical tensors", "[llama][io]") {
  gfnlm::Rng rng(31);
  gfnlm::LlamaTransformer<gfnlm::Cpu, double> m(tiny(false), rng);
  gfnlm::LoraConfig lc;
  lc.rank = 3;
  lc.targets = gfnlm::LoraTargets::qkv | gfnlm::LoraTargets::fc_proj;
  m.enable_lora(lc, rng);
  for (const auto& p : m.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = rng.normal();
  std::stringstream base, adapters;
  m.save(base);
  m.save_adapters(adapters);
  auto copy = gfnlm::LlamaTransformer<gfnlm::Cpu, double>::from_stream(base);
  copy.load_adapters(adapters);
  auto a = m.base_parameters(), b = copy.base_parameters();
  auto la = m.lora_parameters(), lb = copy.lora_parameters();
  a.insert(a.end(), la.begin(), la.end());
  b.insert(b.end(), lb.begin(), lb.end());
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    REQUIRE(a[k].name == b[k].name);
    REQUIRE(std::equal(a[k].value, a[k].value + a[k].size, b[k].value));
  }
  std::stringstream wrong;
  gfnlm::LlamaTransformer<gfnlm::Cpu, double>(tiny(true), rng).save(wrong);
  CHECK_THROWS_WITH(m.load(wrong), Catch::Contains("tied"));
}

TEST_CASE("Llama trainable token rows: gradients, adapters off, decoding", "[llama][fd][lora]") {
  for (const bool tied : {true, false}) {
    INFO((tied ? "tied head" : "untied head"));
    gfnlm::Rng rng(23);
    gfnlm::LlamaTransformer<gfnlm::Cpu, double> m(tiny(tied), rng);
    gfnlm::LoraConfig lc;
    lc.rank = 2;
    lc.alpha = 3.0;  // as the LoRA check: a larger scale makes the loss too curved for h = 5e-4
    m.enable_lora(lc, rng);
    const std::vector<int32_t> rows{1, 9, 3};  // 1, 3 and 9 occur in model_fd's batch
    m.enable_trainable_tokens(rows);
    const auto params = m.parameters();
    REQUIRE(params.size() == m.lora_parameters().size() + (tied ? 1u : 2u));
    for (const auto& p : params)  // deltas and B start at zero, which hides gradients
      for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.4 * rng.normal();
    const double e = model_fd(m, params, rng);
    report(tied ? "llama + LoRA + token rows, tied" : "llama + LoRA + token rows, untied", e);
    CHECK(e < kTol);

    // KV-cache decoding reads the same rows: token by token equals the full forward.
    const std::vector<int32_t> tok{1, 4, 9, 3, 0};
    m.forward(tok.data(), 1, 5);
    const int V = m.config().vocab_size;
    const std::vector<double> full(m.logits(), m.logits() + 5 * V);
    auto cache = m.make_cache(1);
    for (int t = 0; t < 5; ++t) {
      const gfnlm::DecodeToken d{0, tok[t]};
      const auto out = m.decode(cache, std::span<const gfnlm::DecodeToken>(&d, 1));
      for (int v = 0; v < V; ++v) CHECK(out[v] == Approx(full[t * V + v]).epsilon(1e-12));
    }

    // Adapters off: the base exactly, and the rows take no gradient.
    gfnlm::Rng r2(23);
    gfnlm::LlamaTransformer<gfnlm::Cpu, double> plain(tiny(tied), r2);
    plain.forward(tok.data(), 1, 5);
    m.set_adapters_enabled(false);
    m.forward(tok.data(), 1, 5);
    for (int i = 0; i < 5 * V; ++i)
      CHECK(plain.logits()[i] == Approx(m.logits()[i]).epsilon(1e-13));
    m.zero_grad();
    const Vec w(5 * V, 1.0);
    m.backward(w.data());
    for (const auto& p : m.parameters())
      for (std::size_t i = 0; i < p.size; ++i) REQUIRE(p.grad[i] == 0.0);
  }
}

TEST_CASE("Trainable token rows are checked and not lost in adapter streams", "[llama][lora]") {
  gfnlm::Rng rng(24);
  gfnlm::LlamaTransformer<gfnlm::Cpu, double> m(tiny(true), rng);
  m.enable_lora({}, rng);
  const std::vector<int32_t> outside{3, 11}, twice{2, 5, 2};
  CHECK_THROWS_WITH(m.enable_trainable_tokens(outside),
                    Catch::Contains("entry 1 is token 11, outside the vocabulary [0, 11)"));
  CHECK_THROWS_WITH(m.enable_trainable_tokens(twice),
                    Catch::Contains("token 2 is listed twice (entries 0 and 2)"));
  const std::vector<int32_t> ok{2, 5};
  m.enable_trainable_tokens(ok);
  std::stringstream os;
  CHECK_THROWS_WITH(m.save_adapters(os), Catch::Contains("also trains 2 token rows"));
}
