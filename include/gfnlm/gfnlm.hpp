#pragma once
// Umbrella header: includes every public component of the host library, nothing else.
// (The CUDA backend lives in backend/cuda/*.cuh and is included from .cu files only.)

// core
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/schedule.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/core/tensor.hpp>
// backend
#include <gfnlm/backend/concept.hpp>
#include <gfnlm/backend/cpu.hpp>
// model
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/lora.hpp>
#include <gfnlm/model/parameter.hpp>
#include <gfnlm/model/pretrain.hpp>
#include <gfnlm/model/transformer.hpp>
// io
#include <gfnlm/io/llama2c.hpp>
#include <gfnlm/io/peft.hpp>
#include <gfnlm/io/safetensors.hpp>
#include <gfnlm/io/safetensors_shards.hpp>
// text
#include <gfnlm/text/byte_tokenizer.hpp>
#include <gfnlm/text/char_tokenizer.hpp>
#include <gfnlm/text/gpt2_bpe.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>
#include <gfnlm/text/tokenizer.hpp>
// gfn
#include <gfnlm/gfn/log_partition.hpp>
#include <gfnlm/gfn/objectives/detailed_balance.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/objective.hpp>
#include <gfnlm/gfn/objectives/subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/replay_buffer.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>
// policies and rewards
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/policies/tabular.hpp>
#include <gfnlm/rewards/lm_likelihood.hpp>
// baselines and evaluation
#include <gfnlm/baselines/ppo.hpp>
#include <gfnlm/baselines/sft.hpp>
#include <gfnlm/eval/distribution.hpp>
#include <gfnlm/eval/diversity.hpp>
#include <gfnlm/eval/majority_vote.hpp>
#include <gfnlm/eval/svg.hpp>
