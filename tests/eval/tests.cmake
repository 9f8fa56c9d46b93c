find_package(nlohmann_json REQUIRED)

gfnlm_add_test(test_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_svg.cpp ${CMAKE_CURRENT_LIST_DIR}/test_bleu.cpp LABELS eval)
# test_bleu.cpp reads nltk's values from tests/reference/bleu/fixture.json.
target_link_libraries(test_eval PRIVATE nlohmann_json::nlohmann_json)
