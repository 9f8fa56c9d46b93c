// Finite-difference checks of every CPU kernel in double precision (issue 2, acceptance 1):
// each layer's backward against central differences of L = sum(w * forward(x)) for random w.
#include "fd_check.hpp"

#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/rng.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <span>
#include <vector>

using gfnlm::Cpu;
using gfnlm::test::dot;
using gfnlm::test::fd_max_rel_err;
using gfnlm::test::randn;
using gfnlm::test::report;
using Vec = std::vector<double>;

namespace {

constexpr double kTol = 1e-6;

}  // namespace

TEST_CASE("encoder gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(1);
  const int B = 2, T = 3, C = 5, V = 7;
  Vec wte = randn(rng, V * C), wpe = randn(rng, T * C), w = randn(rng, B * T * C), out(B * T * C);
  std::vector<int32_t> tok = {1, 4, 1, 6, 0, 4};  // repeats: rows of dwte must accumulate
  auto loss = [&] {
    Cpu::encoder_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
    return dot(out, w);
  };
  Vec dwte(V * C, 0), dwpe(T * C, 0);
  Cpu::encoder_backward(dwte.data(), dwpe.data(), w.data(), tok.data(), B, T, C);
  const double e = std::max(fd_max_rel_err(wte.data(), dwte.data(), wte.size(), loss),
                            fd_max_rel_err(wpe.data(), dwpe.data(), wpe.size(), loss));
  report("encoder (wte, wpe)", e);
  CHECK(e < kTol);
}

TEST_CASE("layernorm gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(2);
  const int N = 6, C = 9;
  Vec x = randn(rng, N * C, 2.0, 0.5), g = randn(rng, C, 0.3, 1.0), b = randn(rng, C),
      w = randn(rng, N * C), out(N * C), mean(N), rstd(N);
  auto loss = [&] {
    Cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data(), N,
                           C);
    return dot(out, w);
  };
  loss();
  Vec dx(N * C, 0.25), dg(C, 0), db(C, 0);  // dx starts non-zero: backward must accumulate
  Cpu::layernorm_backward(dx.data(), dg.data(), db.data(), w.data(), x.data(), g.data(),
                          mean.data(), rstd.data(), N, C);
  for (auto& v : dx) v -= 0.25;
  const double e = std::max({fd_max_rel_err(x.data(), dx.data(), x.size(), loss),
                             fd_max_rel_err(g.data(), dg.data(), g.size(), loss),
                             fd_max_rel_err(b.data(), db.data(), b.size(), loss)});
  report("layernorm (x, weight, bias)", e);
  CHECK(e < kTol);
}

TEST_CASE("matmul gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(3);
  const int N = 5, IN = 7, OUT = 4;
  const double alpha = 0.7;
  Vec x = randn(rng, N * IN), W = randn(rng, OUT * IN), bias = randn(rng, OUT),
      w = randn(rng, N * OUT), base = randn(rng, N * OUT), out(N * OUT);
  for (bool accumulate : {false, true}) {
    auto loss = [&] {
      out = base;
      Cpu::matmul_forward(out.data(), x.data(), W.data(), bias.data(), N, IN, OUT, alpha,
                          accumulate);
      return dot(out, w);
    };
    Vec dx(N * IN, 0), dW(OUT * IN, 0), db(OUT, 0);
    Cpu::matmul_backward(dx.data(), dW.data(), db.data(), w.data(), x.data(), W.data(), N, IN, OUT,
                         alpha, false);
    const double e = std::max({fd_max_rel_err(x.data(), dx.data(), x.size(), loss),
                               fd_max_rel_err(W.data(), dW.data(), W.size(), loss),
                               fd_max_rel_err(bias.data(), db.data(), bias.size(), loss)});
    report(accumulate ? "matmul, accumulating (x, W, b)" : "matmul / head (x, W, b)", e);
    CHECK(e < kTol);
  }
}

TEST_CASE("causal attention gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(4);
  const int B = 2, T = 5, C = 8, NH = 2;
  Vec qkv = randn(rng, B * T * 3 * C), w = randn(rng, B * T * C), out(B * T * C),
      att(B * NH * T * T), datt(B * NH * T * T);
  auto loss = [&] {
    Cpu::attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
    return dot(out, w);
  };
  loss();
  Vec dqkv(qkv.size(), 0);
  Cpu::attention_backward(dqkv.data(), datt.data(), w.data(), qkv.data(), att.data(), B, T, C, NH);
  const double e = fd_max_rel_err(qkv.data(), dqkv.data(), qkv.size(), loss);
  report("attention (qkv)", e);
  CHECK(e < kTol);
  // causality: the output at t = 0 depends only on position 0
  Vec before = out;
  qkv[(0 * T + T - 1) * 3 * C + C] += 1.0;  // a key at the last position of row 0
  loss();
  for (int c = 0; c < C; ++c) CHECK(out[c] == before[c]);
}

TEST_CASE("gelu and residual gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(5);
  const int n = 40;
  Vec x = randn(rng, n, 2.0), w = randn(rng, n), out(n);
  auto loss = [&] {
    Cpu::gelu_forward(out.data(), x.data(), n);
    return dot(out, w);
  };
  Vec dx(n);
  Cpu::gelu_backward(dx.data(), x.data(), w.data(), n);
  const double e = fd_max_rel_err(x.data(), dx.data(), n, loss);
  report("gelu (x)", e);
  CHECK(e < kTol);

  Vec a = randn(rng, n), b = randn(rng, n);
  auto rloss = [&] {
    Cpu::residual_forward(out.data(), a.data(), b.data(), n);
    return dot(out, w);
  };
  Vec da(n, 0), db(n, 0);
  Cpu::residual_backward(da.data(), db.data(), w.data(), n);
  const double er = std::max(fd_max_rel_err(a.data(), da.data(), n, rloss),
                             fd_max_rel_err(b.data(), db.data(), n, rloss));
  report("residual (a, b)", er);
  CHECK(er < kTol);
}

TEST_CASE("gathered log-prob gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(6);
  const int N = 4, V = 9, K = 2;
  Vec logits = randn(rng, N * V, 3.0), w = randn(rng, N * K), logp(N * K), lse(N);
  // chosen token and a "stop" token per position; -1 is ignored; repeats add up
  std::vector<int32_t> idx = {3, 8, 0, 8, 5, -1, 8, 8};
  auto loss = [&] {
    Cpu::logprob_forward(logp.data(), lse.data(), logits.data(), idx.data(), N, V, K);
    return dot(logp, w);
  };
  loss();
  CHECK(logp[5] == 0.0);
  Vec dl(N * V);
  Cpu::logprob_backward(dl.data(), w.data(), logits.data(), lse.data(), idx.data(), N, V, K);
  const double e = fd_max_rel_err(logits.data(), dl.data(), logits.size(), loss);
  report("log-softmax gather (logits)", e);
  CHECK(e < kTol);
}

TEST_CASE("masked, row-indirected log-prob gradients match finite differences", "[model][fd]") {
  gfnlm::Rng rng(7);
  const int R = 5, N = 4, V = 9, K = 2;
  const int32_t stop = 8;
  Vec logits = randn(rng, R * V, 3.0), w = randn(rng, N * K), logp(N * K), lse(N);
  // Items read rows 4, 1, 1, 0 (row 1 twice: its gradients add up); token 2 is forbidden and
  // STOP is banned for items 0 and 2, so their STOP log-probs are -inf and take no gradient.
  const std::vector<int32_t> rows = {4, 1, 1, 0}, idx = {3, 8, 2, 8, 5, 8, 0, 8};
  std::vector<uint8_t> allowed(V, 1);
  allowed[2] = 0;
  const std::vector<uint8_t> banned = {1, 0, 1, 0};
  const gfnlm::RowMask mask{rows.data(), allowed.data(), banned.data(), stop};
  auto loss = [&] {
    Cpu::logprob_forward(logp.data(), lse.data(), logits.data(), idx.data(), N, V, K, mask);
    double total = 0;
    for (int i = 0; i < N * K; ++i)
      if (std::isfinite(logp[i])) total += logp[i] * w[i];
    return total;
  };
  loss();
  const double ninf = -std::numeric_limits<double>::infinity();
  CHECK(logp[1] == ninf);  // item 0: STOP banned
  CHECK(logp[2] == ninf);  // item 1: token 2 forbidden
  CHECK(logp[5] == ninf);  // item 2: STOP banned
  // The normaliser runs over the allowed entries only: item 1 (row 1, STOP allowed).
  double z = 0;
  for (int v = 0; v < V; ++v)
    if (v != 2) z += std::exp(logits[1 * V + v]);
  CHECK(lse[1] == Approx(std::log(z)).epsilon(1e-12));
  CHECK(logp[3] == Approx(logits[1 * V + stop] - std::log(z)).epsilon(1e-12));

  Vec dl(R * V, 0.0);
  Cpu::logprob_backward(dl.data(), w.data(), logits.data(), lse.data(), idx.data(), N, V, K,
                        /*accumulate=*/true, mask);
  const double e = fd_max_rel_err(logits.data(), dl.data(), logits.size(), loss);
  report("masked log-softmax gather (logits)", e);
  CHECK(e < kTol);
  for (int v = 0; v < V; ++v) CHECK(dl[2 * V + v] == 0.0);  // row 2 is read by no item
  CHECK(dl[1 * V + 2] == 0.0);                              // a forbidden entry
}

TEST_CASE("masked, tempered draws: the token owning each uniform, its temperature-1 log q",
          "[model]") {
  const int V = 4;
  const int32_t stop = 3;
  // log p = log(0.1, 0.2, 0.3, 0.4) up to a constant; token 1 forbidden, STOP banned for item 1.
  const Vec logits = {std::log(0.1), std::log(0.2), std::log(0.3), std::log(0.4)};
  std::vector<uint8_t> allowed(V, 1);
  allowed[1] = 0;
  const std::vector<int32_t> rows(2, 0);
  const std::vector<uint8_t> banned = {0, 1};
  const gfnlm::RowMask mask{rows.data(), allowed.data(), banned.data(), stop};
  // Item 0 draws from (0.1, 0, 0.3, 0.4) / 0.8, item 1 from (0.1, 0, 0.3, 0) / 0.4; at T = 0.5
  // the weights square: item 0 (0.01, 0, 0.09, 0.16) / 0.26.
  struct Case {
    double t, u0, u1;
    int32_t a0, a1;
  };
  for (const Case c :
       {Case{1.0, 0.10, 0.20, 0, 0}, Case{1.0, 0.20, 0.30, 2, 2}, Case{1.0, 0.55, 0.99, 3, 2},
        Case{0.5, 0.03, 0.05, 0, 0}, Case{0.5, 0.30, 0.99, 2, 2}, Case{0.5, 0.45, 0.01, 3, 0}}) {
    std::vector<int32_t> tokens(2);
    Vec logq(2);
    const Vec temps(2, c.t), uniforms = {c.u0, c.u1};
    Cpu::sample_tokens(tokens.data(), logq.data(), logits.data(), 2, V, temps.data(),
                       uniforms.data(), mask);
    INFO("T " << c.t << " u " << c.u0 << ", " << c.u1);
    CHECK(tokens[0] == c.a0);
    CHECK(tokens[1] == c.a1);
    const double p0[] = {0.1 / 0.8, 0, 0.3 / 0.8, 0.4 / 0.8}, p1[] = {0.25, 0, 0.75, 0};
    CHECK(logq[0] == Approx(std::log(p0[tokens[0]])).epsilon(1e-12));
    CHECK(logq[1] == Approx(std::log(p1[tokens[1]])).epsilon(1e-12));
  }
  // Every entry masked: the row is named, nothing is drawn silently.
  std::vector<uint8_t> only_stop(V, 0);
  only_stop[stop] = 1;
  const gfnlm::RowMask none{rows.data(), only_stop.data(), banned.data(), stop};
  std::vector<int32_t> tokens(2);
  const Vec temps(2, 1.0), uniforms(2, 0.5);
  REQUIRE_THROWS_WITH(Cpu::sample_tokens(tokens.data(), nullptr, logits.data(), 2, V, temps.data(),
                                         uniforms.data(), none),
                      Catch::Contains("item 1) is all masked"));
}
