#pragma once
// Subjectivity classification with k labels (paper section 4.3, issue 23) on a language model:
// X a review sentence, Y "objective" / "subjective", Z a rationale of at most 5 tokens between
// them, the text "X Z, so it is {label}.". Methods, every one scored on the same test sentences:
//   zero_shot  the base's own label: argmax_k p(", so it is {label_k}." | X);
//   few_shot   the same after as many of the k labelled sentences (with their labels, in file
//              order) as fit the context before X;
//   sft        LoRA fine-tuned on the k (X, Y) by 2-way cross-entropy, no rationale;
//   e_step     the first GFlowNet E-step q(Z | X, Y) towards p_base(Z | X) p(Y | X, Z) of SFT's
//              classifier, with the paper's wrong-label penalty, and no M-step: the label of
//              the largest sum_Z p_base(Z | X) p(Y | X, Z), estimated by importance sampling
//              from 10 draws of q(Z | X, Y) per label (latent/marginal_predict.hpp);
//   em_1 / em  latent-variable EM (latent/em.hpp) from SFT's classifier: that E-step, then an
//              M-step on 4 rationales per example; em_1 after the first round, em after the
//              last. Prediction votes over 10 rationales Z ~ p_base(Z | X).
// The labels of the training sentences beyond the k given never reach any model.
//
// Two diagnostics say whether rationales can help at all (acceptance 2): right_share, how often
// the classifier's own label from an E-step rationale is the right one, and the oracle gap, the
// vote's accuracy on test sentences when Z is drawn from q(Z | X, Y) with the true label against
// the wrong one (a rationale that carries no label information scores the same either way).
#include <gfnlm/baselines/sample_decode.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/latent/em.hpp>
#include <gfnlm/latent/label_scorer.hpp>
#include <gfnlm/latent/latent_reward.hpp>
#include <gfnlm/latent/marginal_predict.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/tasks/stories/tokens.hpp>
#include <gfnlm/tasks/subjectivity/dataset.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace gfnlm::subjectivity {

struct ExperimentConfig {
  uint64_t seed = 0;  // adapters, exploration, every draw
  int votes = 10;     // rationales per test sentence (em); the paper's 10
  int max_z = 5;      // Z's tokens at most (the paper's 5)
  LoraConfig lora{.rank = 8, .alpha = 8.0};
  // SFT (and the classifier EM starts from).
  int sft_steps = 100;
  int sft_batch = 16;
  double sft_lr = 1e-3;
  // EM: rounds of E-step (Sampler steps) and M-step (classifier steps); SPEC's T_R 1.2 -> 1.0
  // over 150 steps and 50-nat penalty.
  EmConfig em{.rounds = 2,
              .e_steps = 100,
              .e_queries_per_step = 4,
              .m_rationales = 4,
              .m_steps = 50,
              .m_batch = 16,
              .m_temperature = 1.0,
              .max_len = 5};
  int trajectories = 8;  // per example and E-step step
  double gfn_lr = 5e-4;
  double m_lr = 5e-4;
  double reward_t_start = 1.2, reward_t_end = 1.0;
  int reward_t_steps = 150;
  double wrong_label_penalty = 50.0;
  bool run_few_shot = true, run_em = true;
  std::size_t oracle_items = 100;  // test sentences of the oracle-gap diagnostic
  int progress_every = 50;

  void validate() const {
    GFNLM_CHECK(votes >= 1 && max_z >= 1 && sft_steps >= 0 && sft_batch >= 1 && trajectories >= 2,
                "subjectivity: votes {}, max_z {}, sft_batch {} must be >= 1, trajectories {} >= "
                "2 and sft_steps {} >= 0",
                votes, max_z, sft_batch, trajectories, sft_steps);
    GFNLM_CHECK(sft_lr > 0 && gfn_lr > 0 && m_lr > 0, "subjectivity: learning rates must be > 0");
    GFNLM_CHECK(reward_t_start > 0 && reward_t_end > 0 && reward_t_steps >= 0,
                "subjectivity: reward temperatures must be > 0");
    em.validate();
    lora.validate();
  }
};

struct MethodResult {
  std::string method;
  double accuracy = 0;
  double seconds = 0;
};

struct ExperimentResults {
  std::vector<MethodResult> methods;
  int labelled = 0, test = 0;
  int few_shot_examples = 0;  // of the k, how many fit the context
  double majority_share = 0;  // the larger class's share of the test sentences
  std::vector<EmRound> em_rounds;
  // The oracle gap (see the top): accuracy with Z ~ q(Z | X, true Y) and q(Z | X, wrong Y).
  double oracle_true = 0, oracle_wrong = 0;
  int oracle_items = 0;
  std::vector<std::string> rationales;  // a few E-step rationales, as text, for the record
};

template <class Model, Tokenizer Tok>
class Experiment {
 public:
  using ClassifierPolicy = BasicLmPolicy<Model, LmQuery>;
  using EPolicy = BasicLmPolicy<Model, LatentQuery>;
  using Reward = LatentLabelReward<ClassifierPolicy, ClassifierPolicy, LatentQuery>;
  using Say = std::function<void(const std::string&)>;

  Experiment(Model& base, const Tok& tok, ExperimentConfig config, Say say)
      : base_(base), tok_(tok), config_((config.validate(), config)), say_(std::move(say)) {
    const int V = base.config().vocab_size;
    GFNLM_CHECK(tok.vocab_size() <= V && tok.bos_id() >= 0 && tok.eos_id() >= 0,
                "subjectivity: the tokenizer ({} tokens, BOS {}, EOS {}) does not fit the model "
                "({} tokens)",
                tok.vocab_size(), tok.bos_id(), tok.eos_id(), V);
    stop_ = tok.eos_id();
    for (const auto name : kLabelNames)
      labels_.push_back(stories::encode_after_space(tok, fmt::format(", so it is {}.", name)));
    // Z: any token but BOS (STOP is EOS).
    for (int32_t t = 0; t < V; ++t)
      if (t != tok.bos_id()) allowed_.push_back(t);
    z_mask_ = LogitMask(V, stop_, 1, allowed_);
  }

  // The E-step's query of an example (its label shown to q as a word before X) and, for test
  // sentences, the same with the label kept only for the diagnostics.
  LatentQuery query(const Example& e, int64_t id) const {
    LatentQuery q;
    q.x = x_tokens(e.text);
    q.prompt = {tok_.bos_id()};
    for (int32_t t : tok_.encode(fmt::format("{}: {}", kLabelNames[e.label], e.text)))
      q.prompt.push_back(t);
    q.label = e.label;
    q.id = id;
    const std::size_t longest = std::max(labels_[0].size(), labels_[1].size());
    const std::size_t need = std::max(q.x.size(), q.prompt.size()) + config_.max_z + longest;
    GFNLM_CHECK(need <= std::size_t(base_.config().max_seq_len),
                "subjectivity: sentence {} needs {} tokens with its rationale and label; the "
                "model's context is {}",
                id, need, base_.config().max_seq_len);
    return q;
  }

  ExperimentResults run(std::span<const Example> labelled, std::span<const Example> test,
                        const std::function<void(const ExperimentResults&)>& on_method = {}) {
    GFNLM_CHECK(!labelled.empty() && !test.empty(), "subjectivity: {} labelled and {} test",
                labelled.size(), test.size());
    ExperimentResults r;
    r.labelled = static_cast<int>(labelled.size());
    r.test = static_cast<int>(test.size());
    std::vector<LatentQuery> train_q, test_q;
    for (std::size_t i = 0; i < labelled.size(); ++i) train_q.push_back(query(labelled[i], i));
    int subjective = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
      test_q.push_back(query(test[i], kTestIds + int64_t(i)));
      subjective += test[i].label;
    }
    r.majority_share =
        double(std::max<std::size_t>(subjective, test.size() - subjective)) / double(test.size());
    const auto binding = lm_latent_binding();
    const auto done = [&](std::string method, double accuracy, Clock::time_point t0) {
      r.methods.push_back({std::move(method), accuracy, seconds_since(t0)});
      say_(fmt::format("{}: accuracy {:.1f}% ({} test sentences, {:.0f} s)",
                       r.methods.back().method, 100 * accuracy, test.size(),
                       r.methods.back().seconds));
      if (on_method) on_method(r);
    };
    Rng rng(config_.seed * 0x9E3779B97F4A7C15ULL + 23);
    // The fine-tuned copies are made before the base runs anything: a model's copy carries its
    // activation arena, which the few-shot prompts grow to 64 rows x 500 positions.
    Model classifier_model = adapted(1, /*stop_row=*/false);
    Model e_model = adapted(2, /*stop_row=*/true);
    ClassifierPolicy prior(base_, stop_, /*adapters=*/false);

    // The base's own label from X alone (zero-shot), or after the demonstrations that fit.
    const auto base_label = [&](const char* method, const std::vector<LatentQuery>& queries) {
      const auto t0 = Clock::now();
      LabelScorer<ClassifierPolicy> scorer(prior, labels_);
      done(method,
           accuracy(
               vote_predict(prior, scorer, binding, span(queries), 0, config_.max_z, z_mask_, rng),
               test),
           t0);
    };
    base_label("zero_shot", test_q);
    if (config_.run_few_shot)
      base_label("few_shot", few_shot_queries(labelled, test_q, r.few_shot_examples));

    // SFT: the classifier EM starts from.
    auto t0 = Clock::now();
    ClassifierPolicy classifier(classifier_model, stop_);
    LabelScorer<ClassifierPolicy> scorer(classifier, labels_, {.lr = config_.sft_lr});
    {
      std::vector<LmQuery> bq(std::size_t(config_.sft_batch));
      std::vector<int> bl(bq.size());
      Rng order(config_.seed * 31 + 5);
      for (int step = 0; step < config_.sft_steps; ++step) {
        for (std::size_t b = 0; b < bq.size(); ++b) {
          const std::size_t i = order.below(labelled.size());
          bq[b] = LmQuery{train_q[i].x, {}, -1};
          bl[b] = labelled[i].label;
        }
        const double ce = scorer.train_step(std::span<const LmQuery>(bq), bl);
        if (config_.progress_every > 0 && (step % config_.progress_every == 0))
          say_(fmt::format("  SFT step {}: cross-entropy {:.4f}", step, ce));
      }
      done("sft",
           accuracy(
               vote_predict(prior, scorer, binding, span(test_q), 0, config_.max_z, z_mask_, rng),
               test),
           t0);
    }
    if (!config_.run_em || config_.em.rounds == 0) return r;

    // EM from SFT's classifier (a fresh scorer: its optimiser moments belong to SFT).
    LabelScorer<ClassifierPolicy> m_scorer(classifier, labels_, {.lr = config_.m_lr});
    EPolicy e_policy(e_model, stop_);
    Reward reward(prior, m_scorer, binding, {LabelTerm::joint, config_.wrong_label_penalty});
    SamplerConfig sc;
    sc.trajectories_per_query = config_.trajectories;
    sc.max_len = config_.max_z;
    sc.min_len = 1;
    sc.allowed_tokens = allowed_;
    sc.optimizer.lr = config_.gfn_lr;
    sc.reward_temperature = {config_.reward_t_start, config_.reward_t_end, config_.reward_t_steps};
    sc.seed = config_.seed * 7 + 1;
    sc.progress_every = config_.progress_every;
    ModifiedSubTBConfig oc;
    oc.log_reward_floor = -1e5;  // log R is -50 to -150 nats here, -50 more when penalised
    Sampler<EPolicy, Reward, ModifiedSubTB> sampler(e_policy, std::move(reward), sc,
                                                    ModifiedSubTB(oc));
    sampler.set_message_sink([&](const std::string& line) { say_("  E-step " + line); });
    EmConfig ec = config_.em;
    ec.max_len = config_.max_z;
    ExpectationMaximization em(sampler, m_scorer, binding, ec);
    t0 = Clock::now();
    // E-step-only prediction, after the first E-step (the classifier still SFT's).
    const auto e_step_only = [&] {
      Reward marginal(prior, m_scorer, binding, {LabelTerm::posterior, 0.0});
      const std::function<LatentQuery(const LatentQuery&, int)> with_label =
          [&](const LatentQuery& q, int k) {
            Example e = test[std::size_t(q.id - kTestIds)];
            e.label = k;
            return query(e, q.id);
          };
      const auto p = marginal_predict(e_policy, sampler.mask(), marginal, span(test_q), with_label,
                                      2, config_.votes, config_.max_z, rng);
      std::vector<VotePrediction> labels;
      for (const auto& m : p) labels.push_back({m.label, m.posterior[std::size_t(m.label)]});
      done("e_step", accuracy(labels, test), t0);
    };
    for (int round = 0; round < ec.rounds; ++round) {
      r.em_rounds.push_back(
          em.round(span(train_q), rng, round == 0 ? std::function<void()>(e_step_only) : nullptr));
      const auto& er = r.em_rounds.back();
      say_(fmt::format(
          "EM round {}: E-step loss {:.3f}, mean log R {:.1f}; the classifier's own label from "
          "its rationales right {:.0f}% ({} distinct); M-step CE {:.3f} -> {:.3f}",
          round + 1, er.e_loss, er.e_mean_log_r, 100 * er.right_share, er.distinct_rationales,
          er.m_loss_first, er.m_loss_last));
      if (round == 0 || round + 1 == ec.rounds)
        done(round + 1 == ec.rounds ? "em" : "em_1",
             accuracy(vote_predict(prior, m_scorer, binding, span(test_q), config_.votes,
                                   config_.max_z, z_mask_, rng),
                      test),
             t0);
    }
    // The oracle gap, and a few rationales for the record.
    const auto oracle = [&](bool true_label) {
      // At most oracle_items sentences: it is a diagnostic, not a method.
      std::vector<LatentQuery> qs(
          test_q.begin(),
          test_q.begin() + std::min<std::size_t>(test_q.size(), config_.oracle_items));
      for (auto& q : qs) q.label = true_label ? q.label : 1 - q.label;
      std::vector<LmQuery> cq;
      const auto drawn = sample_decode(e_policy, span(qs), config_.votes, sampler.mask(),
                                       SamplingDecoder{1.0, {}, config_.max_z}, rng);
      std::size_t right = 0;
      for (std::size_t i = 0; i < qs.size(); ++i) {
        cq.clear();
        for (const auto& t : drawn[i]) cq.push_back(binding.classifier_query(qs[i], t.actions));
        std::vector<int> votes;
        for (const auto& s : m_scorer.scores(std::span<const LmQuery>(cq)))
          votes.push_back(s[1] > s[0] ? 1 : 0);
        right += majority_vote(votes).value() == test[i].label ? 1 : 0;
        if (true_label && r.rationales.size() < 8)
          r.rationales.push_back(fmt::format("[{}] {} => {}", kLabelNames[test[i].label],
                                             test[i].text, tok_.decode(drawn[i][0].actions)));
      }
      return double(right) / double(qs.size());
    };
    r.oracle_items = static_cast<int>(std::min<std::size_t>(test_q.size(), config_.oracle_items));
    r.oracle_true = oracle(true);
    r.oracle_wrong = oracle(false);
    say_(fmt::format(
        "oracle gap ({} test sentences): vote accuracy {:.1f}% with Z ~ q(Z | X, true Y), {:.1f}% "
        "with the wrong Y",
        r.oracle_items, 100 * r.oracle_true, 100 * r.oracle_wrong));
    if (on_method) on_method(r);
    return r;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int64_t kTestIds = 1000000;  // test sentence i's query id: kTestIds + i
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  template <class T>
  static std::span<const T> span(const std::vector<T>& v) {
    return std::span<const T>(v);
  }

  std::vector<int32_t> x_tokens(const std::string& text) const {
    std::vector<int32_t> x{tok_.bos_id()};
    for (int32_t t : tok_.encode(text)) x.push_back(t);
    return x;
  }
  // The test queries with as many labelled demonstrations before X as fit the context.
  std::vector<LatentQuery> few_shot_queries(std::span<const Example> labelled,
                                            const std::vector<LatentQuery>& test_q,
                                            int& used) const {
    std::size_t longest_x = 0;
    for (const auto& q : test_q) longest_x = std::max(longest_x, q.x.size());
    const std::size_t room = std::size_t(base_.config().max_seq_len) - longest_x -
                             std::max(labels_[0].size(), labels_[1].size());
    std::vector<int32_t> demos{tok_.bos_id()};
    used = 0;
    for (const auto& e : labelled) {
      auto d = tok_.encode(e.text);
      d.insert(d.end(), labels_[e.label].begin(), labels_[e.label].end());
      if (demos.size() + d.size() > room) break;
      demos.insert(demos.end(), d.begin(), d.end());
      ++used;
    }
    std::vector<LatentQuery> out = test_q;
    for (auto& q : out) {
      std::vector<int32_t> x = demos;
      x.insert(x.end(), q.x.begin() + 1, q.x.end());  // X without its BOS
      q.x = std::move(x);
    }
    return out;
  }

  Model adapted(uint64_t salt, bool stop_row) const {
    Model m = base_;
    Rng init(config_.seed * 1000003ULL + salt);
    m.enable_lora(config_.lora, init);
    // stories260K never trained its EOS row: the E-step's STOP must be learnable.
    if (stop_row) {
      const int32_t rows[] = {stop_};
      m.enable_trainable_tokens(rows);
    }
    return m;
  }

  static double accuracy(const std::vector<VotePrediction>& p, std::span<const Example> test) {
    std::size_t right = 0;
    for (std::size_t i = 0; i < p.size(); ++i) right += p[i].label == test[i].label ? 1 : 0;
    return double(right) / double(p.size());
  }

  Model& base_;
  const Tok& tok_;
  ExperimentConfig config_;
  Say say_;
  int32_t stop_ = 0;
  std::vector<std::vector<int32_t>> labels_;
  std::vector<int32_t> allowed_;
  LogitMask z_mask_;
};

}  // namespace gfnlm::subjectivity
