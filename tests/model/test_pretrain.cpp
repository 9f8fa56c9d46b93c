// The pretraining loop learns (issue 2, acceptance 5, short version of examples/pretrain_demo):
// on arithmetic progressions mod 24 (x_t = a + d t, d in {1, 2, 3, 5}; optimum mean CE is
// ln 4 / 16 = 0.087) a 2-layer model gets below 0.3 in 250 steps and greedy decoding continues
// prompts it has not seen.
#include <gfnlm/model/pretrain.hpp>

#include <catch2/catch.hpp>

#include <omp.h>

#include <cstdio>

TEST_CASE("pretraining on a patterned corpus reaches the loss bound", "[model][pretrain]") {
  omp_set_num_threads(1);  // tiny GEMMs: threads only add fork/join cost on a shared CI machine
  constexpr int V = 24, B = 16, T = 16, kSteps = 250;
  constexpr int d_choices[] = {1, 2, 3, 5};
  gfnlm::TransformerConfig c;
  c.vocab_size = V;
  c.max_seq_len = T + 1;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 64;
  gfnlm::Rng rng(1);
  gfnlm::Transformer<> model(c, rng);
  gfnlm::PretrainConfig pc;
  pc.steps = kSteps;
  pc.adamw.lr = 3e-3;
  pc.log_every = 0;
  gfnlm::Rng data = rng.split();
  const auto result = gfnlm::pretrain(
      model,
      [&](int, gfnlm::SequenceBatch& batch) {
        batch.batch = B;
        batch.seq_len = T;
        batch.tokens.resize(B * (T + 1));
        for (int b = 0; b < B; ++b) {
          const int a = static_cast<int>(data.below(V)), d = d_choices[data.below(4)];
          for (int t = 0; t <= T; ++t) batch.tokens[b * (T + 1) + t] = (a + d * t) % V;
        }
      },
      pc);
  const double first = result.recent_loss(kSteps), last = result.recent_loss(20);
  int correct = 0, total = 0;
  for (int d : d_choices)
    for (int a : {0, 7, 19}) {
      const auto out = gfnlm::greedy_continue(model, {a, (a + d) % V}, T - 1);
      for (int t = 0; t < T - 1; ++t, ++total) correct += out[t] == (a + d * (t + 2)) % V;
    }
  std::printf(
      "pretrain test: mean loss %.3f over the run, %.3f over the last 20 steps (bound "
      "0.3), greedy accuracy %.3f\n",
      first, last, double(correct) / total);
  CHECK(result.losses.front() > 2.5);  // starts near ln 24 = 3.18
  CHECK(last < 0.3);
  CHECK(double(correct) / total >= 0.8);
}
