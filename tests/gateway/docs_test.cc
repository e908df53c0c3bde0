// The operator docs embed `causeway --print-config`; this keeps them from drifting.

#include <string>

#include "gateway/config.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

TEST(Docs, OperationsGuideEmbedsThePrintedDefaults) {
  std::string doc = testing::ReadFile(std::string(CAUSEWAY_DOCS_DIR) + "/operations.md");
  ASSERT_FALSE(doc.empty());
  const std::string begin = "<!-- BEGIN print-config -->\n```toml\n";
  const std::string end = "```\n<!-- END print-config -->";
  size_t from = doc.find(begin);
  size_t to = doc.find(end);
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  from += begin.size();
  ASSERT_LE(from, to);
  EXPECT_EQ(doc.substr(from, to - from), DefaultConfigToml())
      << "docs/operations.md is stale: replace the block between the print-config markers with "
         "the output of `causeway --print-config`";
  for (const char* record :
       {"_sip._tls", "_sipinternaltls._tcp", "_sipfederationtls._tcp", "_sip._udp", "_sip._tcp"}) {
    EXPECT_NE(doc.find(record), std::string::npos) << record;
  }
}

}  // namespace
}  // namespace causeway::gateway
