gfnlm_add_test(test_tasks_uniform
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_uniform_integers.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_base_model_cache.cpp
  LABELS tasks_uniform)
# The example's --quick mode end to end (about a minute of CPU): labelled slow.
gfnlm_add_test(test_tasks_uniform_quick
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_quick_experiment.cpp
  LABELS tasks_uniform slow)
gfnlm_add_test(test_tasks_uniform_subtb_root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_subtb_root_flow.cpp
  LABELS tasks_uniform)
# The experiment on the aidreams260K llama2.c checkpoint (skips when ../shared/models lacks it).
gfnlm_add_test(test_tasks_uniform_real_model
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_real_model.cpp
  LABELS tasks_uniform)
