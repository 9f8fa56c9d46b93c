# Writes a SUBJ folder for the bad_input suite: DIR/train.jsonl = TRAIN, DIR/test.jsonl = TEST.
file(MAKE_DIRECTORY "${DIR}")
file(WRITE "${DIR}/train.jsonl" "${TRAIN}")
file(WRITE "${DIR}/test.jsonl" "${TEST}")
