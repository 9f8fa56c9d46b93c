# The bad_input suite (issue 18): every program, every bad flag or file a new user tried, must
# fail before any work with a message naming the flag or file, a non-zero exit and no crash,
# and leave an earlier run's results alone (expect_failure.cmake). `ctest -L bad_input` runs it
# with the library's own bad-input tests (checkpoints, rewards), which carry the same label.
set(bad_input_dir "${CMAKE_CURRENT_BINARY_DIR}/bad_input")
set(stories "${PROJECT_SOURCE_DIR}/../shared/models/stories260K")

# gfnlm_bad_input(PROGRAM SLUG EXPECT [ARGS a b c] [PREPARE cmd...] [NO_OUT] [NEEDS path])
# NO_OUT: the program takes no --out (generate).
function(gfnlm_bad_input program slug expect)
  cmake_parse_arguments(ARG "NO_OUT" "NEEDS" "ARGS;PREPARE" ${ARGN})
  if(NOT TARGET ${program})
    return()
  endif()
  set(name bad_input.${program}.${slug})
  if(DEFINED ARG_NEEDS AND NOT EXISTS "${ARG_NEEDS}")
    # The shared models are outside the repository: say so instead of passing silently.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo "skipped: ${ARG_NEEDS} is absent")
    set_tests_properties(${name} PROPERTIES LABELS bad_input SKIP_REGULAR_EXPRESSION "skipped:")
    return()
  endif()
  set(defs -DPROGRAM=$<TARGET_FILE:${program}> -DEXPECT=${expect} -DWORK=${bad_input_dir}/${slug}_${program})
  string(REPLACE ";" "\\;" args "${ARG_ARGS}")
  list(APPEND defs "-DARGS=${args}")
  if(DEFINED ARG_PREPARE)
    string(REPLACE ";" "\\;" prepare "${ARG_PREPARE}")
    list(APPEND defs "-DPREPARE=${prepare}")
  endif()
  if(ARG_NO_OUT)
    list(APPEND defs "-DOUT_FLAG=")
  endif()
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} ${defs} -P ${CMAKE_CURRENT_LIST_DIR}/expect_failure.cmake)
  set_tests_properties(${name} PROPERTIES LABELS bad_input TIMEOUT 180)
endfunction()

# gfnlm_bad_input_rows(PROGRAM [NO_OUT] [NEEDS path] [PREFIX args...] ROWS "slug|expect|a|b" ...)
# One gfnlm_bad_input per row; fields and arguments are |-separated (a ; would split the row);
# PREFIX arguments go before each row's own.
function(gfnlm_bad_input_rows program)
  cmake_parse_arguments(ARG "NO_OUT" "NEEDS" "PREFIX;ROWS" ${ARGN})
  set(extra)
  if(ARG_NO_OUT)
    list(APPEND extra NO_OUT)
  endif()
  if(DEFINED ARG_NEEDS)
    list(APPEND extra NEEDS ${ARG_NEEDS})
  endif()
  foreach(row ${ARG_ROWS})
    string(REPLACE "|" ";" fields "${row}")
    list(GET fields 0 slug)
    list(GET fields 1 expect)
    list(SUBLIST fields 2 -1 args)
    gfnlm_bad_input(${program} ${slug} "${expect}" ${extra} ARGS ${ARG_PREFIX} ${args})
  endforeach()
endfunction()

# ---- uniform_integers ------------------------------------------------------------------------
gfnlm_bad_input_rows(uniform_integers ROWS
    "threads_huge|--threads: 100000 is not from 0|--threads|100000"
    "threads_negative|--threads: -3 is not from 0|--threads|-3"
    "out_unwritable|--out '/proc/x'|--out|/proc/x"
    "cache_unwritable|--cache-dir '/proc/x'|--cache-dir|/proc/x"
    "samples_absurd|--samples: 2000000000 is not from 1 to 1000000|--samples|2000000000"
    "samples_zero|--samples: 0 is not from 1|--samples|0"
    "gfn_steps_negative|--gfn-steps: -5 is not at least 1|--gfn-steps|-5"
    "grpo_steps_zero|--grpo-steps: 0 is not at least 1|--grpo-steps|0"
    "pretrain_steps_zero|--pretrain-steps: 0 is not at least 1|--pretrain-steps|0"
    "lora_rank_zero|--lora-rank: 0 is not from 1|--lora-rank|0"
    "gfn_lr_negative|--gfn-lr: -1 is not greater than 0|--gfn-lr|-1"
    "gfn_lr_nan|--gfn-lr: nan is not a finite number|--gfn-lr|nan"
    "gfn_batch_zero|--gfn-batch: 0 is not from 1|--gfn-batch|0"
    "gfn_buffer_zero|--gfn-buffer: 0 is not from 1|--gfn-buffer|0"
    "subtb_lambda_zero|--subtb-lambda: 0 is not greater than 0|--subtb-lambda|0"
    "subtb_root_flow_two|--subtb-root-flow: 2 not in|--subtb-root-flow|2"
    "t_high_zero|--t-high: 0 is not from 0.5|--t-high|0"
    "min_len_too_long|--min-len: 13 is not from 0 to 12|--min-len|13"
    "buffer_tolerance_negative|--buffer-tolerance: -1 is not from 0|--buffer-tolerance|-1"
    "curve_every_negative|--curve-every: -1 is not at least 0|--curve-every|-1"
    "exploration_over_one|--p-on-policy 0.8 plus --p-tempered 0.5 is more than 1|--p-on-policy|0.8|--p-tempered|0.5"
    "base_width_heads|--base-width 66 is not a multiple|--base-width|66"
    "objective_unknown|--objective: foo not in|--objective|foo"
    "tokenizer_alone|--tokenizer needs --model|--tokenizer|x"
    "stop_alone|--stop needs --model|--stop|newline"
    "model_missing|--model '/nonexistent': no such file|--model|/nonexistent"
    "no_cache_and_cache_dir|excludes|--no-cache|--cache-dir|x"
    "seed_answers_too_many|--seed-answers: 102 is not from 0 to 101|--seed-answers|102"
    "stop_after_digit_two|--stop-after-digit: 2 not in|--stop-after-digit|2"
    "train_answer_tokens_two|--train-answer-tokens: 2 not in|--train-answer-tokens|2"
    "replay_rows_negative|--replay-rows: -1 is not from 0|--replay-rows|-1"
    "replay_rows_all|--replay-rows 8 leaves no fresh row|--replay-rows|8"
    "digits_only_two|--digits-only: 2 not in|--digits-only|2"
    "prompt_alone|--prompt needs --model|--prompt|x")
gfnlm_bad_input(uniform_integers model_truncated "model.bin.: the header .* implies [0-9]+ bytes but the file has 4000" NEEDS ${stories}/model.bin
  PREPARE sh -c "head -c 4000 ${stories}/model.bin > @WORK@/model.bin"
  ARGS --model @WORK@/model.bin --tokenizer ${stories}/tok512.bin)

# ---- arithmetic ------------------------------------------------------------------------------
gfnlm_bad_input_rows(arithmetic ROWS
    "threads_huge|--threads: 100000 is not from 0|--threads|100000"
    "worked_seeds_negative|--worked-seeds: -1 is not from 0 to 50|--worked-seeds|-1"
    "gfn_steps_negative|--gfn-steps: -5 is not at least 1|--gfn-steps|-5"
    "star_rounds_zero|--star-rounds: 0 is not at least 1|--star-rounds|0"
    "star_queries_negative|--star-queries: -1 is not at least 0|--star-queries|-1"
    "star_sft_steps_zero|--star-sft-steps: 0 is not at least 1|--star-sft-steps|0"
    "grpo_steps_zero|--grpo-steps: 0 is not at least 1|--grpo-steps|0"
    "data_missing|--data '/nonexistent': no such file|--data|/nonexistent"
    "data_without_files|does not hold the paper's five JSON files|--data|@WORK@"
    "gfn_max_len_zero|--gfn-max-len: 0 is not from 1|--gfn-max-len|0"
    "gfn_min_above_max|--gfn-min-len 30 is above --gfn-max-len 24|--gfn-min-len|30"
    "rows_per_query_zero|--rows-per-query: 0 is not from 1|--rows-per-query|0"
    "method_unknown|--methods: foo not in|--methods|zero-shot|foo"
    "quick_eval_problems|--eval-problems: 501 is not from 1 to 500|--quick|--eval-problems|501"
    "out_unwritable|--out '/proc/x'|--out|/proc/x"
    "cache_unwritable|--cache-dir '/proc/x'|--cache-dir|/proc/x"
    "old_cache_flag|--cache|--cache|x"
    "no_cache_and_cache_dir|excludes|--no-cache|--cache-dir|x"
    "t_low_above_high|--gfn-t-low 2 is above --gfn-t-high 1|--gfn-t-low|2"
    "replay_rows_all|--gfn-replay-rows 8 leaves no fresh row|--gfn-replay-rows|8"
    "base_d_heads|--base-d 30 is not a multiple|--base-d|30"
    "gfn_lr_nan|--gfn-lr: nan is not a finite number|--gfn-lr|nan"
    "p_careful_over_one|--p-careful: 2 is not from 0 to 1|--p-careful|2")

# ---- pretrain_demo ---------------------------------------------------------------------------
gfnlm_bad_input_rows(pretrain_demo ROWS
    "heads_not_dividing|--heads 3 does not divide --dim 64|--heads|3"
    "batch_huge|--batch: 100000 is not from 1 to 4096|--batch|100000"
    "memory|needs [0-9.]+ GB of activations per step|--batch|4096|--seq-len|1000|--vocab|100000"
    "steps_zero|--steps: 0 is not from 1|--steps|0"
    "lr_negative|--lr: -1 is not greater than 0|--lr|-1"
    "out_unwritable|--out '/proc/x'|--out|/proc/x"
    "old_save_flag|--save|--save|x"
    "threads_huge|--threads: 100000 is not from 0|--threads|100000")

# ---- generate (no output directory) ----------------------------------------------------------
set(model_args --model ${stories}/model.bin --tokenizer ${stories}/tok512.bin)
gfnlm_bad_input_rows(generate NO_OUT NEEDS ${stories}/model.bin PREFIX ${model_args} ROWS
    "top_p_zero|--top-p: 0 is not in .0, 1. .at least 1e-9.|--top-p|0"
    "temperature_nan|--temperature: nan is not a finite number|--temperature|nan"
    "temperature_negative|--temperature: -1 is not from 0|--temperature|-1"
    "max_new_tokens_zero|--max-new-tokens: 0 is not from 1|--max-new-tokens|0"
    "samples_huge|--samples: 5000 is not from 1 to 1024|--samples|5000"
    "top_k_negative|--top-k: -1 is not at least 0|--top-k|-1"
    "threads_huge|--threads: 100000 is not from 0|--threads|100000")
gfnlm_bad_input(generate model_missing "--model '/nonexistent': no such file" NO_OUT
  ARGS --model /nonexistent)
gfnlm_bad_input(generate model_required "--model is required" NO_OUT)
gfnlm_bad_input(generate tokenizer_missing "--tokenizer '/nonexistent': no such file" NO_OUT
  NEEDS ${stories}/model.bin ARGS --model ${stories}/model.bin --tokenizer /nonexistent)
gfnlm_bad_input(generate model_truncated "model.bin.: the header .* implies [0-9]+ bytes but the file has 4000" NO_OUT
  NEEDS ${stories}/model.bin
  PREPARE sh -c "head -c 4000 ${stories}/model.bin > @WORK@/model.bin"
  ARGS --model @WORK@/model.bin --tokenizer ${stories}/tok512.bin)

# ---- the library's rows: Catch2 cases run again under this label ------------------------------
# (the rows of issue 18 that are about files and rewards rather than flags)
foreach(row
    "sealed_files|test_core|sealed file: *"
    "sampler_checkpoint_damaged|test_gfn_sampler|A damaged sampler checkpoint is refused*"
    "sampler_checkpoint_validation|test_gfn_sampler|Checkpoint validation names what is wrong*"
    "reward_checks|test_gfn_sampler_checks|*"
    "nan_weights|test_io_models|[bad_weights]"
    "uniform_cache_corrupted|test_tasks_uniform|uniform_integers: a corrupted cached base model*"
    "arithmetic_cache_corrupted|test_tasks_arithmetic|arithmetic: a corrupted cached base model*"
    "arithmetic_data_junk|test_tasks_arithmetic|arithmetic: parse_items rejects junk*")
  # Other areas define the targets: tests/CMakeLists.txt adds the rows whose target exists.
  list(APPEND gfnlm_library_rows "bad_input.library.${row}|bad_input")
endforeach()

# ---- story_infilling (issue 19, acceptance 5): bad data, a prompt too long, a wrong tokenizer --
gfnlm_bad_input_rows(story_infilling NEEDS ${stories}/model.bin ROWS
    "steps_zero|--steps: 0 is not from 1|--steps|0"
    "samples_one|--samples: 1 is not from 2|--samples|1"
    "lr_negative|--lr: -1 is not greater than 0|--lr|-1"
    "lora_rank_zero|--lora-rank: 0 is not from 1|--lora-rank|0"
    "reward_t_end_zero|--reward-t-end: 0 is not greater than 0|--reward-t-end|0"
    "condition_unknown|--condition: xyz not in|--condition|xyz"
    "min_over_max|--min-len 30 is above --max-len 20|--min-len|30|--max-len|20"
    "data_missing|--data '/nonexistent': no such file|--data|/nonexistent"
    "threads_huge|--threads: 100000 is not from 0|--threads|100000"
    "p_on_policy_above_one|--p-on-policy: 2 is not from 0 to 1|--p-on-policy|2"
    "p_tempered_negative|--p-tempered: -1 is not from 0 to 1|--p-tempered|-1"
    "p_replay_above_one|--p-replay: 2 is not from 0 to 1|--p-replay|2"
    "p_sum_not_one|= 1.55 must sum to 1|--p-on-policy|0.8|--p-tempered|0.5"
    "t_high_zero|--t-high: 0 is not from 0.5 to 10|--t-high|0"
    "buffer_zero|--buffer: 0 is not from 1|--buffer|0"
    "sft_batch_zero|--sft-batch: 0 is not from 1|--sft-batch|0"
    "sft_lr_negative|--sft-lr: -1 is not greater than 0|--sft-lr|-1"
    "reward_t_start_zero|--reward-t-start: 0 is not greater than 0|--reward-t-start|0"
    "objective_unknown|--objective: xyz not in|--objective|xyz"
    "methods_unknown|--methods: xyz not in|--methods|xyz")
# A paragraph of one sentence: the infilling task needs X, Z and Y.
gfnlm_bad_input(story_infilling data_too_few_sentences "line 1 has 1 sentence.s., fewer than the 3 required"
  NEEDS ${stories}/model.bin
  PREPARE sh -c "echo 'Tom had a red ball.' > @WORK@/p.txt"
  ARGS --data @WORK@/p.txt)
# A first sentence of 600 words: every X holds it, beyond stories260K's 512-token context.
gfnlm_bad_input(story_infilling prompt_too_long "does not fit the model's context"
  NEEDS ${stories}/model.bin
  PREPARE sh -c "(printf 'The dog' && yes ' ran' | head -n 600 | tr -d '\\n' && echo '. Tom saw the dog. Sam smiled at Tom. They went home.') > @WORK@/l.txt && cat @WORK@/l.txt @WORK@/l.txt @WORK@/l.txt @WORK@/l.txt @WORK@/l.txt > @WORK@/p.txt"
  ARGS --data @WORK@/p.txt)
# tok512.bin cut after its 511th token: a vocabulary that does not match the model's 512.
gfnlm_bad_input(story_infilling tokenizer_mismatch "holds 511 tokens but the model's vocab_size is 512"
  NEEDS ${stories}/model.bin
  PREPARE sh -c "head -c 6216 ${stories}/tok512.bin > @WORK@/tok.bin"
  ARGS --model ${stories}/model.bin --tokenizer @WORK@/tok.bin)

# ---- sentence_continuation (issue 19): flags, missing data, a wrong tokenizer ----
gfnlm_bad_input_rows(sentence_continuation NEEDS ${stories}/model.bin ROWS
    "steps_zero|--steps: 0 is not from 1|--steps|0"
    "samples_one|--samples: 1 is not from 2|--samples|1"
    "lr_negative|--lr: -1 is not greater than 0|--lr|-1"
    "top_p_above_one|--top-p: 2 is not from|--top-p|2"
    "split_unknown|--split: xyz not in|--split|xyz"
    "data_missing|--data '/nonexistent': no such file|--data|/nonexistent"
    "prompts_zero|--prompts: 0 is not from 1|--prompts|0"
    "max_len_zero|--max-len: 0 is not from 1|--max-len|0"
    "trajectories_zero|--trajectories: 0 is not from 2|--trajectories|0"
    "prompts_per_step_zero|--prompts-per-step: 0 is not from 1|--prompts-per-step|0"
    "diversity_penalty_negative|--diversity-penalty: -1 is not from 0|--diversity-penalty|-1"
    "lora_rank_zero|--lora-rank: 0 is not from 1|--lora-rank|0"
    "reward_t_steps_negative|--reward-t-steps: -1 is not from 0|--reward-t-steps|-1")
gfnlm_bad_input(sentence_continuation tokenizer_mismatch
  "holds 511 tokens but the model's vocab_size is 512"
  NEEDS ${stories}/model.bin
  PREPARE sh -c "head -c 6216 ${stories}/tok512.bin > @WORK@/tok.bin"
  ARGS --model ${stories}/model.bin --tokenizer @WORK@/tok.bin)

# Issue 21: a program built without MPI but started as one of several ranks (mpirun sets
# OMPI_COMM_WORLD_SIZE) refuses to run N racing copies, naming the fix.
if(NOT GFNLM_MPI)
  foreach(program uniform_integers arithmetic)
    gfnlm_bad_input(${program} mpirun_without_mpi "built without MPI: configure with -DGFNLM_MPI=ON"
      ARGS --quick)
    if(TEST bad_input.${program}.mpirun_without_mpi)
      set_property(TEST bad_input.${program}.mpirun_without_mpi APPEND PROPERTY ENVIRONMENT
        OMPI_COMM_WORLD_SIZE=2)
    endif()
  endforeach()
endif()

# ---- subjectivity (issue 23, acceptance 3): flags, and SUBJ files with a bad line -------------
gfnlm_bad_input_rows(subjectivity NEEDS ${stories}/model.bin ROWS
    "labels_huge|--labels: 9000 is not from 0 to 8000|--labels|9000"
    "labels_negative|--labels: -1 is not from 0|--labels|-1"
    "test_items_zero|--test-items: 0 is not from 1|--test-items|0"
    "votes_zero|--votes: 0 is not from 1|--votes|0"
    "max_z_zero|--max-z: 0 is not from 1|--max-z|0"
    "rounds_negative|--rounds: -1 is not from 0|--rounds|-1"
    "e_steps_negative|--e-steps: -1 is not from 0|--e-steps|-1"
    "m_steps_negative|--m-steps: -1 is not from 0|--m-steps|-1"
    "sft_steps_negative|--sft-steps: -1 is not from 0|--sft-steps|-1"
    "lora_rank_zero|--lora-rank: 0 is not from 1|--lora-rank|0"
    "penalty_negative|--penalty: -1 is not from 0|--penalty|-1"
    "data_missing|--data '/nonexistent': no such file|--data|/nonexistent"
    "threads_huge|--threads: 100000 is not from 0|--threads|100000")
# SUBJ folders whose train.jsonl has one bad line 2 (a good test.jsonl beside it).
set(subj_good "{\"text\": \"a fine film .\", \"label\": 1}")
foreach(case
    "no_label|line 2: no .label.|{\"text\": \"the plot .\"}"
    "unknown_label|line 2: .label. is 2|{\"text\": \"the plot .\", \"label\": 2}"
    "empty_text|line 2: .text. is|{\"text\": \"  \", \"label\": 0}")
  string(REPLACE "|" ";" fields "${case}")
  list(GET fields 0 slug)
  list(GET fields 1 expect)
  list(GET fields 2 line)
  gfnlm_bad_input(subjectivity data_${slug} "${expect}" NEEDS ${stories}/model.bin
    PREPARE ${CMAKE_COMMAND} -DDIR=@WORK@/subj "-DTRAIN=${subj_good}\n${line}\n"
            "-DTEST=${subj_good}\n" -P ${CMAKE_CURRENT_LIST_DIR}/write_subj.cmake
    ARGS --data @WORK@/subj)
endforeach()
