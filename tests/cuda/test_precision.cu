// The reduced-precision GEMM modes of the CUDA backend (backend/cuda/blas.cuh) against float64
// and float32 CPU references, with their documented tolerances, as relative Frobenius errors
// (the measure that does not blow up on entries that cancel to ~0).
// - GEMM alone, K = 768 and 501: fp32 <= 1e-6; tf32 in [3e-5, 1.5e-3]; bf16 in [1e-3, 1.5e-2].
// - GPT-2 forward and backward in tf32 or bf16: logits <= 1e-2, every gradient tensor <= 3e-2,
//   cross-entropy within 1e-3 relative (an H200, bf16: 2.8e-3, 5.9e-3, 3e-6).
// The lower bounds check that each mode really rounds as it says (tf32 keeps 10 mantissa bits,
// bf16 7). An H200 measured 1.6e-7 and 2.4e-4 for fp32 and tf32, and 2.4e-4 for "bf16" too
// before our own kernel rounded the operands: cuBLAS's FAST_16BF mode had run tf32 kernels.
#include "support.cuh"

#include <gfnlm/model/transformer.hpp>

#include <cstdio>

using namespace gfnlm;
using gfnlm::test::Dev;
using gfnlm::test::host_copy;
using gfnlm::test::random_tokens;
using gfnlm::test::random_vector;
using gfnlm::test::small_config;

namespace {

// Restores float32 GEMMs when a test ends, also on a failed REQUIRE: the mode is process-wide.
struct PrecisionScope {
  explicit PrecisionScope(cuda::GemmPrecision p) { cuda::set_gemm_precision(p); }
  ~PrecisionScope() { cuda::set_gemm_precision(cuda::GemmPrecision::fp32); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;
};

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  return relative_error(got, std::vector<double>(want.begin(), want.end()));
}

}  // namespace

TEST_CASE("cuda GEMM precision modes stay within their documented error") {
  CHECK(cuda::gemm_precision() == cuda::GemmPrecision::fp32);  // the default
  CHECK(cuda::parse_gemm_precision("bf16") == cuda::GemmPrecision::bf16);
  CHECK_THROWS_WITH(cuda::parse_gemm_precision("fp16"), Catch::Contains("fp16"));
  struct Shape {
    int N, IN, OUT;
  };
  // Aligned, and odd (unaligned leading dimensions: the bf16 path pads them, C included).
  for (const Shape sh : {Shape{128, 768, 192}, Shape{33, 501, 97}}) {
    const int N = sh.N, IN = sh.IN, OUT = sh.OUT;
    Rng rng(21);
    const auto x = random_vector(rng, std::size_t(N) * IN);
    const auto w = random_vector(rng, std::size_t(OUT) * IN, 0.05);
    const auto b = random_vector(rng, OUT);
    const auto prior = random_vector(rng, std::size_t(N) * OUT);
    std::vector<double> want(std::size_t(N) * OUT);
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < OUT; ++o) {
        double s = b[o];
        for (int i = 0; i < IN; ++i) s += double(x[n * IN + i]) * double(w[o * IN + i]);
        want[std::size_t(n) * OUT + o] = s;
      }
    std::vector<double> want_acc(want);
    for (std::size_t i = 0; i < want.size(); ++i) want_acc[i] += prior[i];
    Dev<float> dx(x), dw(w), db(b);
    struct Mode {
      cuda::GemmPrecision p;
      double lo, hi;
    };
    for (const Mode m :
         {Mode{cuda::GemmPrecision::fp32, 0.0, 1e-6}, Mode{cuda::GemmPrecision::tf32, 3e-5, 1.5e-3},
          Mode{cuda::GemmPrecision::bf16, 1e-3, 1.5e-2}}) {
      PrecisionScope scope(m.p);
      Dev<float> out(std::size_t(N) * OUT), acc(prior);
      Cuda::matmul_forward(out.get(), dx.get(), dw.get(), db.get(), N, IN, OUT);
      Cuda::matmul_forward(acc.get(), dx.get(), dw.get(), db.get(), N, IN, OUT, 1.0f, true);
      const double err = relative_error(out.host(), want);
      const double err_acc = relative_error(acc.host(), want_acc);
      std::printf("GEMM %s %dx%dx%d: relative error %.3g (accumulating %.3g) against float64\n",
                  cuda::to_string(m.p), N, IN, OUT, err, err_acc);
      INFO(cuda::to_string(m.p) << " " << N << "x" << IN << "x" << OUT << " relative error " << err
                                << ", accumulating " << err_acc);
      CHECK(err >= m.lo);
      CHECK(err <= m.hi);
      CHECK(err_acc <= m.hi);
    }
  }
  CHECK(cuda::gemm_precision() == cuda::GemmPrecision::fp32);
}

TEST_CASE("cuda transformer in tf32 and bf16 stays within its documented error of cpu float32") {
  // The agreement tests' model, a little wider and longer, with another odd vocabulary.
  auto cfg = small_config();
  cfg.vocab_size = 97;
  cfg.max_seq_len = 32;
  cfg.d_model = 64;
  for (const auto p : {cuda::GemmPrecision::tf32, cuda::GemmPrecision::bf16}) {
    DYNAMIC_SECTION("precision " << cuda::to_string(p)) {
      PrecisionScope scope(p);
      Rng r1(42), r2(42), data(9);
      Transformer<Cpu> cpu(cfg, r1);
      Transformer<Cuda> gpu(cfg, r2);
      const int B = 4, T = 32;
      const auto tokens = random_tokens(data, B * T, cfg.vocab_size);
      const auto targets = random_tokens(data, B * T, cfg.vocab_size);
      cpu.forward(tokens.data(), B, T);
      gpu.forward(tokens.data(), B, T);
      const std::size_t n_logits = std::size_t(B) * T * cfg.vocab_size;
      const double logit_err = relative_error(host_copy<Cuda>(gpu.logits(), n_logits),
                                              host_copy<Cpu>(cpu.logits(), n_logits));
      const double ce_cpu = cpu.cross_entropy(targets.data());
      const double ce_gpu = gpu.cross_entropy(targets.data());
      cpu.zero_grad();
      gpu.zero_grad();
      cpu.backward_cross_entropy();
      gpu.backward_cross_entropy();
      double worst_grad = 0;
      std::string worst_name;
      const auto gp = gpu.base_parameters();
      const auto cp = cpu.base_parameters();
      REQUIRE(gp.size() == cp.size());
      for (std::size_t k = 0; k < cp.size(); ++k) {
        const double e = relative_error(host_copy<Cuda>(gp[k].grad, gp[k].size),
                                        host_copy<Cpu>(cp[k].grad, cp[k].size));
        if (!(e <= worst_grad)) worst_grad = e, worst_name = cp[k].name;
      }
      std::printf("transformer %s: logits %.3g, cross-entropy %.3g, worst gradient %.3g (%s)\n",
                  cuda::to_string(p), logit_err, std::abs(ce_gpu / ce_cpu - 1), worst_grad,
                  worst_name.c_str());
      INFO("logits " << logit_err << ", worst gradient " << worst_grad << " (" << worst_name
                     << ")");
      CHECK(logit_err <= 1e-2);
      CHECK(ce_gpu == Approx(ce_cpu).epsilon(1e-3));
      CHECK(worst_grad <= 3e-2);
    }
  }
}
