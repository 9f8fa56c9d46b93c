// The arithmetic task with a transformer: tool tokens are context, never actions or log-probs
// (SPEC section 5); the likelihood reward scores them; the base model caches by config hash.
#include <gfnlm/baselines/ppo.hpp>
#include <gfnlm/baselines/sft.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/tasks/arithmetic.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

using namespace gfnlm;
using namespace gfnlm::arithmetic;

namespace {

TransformerConfig tiny(int vocab) {
  return {.vocab_size = vocab, .max_seq_len = 160, .n_layer = 1, .n_head = 2, .d_model = 16};
}

double log_softmax_at(const float* row, int V, int token) {
  double hi = row[0];
  for (int v = 1; v < V; ++v) hi = std::max(hi, double(row[v]));
  double s = 0;
  for (int v = 0; v < V; ++v) s += std::exp(row[v] - hi);
  return row[token] - hi - std::log(s);
}

const Problem kProblem{{6, 0, 4, 8}, {'-', '-', '-'}};

using Policy0 = LmPolicy<Cpu, ArithmeticQuery>;

ToolFunction<ArithmeticQuery> calculator(const ArithmeticTokenizer& tok) {
  return Calculator<ArithmeticTokenizer>(tok).function<ArithmeticQuery>();
}

// A rationale's actions as a batch of one row, its tool context replayed.
TrajectoryBatch rationale_batch(const ArithmeticQuery& q, const std::vector<int32_t>& z,
                                const ToolFunction<ArithmeticQuery>& tool) {
  TrajectoryBatch batch;
  batch.resize(1, static_cast<int>(z.size()));
  for (std::size_t t = 0; t < z.size(); ++t) batch.actions(0, t) = z[t];
  batch.length[0] = static_cast<int>(z.size());
  batch.context[0] = replay_tool(tool, q, z);
  return batch;
}

}  // namespace

TEST_CASE("Sampler with the calculator: tool tokens are context, log q covers actions only") {
  const ArithmeticTokenizer tok = make_tokenizer();
  Rng rng(2);
  BaseModel model(tiny(tok.vocab_size()), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  const int32_t stop = tok.token_id(".");
  LmPolicy<Cpu, ArithmeticQuery> policy(model, stop);
  const Item item{kProblem, -6};
  const auto query = make_query(item, tok, 0);
  const Calculator<ArithmeticTokenizer> calc(tok);
  auto reward = rationale_likelihood_reward(model, {}, {stop});

  SamplerConfig cfg;
  cfg.trajectories_per_query = 2;
  cfg.max_len = 40;
  cfg.exploration = {.p_on_policy = 0, .p_tempered = 0, .p_replay = 1};
  Sampler<Policy0, RationaleLikelihoodReward<>, TrajectoryBalance> sampler(
      policy, reward, cfg, TrajectoryBalance({.num_queries = 1}));
  sampler.set_tool(calc.function<ArithmeticQuery>());
  const auto z = rationale_actions(kProblem, tok);
  REQUIRE(sampler.seed_buffer(query, {z}) == 1);
  sampler.train_step(std::span(&query, 1));

  const auto& batch = sampler.last_batch();
  REQUIRE(batch.rows() == 2);
  for (int b = 0; b < 2; ++b) {
    // The actions are exactly the seeded rationale: no calculator output among them.
    REQUIRE(batch.length[b] == static_cast<int>(z.size()));
    for (std::size_t t = 0; t < z.size(); ++t) CHECK(batch.actions(b, t) == z[t]);
    REQUIRE(batch.context[b].size() == 3);
    CHECK(tok.decode(batch.context[b][1].tokens) == " 2");
    // log q(a_t | s_t) at each action equals the teacher-forced log-softmax at the position of
    // s_t, with the tool output inside the state but never scored itself.
    LmSequence row;
    Policy0::build_row(query, batch, b, row);
    const auto& seq = row.tokens;
    const auto& state_pos = row.state_end;
    CHECK(tok.decode(seq) == question_text(kProblem) + rationale_full_text(kProblem));
    model.set_adapters_enabled(true);
    model.forward(seq.data(), 1, static_cast<int>(seq.size()));
    const int V = tok.vocab_size();
    for (std::size_t t = 0; t < z.size(); ++t)
      CHECK(batch.log_pf(b, t) ==
            Approx(log_softmax_at(model.logits() + state_pos[t] * V, V, z[t])).margin(1e-4));
    // Every action position was scored once; positions of tool tokens are not states.
    int tool_tokens = 0;
    for (const auto& c : batch.context[b]) tool_tokens += static_cast<int>(c.tokens.size());
    CHECK(seq.size() == query.prompt.size() + z.size() + tool_tokens);
  }
}

TEST_CASE("rollouts with the calculator as tool: its output is context, replayed for scoring") {
  const ArithmeticTokenizer tok = make_tokenizer();
  Rng rng(4);
  BaseModel model(tiny(tok.vocab_size()), rng);
  const int32_t stop = tok.token_id(".");
  Policy0 policy(model, stop);
  const auto tool = calculator(tok);
  const auto query = make_query(Item{kProblem, -6}, tok, 0);
  const auto z = rationale_actions(kProblem, tok);
  // Overfit the whole (tiny) model to one rationale with SFT, the calculator replayed over it,
  // so that rollouts at a low temperature write it and the calculator fires during them.
  SftTrainer<Policy0> sft(policy, SftConfig{.lr = 1e-2}, nullptr, tool);
  const std::vector<ArithmeticQuery> qs(4, query);
  const std::vector<std::vector<int32_t>> answers(4, z);
  double nll = 0;
  for (int step = 0; step < 200; ++step) {
    nll = sft.train_step(std::span<const ArithmeticQuery>(qs),
                         std::span<const std::vector<int32_t>>(answers));
    if (nll < 0.02) break;
  }
  INFO("SFT nll/token " << nll);
  REQUIRE(nll < 0.1);

  const std::vector<ArithmeticQuery> rows(6, query);
  Rng draw(9);
  auto batch = sample_rollouts(policy, std::span<const ArithmeticQuery>(rows),
                               RolloutConfig{.max_len = 24, .temperature = 0.3}, draw, tool);
  const TrajectoryBatch drawn = batch;
  int with_results = 0;
  for (int b = 0; b < batch.rows(); ++b) {
    const auto actions = row_actions(batch, b);
    // The engine ran the tool after every action: the rollout's context is the replay's.
    const auto replayed = replay_tool(tool, query, actions);
    REQUIRE(batch.context[b].size() == replayed.size());
    for (std::size_t i = 0; i < replayed.size(); ++i) {
      CHECK(batch.context[b][i].after_action == replayed[i].after_action);
      CHECK(batch.context[b][i].tokens == replayed[i].tokens);
    }
    if (batch.stopped[b] && std::equal(actions.begin(), actions.end(), z.begin(), z.end())) {
      ++with_results;
      REQUIRE(batch.context[b].size() == 3);
      CHECK(batch.context[b][0].after_action == 4);  // " 6 - 0 =" is 4 words
      CHECK(tok.decode(batch.context[b][1].tokens) == " 2");
    }
  }
  CHECK(with_results > 0);
  // Teacher forcing with the rollout's context gives back the rollout's log q.
  const LogitMask mask(tok.vocab_size(), stop, 0);
  policy.score(std::span<const ArithmeticQuery>(rows), mask, batch);
  for (int b = 0; b < batch.rows(); ++b)
    for (int t = 0; t < batch.length[b]; ++t)
      CHECK(batch.log_pf(b, t) == Approx(drawn.log_pf(b, t)).margin(1e-4));
  // Without the context the states after the first result differ.
  auto plain = drawn;
  for (auto& c : plain.context) c.clear();
  policy.score(std::span<const ArithmeticQuery>(rows), mask, plain);
  double diff = 0;
  for (int b = 0; b < batch.rows(); ++b)
    for (int t = 0; t < batch.length[b]; ++t)
      diff += std::abs(plain.log_pf(b, t) - batch.log_pf(b, t));
  CHECK(diff > 1e-3);
}

TEST_CASE("frozen_base_reference scores like Policy::score with the adapters off") {
  const ArithmeticTokenizer tok = make_tokenizer();
  Rng rng(3);
  BaseModel model(tiny(tok.vocab_size()), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.2f * float(rng.normal());
  const int32_t stop = tok.token_id(".");
  const auto tool = calculator(tok);
  const auto query = make_query(Item{kProblem, -6}, tok, 0);
  const auto z = rationale_actions(kProblem, tok);
  const std::vector<ArithmeticQuery> rows{query};
  const LogitMask mask(tok.vocab_size(), stop, 2);  // STOP banned at s_0, s_1
  auto ref = frozen_base_reference<ArithmeticQuery>(model, stop);
  TrajectoryBatch scored = rationale_batch(query, z, tool);
  ref(std::span<const ArithmeticQuery>(rows), mask, scored);
  CHECK(model.adapters_enabled());  // the tuned policy's switch is left as it was
  // By hand: the base (adapters off) over the row, tool output in place, read at every state.
  LmSequence row;
  Policy0::build_row(query, scored, 0, row);
  model.set_adapters_enabled(false);
  model.forward(row.tokens.data(), 1, static_cast<int>(row.tokens.size()));
  const int V = tok.vocab_size();
  for (std::size_t t = 0; t <= z.size(); ++t) {
    // The masked log-softmax: STOP is -inf at the states where it is banned.
    std::vector<float> logits(model.logits() + row.state_end[t] * V,
                              model.logits() + (row.state_end[t] + 1) * V);
    mask.apply(logits, static_cast<int>(t), t > 0 ? z[t - 1] : -1);
    if (t < z.size())
      CHECK(scored.log_pf(0, t) == Approx(log_softmax_at(logits.data(), V, z[t])).margin(1e-4));
    if (t < 2)
      CHECK(scored.log_stop(0, t) == -INFINITY);
    else
      CHECK(scored.log_stop(0, t) == Approx(log_softmax_at(logits.data(), V, stop)).margin(1e-4));
  }
  model.set_adapters_enabled(true);
  // The tuned policy over the same model scores with its adapters: other numbers.
  Policy0 policy(model, stop);
  TrajectoryBatch tuned = rationale_batch(query, z, tool);
  policy.score(std::span<const ArithmeticQuery>(rows), mask, tuned);
  double diff = 0;
  for (std::size_t t = 0; t < z.size(); ++t)
    diff += std::abs(tuned.log_pf(0, t) - scored.log_pf(0, t));
  CHECK(diff > 1e-3);
  CHECK(ref.policy().parameters().empty());  // frozen
}

TEST_CASE("PPO with the calculator as tool and the frozen base as reference") {
  const ArithmeticTokenizer tok = make_tokenizer();
  Rng rng(12);
  BaseModel model(tiny(tok.vocab_size()), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  const int32_t stop = tok.token_id(".");
  const auto tool = calculator(tok);
  Policy0 policy(model, stop);
  const auto query = make_query(Item{kProblem, -6}, tok, 0);
  auto reward = [&tok](const ArithmeticQuery& q, std::span<const int32_t> actions, bool stopped) {
    return stopped ? task_reward(tok.decode(actions), q.answer) : 0.0;
  };
  PpoConfig cfg;
  cfg.max_len = 8;
  cfg.minibatch_size = 2;
  cfg.epochs = 1;
  PpoTrainer ppo(policy, frozen_base_reference<ArithmeticQuery>(model, stop), reward, cfg, 5,
                 nullptr, tool);
  const std::vector<ArithmeticQuery> rows(4, query);
  // LoRA's B starts at zero: the tuned policy is the base, so the first KL is zero.
  const auto s = ppo.train_step(std::span<const ArithmeticQuery>(rows));
  CHECK(s.mean_kl == Approx(0).margin(1e-5));
  const auto& batch = ppo.last_batch();
  for (int b = 0; b < batch.rows(); ++b) {
    const auto replayed = replay_tool(tool, query, row_actions(batch, b));
    CHECK(batch.context[b].size() == replayed.size());
  }
  CHECK(model.adapters_enabled());
}

TEST_CASE("RationaleLikelihoodReward scores D X Z tool-output . Y with the base model") {
  const ArithmeticTokenizer tok = make_tokenizer();
  Rng rng(6);
  BaseModel model(tiny(tok.vocab_size()), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.2f * float(rng.normal());
  const int32_t stop = tok.token_id(".");
  const auto demo = tok.encode("Question: 1 + 1 = ? Answer: 1 + 1 = 2. The answer is 2.\n");
  auto reward = rationale_likelihood_reward(model, demo, {stop});
  const auto query = make_query(Item{kProblem, -6}, tok, 0);
  const auto z = rationale_actions(kProblem, tok);
  const Calculator<ArithmeticTokenizer> calc(tok);
  const auto ctx = replay_tool(calc.function<ArithmeticQuery>(), query, z);
  const double r = reward(query, z, ctx);
  // By hand: the base model (adapters off) on the full text, summed after D X.
  model.set_adapters_enabled(false);
  const std::string full =
      question_text(kProblem) + rationale_full_text(kProblem) + answer_text(-6);
  std::vector<int32_t> seq = demo;
  const auto rest = tok.encode(full);
  seq.insert(seq.end(), rest.begin(), rest.end());
  model.forward(seq.data(), 1, static_cast<int>(seq.size()));
  const int V = tok.vocab_size();
  double expected = 0;
  for (std::size_t p = demo.size() + query.prompt.size() - 1; p + 1 < seq.size(); ++p)
    expected += log_softmax_at(model.logits() + p * V, V, seq[p + 1]);
  CHECK(r == Approx(expected).epsilon(1e-5));
  CHECK(model.adapters_enabled() == false);  // restored to what it was
  // The tool output is scored: without it the value changes.
  CHECK(reward(query, z, {}) != Approx(r));
  // Shorter prefixes are not scored (trajectory balance reads the end state only).
  std::vector<double> out(z.size() + 1);
  const RewardRequest<ArithmeticQuery> req{&query, z, ctx, out};
  reward.prefix_log_rewards_batch(std::span(&req, 1));
  CHECK(std::isinf(out[0]));
  CHECK(out.back() == Approx(r));
}

TEST_CASE("base model: pretraining lowers the loss and the cache returns the same weights") {
  const ArithmeticTokenizer tok = make_tokenizer();
  BaseModelConfig cfg;
  cfg.model = tiny(tok.vocab_size());
  cfg.model.max_seq_len = 64;
  cfg.seq_len = 64;
  cfg.batch = 4;
  cfg.steps = 40;
  cfg.corpus_chars = 20000;
  cfg.lr = 1e-2;
  cfg.warmup = 5;
  std::vector<double> losses;
  const auto dir =
      std::filesystem::temp_directory_path() / ("gfnlm_arith_cache_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  bool loaded = true;
  auto a = load_or_pretrain_base_model(
      cfg, tok, dir, [&](int, double l) { losses.push_back(l); }, &loaded);
  CHECK_FALSE(loaded);
  REQUIRE(losses.size() == 40);
  CHECK(losses.back() < losses.front() - 0.5);
  CHECK(std::filesystem::exists(dir / cfg.cache_name()));
  auto b = load_or_pretrain_base_model(cfg, tok, dir, {}, &loaded);
  CHECK(loaded);
  const auto p = a.parameters(), q = b.parameters();
  REQUIRE(p.size() == q.size());
  for (std::size_t k = 0; k < p.size(); ++k)
    for (std::size_t i = 0; i < p[k].size; ++i) REQUIRE(p[k].value[i] == q[k].value[i]);
  // Another config has another cache file.
  BaseModelConfig other = cfg;
  other.corpus.p_stop = 0.5;
  CHECK(other.cache_name() != cfg.cache_name());
  std::filesystem::remove_all(dir);
}

TEST_CASE("evaluate: votes over rationales whose stored actions replay to the stored text") {
  const ArithmeticTokenizer tok = make_tokenizer();
  Rng rng(6);
  BaseModel model(tiny(tok.vocab_size()), rng);
  Policy0 policy(model, tok.token_id("."));
  const std::vector<ArithmeticQuery> queries{make_query(Item{kProblem, -6}, tok, 0),
                                             make_query(Item{{{1, 2, 3}, {'+', '+'}}, 6}, tok, 1)};
  EvalConfig cfg;
  cfg.samples = 5;
  cfg.temperature = 1.0;  // an untrained model: varied rationales
  cfg.max_len = 12;
  cfg.problems_per_batch = 1;  // two rollout batches
  Rng eval_rng(7);
  const EvalResult res =
      evaluate(policy, std::span<const ArithmeticQuery>(queries), tok, cfg, eval_rng);
  REQUIRE(res.problems.size() == 2);
  int right = 0, right_samples = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& p = res.problems[i];
    CHECK(p.answer == queries[i].answer);
    REQUIRE(p.rationales.size() == 5);
    REQUIRE(p.actions.size() == 5);
    std::vector<std::optional<long>> answers;
    for (int k = 0; k < 5; ++k) {
      CHECK(static_cast<int>(p.actions[k].size()) <= cfg.max_len);
      CHECK(with_calculator(tok.decode(p.actions[k])) == p.rationales[k]);
      answers.push_back(extract_answer(p.rationales[k]));
      right_samples += answers.back() && *answers.back() == p.answer;
    }
    CHECK(p.vote == vote(answers));
    right += p.vote && *p.vote == p.answer;
  }
  CHECK(res.accuracy == Approx(right / 2.0));
  CHECK(res.sample_accuracy == Approx(right_samples / 10.0));
}
