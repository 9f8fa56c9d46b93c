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
