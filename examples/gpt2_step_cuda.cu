// Times full GPT-2 training steps (forward, cross-entropy backward, AdamW) on the CUDA backend
// and prints tokens/s and model FLOPs utilisation as JSON (issue 7, acceptance 3: MFU =
// (6N + 6 L C T) tokens/s / peak, N all parameters; with --lora-rank the frozen base still
// counts in N, so that figure is an upper bound). Random weights and tokens: speed, not learning.
// --precision picks the GEMMs' arithmetic (backend/cuda/blas.cuh); the MFU's peak follows it
// (H100 / H200 SXM dense: float32 67, tf32 494.5, bf16 989 TFLOP/s) unless --peak-tflops is given.
//   gpt2_step_cuda --batch 8 --seq 1024 --steps 10 --precision bf16
#include <gfnlm/backend/cuda/backend.cuh>
#include <gfnlm/model/cuda/adamw.cuh>
#include <gfnlm/model/transformer.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  CLI::App app{"GPT-2 training-step throughput on the CUDA backend"};
  gfnlm::TransformerConfig cfg;
  cfg.vocab_size = 50257;
  cfg.max_seq_len = 1024;
  cfg.n_layer = 12;
  cfg.n_head = 12;
  cfg.d_model = 768;
  int batch = 8, seq = 1024, steps = 10, lora_rank = 0;
  double peak_tflops = 0;
  std::string precision = "fp32";
  app.add_option("--vocab", cfg.vocab_size, "vocabulary size");
  app.add_option("--layers", cfg.n_layer, "transformer blocks");
  app.add_option("--heads", cfg.n_head, "attention heads");
  app.add_option("--dim", cfg.d_model, "model width");
  app.add_option("--batch", batch, "sequences per step");
  app.add_option("--seq", seq, "tokens per sequence (also max_seq_len)");
  app.add_option("--steps", steps, "timed steps (after one warm-up step)");
  app.add_option("--lora-rank", lora_rank, "train LoRA adapters of this rank (0: full model)");
  app.add_option("--precision", precision, "GEMM arithmetic: fp32, tf32 or bf16")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app.add_option("--peak-tflops", peak_tflops,
                 "the device's peak for the MFU figure (default: H100/H200 SXM, per precision)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!gfnlm::cuda::device_available()) {
      std::fprintf(stderr, "no CUDA device\n");
      return 2;
    }
    const auto mode = gfnlm::cuda::parse_gemm_precision(precision);
    gfnlm::cuda::set_gemm_precision(mode);
    if (peak_tflops <= 0)
      peak_tflops = mode == gfnlm::cuda::GemmPrecision::bf16   ? 989.0
                    : mode == gfnlm::cuda::GemmPrecision::tf32 ? 494.5
                                                               : 67.0;
    cfg.max_seq_len = seq;
    gfnlm::Rng rng(1);
    gfnlm::Transformer<gfnlm::Cuda> model(cfg, rng);
    if (lora_rank > 0) model.enable_lora(gfnlm::LoraConfig{.rank = lora_rank}, rng);
    gfnlm::cuda::AdamW<float> opt(model.parameters(), gfnlm::AdamWConfig{.lr = 1e-4});
    std::vector<int32_t> tokens(static_cast<std::size_t>(batch) * seq);
    for (auto& t : tokens) t = static_cast<int32_t>(rng.below(cfg.vocab_size));
    double loss = 0;
    // Device time of each phase (events, summed over the timed steps): forward + cross-entropy,
    // backward, clipping + AdamW.
    cudaEvent_t marks[4];
    for (auto& e : marks) GFNLM_CUDA_CHECK(cudaEventCreate(&e));
    double phase_ms[3] = {0, 0, 0};
    bool timing = false;
    auto step = [&] {
      GFNLM_CUDA_CHECK(cudaEventRecord(marks[0]));
      model.forward(tokens.data(), batch, seq);
      loss = model.cross_entropy(tokens.data());
      GFNLM_CUDA_CHECK(cudaEventRecord(marks[1]));
      model.zero_grad();
      model.backward_cross_entropy();
      GFNLM_CUDA_CHECK(cudaEventRecord(marks[2]));
      gfnlm::cuda::clip_grad_norm(model.parameters(), 1.0);
      opt.step();
      GFNLM_CUDA_CHECK(cudaEventRecord(marks[3]));
      GFNLM_CUDA_CHECK(cudaEventSynchronize(marks[3]));
      for (int k = 0; k < 3 && timing; ++k) {
        float ms = 0;
        GFNLM_CUDA_CHECK(cudaEventElapsedTime(&ms, marks[k], marks[k + 1]));
        phase_ms[k] += ms;
      }
    };
    step();  // warm-up: allocations, cuBLAS handle
    gfnlm::Cuda::synchronize();
    timing = true;
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) {
      step();
      std::fprintf(stderr, "step %d loss %.4f\n", s, loss);
    }
    gfnlm::Cuda::synchronize();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double tokens_per_s = static_cast<double>(batch) * seq * steps / secs;
    const double n = static_cast<double>(model.num_parameters());
    const double flops_per_token = 6 * n + 6.0 * cfg.n_layer * cfg.d_model * seq;
    nlohmann::json out{{"device", "cuda"},
                       {"batch", batch},
                       {"seq", seq},
                       {"parameters", n},
                       {"lora_rank", lora_rank},
                       {"precision", precision},
                       {"peak_tflops", peak_tflops},
                       {"seconds_per_step", secs / steps},
                       {"forward_ms", phase_ms[0] / steps},
                       {"backward_ms", phase_ms[1] / steps},
                       {"optimizer_ms", phase_ms[2] / steps},
                       {"tokens_per_s", tokens_per_s},
                       {"mfu", flops_per_token * tokens_per_s / (peak_tflops * 1e12)},
                       {"loss", loss}};
    std::cout << out.dump(2) << "\n";
  } catch (const gfnlm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
