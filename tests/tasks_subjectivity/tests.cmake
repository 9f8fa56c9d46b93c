gfnlm_add_test(test_tasks_subjectivity
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dataset.cpp
  LABELS tasks_subjectivity)

# The example end to end in --quick mode (k = 10, 40 test sentences, a few steps: the pipeline,
# not the accuracies). Needs the shared model and data.
if(TARGET subjectivity)
  if(EXISTS "${PROJECT_SOURCE_DIR}/../shared/models/stories260K/model.bin" AND
     EXISTS "${PROJECT_SOURCE_DIR}/../shared/data/subj/train.jsonl")
    add_test(NAME tasks_subjectivity.example_quick
      COMMAND subjectivity --quick --threads 2 --out ${CMAKE_CURRENT_BINARY_DIR}/subjectivity_quick)
    set_tests_properties(tasks_subjectivity.example_quick PROPERTIES
      LABELS "tasks_subjectivity;slow"
      PASS_REGULAR_EXPRESSION "\\| em \\| [0-9.]+ ± [0-9.]+ \\|"
      TIMEOUT 600)
  else()
    add_test(NAME tasks_subjectivity.example_quick
      COMMAND ${CMAKE_COMMAND} -E echo "skipped: ../shared/models/stories260K or ../shared/data/subj is absent")
    set_tests_properties(tasks_subjectivity.example_quick PROPERTIES
      LABELS tasks_subjectivity SKIP_REGULAR_EXPRESSION "skipped:")
  endif()
endif()
