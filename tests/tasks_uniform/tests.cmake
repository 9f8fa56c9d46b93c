gfnlm_add_test(test_tasks_uniform
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_uniform_integers.cpp
  LABELS tasks_uniform)
