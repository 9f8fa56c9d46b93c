#pragma once
// The corpus the embedded base model is pretrained on (issue 6; docs/arithmetic.md). The model
// must play GPT-J's role in the paper: know the pieces, not the whole. Documents are 1-4 worked
// lines ("Question: ... Answer: 6 - 0 = 6, 6 - 4 = 2. The answer is 2.") separated by "\n",
// documents separated by "\n\n". Every line has the calculator's results in place and ends with
// "The answer is <last result>", so the model learns the formats, single steps and that the answer
// copies the last result. Each document has one style:
//   careful (p_careful): every step is the next left-to-right step, the answer is right;
//   sloppy  (the rest): after the first step it stops early with p_stop, and a further step
//           uses the right next operand only with p_right_operand (else another operand of the
//           question); the stated answer is the last result, so usually wrong.
// Problems have 2-5 operands (GPT-J has seen arithmetic of every length; 5 operands stay out of
// distribution for the fine-tuning data, as in the paper); a 2-operand line is always right.
// Without demonstrations the most likely continuation after the first step is to stop, so greedy
// zero-shot rationales are mostly wrong; three careful demonstrations in the context make the
// careful style likely: the reward's context D (SPEC section 3).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/tasks/arithmetic/problem.hpp>

#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

namespace gfnlm::arithmetic {

struct CorpusConfig {
  double p_careful = 0.2;        // share of careful documents
  double p_stop = 0.7;           // sloppy: stop after each step past the first
  double p_right_operand = 0.5;  // sloppy: a further step uses the right next operand
  double p_two_operands = 0.25;  // share of 2-operand lines (one step, always right)
  int max_operands = 5;          // lines have 2 .. max_operands operands
  int max_lines = 4;             // lines per document: 1 .. max_lines

  void validate() const {
    for (double p : {p_careful, p_stop, p_right_operand, p_two_operands})
      GFNLM_CHECK(p >= 0 && p <= 1, "CorpusConfig: probability {} outside [0, 1]", p);
    GFNLM_CHECK(max_operands >= 3 && max_lines >= 1,
                "CorpusConfig: max_operands {} (>= 3) / max_lines {} (>= 1)", max_operands,
                max_lines);
  }
};

// The steps of a rationale as (left value, op, right operand); the value after a step is the
// calculator's result.
struct Step {
  long left;
  char op;
  int right;
  long result() const { return op == '+' ? left + right : left - right; }
};

inline std::string steps_text(const std::vector<Step>& steps) {
  std::string s;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    s += i == 0 ? " " : ", ";
    s +=
        fmt::format("{} {} {} = {}", steps[i].left, steps[i].op, steps[i].right, steps[i].result());
  }
  return s;
}

// A sloppy rationale for p (see the top): first step right, then early stops / wrong operands.
inline std::vector<Step> sloppy_steps(const Problem& p, const CorpusConfig& c, Rng& rng) {
  std::vector<Step> steps{{p.operands[0], p.ops[0], p.operands[1]}};
  for (std::size_t k = 1; k < p.ops.size(); ++k) {
    if (rng.uniform() < c.p_stop) break;
    std::size_t use = k;  // index into ops; operand use + 1
    if (rng.uniform() >= c.p_right_operand) {
      use = static_cast<std::size_t>(rng.below(p.ops.size() - 1));
      if (use >= k) ++use;  // any other (op, operand) pair of the question
    }
    steps.push_back({steps.back().result(), p.ops[use], p.operands[use + 1]});
  }
  return steps;
}

inline std::vector<Step> careful_steps(const Problem& p) {
  std::vector<Step> steps;
  for (std::size_t k = 0; k < p.ops.size(); ++k)
    steps.push_back({p.partial(static_cast<int>(k)), p.ops[k], p.operands[k + 1]});
  return steps;
}

// One line: X, the rationale with results, ". The answer is <last result>."
inline std::string corpus_line(const Problem& p, const std::vector<Step>& steps) {
  return question_text(p) + steps_text(steps) + answer_text(steps.back().result());
}

// One document (no trailing separator).
inline std::string corpus_document(const CorpusConfig& c, Rng& rng) {
  const bool careful = rng.uniform() < c.p_careful;
  const int lines = 1 + static_cast<int>(rng.below(c.max_lines));
  std::string doc;
  for (int i = 0; i < lines; ++i) {
    const int n =
        rng.uniform() < c.p_two_operands ? 2 : 3 + static_cast<int>(rng.below(c.max_operands - 2));
    const Problem p = random_problem(n, rng);
    if (i > 0) doc += "\n";
    doc += corpus_line(p, careful ? careful_steps(p) : sloppy_steps(p, c, rng));
  }
  return doc;
}

// At least `chars` characters of documents joined by "\n\n".
inline std::string make_corpus(const CorpusConfig& c, std::size_t chars, uint64_t seed) {
  c.validate();
  Rng rng(seed);
  std::string text;
  while (text.size() < chars) {
    if (!text.empty()) text += "\n\n";
    text += corpus_document(c, rng);
  }
  return text;
}

}  // namespace gfnlm::arithmetic
