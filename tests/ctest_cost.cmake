# Included by CTest after the discovered tests (CMakeLists.txt, TEST_INCLUDE_FILES): the longest
# tests get a high COST, so that `ctest -j` starts them first instead of leaving one of them alone
# at the end of the run (a fresh clone has no CTestCostData.txt to learn the order from). CTest
# ignores the names a build does not have (the ASan CI subset builds no integration tests).
set(cairn_long_tests
    CrashLoopTest.AcknowledgedAppendsSurviveSigkillUnderLoad
    CrashLoopTest.PostgresAcknowledgedAppendsSurviveSigkillUnderLoad
    ProofPropertyTest.InclusionEverySizeEveryLeaf
    ProofPropertyTest.ConsistencyEveryPair
    MultiNodeTest.ConcurrentAppendsThroughThreeNodesFormOneVerifiableLog
    PgOutageTest.AppendsFailUnavailableWhileDownAndRecoverWithoutRestart
    WebhooksTest.ANodeThatDoesNotDispatchNeitherDeliversNorManagesWebhooks)
foreach(name IN LISTS cairn_long_tests)
  set_tests_properties(${name} PROPERTIES COST 1000)
endforeach()
