gfnlm_add_test(test_tasks_arithmetic
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_arithmetic_logic.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_arithmetic_model.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_bad_input.cpp
  LABELS tasks_arithmetic)

# The example end to end in --quick mode (tiny model; pipeline only, accuracies meaningless).
if(TARGET arithmetic)
  add_test(NAME tasks_arithmetic.example_quick
    COMMAND arithmetic --quick --out ${CMAKE_CURRENT_BINARY_DIR}/arithmetic_quick
            --cache-dir ${CMAKE_CURRENT_BINARY_DIR}/arithmetic_quick_cache)
  set_tests_properties(tasks_arithmetic.example_quick PROPERTIES
    LABELS "tasks_arithmetic;slow"
    # Every method's row, in order (one expression: CTest passes on any one of several).
    PASS_REGULAR_EXPRESSION "\\| ppo \\| [0-9.]+ .*\\| grpo \\| [0-9.]+ .*\\| grpo-verifier \\| [0-9.]+ .*\\| star \\| [0-9.]+ .*\\| gfn \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+ \\|"
    TIMEOUT 600)
endif()
