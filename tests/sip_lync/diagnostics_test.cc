#include "sip/lync/diagnostics.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace causeway::sip::lync {
namespace {

SipMessage Parse(std::string text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::string Response(int code, std::string_view from_host, std::string_view extra = {},
                     std::string_view body = {}) {
  std::string out = "SIP/2.0 " + std::to_string(code) + " Whatever\r\n";
  out += "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK776asdhds\r\n";
  out += "From: <sip:alice@" + std::string(from_host) + ">;tag=1928301774\r\n";
  out += "To: <sip:bob@example.test>;tag=a6c85cf\r\n";
  out += "Call-ID: a84b4c76e66710\r\n";
  out += "CSeq: 314159 MESSAGE\r\n";
  out += extra;
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

TEST(DiagnosticsTest, TableCoversWhatWeGenerateOncePerStatus) {
  std::set<int> seen;
  for (const Diagnostic& d : DiagnosticTable()) {
    EXPECT_TRUE(seen.insert(d.status).second) << "status listed twice: " << d.status;
    EXPECT_GE(d.status, 400);
    EXPECT_FALSE(d.reason.empty());
    EXPECT_EQ(d.reason.find('"'), std::string_view::npos);
    // The MS-OCER ranges we draw from: SIP stack, front end, server API, client version filter.
    EXPECT_TRUE((d.error_id >= 1000 && d.error_id < 2000) ||
                (d.error_id >= 4000 && d.error_id < 6000))
        << d.error_id;
  }
  for (int status : {400, 403, 404, 408, 409, 413, 415, 420, 480, 483, 489, 503, 513}) {
    EXPECT_TRUE(seen.count(status)) << status;
  }
}

TEST(DiagnosticsTest, StatusLookup) {
  EXPECT_EQ(DiagnosticForStatus(404)->error_id, 4005);
  EXPECT_EQ(DiagnosticForStatus(404)->reason,
            "Destination URI either not enabled for SIP or does not exist.");
  EXPECT_EQ(DiagnosticForStatus(480)->error_id, 1007);
  EXPECT_EQ(DiagnosticForStatus(400)->error_id, 4001);
  EXPECT_EQ(DiagnosticForStatus(415)->error_id, 4013);
  EXPECT_TRUE(DiagnosticForStatus(403)->is_public);
  EXPECT_FALSE(DiagnosticForStatus(200));
  EXPECT_FALSE(DiagnosticForStatus(302));
  EXPECT_FALSE(DiagnosticForStatus(401));
  EXPECT_FALSE(DiagnosticForStatus(407));
  EXPECT_FALSE(DiagnosticForStatus(700));
  // Not one of ours: relayed from a hop that gave no diagnostic.
  std::optional<Diagnostic> busy = DiagnosticForStatus(486);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->error_id, 1011);
  EXPECT_EQ(busy->status, 486);
}

TEST(DiagnosticsTest, FormatQuotesAndSanitizes) {
  EXPECT_EQ(FormatDiagnostic(4005, "No such user.", "fe01.example.test"),
            "4005;reason=\"No such user.\";source=\"fe01.example.test\"");
  const std::pair<std::string_view, std::string_view> attrs[] = {
      {"dialplan", "a\"b\\c\r\nd"}, {"bad name", "x"}, {"", "y"}};
  EXPECT_EQ(FormatDiagnostic(1, "x\"y", "s", attrs),
            "1;reason=\"xy\";source=\"s\";dialplan=\"abcd\"");
}

TEST(DiagnosticsTest, AddToParsedResponseOnlyWhenMissing) {
  SipMessage r = Parse(Response(404, "example.test"));
  EXPECT_TRUE(AddDiagnosticIfMissing(r, "fe01.example.test"));
  ASSERT_NE(r.FindHeader("ms-diagnostics"), nullptr);
  EXPECT_EQ(r.FindHeader("ms-diagnostics")->value,
            "4005;reason=\"Destination URI either not enabled for SIP or does "
            "not exist.\";"
            "source=\"fe01.example.test\"");
  EXPECT_FALSE(AddDiagnosticIfMissing(r, "fe01.example.test"));  // has one now
  EXPECT_EQ(r.HeaderValues("ms-diagnostics").size(), 1u);

  SipMessage forbidden = Parse(Response(403, "example.test"));
  EXPECT_TRUE(AddDiagnosticIfMissing(forbidden, "fe"));
  EXPECT_NE(forbidden.FindHeader("ms-diagnostics-public"), nullptr);

  SipMessage has_public =
      Parse(Response(480, "example.test", "ms-diagnostics-public: 1;reason=\"x\"\r\n"));
  EXPECT_FALSE(AddDiagnosticIfMissing(has_public, "fe"));
  SipMessage ok = Parse(Response(200, "example.test"));
  EXPECT_FALSE(AddDiagnosticIfMissing(ok, "fe"));
  SipMessage challenge = Parse(Response(401, "example.test"));
  EXPECT_FALSE(AddDiagnosticIfMissing(challenge, "fe"));
}

TEST(DiagnosticsTest, StripBothHeaders) {
  SipMessage r = Parse(Response(480, "example.test",
                                "ms-diagnostics: 1007;reason=\"a\"\r\n"
                                "MS-Diagnostics-Public: 2;reason=\"b\"\r\n"
                                "ms-diagnostics: 3;reason=\"c\"\r\n"
                                "X-Other: keep\r\n"));
  EXPECT_EQ(StripDiagnostics(r), 3u);
  EXPECT_EQ(r.FindHeader("ms-diagnostics"), nullptr);
  EXPECT_EQ(r.FindHeader("ms-diagnostics-public"), nullptr);
  EXPECT_NE(r.FindHeader("X-Other"), nullptr);
  EXPECT_EQ(StripDiagnostics(r), 0u);
}

TEST(DiagnosticsTest, ResponseStatusFromBytes) {
  EXPECT_EQ(ResponseStatus("SIP/2.0 480 Temporarily Unavailable\r\n"), 480);
  EXPECT_EQ(ResponseStatus("sip/2.0 200 OK\r\n"), 200);
  EXPECT_FALSE(ResponseStatus("MESSAGE sip:bob@example.test SIP/2.0\r\n"));
  EXPECT_FALSE(ResponseStatus("SIP/2.0 48x Bad\r\n"));
  EXPECT_FALSE(ResponseStatus("SIP/2.0 4800 Bad\r\n"));
  EXPECT_FALSE(ResponseStatus("SIP/2.0 480"));
  EXPECT_FALSE(ResponseStatus("SIP/2.0 099 Low\r\n"));
  EXPECT_FALSE(ResponseStatus(""));
}

TEST(DiagnosticsTest, HeaderDetectionLooksAtHeaderLinesOnly) {
  EXPECT_TRUE(HasDiagnosticHeader(Response(480, "x", "MS-DIAGNOSTICS: 1\r\n")));
  EXPECT_TRUE(HasDiagnosticHeader(Response(480, "x", "ms-diagnostics-public : 1\r\n")));
  EXPECT_FALSE(HasDiagnosticHeader(Response(480, "x")));
  // In a value, in the body, or as a prefix of another header name: not a header.
  EXPECT_FALSE(HasDiagnosticHeader(Response(480, "x", "Subject: ms-diagnostics: 1\r\n")));
  EXPECT_FALSE(HasDiagnosticHeader(Response(480, "x", "ms-diagnosticsx: 1\r\n")));
  EXPECT_FALSE(HasDiagnosticHeader(Response(480, "x", {}, "\r\nms-diagnostics: 1\r\n")));
}

TEST(DiagnosticsTest, ServedDomainsAndTheEdge) {
  const std::vector<std::string> domains = {"example.test", "corp.test"};
  EXPECT_TRUE(IsServedDomain("EXAMPLE.test", domains));
  EXPECT_FALSE(IsServedDomain("partner.test", domains));
  EXPECT_FALSE(IsServedDomain("sub.example.test", domains));
  EXPECT_TRUE(IsServedDomain("anything", {}));  // empty list: every domain is ours

  // Our signed-in client; our domain's UA; federation.
  EXPECT_FALSE(LeavesOrganisation(true, "partner.test", domains));
  EXPECT_FALSE(LeavesOrganisation(false, "corp.test", domains));
  EXPECT_TRUE(LeavesOrganisation(false, "partner.test", domains));
  EXPECT_FALSE(LeavesOrganisation(false, "partner.test", {}));
}

constexpr auto kSignedIn = [] { return true; };
constexpr auto kNotSignedIn = [] { return false; };

DiagnosticsFilter Filter() {
  DiagnosticsFilterOptions options;
  options.source = "fe01.example.test";
  options.domains = {"example.test"};
  return DiagnosticsFilter(std::move(options));
}

TEST(DiagnosticsFilterTest, ErrorToSignedInClientGetsOneBeforeTheBody) {
  DiagnosticsFilter filter = Filter();
  std::string bytes = Response(480, "example.test", {}, "body");
  ASSERT_TRUE(filter.OnOutgoing(bytes, kSignedIn));
  SipMessage m = Parse(bytes);
  ASSERT_NE(m.FindHeader("ms-diagnostics"), nullptr);
  EXPECT_EQ(m.FindHeader("ms-diagnostics")->value,
            "1007;reason=\"Temporarily cannot route.\";source=\"fe01.example.test\"");
  EXPECT_EQ(m.body(), "body");
  EXPECT_EQ(filter.stats().added, 1u);
  // Only once.
  EXPECT_FALSE(filter.OnOutgoing(bytes, kSignedIn));
  EXPECT_EQ(filter.stats().added, 1u);
}

TEST(DiagnosticsFilterTest, LeavesEverythingElseByteForByte) {
  DiagnosticsFilter filter = Filter();
  const std::vector<std::string> untouched = {
      Response(200, "example.test"),
      Response(180, "example.test"),
      Response(401, "example.test"),
      Response(480, "example.test", "ms-diagnostics: 9;reason=\"theirs\"\r\n"),
      "MESSAGE sip:bob@example.test SIP/2.0\r\nContent-Length: 0\r\n\r\n",
  };
  for (const std::string& original : untouched) {
    std::string bytes = original;
    EXPECT_FALSE(filter.OnOutgoing(bytes, kSignedIn)) << original;
    EXPECT_EQ(bytes, original);
  }
  // Not a signed-in client, our domain: errors get nothing added, diagnostics are kept.
  for (const std::string& original :
       {Response(404, "example.test"),
        Response(404, "example.test", "ms-diagnostics: 4005;reason=\"x\"\r\n")}) {
    std::string bytes = original;
    EXPECT_FALSE(filter.OnOutgoing(bytes, kNotSignedIn));
    EXPECT_EQ(bytes, original);
  }
  EXPECT_EQ(filter.stats().added, 0u);
  EXPECT_EQ(filter.stats().stripped, 0u);
}

TEST(DiagnosticsFilterTest, StrippedAtTheEdge) {
  DiagnosticsFilter filter = Filter();
  std::string bytes = Response(404, "partner.test",
                               "ms-diagnostics: 4005;reason=\"x\";source=\"fe01\"\r\n"
                               "ms-diagnostics-public: 4004;reason=\"y\"\r\n");
  ASSERT_TRUE(filter.OnOutgoing(bytes, kNotSignedIn));
  SipMessage m = Parse(bytes);
  EXPECT_EQ(m.FindHeader("ms-diagnostics"), nullptr);
  EXPECT_EQ(m.FindHeader("ms-diagnostics-public"), nullptr);
  EXPECT_EQ(m.status_code(), 404);
  EXPECT_EQ(m.call_id(), "a84b4c76e66710");
  EXPECT_EQ(filter.stats().stripped, 1u);
  // A 2xx leaving with one loses it too.
  std::string ok = Response(200, "partner.test", "ms-diagnostics: 1;reason=\"x\"\r\n");
  EXPECT_TRUE(filter.OnOutgoing(ok, kNotSignedIn));
  EXPECT_FALSE(HasDiagnosticHeader(ok));
  // Nothing to strip: untouched.
  std::string plain = Response(404, "partner.test");
  const std::string copy = plain;
  EXPECT_FALSE(filter.OnOutgoing(plain, kNotSignedIn));
  EXPECT_EQ(plain, copy);
}

}  // namespace
}  // namespace causeway::sip::lync
