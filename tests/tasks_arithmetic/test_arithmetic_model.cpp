// The arithmetic task with a transformer: tool tokens are context, never actions or log-probs
// (SPEC section 5); the likelihood reward scores them; the base model caches by config hash.
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/tasks/arithmetic.hpp>

#include <catch2/catch.hpp>

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

// A tiny untrained model behind LmPolicy, wrapped with the calculator.
struct TinyToolPolicy {
  explicit TinyToolPolicy(uint64_t seed)
      : rng(seed),
        model(tiny(tok.vocab_size()), rng),
        inner(model, tok.token_id(".")),
        policy(inner, Calculator<ArithmeticTokenizer>(tok).function<ArithmeticQuery>()) {}
  ArithmeticTokenizer tok = make_tokenizer();
  Rng rng;
  BaseModel model;
  LmPolicy<Cpu, ArithmeticQuery> inner;
  ToolPolicy<LmPolicy<Cpu, ArithmeticQuery>> policy;
};

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
  RationaleLikelihoodReward<ArithmeticQuery> reward(model, {}, {stop});

  SamplerConfig cfg;
  cfg.trajectories_per_query = 2;
  cfg.max_len = 40;
  cfg.exploration = {.p_on_policy = 0, .p_tempered = 0, .p_replay = 1};
  Sampler<LmPolicy<Cpu, ArithmeticQuery>, RationaleLikelihoodReward<ArithmeticQuery>,
          TrajectoryBalance>
      sampler(policy, reward, cfg, TrajectoryBalance({.num_queries = 1}));
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
    std::vector<int32_t> seq;
    std::vector<int> state_pos(z.size() + 1);
    LmPolicy<Cpu, ArithmeticQuery>::build_row(query, batch, b, seq, state_pos.data());
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

TEST_CASE("ToolPolicy inserts calculator output during rollouts and replays it for scoring") {
  TinyToolPolicy tiny_policy(4);
  const auto& tok = tiny_policy.tok;
  auto& inner = tiny_policy.inner;
  auto& policy = tiny_policy.policy;
  const auto query = make_query(Item{kProblem, -6}, tok, 0);
  const std::vector<ArithmeticQuery> rows{query};
  policy.start_rollout(rows);
  const auto z = tok.encode(" 6 - 0 =, 6 - 4 =");
  std::vector<float> logits(tok.vocab_size());
  std::vector<float> last;
  for (int32_t a : z) {
    policy.next_logits(logits);
    policy.advance(std::span(&a, 1));
  }
  policy.next_logits(logits);
  last = logits;
  const auto& ctx = policy.rollout_context(0);
  REQUIRE(ctx.size() == 2);
  CHECK(ctx[0].after_action == 4);  // " 6 - 0 =" is 4 words
  CHECK(tok.decode(ctx[1].tokens) == " 2");
  // Teacher forcing through the wrapper (no context in the batch) sees the same final state.
  TrajectoryBatch batch;
  batch.resize(1, static_cast<int>(z.size()));
  for (std::size_t t = 0; t < z.size(); ++t) batch.actions(0, t) = z[t];
  batch.length[0] = static_cast<int>(z.size());
  Tensor<float, 3> scored;
  policy.score(rows, batch, scored);
  for (int v = 0; v < tok.vocab_size(); ++v)
    CHECK(scored(0, z.size(), v) == Approx(last[v]).margin(1e-4));
  // Without the replayed context the last state differs (the " 2" is part of it).
  Tensor<float, 3> plain;
  inner.score(rows, batch, plain);
  double diff = 0;
  for (int v = 0; v < tok.vocab_size(); ++v) diff += std::abs(plain(0, z.size(), v) - last[v]);
  CHECK(diff > 1e-4);
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
  RationaleLikelihoodReward<ArithmeticQuery> reward(model, demo, {stop});
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
  TinyToolPolicy tiny_policy(6);
  const auto& tok = tiny_policy.tok;
  auto& policy = tiny_policy.policy;
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
