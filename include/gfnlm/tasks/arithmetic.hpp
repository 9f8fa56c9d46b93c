#pragma once
// Integer arithmetic with a calculator (SPEC section 5, issue 6; docs/arithmetic.md): problems and
// formats, the paper's data sets, the calculator tool, answer extraction, the base-model corpus and
// its cached pretraining, the rewards, PPO's frozen-base reference, and the evaluation.
#include <gfnlm/tasks/arithmetic/answer.hpp>
#include <gfnlm/tasks/arithmetic/base_model.hpp>
#include <gfnlm/tasks/arithmetic/calculator.hpp>
#include <gfnlm/tasks/arithmetic/corpus.hpp>
#include <gfnlm/tasks/arithmetic/dataset.hpp>
#include <gfnlm/tasks/arithmetic/evaluate.hpp>
#include <gfnlm/tasks/arithmetic/problem.hpp>
#include <gfnlm/tasks/arithmetic/query.hpp>
#include <gfnlm/tasks/arithmetic/reference.hpp>
#include <gfnlm/tasks/arithmetic/reward.hpp>
#include <gfnlm/tasks/arithmetic/tokenizer.hpp>
