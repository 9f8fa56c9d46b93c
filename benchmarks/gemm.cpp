// Single-precision GEMM at the shapes the models use (issue 8, workload 4): the CPU backend's
// path (cpu::MatmulKernels, Eigen maps over row-major storage) against OpenBLAS's cblas_sgemm
// called from the same process on the same buffers, to know the ceiling. Per linear layer
// (out = X W^T, W [OUT, IN] as nn.Linear) three products: forward Y = X W^T, dX = dY W and
// dW += dY^T X (the two backward products of matmul_backward), with M = B*T rows of the train
// step; plus the forward at M = B rows of one sampling step (decode). Prints one JSON line per
// (config, layer, product) and one summary line per (config, phase) with FLOP-weighted rates.
#include "bench_common.hpp"

#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/rng.hpp>

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace {

struct Layer {
  std::string name;
  int in, out;
};

struct Config {
  std::string name;
  int train_rows, decode_rows;  // B*T of the train step, B of a sampling step
  std::vector<Layer> layers;
};

Config make_config(const std::string& name) {
  const bool toy = name == "toy";
  const int C = toy ? 128 : 768, V = toy ? 64 : 50257;
  return {name,
          toy ? 32 * 64 : 4 * 128,
          toy ? 32 : 8,
          {{"qkv", C, 3 * C},
           {"attn_proj", C, C},
           {"fc", C, 4 * C},
           {"fc_proj", 4 * C, C},
           {"lm_head", C, V}}};
}

// Median seconds of fn over at least `min_reps` calls and about `min_seconds`, after one warm-up.
double time_median(const std::function<void()>& fn, int min_reps, double min_seconds) {
  fn();
  std::vector<double> s;
  double total = 0;
  while (static_cast<int>(s.size()) < min_reps || (total < min_seconds && s.size() < 200)) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.push_back(dt);
    total += dt;
  }
  return gfnlm::bench::median(s);
}

std::vector<float> random(std::size_t n, gfnlm::Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * 0.02);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GFLOP/s of the CPU backend's GEMMs vs OpenBLAS sgemm at the models' shapes"};
  std::vector<std::string> configs = {"toy", "gpt2"};
  int threads = 2, min_reps = 3;
  double min_seconds = 0.3;
  bool table = false;
  app.add_option("--config", configs, "toy and/or gpt2")->check(CLI::IsMember({"toy", "gpt2"}));
  app.add_option("--threads", threads, "threads for both (OpenMP / OpenBLAS)")
      ->check(CLI::PositiveNumber);
  app.add_option("--reps", min_reps, "timed calls per product, at least")
      ->check(CLI::PositiveNumber);
  app.add_option("--seconds", min_seconds, "timed seconds per product, at least (<= 200 calls)");
  app.add_flag("--table", table, "also print a markdown table on stderr");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);

  using K = gfnlm::cpu::MatmulKernels;
  gfnlm::Rng rng(1);
  if (table) {
    std::cerr
        << "| config | layer | product | M x N x K | ours GFLOP/s | OpenBLAS GFLOP/s | ratio |\n"
        << "|---|---|---|---|---|---|---|\n";
  }
  for (const auto& name : configs) {
    const Config cfg = make_config(name);
    struct Sum {
      double flop = 0, ours_s = 0, blas_s = 0;
    };
    Sum train, decode;
    for (const auto& layer : cfg.layers) {
      for (const int M : {cfg.train_rows, cfg.decode_rows}) {
        const bool is_decode = M == cfg.decode_rows;
        const int IN = layer.in, OUT = layer.out;
        auto x = random(std::size_t(M) * IN, rng), w = random(std::size_t(OUT) * IN, rng),
             dy = random(std::size_t(M) * OUT, rng);
        std::vector<float> y(std::size_t(M) * OUT), dx(std::size_t(M) * IN),
            dw(std::size_t(OUT) * IN);
        struct Product {
          const char* op;
          long m, n, k;  // C[m, n] = A[m, k] B[k, n]
          std::function<void()> ours, blas;
        };
        std::vector<Product> products = {
            {"fwd X W^T", M, OUT, IN,
             [&] { K::matmul_forward(y.data(), x.data(), w.data(), nullptr, M, IN, OUT); },
             [&] {
               cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OUT, IN, 1.f, x.data(), IN,
                           w.data(), IN, 0.f, y.data(), OUT);
             }}};
        if (!is_decode) {
          products.push_back({"dX = dY W", M, IN, OUT,
                              [&] {
                                K::matmul_backward(dx.data(), nullptr, nullptr, dy.data(), x.data(),
                                                   w.data(), M, IN, OUT);
                              },
                              [&] {
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, IN, OUT,
                                            1.f, dy.data(), OUT, w.data(), IN, 0.f, dx.data(), IN);
                              }});
          products.push_back({"dW += dY^T X", OUT, IN, M,
                              [&] {
                                K::matmul_backward(nullptr, dw.data(), nullptr, dy.data(), x.data(),
                                                   w.data(), M, IN, OUT);
                              },
                              [&] {
                                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, M,
                                            1.f, dy.data(), OUT, x.data(), IN, 1.f, dw.data(), IN);
                              }});
        }
        // All of ours first, then all of OpenBLAS's: OpenBLAS's idle workers spin for a while
        // after each call, and OpenMP's after each parallel region, which would slow the other.
        std::vector<double> ours(products.size()), blas(products.size());
        for (std::size_t i = 0; i < products.size(); ++i)
          ours[i] = time_median(products[i].ours, min_reps, min_seconds);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        openblas_set_num_threads(threads);  // ours sets OpenBLAS to one thread per OpenMP thread
        for (std::size_t i = 0; i < products.size(); ++i)
          blas[i] = time_median(products[i].blas, min_reps, min_seconds);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        for (std::size_t i = 0; i < products.size(); ++i) {
          const Product& p = products[i];
          const double flop = 2.0 * p.m * p.n * p.k;
          Sum& sum = is_decode ? decode : train;
          sum.flop += flop;
          sum.ours_s += ours[i];
          sum.blas_s += blas[i];
          const nlohmann::json line = {{"impl", "gemm"},
                                       {"workload", "gemm"},
                                       {"config", name},
                                       {"phase", is_decode ? "decode" : "train"},
                                       {"layer", layer.name},
                                       {"op", p.op},
                                       {"m", p.m},
                                       {"n", p.n},
                                       {"k", p.k},
                                       {"threads", threads},
                                       {"ours_ms", ours[i] * 1e3},
                                       {"openblas_ms", blas[i] * 1e3},
                                       {"ours_gflops", flop / ours[i] * 1e-9},
                                       {"openblas_gflops", flop / blas[i] * 1e-9},
                                       {"ratio", blas[i] / ours[i]}};
          std::cout << line.dump() << std::endl;
          if (table)
            std::cerr << fmt::format("| {} | {} | {} | {} x {} x {} | {:.1f} | {:.1f} | {:.2f} |\n",
                                     name, layer.name, p.op, p.m, p.n, p.k, flop / ours[i] * 1e-9,
                                     flop / blas[i] * 1e-9, blas[i] / ours[i]);
        }
      }
    }
    // FLOP-weighted: total FLOPs over total time of the same set of products.
    for (const auto& [phase, s] : {std::pair{"train", train}, std::pair{"decode", decode}}) {
      const nlohmann::json line = {{"impl", "gemm"},
                                   {"workload", "gemm"},
                                   {"summary", true},
                                   {"config", name},
                                   {"phase", phase},
                                   {"threads", threads},
                                   {"gflop", s.flop * 1e-9},
                                   {"ours_gflops", s.flop / s.ours_s * 1e-9},
                                   {"openblas_gflops", s.flop / s.blas_s * 1e-9},
                                   {"ratio", s.blas_s / s.ours_s},
                                   {"peak_rss_mb", gfnlm::bench::peak_rss_mb()}};
      std::cout << line.dump() << std::endl;
      if (table)
        std::cerr << fmt::format("| {} | all ({}) | FLOP-weighted | | {:.1f} | {:.1f} | {:.2f} |\n",
                                 name, phase, s.flop / s.ours_s * 1e-9, s.flop / s.blas_s * 1e-9,
                                 s.blas_s / s.ours_s);
    }
  }
}
