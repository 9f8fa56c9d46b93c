// One GFlowNet train step on the GPU (Cuda backend, issue 7): the program of gfn_step.cpp
// (benchmarks/gfn_step_run.hpp) with the model, its LoRA adapters and AdamW in device memory.
// --precision picks the GEMMs' arithmetic (backend/cuda/blas.cuh). The JSON line adds "device",
// "gpu", "precision", "device_used_mb" (cudaMemGetInfo's used memory at the end, the whole
// device) and the host-device traffic of the timed steps ("host_device_bytes_per_step", its
// largest single copy, and the per-call-site table on stderr); "gemm" names cuBLAS. Peer:
// gfn_step.py --device cuda on the same GPU.
//   gfn_step_cuda --config gpt2 --queries 32 --trajectories 16 --max-len 32 --lora-rank 64
#include <gfnlm/backend/cuda/backend.cuh>
#include <gfnlm/backend/cuda/transfers.cuh>
#include <gfnlm/model/cuda/optimizer.cuh>

#include "gfn_step_run.hpp"

#include <cuda_runtime.h>

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
  std::string precision = "fp32";
  gfnlm::bench::gfn_step::Extras extras;
  extras.add_options = [&](CLI::App& app) {
    app.add_option("--precision", precision, "GEMM arithmetic: fp32, tf32 or bf16 (fp32)")
        ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  };
  extras.prepare = [&] {
    if (!gfnlm::cuda::device_available()) {
      std::fprintf(stderr, "no CUDA device\n");
      return 2;
    }
    gfnlm::cuda::set_gemm_precision(gfnlm::cuda::parse_gemm_precision(precision));
    return 0;
  };
  extras.before_timed = [] { gfnlm::cuda::transfer_counter().reset(); };
  extras.report = [&](nlohmann::json& out) {
    const auto& counter = gfnlm::cuda::transfer_counter();
    const int timed = out.value("times_ms", nlohmann::json::array()).size();
    out["host_device_bytes_per_step"] = timed > 0 ? double(counter.bytes()) / timed : 0.0;
    out["host_device_largest_copy_bytes"] = counter.largest();
    std::fputs(counter.report().c_str(), stderr);
    cudaDeviceProp prop{};
    int device = 0;
    GFNLM_CUDA_CHECK(cudaGetDevice(&device));
    GFNLM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    std::size_t free = 0, total = 0;
    GFNLM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    out["device"] = "cuda";
    out["gpu"] = prop.name;
    out["precision"] = precision;
    out["gemm"] = "cublas";
    out["device_used_mb"] = static_cast<double>(total - free) / (1024.0 * 1024.0);
  };
  try {
    return gfnlm::bench::gfn_step::run<gfnlm::Cuda>(argc, argv, extras);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gfn_step_cuda: %s\n", e.what());
    return 1;
  }
}
