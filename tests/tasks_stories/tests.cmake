# The TinyStories data layer (issue 19); the cases on ../shared's data and stories260K skip with
# a warning where it is absent.
gfnlm_add_test(test_tasks_stories
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stories.cpp ${CMAKE_CURRENT_LIST_DIR}/test_infill_reward.cpp
  LABELS tasks_stories)

# The two language examples end to end in --quick mode on ../shared's stories260K (pipeline only;
# the figures of a quick run mean nothing). Without ../shared they report the missing path.
foreach(example sentence_continuation story_infilling)
  if(TARGET ${example} AND EXISTS ${PROJECT_SOURCE_DIR}/../shared/models/stories260K/model.bin)
    add_test(NAME tasks_stories.${example}_quick
      COMMAND ${example} --quick --threads 2 --out ${CMAKE_CURRENT_BINARY_DIR}/${example}_quick)
    set_tests_properties(tasks_stories.${example}_quick PROPERTIES LABELS "tasks_stories;slow")
  endif()
endforeach()

# examples/generate on stories260K: three nucleus samples through the library's decoder
# (baselines/sample_decode.hpp), each printed; and greedy decoding, two rows that must agree.
if(TARGET generate AND EXISTS ${PROJECT_SOURCE_DIR}/../shared/models/stories260K/model.bin)
  set(generate_args --model ${PROJECT_SOURCE_DIR}/../shared/models/stories260K/model.bin
    --tokenizer ${PROJECT_SOURCE_DIR}/../shared/models/stories260K/tok512.bin --threads 1)
  add_test(NAME tasks_stories.generate_nucleus
    COMMAND generate ${generate_args} --samples 3 --max-new-tokens 40 --top-p 0.9 --seed 3)
  set_tests_properties(tasks_stories.generate_nucleus PROPERTIES LABELS tasks_stories
    PASS_REGULAR_EXPRESSION "--- sample 2 ---\nOnce upon a time[^\n]+")
  add_test(NAME tasks_stories.generate_greedy
    COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:generate> "-DARGS=${generate_args}"
      -P ${CMAKE_CURRENT_LIST_DIR}/check_greedy.cmake)
  set_tests_properties(tasks_stories.generate_greedy PROPERTIES LABELS tasks_stories)
endif()
