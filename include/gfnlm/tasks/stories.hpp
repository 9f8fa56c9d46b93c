#pragma once
// TinyStories sentence continuation and infilling on a llama2.c model (SPEC section 3, issue 19):
// paragraphs and their sentences, the fixed-seed train / validation / test split, the items as
// text and as a model's tokens, the sentence-end tokens for the STOP mask, the context check.
#include <gfnlm/tasks/stories/items.hpp>
#include <gfnlm/tasks/stories/paragraphs.hpp>
#include <gfnlm/tasks/stories/sentence_end.hpp>
#include <gfnlm/tasks/stories/split.hpp>
#include <gfnlm/tasks/stories/tokens.hpp>
