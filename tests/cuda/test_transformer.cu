// The whole Transformer<Cuda> against Transformer<Cpu> (issue 7): forward logits, cross-entropy,
// every base and LoRA gradient, KV-cache decoding, a few AdamW training steps, and the modified
// SubTB objective end to end (logits -> gathered log-probs -> loss -> gradients), and LmPolicy's
// side of the Policy seam (masked scoring, its backward, masked draws), float32 to 1e-4 relative.
// Both models start from the same seed: initialisation runs on the host.
#include "support.cuh"

#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/cuda/adamw.cuh>
#include <gfnlm/model/cuda/optimizer.cuh>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_policy.hpp>

#include <span>

using namespace gfnlm;
using gfnlm::test::host_copy;
using gfnlm::test::random_tokens;
using gfnlm::test::random_vector;
using gfnlm::test::require_close;
using gfnlm::test::require_close_with_inf;
using gfnlm::test::small_config;

namespace {

template <class Bk>
std::vector<float> logits_of(const Transformer<Bk>& m) {
  return host_copy<Bk>(
      m.logits(), static_cast<std::size_t>(m.batch_size()) * m.seq_len() * m.config().vocab_size);
}

// Gradients of two parameter lists, compared tensor by tensor.
template <class BkA, class BkB>
void require_same_grads(ParameterList<float> cuda_list, ParameterList<float> cpu_list) {
  REQUIRE(cuda_list.size() == cpu_list.size());
  for (std::size_t k = 0; k < cpu_list.size(); ++k) {
    REQUIRE(cuda_list[k].name == cpu_list[k].name);
    require_close(host_copy<BkA>(cuda_list[k].grad, cuda_list[k].size),
                  host_copy<BkB>(cpu_list[k].grad, cpu_list[k].size), cpu_list[k].name + " grad");
  }
}

// The same random values into both models' adapters (fresh B is zero, which hides the path).
void randomise_adapters(Transformer<Cpu>& cpu, Transformer<Cuda>& gpu, Rng& rng) {
  auto a = cpu.lora_parameters();
  auto b = gpu.lora_parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto v = random_vector(rng, a[k].size, 0.05);
    Cpu::from_host(a[k].value, v.data(), v.size());
    Cuda::from_host(b[k].value, v.data(), v.size());
  }
}

}  // namespace

TEST_CASE("cuda transformer forward, cross-entropy and backward agree with cpu") {
  for (const bool tied : {true, false}) {
    DYNAMIC_SECTION("tied head " << tied) {
      const auto cfg = small_config(tied);
      Rng r1(42), r2(42), data(7);
      Transformer<Cpu> cpu(cfg, r1);
      Transformer<Cuda> gpu(cfg, r2);
      const int B = 3, T = 11;
      const auto tokens = random_tokens(data, B * T, cfg.vocab_size);
      auto targets = random_tokens(data, B * T, cfg.vocab_size);
      targets[4] = -1;  // ignored position
      cpu.forward(tokens.data(), B, T);
      gpu.forward(tokens.data(), B, T);
      require_close(logits_of(gpu), logits_of(cpu), "logits");

      const double ce_cpu = cpu.cross_entropy(targets.data());
      const double ce_gpu = gpu.cross_entropy(targets.data());
      CHECK(ce_gpu == Approx(ce_cpu).epsilon(1e-4));
      cpu.zero_grad();
      gpu.zero_grad();
      cpu.backward_cross_entropy();
      gpu.backward_cross_entropy();
      require_same_grads<Cuda, Cpu>(gpu.base_parameters(), cpu.base_parameters());

      // A deep copy computes the same thing on its own memory.
      Transformer<Cuda> copy(gpu);
      copy.forward(tokens.data(), B, T);
      require_close(logits_of(copy), logits_of(cpu), "logits of a copied model");
    }
  }
}

TEST_CASE("cuda transformer with LoRA agrees with cpu, adapters on and off") {
  const auto cfg = small_config(true);
  Rng r1(43), r2(43), data(8);
  Transformer<Cpu> cpu(cfg, r1);
  Transformer<Cuda> gpu(cfg, r2);
  LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  Rng l1(5), l2(5);
  cpu.enable_lora(lora, l1);
  gpu.enable_lora(lora, l2);
  randomise_adapters(cpu, gpu, data);
  const int B = 2, T = 9;
  const auto tokens = random_tokens(data, B * T, cfg.vocab_size);
  const auto targets = random_tokens(data, B * T, cfg.vocab_size);
  cpu.forward(tokens.data(), B, T);
  gpu.forward(tokens.data(), B, T);
  require_close(logits_of(gpu), logits_of(cpu), "adapted logits");
  CHECK(gpu.cross_entropy(targets.data()) ==
        Approx(cpu.cross_entropy(targets.data())).epsilon(1e-4));
  cpu.zero_grad();
  gpu.zero_grad();
  cpu.backward_cross_entropy();
  gpu.backward_cross_entropy();
  require_same_grads<Cuda, Cpu>(gpu.lora_parameters(), cpu.lora_parameters());

  cpu.set_adapters_enabled(false);
  gpu.set_adapters_enabled(false);
  cpu.forward(tokens.data(), B, T);
  gpu.forward(tokens.data(), B, T);
  require_close(logits_of(gpu), logits_of(cpu), "base logits with adapters off");
}

TEST_CASE("cuda KV-cache decoding agrees with cpu") {
  const auto cfg = small_config(true);
  Rng r1(44), r2(44), data(9);
  Transformer<Cpu> cpu(cfg, r1);
  Transformer<Cuda> gpu(cfg, r2);
  LoraConfig lora;
  lora.rank = 3;
  Rng l1(6), l2(6);
  cpu.enable_lora(lora, l1);
  gpu.enable_lora(lora, l2);
  randomise_adapters(cpu, gpu, data);
  auto cpu_cache = cpu.make_cache(3);
  auto gpu_cache = gpu.make_cache(3);
  // Rows get different numbers of tokens per call, and several tokens of one row in one call.
  const std::vector<std::vector<DecodeToken>> steps{
      {{0, 1}, {0, 5}, {0, 9}, {1, 2}, {2, 3}, {2, 4}},
      {{0, 11}, {1, 12}, {2, 13}},
      {{1, 20}},
      {{2, 30}, {0, 31}, {1, 32}, {1, 33}}};
  for (std::size_t s = 0; s < steps.size(); ++s) {
    INFO("decode step " << s);
    const auto want = cpu.decode(cpu_cache, steps[s]);
    const auto got = gpu.decode(gpu_cache, steps[s]);
    REQUIRE(got.size() == want.size());
    require_close(host_copy<Cuda>(got.data(), got.size()),
                  std::vector<float>(want.begin(), want.end()), "decode logits");
  }
}

TEST_CASE("cuda AdamW training steps follow the cpu ones") {
  const auto cfg = small_config(true);
  Rng r1(45), r2(45), data(10);
  Transformer<Cpu> cpu(cfg, r1);
  Transformer<Cuda> gpu(cfg, r2);
  AdamWConfig opt_cfg;
  opt_cfg.lr = 1e-3;
  opt_cfg.weight_decay = 0.01;
  AdamW<float> cpu_opt(cpu.parameters(), opt_cfg);
  cuda::AdamW<float> gpu_opt(gpu.parameters(), opt_cfg);
  const int B = 2, T = 12;
  const auto tokens = random_tokens(data, B * T, cfg.vocab_size);
  const auto targets = random_tokens(data, B * T, cfg.vocab_size);
  for (int step = 0; step < 4; ++step) {
    INFO("step " << step);
    cpu.forward(tokens.data(), B, T);
    gpu.forward(tokens.data(), B, T);
    const double loss_cpu = cpu.cross_entropy(targets.data());
    const double loss_gpu = gpu.cross_entropy(targets.data());
    CHECK(loss_gpu == Approx(loss_cpu).epsilon(1e-4));
    cpu.zero_grad();
    gpu.zero_grad();
    cpu.backward_cross_entropy();
    gpu.backward_cross_entropy();
    const double n_cpu = clip_grad_norm(cpu.parameters(), 1.0);
    const double n_gpu = cuda::clip_grad_norm(gpu.parameters(), 1.0);
    CHECK(n_gpu == Approx(n_cpu).epsilon(1e-4));
    cpu_opt.step();
    gpu_opt.step();
  }
}

namespace {

// One GFlowNet loss evaluation through a backend: teacher-forced logits of prompt + actions,
// log q of the chosen and the stop token at every state (logprob kernels, K = 2), modified SubTB
// on the host, and its gradient back through the logprob backward and the model.
struct ObjectiveRun {
  double loss = 0;
  std::vector<float> log_pf, log_stop;
};

template <class Bk>
ObjectiveRun run_objective(Transformer<Bk>& model, const std::vector<int32_t>& tokens, int B, int P,
                           const TrajectoryBatch& shape, int stop) {
  const int L = shape.max_len(), T = P + L, N = B * T, V = model.config().vocab_size;
  std::vector<int32_t> idx(static_cast<std::size_t>(N) * 2, -1);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t <= L; ++t) {
      const long row = static_cast<long>(b) * T + P - 1 + t;
      idx[row * 2] = t < shape.length[b] ? shape.actions(b, t) : -1;
      idx[row * 2 + 1] = stop;
    }
  auto logp = Bk::template alloc<float>(N * 2), lse = Bk::template alloc<float>(N),
       dlogits = Bk::template alloc<float>(static_cast<std::size_t>(N) * V);
  auto d_idx = Bk::template alloc<int32_t>(N * 2);
  Bk::from_host(Bk::data(d_idx), idx.data(), idx.size());
  model.forward(tokens.data(), B, T);
  Bk::logprob_forward(Bk::data(logp), Bk::data(lse), model.logits(), Bk::data(d_idx), N, V, 2);
  std::vector<float> lp(N * 2);
  Bk::to_host(lp.data(), Bk::data(logp), lp.size());

  TrajectoryBatch batch = shape;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t <= L; ++t) {
      const long row = static_cast<long>(b) * T + P - 1 + t;
      if (t < L) batch.log_pf(b, t) = t < shape.length[b] ? lp[row * 2] : 0.0f;
      batch.log_stop(b, t) = lp[row * 2 + 1];
    }
  TrajectoryGrad grad;
  ObjectiveRun run;
  run.loss = ModifiedSubTB{}(batch, grad);
  run.log_pf.assign(batch.log_pf.begin(), batch.log_pf.end());
  run.log_stop.assign(batch.log_stop.begin(), batch.log_stop.end());

  std::vector<float> dlp(N * 2, 0.0f);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t <= L; ++t) {
      const long row = static_cast<long>(b) * T + P - 1 + t;
      if (t < L) dlp[row * 2] = grad.log_pf(b, t);
      dlp[row * 2 + 1] = grad.log_stop(b, t);
    }
  Bk::from_host(Bk::data(logp), dlp.data(), dlp.size());  // logp's slot now holds d logp
  Bk::logprob_backward(Bk::data(dlogits), Bk::data(logp), model.logits(), Bk::data(lse),
                       Bk::data(d_idx), N, V, 2, false);
  model.zero_grad();
  model.backward(Bk::data(dlogits));
  return run;
}

}  // namespace

TEST_CASE("cuda modified SubTB end to end agrees with cpu") {
  const auto cfg = small_config(true);
  Rng r1(46), r2(46), data(11);
  Transformer<Cpu> cpu(cfg, r1);
  Transformer<Cuda> gpu(cfg, r2);
  LoraConfig lora;
  lora.rank = 4;
  Rng l1(7), l2(7);
  cpu.enable_lora(lora, l1);
  gpu.enable_lora(lora, l2);
  randomise_adapters(cpu, gpu, data);

  const int B = 4, P = 3, L = 5, T = P + L, stop = cfg.vocab_size - 1;
  TrajectoryBatch shape;
  shape.resize(B, L);
  const std::vector<int> lengths{5, 3, 0, 4};
  std::vector<int32_t> tokens(B * T, 0);
  for (int b = 0; b < B; ++b) {
    shape.length[b] = lengths[b];
    shape.stopped[b] = lengths[b] < L;  // row 0 hit the maximum length
    for (int p = 0; p < P; ++p) tokens[b * T + p] = static_cast<int32_t>(data.below(stop));
    for (int t = 0; t < lengths[b]; ++t) {
      shape.actions(b, t) = static_cast<int32_t>(data.below(stop));
      tokens[b * T + P + t] = shape.actions(b, t);
    }
    for (int t = 0; t <= L; ++t) shape.log_r(b, t) = static_cast<float>(data.normal());
  }
  const auto want = run_objective(cpu, tokens, B, P, shape, stop);
  const auto got = run_objective(gpu, tokens, B, P, shape, stop);
  require_close(got.log_pf, want.log_pf, "log_pf");
  require_close(got.log_stop, want.log_stop, "log_stop");
  CHECK(got.loss == Approx(want.loss).epsilon(1e-4));
  REQUIRE(want.loss > 0);
  require_same_grads<Cuda, Cpu>(gpu.lora_parameters(), cpu.lora_parameters());
}

TEST_CASE("cuda LmPolicy scores, backpropagates and draws as the cpu one, masks applied") {
  const auto cfg = small_config(true);
  Rng r1(47), r2(47), data(12);
  Transformer<Cpu> cpu(cfg, r1);
  Transformer<Cuda> gpu(cfg, r2);
  LoraConfig lora;
  lora.rank = 4;
  Rng l1(8), l2(8);
  cpu.enable_lora(lora, l1);
  gpu.enable_lora(lora, l2);
  randomise_adapters(cpu, gpu, data);
  const int32_t stop = cfg.vocab_size - 1;
  LmPolicy<Cpu> on_cpu(cpu, stop);
  LmPolicy<Cuda> on_gpu(gpu, stop);
  std::vector<int32_t> allowed{stop};
  for (int32_t t = 0; t < 40; t += 2) allowed.push_back(t);
  const int min_len = 2;  // STOP banned at s_0 and s_1
  const LogitMask mask(cfg.vocab_size, stop, min_len, allowed);
  const std::vector<LmQuery> rows{
      {{3, 8, 1}, {}, 0}, {{3, 8, 1}, {}, 0}, {{12}, {}, 1}, {{4, 4}, {}, 2}};
  const int B = 4, L = 5;

  // Teacher forcing: rows of every length, one cut at max length, one with tool context.
  TrajectoryBatch batch;
  batch.resize(B, L);
  const std::vector<int> lengths{5, 2, 0, 3};
  for (int b = 0; b < B; ++b) {
    batch.length[b] = lengths[b];
    batch.stopped[b] = lengths[b] < L;
    for (int t = 0; t < lengths[b]; ++t)
      batch.actions(b, t) = allowed[1 + data.below(allowed.size() - 1)];
  }
  batch.context[1] = {{1, {50, 51}}};  // context tokens are not actions: any token
  TrajectoryBatch want = batch, got = batch;
  on_cpu.score(rows, mask, want);
  on_gpu.score(rows, mask, got);
  std::vector<float> pf_want, pf_got, stop_want, stop_got;
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < lengths[b]; ++t)
      pf_want.push_back(want.log_pf(b, t)), pf_got.push_back(got.log_pf(b, t));
    for (int t = 0; t <= lengths[b]; ++t)
      stop_want.push_back(want.log_stop(b, t)), stop_got.push_back(got.log_stop(b, t));
    CHECK(std::isinf(got.log_stop(b, 0)));  // banned before min_len
  }
  require_close(pf_got, pf_want, "LmPolicy::score log_pf");
  require_close_with_inf(stop_got, stop_want, "LmPolicy::score log_stop");

  TrajectoryGrad grad;
  grad.resize_like(batch);
  for (auto& g : grad.log_pf) g = static_cast<float>(data.normal());
  for (auto& g : grad.log_stop) g = static_cast<float>(data.normal());
  cpu.zero_grad();
  gpu.zero_grad();
  on_cpu.backward(grad, 0.5);
  on_gpu.backward(grad, 0.5);
  require_same_grads<Cuda, Cpu>(gpu.lora_parameters(), cpu.lora_parameters());

  // Rollout draws: the same tokens from the same uniforms, log q at temperature 1.
  on_cpu.start_rollout(rows);
  on_gpu.start_rollout(rows);
  const std::vector<double> temps{1.0, 0.7, 1.0, 1.5};
  for (int length = 0; length < 4; ++length) {
    INFO("draw step " << length);
    const std::vector<uint8_t> live{1, 1, uint8_t(length != 1), 1};
    std::vector<double> uniforms(B);
    for (auto& u : uniforms) u = data.uniform();
    const DrawStep step{length, live, temps, uniforms};
    std::vector<int32_t> drawn_cpu(B), drawn_gpu(B);
    std::vector<double> q_cpu(B), q_gpu(B);
    on_cpu.draw(mask, step, drawn_cpu, q_cpu);
    on_gpu.draw(mask, step, drawn_gpu, q_gpu);
    REQUIRE(drawn_gpu == drawn_cpu);
    for (int b = 0; b < B; ++b) {
      if (!live[b]) {
        CHECK(drawn_gpu[b] == -1);
        continue;
      }
      CHECK(mask.allowed(drawn_gpu[b]));
      if (length < min_len) CHECK(drawn_gpu[b] != stop);
      CHECK(q_gpu[b] == Approx(q_cpu[b]).epsilon(1e-4).margin(1e-4));
    }
    on_cpu.advance(drawn_cpu);
    on_gpu.advance(drawn_gpu);
  }
}
