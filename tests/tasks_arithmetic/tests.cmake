gfnlm_add_test(test_tasks_arithmetic
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_arithmetic_logic.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_arithmetic_model.cpp
  LABELS tasks_arithmetic)
