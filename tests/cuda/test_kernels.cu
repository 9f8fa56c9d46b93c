// CPU-vs-CUDA agreement of every kernel of the Backend concept, plus the device-only pieces
// (AdamW, gradient clipping, sampling) against their host references (issue 7). Sizes are small
// and deliberately not multiples of the warp or block sizes.
#include "support.cuh"

#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/cuda/adamw.cuh>

#include <sstream>

using namespace gfnlm;
using gfnlm::test::Dev;
using gfnlm::test::random_tokens;
using gfnlm::test::random_vector;
using gfnlm::test::require_close;
using gfnlm::test::require_close_with_inf;

TEST_CASE("cuda memory: alloc zero-fills, copies round-trip, buffers copy deeply") {
  Rng rng(1);
  const auto host = random_vector(rng, 1000);
  auto a = Cuda::alloc<float>(host.size());
  REQUIRE(Cuda::size(a) == host.size());
  std::vector<float> zeros(host.size(), 1.0f);
  Cuda::to_host(zeros.data(), Cuda::data(a), zeros.size());
  CHECK(std::all_of(zeros.begin(), zeros.end(), [](float x) { return x == 0.0f; }));
  Cuda::from_host(Cuda::data(a), host.data(), host.size());
  auto b = a;  // deep copy
  Cuda::fill(Cuda::data(a), host.size(), 3.0f);
  std::vector<float> back(host.size());
  Cuda::to_host(back.data(), Cuda::data(b), back.size());
  CHECK(back == host);
  Cuda::copy(Cuda::data(b), Cuda::data(a) + 10, 5);
  Cuda::synchronize();
  Cuda::to_host(back.data(), Cuda::data(b), back.size());
  CHECK(back[0] == 3.0f);
  CHECK(back[4] == 3.0f);
  CHECK(back[5] == host[5]);
  auto moved = std::move(b);
  CHECK(Cuda::size(moved) == host.size());
  CHECK(Cuda::size(b) == 0);
}

TEST_CASE("cuda errors name the failing call") {
  try {
    auto huge = Cuda::alloc<float>(std::size_t(1) << 50);  // 4 PiB: no device has it
    FAIL("expected gfnlm::Error, got " << Cuda::size(huge) << " elements");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("cudaMalloc") != std::string::npos);
  }
  // The failure does not leak into the next launch's check.
  auto small = Cuda::alloc<float>(8);
  CHECK_NOTHROW(Cuda::fill(Cuda::data(small), 8, 1.0f));
  CHECK_NOTHROW(Cuda::synchronize());
}

TEST_CASE("cuda encoder forward, forward_at and backward agree with cpu") {
  Rng rng(2);
  const int B = 3, T = 7, C = 37, V = 11, maxT = 9;
  const auto wte = random_vector(rng, V * C), wpe = random_vector(rng, maxT * C);
  const auto tok = random_tokens(rng, B * T, V);  // 21 draws from 11 ids: rows repeat
  std::vector<float> out(B * T * C);
  Cpu::encoder_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
  Dev<float> d_out(out.size()), d_wte(wte), d_wpe(wpe);
  Dev<int32_t> d_tok(tok);
  Cuda::encoder_forward(d_out.get(), d_tok.get(), d_wte.get(), d_wpe.get(), B, T, C);
  require_close(d_out.host(), out, "encoder_forward");

  const int N = 5;
  const auto at_tok = random_tokens(rng, N, V), at_pos = random_tokens(rng, N, maxT);
  std::vector<float> at(N * C);
  Cpu::encoder_forward_at(at.data(), at_tok.data(), at_pos.data(), wte.data(), wpe.data(), N, C);
  Dev<float> d_at(at.size());
  Dev<int32_t> d_at_tok(at_tok), d_at_pos(at_pos);
  Cuda::encoder_forward_at(d_at.get(), d_at_tok.get(), d_at_pos.get(), d_wte.get(), d_wpe.get(), N,
                           C);
  require_close(d_at.host(), at, "encoder_forward_at");

  const auto dout = random_vector(rng, B * T * C);
  auto dwte = random_vector(rng, V * C), dwpe = random_vector(rng, maxT * C);  // accumulates
  Dev<float> d_dwte(dwte), d_dwpe(dwpe), d_dout(dout);
  Cpu::encoder_backward(dwte.data(), dwpe.data(), dout.data(), tok.data(), B, T, C);
  Cuda::encoder_backward(d_dwte.get(), d_dwpe.get(), d_dout.get(), d_tok.get(), B, T, C);
  require_close(d_dwte.host(), dwte, "encoder_backward dwte");
  require_close(d_dwpe.host(), dwpe, "encoder_backward dwpe");
  // dwpe null (frozen positions)
  Cpu::encoder_backward(dwte.data(), static_cast<float*>(nullptr), dout.data(), tok.data(), B, T,
                        C);
  Cuda::encoder_backward(d_dwte.get(), static_cast<float*>(nullptr), d_dout.get(), d_tok.get(), B,
                         T, C);
  require_close(d_dwte.host(), dwte, "encoder_backward dwte, dwpe null");
}

TEST_CASE("cuda layernorm forward and backward agree with cpu") {
  Rng rng(3);
  const int N = 13, C = 100;
  const auto inp = random_vector(rng, N * C, 2.0), w = random_vector(rng, C),
             b = random_vector(rng, C);
  std::vector<float> out(N * C), mean(N), rstd(N);
  Cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N,
                         C);
  Dev<float> d_out(out.size()), d_mean(N), d_rstd(N), d_inp(inp), d_w(w), d_b(b);
  Cuda::layernorm_forward(d_out.get(), d_mean.get(), d_rstd.get(), d_inp.get(), d_w.get(),
                          d_b.get(), N, C);
  require_close(d_out.host(), out, "layernorm_forward out");
  require_close(d_mean.host(), mean, "layernorm_forward mean");
  require_close(d_rstd.host(), rstd, "layernorm_forward rstd");
  Dev<float> d_out2(out.size());
  Cuda::layernorm_forward(d_out2.get(), static_cast<float*>(nullptr), static_cast<float*>(nullptr),
                          d_inp.get(), d_w.get(), d_b.get(), N, C);
  require_close(d_out2.host(), out, "layernorm_forward without statistics");

  const auto dout = random_vector(rng, N * C);
  auto dinp = random_vector(rng, N * C), dw = random_vector(rng, C), db = random_vector(rng, C);
  Dev<float> d_dinp(dinp), d_dw(dw), d_db(db), d_dout(dout);
  Cpu::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(),
                          mean.data(), rstd.data(), N, C);
  Cuda::layernorm_backward(d_dinp.get(), d_dw.get(), d_db.get(), d_dout.get(), d_inp.get(),
                           d_w.get(), d_mean.get(), d_rstd.get(), N, C);
  require_close(d_dinp.host(), dinp, "layernorm_backward dinp");
  require_close(d_dw.host(), dw, "layernorm_backward dweight");
  require_close(d_db.host(), db, "layernorm_backward dbias");
  Cpu::layernorm_backward(dinp.data(), static_cast<float*>(nullptr), static_cast<float*>(nullptr),
                          dout.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C);
  Cuda::layernorm_backward(d_dinp.get(), static_cast<float*>(nullptr), static_cast<float*>(nullptr),
                           d_dout.get(), d_inp.get(), d_w.get(), d_mean.get(), d_rstd.get(), N, C);
  require_close(d_dinp.host(), dinp, "layernorm_backward dinp, frozen parameters");
}

TEST_CASE("cuda matmul forward and backward agree with cpu in every mode") {
  Rng rng(4);
  const int N = 19, IN = 45, OUT = 33;
  const auto x = random_vector(rng, N * IN), w = random_vector(rng, OUT * IN),
             bias = random_vector(rng, OUT);
  Dev<float> d_x(x), d_w(w), d_bias(bias);
  for (const bool with_bias : {false, true})
    for (const bool accumulate : {false, true})
      for (const float alpha : {1.0f, 0.375f}) {
        DYNAMIC_SECTION("bias " << with_bias << " accumulate " << accumulate << " alpha "
                                << alpha) {
          auto out = random_vector(rng, N * OUT);
          Dev<float> d_out(out);
          Cpu::matmul_forward(out.data(), x.data(), w.data(), with_bias ? bias.data() : nullptr, N,
                              IN, OUT, alpha, accumulate);
          Cuda::matmul_forward(d_out.get(), d_x.get(), d_w.get(),
                               with_bias ? d_bias.get() : nullptr, N, IN, OUT, alpha, accumulate);
          require_close(d_out.host(), out, "matmul_forward");

          const auto dout = random_vector(rng, N * OUT);
          auto dx = random_vector(rng, N * IN), dw = random_vector(rng, OUT * IN),
               db = random_vector(rng, OUT);
          Dev<float> d_dx(dx), d_dw(dw), d_db(db), d_dout(dout);
          Cpu::matmul_backward(dx.data(), dw.data(), with_bias ? db.data() : nullptr, dout.data(),
                               x.data(), w.data(), N, IN, OUT, alpha, accumulate);
          Cuda::matmul_backward(d_dx.get(), d_dw.get(), with_bias ? d_db.get() : nullptr,
                                d_dout.get(), d_x.get(), d_w.get(), N, IN, OUT, alpha, accumulate);
          require_close(d_dx.host(), dx, "matmul_backward dinp");
          require_close(d_dw.host(), dw, "matmul_backward dweight");
          require_close(d_db.host(), db, "matmul_backward dbias");
          // Input gradient only (frozen weights).
          Cpu::matmul_backward(dx.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), N, IN,
                               OUT, alpha, accumulate);
          Cuda::matmul_backward(d_dx.get(), nullptr, nullptr, d_dout.get(), d_x.get(), d_w.get(), N,
                                IN, OUT, alpha, accumulate);
          require_close(d_dx.host(), dx, "matmul_backward dinp only");
        }
      }
}

TEST_CASE("cuda causal attention forward and backward agree with cpu") {
  Rng rng(5);
  const int B = 2, T = 11, C = 48, NH = 4;
  const auto qkv = random_vector(rng, B * T * 3 * C);
  std::vector<float> out(B * T * C), att(B * NH * T * T);
  Cpu::attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  Dev<float> d_out(out.size()), d_att(random_vector(rng, att.size())), d_qkv(qkv);  // stale att
  Cuda::attention_forward(d_out.get(), d_att.get(), d_qkv.get(), B, T, C, NH);
  require_close(d_out.host(), out, "attention_forward out");
  require_close(d_att.host(), att, "attention_forward probabilities");

  const auto dout = random_vector(rng, out.size());
  std::vector<float> dqkv(qkv.size()), datt(att.size());
  Cpu::attention_backward(dqkv.data(), datt.data(), dout.data(), qkv.data(), att.data(), B, T, C,
                          NH);
  Dev<float> d_dqkv(random_vector(rng, qkv.size())), d_datt(att.size()), d_dout(dout);
  Cuda::attention_backward(d_dqkv.get(), d_datt.get(), d_dout.get(), d_qkv.get(), d_att.get(), B, T,
                           C, NH);
  require_close(d_dqkv.host(), dqkv, "attention_backward dqkv");
}

TEST_CASE("cuda kv-cache write and decode attention agree with cpu") {
  Rng rng(6);
  const int rows = 3, maxT = 10, C = 48, NH = 6, N = 4;
  auto kc = random_vector(rng, rows * maxT * C), vc = random_vector(rng, rows * maxT * C);
  const auto qkv = random_vector(rng, N * 3 * C);
  const std::vector<int32_t> row{2, 0, 2, 1}, pos{7, 0, 9, 4};  // a row may get several tokens
  Dev<float> d_kc(kc), d_vc(vc), d_qkv(qkv);
  Dev<int32_t> d_row(row), d_pos(pos);
  Cpu::kv_cache_write(kc.data(), vc.data(), qkv.data(), row.data(), pos.data(), N, C, maxT);
  Cuda::kv_cache_write(d_kc.get(), d_vc.get(), d_qkv.get(), d_row.get(), d_pos.get(), N, C, maxT);
  require_close(d_kc.host(), kc, "kv_cache_write keys");
  require_close(d_vc.host(), vc, "kv_cache_write values");

  std::vector<float> out(N * C), scores(N * NH * maxT, 0.0f);
  Cpu::attention_decode(out.data(), scores.data(), qkv.data(), kc.data(), vc.data(), row.data(),
                        pos.data(), N, C, NH, maxT);
  Dev<float> d_out(out.size()), d_scores(scores.size());
  Cuda::attention_decode(d_out.get(), d_scores.get(), d_qkv.get(), d_kc.get(), d_vc.get(),
                         d_row.get(), d_pos.get(), N, C, NH, maxT);
  require_close(d_out.host(), out, "attention_decode");
  require_close(d_scores.host(), scores, "attention_decode probabilities");
}

TEST_CASE("cuda gelu and residual agree with cpu") {
  Rng rng(7);
  const long n = 1000;
  const auto x = random_vector(rng, n, 3.0), dout = random_vector(rng, n);
  std::vector<float> y(n), dx(n);
  Cpu::gelu_forward(y.data(), x.data(), n);
  Cpu::gelu_backward(dx.data(), x.data(), dout.data(), n);
  Dev<float> d_x(x), d_y(n), d_dout(dout);
  Cuda::gelu_forward(d_y.get(), d_x.get(), n);
  require_close(d_y.host(), y, "gelu_forward");
  Cuda::gelu_backward(d_dout.get(), d_x.get(), d_dout.get(), n);  // in place, as the model does
  require_close(d_dout.host(), dx, "gelu_backward (aliased)");

  const auto a = random_vector(rng, n), b = random_vector(rng, n);
  std::vector<float> sum(n);
  Cpu::residual_forward(sum.data(), a.data(), b.data(), n);
  Dev<float> d_a(a), d_b(b), d_sum(n);
  Cuda::residual_forward(d_sum.get(), d_a.get(), d_b.get(), n);
  require_close(d_sum.host(), sum, "residual_forward");
  auto da = random_vector(rng, n), db = random_vector(rng, n);
  Dev<float> d_da(da), d_db(db);
  Cpu::residual_backward(da.data(), db.data(), dout.data(), n);
  Dev<float> d_dout2(dout);
  Cuda::residual_backward(d_da.get(), d_db.get(), d_dout2.get(), n);
  require_close(d_da.host(), da, "residual_backward da");
  require_close(d_db.host(), db, "residual_backward db");
}

TEST_CASE("cuda gathered log-probs and their backward agree with cpu") {
  Rng rng(8);
  const int N = 9, V = 1003, K = 2;
  const auto logits = random_vector(rng, N * V, 4.0);
  auto idx = random_tokens(rng, N * K, V);
  idx[3] = -1;           // ignored entry
  idx[8] = idx[9] = 17;  // the chosen token is the stop token
  std::vector<float> logp(N * K), lse(N);
  Cpu::logprob_forward(logp.data(), lse.data(), logits.data(), idx.data(), N, V, K);
  Dev<float> d_logits(logits), d_logp(logp.size()), d_lse(N);
  Dev<int32_t> d_idx(idx);
  Cuda::logprob_forward(d_logp.get(), d_lse.get(), d_logits.get(), d_idx.get(), N, V, K);
  require_close(d_logp.host(), logp, "logprob_forward logp");
  require_close(d_lse.host(), lse, "logprob_forward lse");

  const auto dlogp = random_vector(rng, N * K);
  Dev<float> d_dlogp(dlogp);
  for (const bool accumulate : {false, true}) {
    auto dlogits = random_vector(rng, N * V);
    Dev<float> d_dlogits(dlogits);
    Cpu::logprob_backward(dlogits.data(), dlogp.data(), logits.data(), lse.data(), idx.data(), N, V,
                          K, accumulate);
    Cuda::logprob_backward(d_dlogits.get(), d_dlogp.get(), d_logits.get(), d_lse.get(), d_idx.get(),
                           N, V, K, accumulate);
    require_close(d_dlogits.host(), dlogits,
                  accumulate ? "logprob_backward (accumulate)" : "logprob_backward");
  }
}

TEST_CASE("cuda AdamW and gradient clipping agree with the host versions") {
  Rng rng(9);
  const std::vector<std::size_t> sizes{300, 7, 1025};
  std::vector<std::vector<float>> value, grad;
  std::vector<Dev<float>> d_value, d_grad;
  ParameterList<float> host_params, dev_params;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    value.push_back(random_vector(rng, sizes[k]));
    grad.push_back(random_vector(rng, sizes[k], 0.1));
  }
  d_value.reserve(sizes.size());
  d_grad.reserve(sizes.size());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    d_value.emplace_back(value[k]);
    d_grad.emplace_back(grad[k]);
    const bool decay = k != 1;
    host_params.push_back(
        {"p" + std::to_string(k), value[k].data(), grad[k].data(), sizes[k], decay});
    dev_params.push_back(
        {"p" + std::to_string(k), d_value[k].get(), d_grad[k].get(), sizes[k], decay});
  }
  // Clipping: norm before, and the scaled gradients.
  const double host_norm = clip_grad_norm(host_params, 1.0);
  const double dev_norm = cuda::clip_grad_norm(dev_params, 1.0);
  REQUIRE(host_norm > 1.0);  // so the clip acts
  CHECK(dev_norm == Approx(host_norm).epsilon(1e-6));
  for (std::size_t k = 0; k < sizes.size(); ++k)
    require_close(d_grad[k].host(), grad[k], "clipped");

  AdamWConfig cfg;
  cfg.lr = 1e-2;
  cfg.weight_decay = 0.1;
  AdamW<float> host_opt(host_params, cfg);
  cuda::AdamW<float> dev_opt(dev_params, cfg);
  for (int step = 0; step < 3; ++step) {
    host_opt.step(0.5);
    dev_opt.step(0.5);
  }
  for (std::size_t k = 0; k < sizes.size(); ++k)
    require_close(d_value[k].host(), value[k], "AdamW values after 3 steps");
  CHECK(dev_opt.steps_taken() == 3);

  // The device optimiser's state is saved in the host format, and loads back.
  std::stringstream host_state, dev_state;
  host_opt.save(host_state);
  dev_opt.save(dev_state);
  CHECK(host_state.str().size() == dev_state.str().size());
  cuda::AdamW<float> reloaded(dev_params, cfg);
  reloaded.load(host_state);
  CHECK(reloaded.steps_taken() == 3);
  std::stringstream again;
  reloaded.save(again);
  host_state.seekg(0);
  CHECK(again.str() == host_state.str());
}

namespace {

// The masks of the masked-kernel tests, on the host (for Cpu) and on the device (for Cuda):
// N items reading rows of an R-row logits block in a scrambled order (some rows unread), a
// vocabulary mask, and STOP banned on every third item.
struct MaskCase {
  int R, N, V;
  int32_t stop;
  std::vector<int32_t> rows;
  std::vector<uint8_t> allowed, banned;
  Dev<int32_t> d_rows;
  Dev<uint8_t> d_allowed, d_banned;

  MaskCase(Rng& rng, int R_, int N_, int V_, int32_t stop_)
      : R(R_),
        N(N_),
        V(V_),
        stop(stop_),
        rows(make_rows(R_, N_)),
        allowed(make_allowed(rng, V_, stop_)),
        banned(make_banned(N_)),
        d_rows(rows),
        d_allowed(allowed),
        d_banned(banned) {}

  RowMask host() const { return {rows.data(), allowed.data(), banned.data(), stop}; }
  RowMask device() { return {d_rows.get(), d_allowed.get(), d_banned.get(), stop}; }

  bool masked(int n, int v) const { return !allowed[v] || (banned[n] && v == stop); }

  static std::vector<int32_t> make_rows(int R, int N) {
    std::vector<int32_t> r(N);
    for (int n = 0; n < N; ++n) r[n] = static_cast<int32_t>((n * 7 + 3) % R);  // distinct, R > N
    return r;
  }
  static std::vector<uint8_t> make_allowed(Rng& rng, int V, int32_t stop) {
    std::vector<uint8_t> a(V);
    for (int v = 0; v < V; ++v) a[v] = v == stop || rng.uniform() < 0.7;
    return a;
  }
  static std::vector<uint8_t> make_banned(int N) {
    std::vector<uint8_t> b(N);
    for (int n = 0; n < N; ++n) b[n] = n % 3 == 0;
    return b;
  }
};

}  // namespace

TEST_CASE("cuda masked gathered log-probs and their backward agree with cpu") {
  Rng rng(11);
  const int R = 13, N = 9, V = 1003, K = 2;
  const int32_t stop = 17;
  MaskCase m(rng, R, N, V, stop);
  const auto logits = random_vector(rng, std::size_t(R) * V, 4.0);
  std::vector<int32_t> idx(N * K);
  for (int n = 0; n < N; ++n) {
    int32_t a;
    do a = static_cast<int32_t>(rng.below(V));
    while (!m.allowed[a]);
    idx[n * K] = a;
    idx[n * K + 1] = stop;  // masked on the items that ban STOP
  }
  idx[2] = -1;  // ignored entry
  int32_t forbidden = 0;
  while (m.allowed[forbidden]) ++forbidden;
  idx[4] = forbidden;  // a masked action: -inf, no gradient
  idx[8] = stop;       // the chosen token is the stop token
  REQUIRE(m.banned[0]);
  REQUIRE(m.banned[3]);

  std::vector<float> logp(N * K), lse(N);
  Cpu::logprob_forward(logp.data(), lse.data(), logits.data(), idx.data(), N, V, K, m.host());
  Dev<float> d_logits(logits), d_logp(logp.size()), d_lse(N);
  Dev<int32_t> d_idx(idx);
  Cuda::logprob_forward(d_logp.get(), d_lse.get(), d_logits.get(), d_idx.get(), N, V, K,
                        m.device());
  const auto got_logp = d_logp.host();
  CHECK(std::isinf(logp[1]));  // STOP on item 0 (banned)
  CHECK(std::isinf(logp[4]));  // the forbidden action
  CHECK(logp[2] == 0.0f);
  require_close_with_inf(got_logp, logp, "masked logprob_forward logp");
  require_close(d_lse.host(), lse, "masked logprob_forward lse");

  auto dlogp = random_vector(rng, N * K);
  Dev<float> d_dlogp(dlogp);
  for (const bool accumulate : {false, true}) {
    auto dlogits = random_vector(rng, std::size_t(R) * V);  // rows no item names stay as they are
    Dev<float> d_dlogits(dlogits);
    Cpu::logprob_backward(dlogits.data(), dlogp.data(), logits.data(), lse.data(), idx.data(), N, V,
                          K, accumulate, m.host());
    Cuda::logprob_backward(d_dlogits.get(), d_dlogp.get(), d_logits.get(), d_lse.get(), d_idx.get(),
                           N, V, K, accumulate, m.device());
    require_close(d_dlogits.host(), dlogits,
                  accumulate ? "masked logprob_backward (accumulate)" : "masked logprob_backward");
    if (!accumulate) {
      // Masked entries of the named rows take no gradient.
      const auto got = d_dlogits.host();
      for (int n = 0; n < N; ++n)
        for (int v = 0; v < V; ++v)
          if (m.masked(n, v)) REQUIRE(got[std::size_t(m.rows[n]) * V + v] == 0.0f);
    }
  }

  // In place: d logits written over the logits they are computed from (LmPolicy's tabular twin,
  // and any caller that does not need the logits after the backward).
  auto in_place = logits;
  Dev<float> d_in_place(logits);
  Cpu::logprob_backward(in_place.data(), dlogp.data(), in_place.data(), lse.data(), idx.data(), N,
                        V, K, false, m.host());
  Cuda::logprob_backward(d_in_place.get(), d_dlogp.get(), d_in_place.get(), d_lse.get(),
                         d_idx.get(), N, V, K, false, m.device());
  require_close(d_in_place.host(), in_place, "masked logprob_backward in place");
}

TEST_CASE("cuda masked draws agree with cpu: tokens, and log q at temperature 1") {
  Rng rng(12);
  const int R = 80, N = 64, V = 700;
  const int32_t stop = 5;
  MaskCase m(rng, R, N, V, stop);
  const auto logits = random_vector(rng, std::size_t(R) * V, 2.0);
  std::vector<double> temperature(N), uniforms(N);
  for (int n = 0; n < N; ++n) {
    temperature[n] = n % 4 == 0 ? 1.0 : rng.uniform(0.5, 2.0);  // T = 1 and tempered rows
    uniforms[n] = rng.uniform();
  }
  uniforms[0] = 0.0;
  uniforms[1] = 1.0 - 1e-12;
  uniforms[2] = 0.5;
  Dev<float> d_logits(logits);
  Dev<double> d_temp(temperature), d_u(uniforms), d_logq(N);
  Dev<int32_t> d_tokens(N);
  for (const bool masked : {true, false}) {
    DYNAMIC_SECTION("masked " << masked) {
      const RowMask host_mask = masked ? m.host() : RowMask{m.rows.data()};
      const RowMask dev_mask = masked ? m.device() : RowMask{m.d_rows.get()};
      std::vector<int32_t> tokens(N);
      std::vector<double> logq(N);
      Cpu::sample_tokens(tokens.data(), logq.data(), logits.data(), N, V, temperature.data(),
                         uniforms.data(), host_mask);
      Cuda::sample_tokens(d_tokens.get(), d_logq.get(), d_logits.get(), N, V, d_temp.get(),
                          d_u.get(), dev_mask);
      const auto got_tokens = d_tokens.host();
      const auto got_logq = d_logq.host();
      for (int n = 0; n < N; ++n) {
        INFO("item " << n << " (row " << m.rows[n] << ", T " << temperature[n] << ", u "
                     << uniforms[n] << ")");
        // The CDF runs in double on both: only a rounding tie at a boundary (~1e-15) could split
        // them, which these 64 uniforms do not hit.
        CHECK(got_tokens[n] == tokens[n]);
        if (masked) CHECK(!m.masked(n, got_tokens[n]));
        CHECK(got_logq[n] == Approx(logq[n]).epsilon(1e-12).margin(1e-12));
      }
      // log q is the temperature-1 log-probability of the drawn token under the masked
      // distribution (not the tempered one), in double.
      for (int n = 0; n < N; ++n) {
        const float* x = logits.data() + std::size_t(m.rows[n]) * V;
        double hi = -INFINITY, sum = 0;
        for (int v = 0; v < V; ++v)
          if (!masked || !m.masked(n, v)) hi = std::max(hi, double(x[v]));
        for (int v = 0; v < V; ++v)
          if (!masked || !m.masked(n, v)) sum += std::exp(double(x[v]) - hi);
        const int t = got_tokens[n];
        CHECK(got_logq[n] == Approx(double(x[t]) - hi - std::log(sum)).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("cuda draw of an item with every token masked gives token -1") {
  const int V = 8;
  const int32_t stop = 3;
  std::vector<uint8_t> allowed(V, 0);
  allowed[stop] = 1;  // only STOP, and STOP banned
  Dev<float> d_logits(std::vector<float>(V, 0.5f));
  Dev<uint8_t> d_allowed(allowed), d_banned(std::vector<uint8_t>{1});
  Dev<double> d_temp(std::vector<double>{1.0}), d_u(std::vector<double>{0.3}), d_logq(1);
  Dev<int32_t> d_tokens(1);
  Cuda::sample_tokens(d_tokens.get(), d_logq.get(), d_logits.get(), 1, V, d_temp.get(), d_u.get(),
                      RowMask{nullptr, d_allowed.get(), d_banned.get(), stop});
  CHECK(d_tokens.host()[0] == -1);
  CHECK(std::isnan(d_logq.host()[0]));
}

TEST_CASE("cuda transfer counter: bytes per call site and direction") {
  auto& counter = cuda::transfer_counter();
  counter.reset();
  CHECK(counter.bytes() == 0);
  std::vector<float> host(100, 1.0f);
  auto buffer = Cuda::alloc<float>(host.size());
  for (int i = 0; i < 3; ++i) Cuda::from_host(Cuda::data(buffer), host.data(), host.size());
  Cuda::to_host(host.data(), Cuda::data(buffer), 10);
  Cuda::to_host(host.data(), Cuda::data(buffer), 0);  // nothing moves, nothing counted
  CHECK(counter.bytes(cuda::TransferDirection::from_host) == 3 * 100 * sizeof(float));
  CHECK(counter.bytes(cuda::TransferDirection::to_host) == 10 * sizeof(float));
  CHECK(counter.calls() == 4);
  const auto sites = counter.snapshot();
  REQUIRE(sites.size() == 2);
  CHECK(sites[0].direction == cuda::TransferDirection::from_host);  // the most bytes first
  CHECK(sites[0].calls == 3);
  CHECK(sites[0].file.find("test_kernels.cu") != std::string::npos);
  CHECK(sites[1].line == sites[0].line + 1);
  CHECK(counter.report().find("test_kernels.cu:") != std::string::npos);
  counter.reset();
  CHECK(counter.snapshot().empty());
}
