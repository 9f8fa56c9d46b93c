// The whole Transformer<Cuda> against Transformer<Cpu> (issue 7): forward logits, cross-entropy,
// every base and LoRA gradient, KV-cache decoding, a few AdamW training steps, and the modified
// SubTB objective end to end (logits -> gathered log-probs -> loss -> gradients), float32 to
// 1e-4 relative. Both models start from the same seed: initialisation runs on the host.
#include "support.cuh"

#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/cuda/adamw.cuh>
#include <gfnlm/model/transformer.hpp>

#include <span>

using namespace gfnlm;
using gfnlm::test::host_copy;
using gfnlm::test::random_tokens;
using gfnlm::test::random_vector;
using gfnlm::test::require_close;
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
