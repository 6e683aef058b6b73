# The emulated cluster test (tests/cluster/, docs/CLUSTER.md): 2 network
# namespaces x 2 ranks, all_gather_perf across them, then the multi-node suite
# (2 x 2 and 3 x 2, ring and hierarchical, every collective, type and op), and a
# unique id made on the second node. Needs root and `ip netns`;
# SKIPs (77) otherwise. Included from tests/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/cluster/cluster.cmake OPTIONAL)
if(MICS_BUILD_PERF)
  # A unique id made on the second node must serve the first (root address choice).
  add_executable(cluster_root_addr_job ${CMAKE_CURRENT_LIST_DIR}/root_addr_job.cc)
  target_link_libraries(cluster_root_addr_job PRIVATE mics::mics mics_warnings)
  add_test(NAME cluster_smoke
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cluster_test.sh $<TARGET_FILE:all_gather_perf>
                   ${CMAKE_BINARY_DIR}/mics-run $<TARGET_FILE:cluster_root_addr_job>)
  # RUN_SERIAL: it creates /dev/shm segments (leak_test counts them) and its
  # namespaces' prefix is fixed (a lock serialises it with other clusters too).
  set_tests_properties(cluster_smoke PROPERTIES SKIP_RETURN_CODE 77 LABELS cluster TIMEOUT 400
                                                RUN_SERIAL TRUE)
endif()
