# SPDX-License-Identifier: MIT
# Runs one libFuzzer target for a bounded time over a fresh copy of its seed corpus, so the
# corpus in the repository is never modified. Crash inputs are kept in ARTIFACTS.
# cmake -DFUZZER=... -DCORPUS=... -DDICT=... -DWORK=... -DARTIFACTS=... -DSECONDS=...
#       -DMAX_LEN=... -P run_fuzz.cmake
foreach(v FUZZER CORPUS DICT WORK ARTIFACTS SECONDS MAX_LEN)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: ${v} is not set")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK} ${ARTIFACTS})
file(COPY ${CORPUS}/ DESTINATION ${WORK})
# Optional seeds kept outside the repository (real photos of ../shared/data), when present;
# EXTRA_SEEDS separates paths with '|'.
if(DEFINED EXTRA_SEEDS)
  string(REPLACE "|" ";" seeds "${EXTRA_SEEDS}")
  foreach(f ${seeds})
    if(EXISTS ${f})
      file(COPY ${f} DESTINATION ${WORK})
    endif()
  endforeach()
endif()
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -max_len=${MAX_LEN} -dict=${DICT}
          -timeout=10 -print_final_stats=1 -artifact_prefix=${ARTIFACTS}/ ${WORK}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); reproducers are in ${ARTIFACTS}")
endif()
