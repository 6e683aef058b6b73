# The emulated cluster test (tests/cluster/, docs/CLUSTER.md): 2 network
# namespaces x 2 ranks, all_gather_perf across them, then the multi-node suite
# (2 x 2 and 3 x 2, ring and hierarchical, every collective, type and op). Needs root and `ip netns`;
# SKIPs (77) otherwise. Included from tests/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/cluster/cluster.cmake OPTIONAL)
if(MICS_BUILD_PERF)
  add_test(NAME cluster_smoke
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cluster_test.sh $<TARGET_FILE:all_gather_perf>
                   ${CMAKE_BINARY_DIR}/mics-run)
  # RUN_SERIAL: it creates /dev/shm segments (leak_test counts them) and its
  # namespaces' prefix is fixed (a lock serialises it with other clusters too).
  set_tests_properties(cluster_smoke PROPERTIES SKIP_RETURN_CODE 77 LABELS cluster TIMEOUT 400
                                                RUN_SERIAL TRUE)
endif()
