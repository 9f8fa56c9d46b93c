# Greedy decoding (--temperature 0) of two rows must print the same text twice, and a third run
# with top-k 1 (the same rule as a truncation) the same again.
execute_process(COMMAND ${PROGRAM} ${ARGS} --samples 2 --max-new-tokens 30 --temperature 0
  OUTPUT_VARIABLE greedy RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "generate --temperature 0 failed (${rc})")
endif()
execute_process(COMMAND ${PROGRAM} ${ARGS} --samples 1 --max-new-tokens 30 --top-k 1 --seed 9
  OUTPUT_VARIABLE top1 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "generate --top-k 1 failed (${rc})")
endif()
string(REGEX MATCH "--- sample 0 ---\n([^\n]*)" _ "${greedy}")
set(first "${CMAKE_MATCH_1}")
string(REGEX MATCH "--- sample 1 ---\n([^\n]*)" _ "${greedy}")
set(second "${CMAKE_MATCH_1}")
string(REGEX MATCH "--- sample 0 ---\n([^\n]*)" _ "${top1}")
set(third "${CMAKE_MATCH_1}")
if(first STREQUAL "" OR NOT first STREQUAL second OR NOT first STREQUAL third)
  message(FATAL_ERROR "greedy rows differ:\n[${first}]\n[${second}]\n[${third}] (top-k 1)")
endif()
message(STATUS "greedy: ${first}")
