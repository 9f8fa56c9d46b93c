gfnlm_add_test(test_tasks_subjectivity
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dataset.cpp
  LABELS tasks_subjectivity)
