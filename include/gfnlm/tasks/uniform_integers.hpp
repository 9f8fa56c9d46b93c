#pragma once
// The uniform random-integer task (issue 5; SPEC sections 3 and 6): the prompt, the answer
// parser, both reward schemes and the base model's corpus.
#include <gfnlm/tasks/uniform_integers/answer.hpp>
#include <gfnlm/tasks/uniform_integers/corpus.hpp>
#include <gfnlm/tasks/uniform_integers/reward.hpp>
