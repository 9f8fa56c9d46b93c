#pragma once
// Umbrella header: includes every public component, nothing else.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/schedule.hpp>
#include <gfnlm/core/tensor.hpp>
