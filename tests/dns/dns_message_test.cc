#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/dns/dns_message.h"

namespace causeway::dns {
namespace {

// Builds DNS responses byte by byte, so each test states exactly what is on the wire.
class MessageBuilder {
 public:
  MessageBuilder& Header(uint16_t qd, uint16_t an, uint16_t flags = 0x8180) {
    U16(0x1234);
    U16(flags);
    U16(qd);
    U16(an);
    U16(0);
    U16(0);
    return *this;
  }
  MessageBuilder& Name(const std::string& dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      bytes_.push_back(static_cast<char>(dot - start));
      bytes_.append(dotted, start, dot - start);
      start = dot + 1;
    }
    bytes_.push_back('\0');
    return *this;
  }
  MessageBuilder& Pointer(uint16_t offset) {
    U16(static_cast<uint16_t>(0xC000 | offset));
    return *this;
  }
  MessageBuilder& Question(const std::string& name, uint16_t type) {
    Name(name);
    U16(type);
    U16(1);
    return *this;
  }
  // Record header after the owner name; rdlength is patched by EndRdata().
  MessageBuilder& Rr(uint16_t type, uint32_t ttl, uint16_t klass = 1) {
    U16(type);
    U16(klass);
    U16(static_cast<uint16_t>(ttl >> 16));
    U16(static_cast<uint16_t>(ttl));
    rdlength_at_ = bytes_.size();
    U16(0);
    return *this;
  }
  MessageBuilder& EndRdata() {
    const size_t len = bytes_.size() - rdlength_at_ - 2;
    bytes_[rdlength_at_] = static_cast<char>(len >> 8);
    bytes_[rdlength_at_ + 1] = static_cast<char>(len);
    return *this;
  }
  MessageBuilder& U8(uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  MessageBuilder& U16(uint16_t v) {
    bytes_.push_back(static_cast<char>(v >> 8));
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  MessageBuilder& Str(const std::string& s) {
    U8(static_cast<uint8_t>(s.size()));
    bytes_ += s;
    return *this;
  }
  MessageBuilder& Raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  size_t size() const { return bytes_.size(); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  size_t rdlength_at_ = 0;
};

TEST(DnsMessageTest, ParsesARecordsWithMinimumTtl) {
  MessageBuilder m;
  m.Header(1, 2).Question("example.test", 1);
  m.Pointer(12).Rr(1, 300).Raw(std::string("\x7f\x00\x00\x01", 4)).EndRdata();
  m.Pointer(12).Rr(1, 60).Raw(std::string("\x7f\x00\x00\x02", 4)).EndRdata();
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->addresses.size(), 2u);
  EXPECT_EQ(r->addresses[0].ToString(), "127.0.0.1:0");
  EXPECT_EQ(r->addresses[1].ToString(), "127.0.0.2:0");
  EXPECT_EQ(r->min_ttl, 60u);
}

TEST(DnsMessageTest, ParsesAaaa) {
  MessageBuilder m;
  m.Header(1, 1).Question("v6.test", 28);
  std::string ip(16, '\0');
  ip[0] = '\x20';
  ip[1] = '\x01';
  ip[2] = '\x0d';
  ip[3] = '\xb8';
  ip[15] = '\x05';
  m.Pointer(12).Rr(28, 10).Raw(ip).EndRdata();
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kAaaa);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->addresses.size(), 1u);
  EXPECT_EQ(r->addresses[0].HostString(), "2001:db8::5");
  EXPECT_TRUE(r->addresses[0].is_v6());
}

TEST(DnsMessageTest, ParsesSrvWithCompressedTargetAndLowercases) {
  MessageBuilder m;
  m.Header(1, 2).Question("_sip._udp.Example.TEST", 33);
  // "example.test" starts at offset 12 + 1 + 4 + 1 + 4 = 22 inside the question name.
  m.Pointer(12).Rr(33, 120).U16(10).U16(60).U16(5070).Raw("\x03" "SIP").Pointer(22).EndRdata();
  m.Pointer(12).Rr(33, 120).U16(20).U16(0).U16(0).U8(0).EndRdata();  // "." target
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kSrv);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->srv.size(), 2u);
  EXPECT_EQ(r->srv[0], (SrvRecord{10, 60, 5070, "sip.example.test"}));
  EXPECT_EQ(r->srv[1].target, ".");
}

TEST(DnsMessageTest, ParsesNaptr) {
  MessageBuilder m;
  m.Header(1, 1).Question("naptr.test", 35);
  m.Pointer(12).Rr(35, 300).U16(10).U16(20).Str("S").Str("SIPS+D2T").Str("");
  m.Name("_sips._tcp.naptr.test").EndRdata();
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kNaptr);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->naptr.size(), 1u);
  EXPECT_EQ(r->naptr[0], (NaptrRecord{10, 20, "S", "SIPS+D2T", "", "_sips._tcp.naptr.test"}));
}

TEST(DnsMessageTest, SkipsCnameAndOtherTypesAndClasses) {
  MessageBuilder m;
  m.Header(1, 3).Question("alias.test", 1);
  m.Pointer(12).Rr(5, 300).Name("real.test").EndRdata();                            // CNAME
  m.Pointer(12).Rr(1, 300, /*klass=*/3).Raw(std::string("\x01\x02\x03\x04", 4)).EndRdata();  // CH
  m.Name("real.test").Rr(1, 30).Raw(std::string("\x0a\x00\x00\x07", 4)).EndRdata();
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kA);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->addresses.size(), 1u);
  EXPECT_EQ(r->addresses[0].HostString(), "10.0.0.7");
  EXPECT_EQ(r->min_ttl, 30u);
}

TEST(DnsMessageTest, EmptyAnswerIsOkAndEmpty) {
  MessageBuilder m;
  m.Header(1, 0).Question("nothing.test", 33);
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kSrv);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(r->min_ttl, 0u);
}

TEST(DnsMessageTest, TtlWithHighBitCountsAsZero) {
  MessageBuilder m;
  m.Header(1, 1).Question("x.test", 1);
  m.Pointer(12).Rr(1, 0x80000001u).Raw(std::string("\x01\x02\x03\x04", 4)).EndRdata();
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kA);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min_ttl, 0u);
}

TEST(DnsMessageTest, RecordLimitBoundsMemory) {
  MessageBuilder m;
  m.Header(1, 5).Question("many.test", 1);
  for (int i = 0; i < 5; ++i) {
    m.Pointer(12).Rr(1, 100).Raw(std::string("\x01\x02\x03", 3)).U8(static_cast<uint8_t>(i));
    m.EndRdata();
  }
  auto r = ParseDnsAnswers(m.bytes(), DnsType::kA, DnsParseLimits{.max_records = 3});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->addresses.size(), 3u);
}

TEST(DnsMessageTest, RejectsQueriesAndShortHeaders) {
  MessageBuilder query;
  query.Header(1, 0, /*flags=*/0x0100).Question("x.test", 1);
  EXPECT_FALSE(ParseDnsAnswers(query.bytes(), DnsType::kA).ok());
  EXPECT_FALSE(ParseDnsAnswers(std::string("\x12\x34\x81", 3), DnsType::kA).ok());
  EXPECT_FALSE(ParseDnsAnswers("", DnsType::kA).ok());
}

TEST(DnsMessageTest, RejectsEveryTruncation) {
  MessageBuilder m;
  m.Header(1, 1).Question("_sip._udp.example.test", 33);
  m.Pointer(12).Rr(33, 120).U16(10).U16(60).U16(5070).Name("sip.example.test").EndRdata();
  ASSERT_TRUE(ParseDnsAnswers(m.bytes(), DnsType::kSrv).ok());
  for (size_t len = 0; len < m.size(); ++len) {
    EXPECT_FALSE(ParseDnsAnswers(m.bytes().substr(0, len), DnsType::kSrv).ok()) << len;
  }
}

TEST(DnsMessageTest, RejectsPointerLoopsAndForwardPointers) {
  MessageBuilder self_loop;
  self_loop.Header(1, 0).Pointer(12).U16(1).U16(1);  // name at 12 points to itself
  EXPECT_FALSE(ParseDnsAnswers(self_loop.bytes(), DnsType::kA).ok());

  MessageBuilder forward;
  forward.Header(1, 0).Pointer(20).U16(1).U16(1).Name("x.test");
  EXPECT_FALSE(ParseDnsAnswers(forward.bytes(), DnsType::kA).ok());

  MessageBuilder reserved_label;
  reserved_label.Header(1, 0).U8(0x40).U8(0).U16(1).U16(1);
  EXPECT_FALSE(ParseDnsAnswers(reserved_label.bytes(), DnsType::kA).ok());
}

TEST(DnsMessageTest, RejectsOverlongNames) {
  MessageBuilder m;
  m.Header(1, 0);
  std::string label(63, 'a');
  m.Name(label + "." + label + "." + label + "." + label + ".x").U16(1).U16(1);  // > 255 bytes
  EXPECT_FALSE(ParseDnsAnswers(m.bytes(), DnsType::kA).ok());
}

TEST(DnsMessageTest, RejectsBadRdataLengths) {
  MessageBuilder short_a;
  short_a.Header(1, 1).Question("x.test", 1);
  short_a.Pointer(12).Rr(1, 10).Raw(std::string("\x01\x02\x03", 3)).EndRdata();
  EXPECT_FALSE(ParseDnsAnswers(short_a.bytes(), DnsType::kA).ok());

  MessageBuilder srv_trailing;  // rdlength covers bytes after the target
  srv_trailing.Header(1, 1).Question("x.test", 33);
  srv_trailing.Pointer(12).Rr(33, 10).U16(1).U16(1).U16(1).U8(0).U8(7).EndRdata();
  EXPECT_FALSE(ParseDnsAnswers(srv_trailing.bytes(), DnsType::kSrv).ok());

  MessageBuilder naptr_short;  // character-string longer than the message
  naptr_short.Header(1, 1).Question("x.test", 35);
  naptr_short.Pointer(12).Rr(35, 10).U16(1).U16(1).U8(50).Raw("s").EndRdata();
  EXPECT_FALSE(ParseDnsAnswers(naptr_short.bytes(), DnsType::kNaptr).ok());

  // A record of another type with a bad rdlength beyond the message is still an error.
  MessageBuilder overrun;
  overrun.Header(1, 1).Question("x.test", 1);
  overrun.Pointer(12).U16(16).U16(1).U16(0).U16(10).U16(200).Raw("abc");
  EXPECT_FALSE(ParseDnsAnswers(overrun.bytes(), DnsType::kA).ok());
}

TEST(DnsMessageTest, TypeNames) {
  EXPECT_EQ(DnsTypeName(DnsType::kA), "A");
  EXPECT_EQ(DnsTypeName(DnsType::kAaaa), "AAAA");
  EXPECT_EQ(DnsTypeName(DnsType::kSrv), "SRV");
  EXPECT_EQ(DnsTypeName(DnsType::kNaptr), "NAPTR");
}

}  // namespace
}  // namespace causeway::dns
