// Precompiled for every test binary (CMakeLists.txt, cairn_test_util): the headers that nearly all
// test files include, parsed once per build instead of once per file. Only system and library
// headers belong here, never cairn's own (they change, and would rebuild every test).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
