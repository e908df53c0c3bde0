// MRAS (MS-AVEDGEA): the request parser against pidgin-sipe's and Lync's requests and against
// schema violations, the response body byte for byte, the refusals (not signed in, another
// user, relay off), and the front end answering SERVICE to the MRAS URI over the real SipServer.
#include "sip/lync/mras.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/directory.h"
#include "core/status.h"
#include "core/strings.h"
#include "core/timer_wheel.h"
#include "gtest/gtest.h"
#include "sip/lync/bodies_roaming.h"
#include "sip/lync/diagnostics.h"
#include "sip/lync/front_end.h"
#include "sip/lync/xml.h"
#include "tests/sip_stack/fake_transport.h"

namespace causeway::sip::lync {
namespace {

// What pidgin-sipe 1.25 sends (sipe-media.c sipe_media_get_av_edge_credentials), verbatim but
// for the values.
std::string SipeRequest(std::string_view from = "sip:alice@example.test",
                        std::string_view identity = "sip:alice@example.test",
                        std::string_view version = "1.0") {
  return absl::StrCat(
      "<request requestID=\"1804289383\" from=\"", ToAbsl(from), "\" version=\"",
      ToAbsl(version),
      "\" to=\"sip:MRASLoc@example.test\" "
      "xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<credentialsRequest credentialsRequestID=\"1804289383\">"
      "<identity>",
      ToAbsl(identity),
      "</identity><location>internet</location><duration>480</duration>"
      "</credentialsRequest></request>");
}

std::string Wrap(std::string_view attributes, std::string_view inner) {
  return absl::StrCat("<request xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\" ",
                      ToAbsl(attributes), ">", ToAbsl(inner), "</request>");
}

constexpr char kAttrs[] =
    "requestID=\"9\" version=\"2.0\" to=\"sip:MRASLoc@example.test\" "
    "from=\"sip:alice@example.test\"";

std::string Credentials(std::string_view id, std::string_view inner) {
  return absl::StrCat("<credentialsRequest credentialsRequestID=\"", ToAbsl(id), "\">",
                      ToAbsl(inner), "</credentialsRequest>");
}

TEST(MrasRequest, ParsesPidginSipe) {
  MrasRequest r;
  std::optional<MrasParseError> error = ParseMrasRequest(SipeRequest(), &r);
  ASSERT_FALSE(error) << error->detail;
  EXPECT_EQ(r.request_id, "1804289383");
  EXPECT_EQ(r.version, "1.0");
  EXPECT_EQ(r.to, "sip:MRASLoc@example.test");
  EXPECT_EQ(r.from, "sip:alice@example.test");
  EXPECT_EQ(r.route, "loadbalanced");
  ASSERT_EQ(r.credentials.size(), 1u);
  EXPECT_EQ(r.credentials[0].id, "1804289383");
  EXPECT_EQ(r.credentials[0].identity, "sip:alice@example.test");
  EXPECT_EQ(r.credentials[0].location, RelayLocation::kInternet);
  EXPECT_EQ(r.credentials[0].duration_minutes, 480u);
}

TEST(MrasRequest, LocationAndDurationAreOptionalAndSeveralRequestsAreKeptInOrder) {
  MrasRequest r;
  std::optional<MrasParseError> error = ParseMrasRequest(
      Wrap(absl::StrCat(kAttrs, " route=\"directip\""),
           absl::StrCat(Credentials("a", "<identity>sip:alice@example.test</identity>"),
                        Credentials("b", "<identity>opaque-token</identity>"
                                         "<location>intranet</location>"),
                        Credentials("c", "<identity>x</identity><duration> 60 </duration>"))),
      &r);
  ASSERT_FALSE(error) << error->detail;
  EXPECT_EQ(r.route, "directip");
  ASSERT_EQ(r.credentials.size(), 3u);
  EXPECT_EQ(r.credentials[0].id, "a");
  EXPECT_FALSE(r.credentials[0].location.has_value());
  EXPECT_FALSE(r.credentials[0].duration_minutes.has_value());
  EXPECT_EQ(r.credentials[1].location, RelayLocation::kIntranet);
  EXPECT_EQ(r.credentials[2].duration_minutes, 60u);
}

TEST(MrasRequest, SchemaViolationsAreRequestMalformed) {
  const std::string ok_cred = Credentials("1", "<identity>sip:alice@example.test</identity>");
  const std::string long_id(65, 'x');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"not xml", "hello"},
      {"unclosed", "<request xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\">"},
      {"doctype", absl::StrCat("<!DOCTYPE request [<!ENTITY a \"b\">]>", Wrap(kAttrs, ok_cred))},
      {"wrong root", "<response xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\"/>"},
      {"no namespace", absl::StrCat("<request ", kAttrs, ">", ok_cred, "</request>")},
      {"other namespace", absl::StrCat("<request xmlns=\"urn:x\" ", kAttrs, ">", ok_cred,
                                       "</request>")},
      {"no requestID",
       Wrap("version=\"2.0\" to=\"sip:m@example.test\" from=\"sip:alice@example.test\"", ok_cred)},
      {"requestID too long",
       Wrap(absl::StrCat("requestID=\"", long_id,
                         "\" version=\"2.0\" to=\"sip:m@example.test\" "
                         "from=\"sip:alice@example.test\""),
            ok_cred)},
      {"no version", Wrap("requestID=\"1\" to=\"sip:m@example.test\" from=\"sip:a@example.test\"",
                          ok_cred)},
      {"bad version", Wrap("requestID=\"1\" version=\"two\" to=\"sip:m@example.test\" "
                           "from=\"sip:a@example.test\"",
                           ok_cred)},
      {"to not sip", Wrap("requestID=\"1\" version=\"2.0\" to=\"mailto:m@example.test\" "
                          "from=\"sip:a@example.test\"",
                          ok_cred)},
      {"no from", Wrap("requestID=\"1\" version=\"2.0\" to=\"sip:m@example.test\"", ok_cred)},
      {"bad route", Wrap(absl::StrCat(kAttrs, " route=\"fastest\""), ok_cred)},
      {"no credentialsRequest", Wrap(kAttrs, "")},
      {"foreign child", Wrap(kAttrs, absl::StrCat(ok_cred, "<extra/>"))},
      {"no credentialsRequestID",
       Wrap(kAttrs, "<credentialsRequest><identity>x</identity></credentialsRequest>")},
      {"credentialsRequestID too long",
       Wrap(kAttrs, Credentials(long_id, "<identity>x</identity>"))},
      {"no identity", Wrap(kAttrs, Credentials("1", "<location>internet</location>"))},
      {"empty identity", Wrap(kAttrs, Credentials("1", "<identity> </identity>"))},
      {"bad location",
       Wrap(kAttrs, Credentials("1", "<identity>x</identity><location>moon</location>"))},
      {"zero duration",
       Wrap(kAttrs, Credentials("1", "<identity>x</identity><duration>0</duration>"))},
      {"negative duration",
       Wrap(kAttrs, Credentials("1", "<identity>x</identity><duration>-5</duration>"))},
      {"text duration",
       Wrap(kAttrs, Credentials("1", "<identity>x</identity><duration>long</duration>"))},
      {"duration before location",
       Wrap(kAttrs, Credentials("1", "<identity>x</identity><duration>5</duration>"
                                     "<location>internet</location>"))},
      {"identity twice",
       Wrap(kAttrs, Credentials("1", "<identity>x</identity><identity>y</identity>"))},
      {"malformed second of two",
       Wrap(kAttrs, absl::StrCat(ok_cred, Credentials("2", "<location>internet</location>")))},
  };
  for (const auto& [name, body] : cases) {
    MrasRequest r;
    std::optional<MrasParseError> error = ParseMrasRequest(body, &r);
    ASSERT_TRUE(error.has_value()) << name << " was accepted";
    EXPECT_EQ(error->reason, MrasReason::kRequestMalformed) << name;
    EXPECT_FALSE(error->request.has_value()) << name;
    MrasAnswer answer = AnswerMras(body, "sip:alice@example.test",
                                   [](const MediaRelayRequest&) -> absl::StatusOr<MediaRelayGrant> {
                                     ADD_FAILURE() << "authority asked for a malformed request";
                                     return absl::InternalError("unreachable");
                                   });
    EXPECT_EQ(answer.status, 400) << name;
    EXPECT_EQ(answer.body,
              "<response xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\" version=\"2.0\" "
              "serverVersion=\"2.0\" reasonPhrase=\"Request Malformed\"/>")
        << name;
  }
}

TEST(MrasRequest, MoreThanAHundredIsRequestTooLargeNotMalformed) {
  std::string hundred;
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&hundred, Credentials(absl::StrCat(i), "<identity>sip:alice@example.test"
                                                           "</identity>"));
  }
  MrasRequest r;
  EXPECT_FALSE(ParseMrasRequest(Wrap(kAttrs, hundred), &r));
  EXPECT_EQ(r.credentials.size(), 100u);

  const std::string body =
      Wrap(kAttrs, absl::StrCat(hundred, Credentials("100", "<identity>x</identity>")));
  std::optional<MrasParseError> error = ParseMrasRequest(body, &r);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->reason, MrasReason::kRequestTooLarge);
  ASSERT_TRUE(error->request.has_value());
  EXPECT_EQ(error->request->request_id, "9");

  MrasAnswer answer = AnswerMras(body, "sip:alice@example.test", {});
  EXPECT_EQ(answer.status, 413);
  EXPECT_EQ(answer.body,
            "<response xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\" requestID=\"9\" "
            "version=\"2.0\" serverVersion=\"2.0\" to=\"sip:MRASLoc@example.test\" "
            "from=\"sip:alice@example.test\" reasonPhrase=\"Request Too Large\"/>");
}

TEST(MrasResponse, BodyFollowsTheSchemaOrderExactly) {
  MrasRequest r;
  ASSERT_FALSE(ParseMrasRequest(SipeRequest(), &r));
  MrasCredentialsResponse c;
  c.id = "1804289383";
  c.username = "1765170000:alice@example.test";
  c.password = "q6Uj5pOTnUaZ7MIJ+a9oJKtg0nA=";
  c.duration_minutes = 480;
  c.realm = "example.test";
  c.relays = {MediaRelay{RelayLocation::kInternet, "relay.example.test", 3478, 443},
              MediaRelay{RelayLocation::kIntranet, "10.0.0.5", 3478, 0}};
  EXPECT_EQ(BuildMrasResponse(&r, MrasReason::kOk, {&c, 1}),
            "<response xmlns=\"http://schemas.microsoft.com/2006/09/sip/mrasp\" "
            "requestID=\"1804289383\" version=\"1.0\" serverVersion=\"2.0\" "
            "to=\"sip:MRASLoc@example.test\" from=\"sip:alice@example.test\" reasonPhrase=\"OK\">"
            "<credentialsResponse credentialsRequestID=\"1804289383\">"
            "<credentials><username>1765170000:alice@example.test</username>"
            "<password>q6Uj5pOTnUaZ7MIJ+a9oJKtg0nA=</password><duration>480</duration>"
            "<realm>example.test</realm></credentials>"
            "<mediaRelayList>"
            "<mediaRelay><location>internet</location><hostName>relay.example.test</hostName>"
            "<udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay>"
            "<mediaRelay><location>intranet</location><hostName>10.0.0.5</hostName>"
            "<udpPort>3478</udpPort></mediaRelay>"
            "</mediaRelayList></credentialsResponse></response>");
}

TEST(MrasResponse, EscapesWhatItEchoes) {
  MrasRequest r;
  r.request_id = "a\"<&";
  r.version = "2.0";
  r.to = "sip:m@x";
  r.from = "sip:a@x";
  const std::string body = BuildMrasResponse(&r, MrasReason::kForbidden, {});
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << doc.status() << body;
  EXPECT_EQ(doc->root().AttrOr("requestID", ""), "a\"<&");
  EXPECT_EQ(doc->root().AttrOr("reasonPhrase", ""), "Forbidden");
}

TEST(MrasResponse, ReasonPhrasesAndStatusesAreTheSchemaEnumeration) {
  const std::vector<std::pair<MrasReason, std::pair<std::string_view, int>>> table = {
      {MrasReason::kOk, {"OK", 200}},
      {MrasReason::kRequestMalformed, {"Request Malformed", 400}},
      {MrasReason::kRequestTooLarge, {"Request Too Large", 413}},
      {MrasReason::kNotSupported, {"Not Supported", 501}},
      {MrasReason::kServerBusy, {"Server Busy", 503}},
      {MrasReason::kTimeOut, {"Time Out", 504}},
      {MrasReason::kForbidden, {"Forbidden", 403}},
      {MrasReason::kInternalServerError, {"Internal Server Error", 500}},
      {MrasReason::kOtherFailure, {"Other Failure", 500}},
      {MrasReason::kVersionMismatch, {"Version Mismatch", 400}},
  };
  for (const auto& [reason, expected] : table) {
    EXPECT_EQ(MrasReasonPhrase(reason), expected.first);
    EXPECT_EQ(MrasSipStatus(reason), expected.second) << expected.first;
  }
}

TEST(MrasVersion, Parse) {
  EXPECT_EQ(ParseMrasVersion("1.0"), std::make_pair(1u, 0u));
  EXPECT_EQ(ParseMrasVersion("2.10"), std::make_pair(2u, 10u));
  for (std::string_view bad : {"", "2", "2.", ".0", "a.b", "2.0.1", "-1.0", "99999.0"}) {
    EXPECT_FALSE(ParseMrasVersion(bad)) << bad;
  }
}

// An authority like the gateway's: the media/turn Credentials::Issue username form.
struct FakeAuthority {
  absl::Status status = absl::OkStatus();
  std::vector<MediaRelayRequest> asked;
  MediaRelayAuthority Hook() {
    return [this](const MediaRelayRequest& r) -> absl::StatusOr<MediaRelayGrant> {
      asked.push_back(r);
      if (!status.ok()) return status;
      MediaRelayGrant g;
      const std::string bare = r.user.substr(4);  // without "sip:"
      g.username = absl::StrCat("1765170000:", bare);
      g.password = absl::StrCat("pw-", bare);
      g.duration = r.duration.value_or(std::chrono::minutes(480));
      g.relays = {MediaRelay{RelayLocation::kInternet, "relay.example.test", 3478, 443}};
      return g;
    };
  }
};

TEST(MrasAnswer, IssuesForTheSignedInUser) {
  FakeAuthority authority;
  MrasAnswer answer = AnswerMras(SipeRequest(), "sip:alice@example.test", authority.Hook());
  ASSERT_EQ(answer.status, 200) << answer.body;
  ASSERT_EQ(authority.asked.size(), 1u);
  EXPECT_EQ(authority.asked[0].user, "sip:alice@example.test");
  EXPECT_EQ(authority.asked[0].location, RelayLocation::kInternet);
  EXPECT_EQ(authority.asked[0].duration, std::chrono::minutes(480));
  // Read the answer as pidgin-sipe does (process_get_av_edge_credentials_response).
  absl::StatusOr<XmlDocument> doc = ParseXml(answer.body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root().ns(), kMrasNs);
  EXPECT_EQ(doc->root().AttrOr("reasonPhrase", ""), "OK");
  EXPECT_EQ(doc->root().AttrOr("version", ""), "1.0");
  EXPECT_EQ(doc->root().ChildText("credentialsResponse/credentials/username"),
            "1765170000:alice@example.test");
  EXPECT_EQ(doc->root().ChildText("credentialsResponse/credentials/password"),
            "pw-alice@example.test");
  EXPECT_EQ(doc->root().ChildText("credentialsResponse/credentials/duration"), "480");
  const XmlElement* relay = doc->root().Child("credentialsResponse/mediaRelayList/mediaRelay");
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->ChildText("hostName"), "relay.example.test");
  EXPECT_EQ(relay->ChildText("udpPort"), "3478");
  EXPECT_EQ(relay->ChildText("tcpPort"), "443");
}

TEST(MrasAnswer, OneCredentialsResponsePerRequestAndAtLeastAMinute) {
  FakeAuthority authority;
  MrasAnswer answer = AnswerMras(
      Wrap(kAttrs, absl::StrCat(Credentials("a", "<identity>sip:alice@example.test</identity>"
                                                 "<duration>1</duration>"),
                                Credentials("b", "<identity>opaque</identity>"))),
      "sip:alice@example.test",
      [&authority](const MediaRelayRequest& r) -> absl::StatusOr<MediaRelayGrant> {
        absl::StatusOr<MediaRelayGrant> g = authority.Hook()(r);
        if (g.ok() && r.duration) g->duration = std::chrono::minutes(0);  // a TTL under a minute
        return g;
      });
  ASSERT_EQ(answer.status, 200) << answer.body;
  absl::StatusOr<XmlDocument> doc = ParseXml(answer.body);
  ASSERT_TRUE(doc.ok());
  std::vector<const XmlElement*> responses = doc->root().Children("credentialsResponse");
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0]->AttrOr("credentialsRequestID", ""), "a");
  EXPECT_EQ(responses[0]->ChildText("credentials/duration"), "1");
  EXPECT_EQ(responses[1]->AttrOr("credentialsRequestID", ""), "b");
  EXPECT_EQ(responses[1]->ChildText("credentials/duration"), "480");
}

TEST(MrasAnswer, RefusesUsersNotSignedInAndOtherUsers) {
  FakeAuthority authority;
  struct Case {
    std::string name;
    std::string body;
    std::string user;
  };
  const std::vector<Case> cases = {
      {"not signed in", SipeRequest(), ""},
      {"from another user", SipeRequest("sip:bob@example.test", "sip:bob@example.test"),
       "sip:alice@example.test"},
      {"identity of another user", SipeRequest("sip:alice@example.test", "sip:bob@example.test"),
       "sip:alice@example.test"},
      {"identity without scheme", SipeRequest("sip:alice@example.test", "bob@example.test"),
       "sip:alice@example.test"},
      {"another domain", SipeRequest("sip:alice@evil.test", "sip:alice@evil.test"),
       "sip:alice@example.test"},
  };
  for (const Case& c : cases) {
    MrasAnswer answer = AnswerMras(c.body, c.user, authority.Hook());
    EXPECT_EQ(answer.status, 403) << c.name;
    EXPECT_EQ(answer.reason, MrasReason::kForbidden) << c.name;
    absl::StatusOr<XmlDocument> doc = ParseXml(answer.body);
    ASSERT_TRUE(doc.ok()) << c.name;
    EXPECT_EQ(doc->root().AttrOr("reasonPhrase", ""), "Forbidden") << c.name;
    EXPECT_EQ(doc->root().AttrOr("requestID", ""), "1804289383") << c.name;
    EXPECT_EQ(doc->root().Child("credentialsResponse"), nullptr) << c.name;
  }
  EXPECT_TRUE(authority.asked.empty());
  // The signed-in user in another case of letters is the same user.
  EXPECT_EQ(AnswerMras(SipeRequest("sip:Alice@Example.Test"), "sip:alice@example.test",
                       authority.Hook())
                .status,
            200);
}

TEST(MrasAnswer, RelayOffIsServerBusyAndFailuresAreInternal) {
  EXPECT_EQ(AnswerMras(SipeRequest(), "sip:alice@example.test", {}).status, 503);
  FakeAuthority authority;
  authority.status = absl::UnavailableError("relay stopped");
  MrasAnswer off = AnswerMras(SipeRequest(), "sip:alice@example.test", authority.Hook());
  EXPECT_EQ(off.status, 503);
  EXPECT_TRUE(absl::StrContains(off.body, "reasonPhrase=\"Server Busy\""));
  authority.status = absl::FailedPreconditionError("no shared secret");
  EXPECT_EQ(AnswerMras(SipeRequest(), "sip:alice@example.test", authority.Hook()).status, 503);
  authority.status = absl::InternalError("boom");
  MrasAnswer broken = AnswerMras(SipeRequest(), "sip:alice@example.test", authority.Hook());
  EXPECT_EQ(broken.status, 500);
  EXPECT_TRUE(absl::StrContains(broken.body, "reasonPhrase=\"Internal Server Error\""));
  // A grant without any relay to offer cannot be used.
  MrasAnswer empty = AnswerMras(
      SipeRequest(), "sip:alice@example.test",
      [](const MediaRelayRequest&) -> absl::StatusOr<MediaRelayGrant> {
        return MediaRelayGrant{"u", "p", std::chrono::minutes(5), "", {}};
      });
  EXPECT_EQ(empty.status, 503);
}

TEST(MrasAnswer, UnknownMajorVersionIsVersionMismatchWithOurVersion) {
  FakeAuthority authority;
  MrasAnswer answer =
      AnswerMras(SipeRequest("sip:alice@example.test", "sip:alice@example.test", "3.0"),
                 "sip:alice@example.test", authority.Hook());
  EXPECT_EQ(answer.status, 400);
  EXPECT_EQ(answer.reason, MrasReason::kVersionMismatch);
  absl::StatusOr<XmlDocument> doc = ParseXml(answer.body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().AttrOr("version", ""), "2.0");
  EXPECT_EQ(doc->root().AttrOr("reasonPhrase", ""), "Version Mismatch");
  EXPECT_TRUE(authority.asked.empty());
  // Lync's 2.0 is answered in 2.0.
  MrasAnswer lync =
      AnswerMras(SipeRequest("sip:alice@example.test", "sip:alice@example.test", "2.0"),
                 "sip:alice@example.test", authority.Hook());
  EXPECT_EQ(lync.status, 200);
  EXPECT_TRUE(absl::StrContains(lync.body, " version=\"2.0\""));
}

// ---- the front end: SERVICE to the MRAS URI over the real SipServer ----

using sip::testing::FakeTransport;

class NoResolver : public NextHopResolver {
 public:
  void Resolve(const Uri&, Callback done) override { done(SipError(404, "no DNS in this test")); }
};

UserRecord User(std::string uri) {
  UserRecord r;
  r.uri = std::move(uri);
  return r;
}

class MrasFrontEndTest : public ::testing::Test {
 protected:
  void Start(MediaRelayAuthority authority, std::string mras_uri = {},
             bool require_authentication = true) {
    directory_.Publish({User("sip:alice@example.test"), User("sip:bob@example.test")});
    SipServerOptions options;
    options.domains = {"example.test"};
    options.purge_interval = Duration::zero();
    server_ = std::make_unique<SipServer>(transport_, wheel_, clock_, location_, resolver_,
                                          options);
    FrontEndOptions fe;
    fe.domains = {"example.test"};
    fe.server_configuration.mras_uri = std::move(mras_uri);
    fe.media_relay = std::move(authority);
    fe.require_authentication = require_authentication;
    state_ = std::make_unique<FrontEndState>(fe, store_, location_, &directory_);
    front_end_ = std::make_unique<FrontEnd>(*state_, *server_, clock_,
                                            "<sip:127.0.0.1:5061;transport=tls>");
    server_->SetLocalService(front_end_.get());
  }
  void TearDown() override {
    if (server_) server_->SetLocalService(nullptr);
  }

  // A request from `user` (authenticated as `authenticated`, "" = unsigned) to `target`.
  SipMessage Send(std::string_view method, std::string_view target, std::string_view user,
                  std::string_view authenticated, std::string_view content_type,
                  std::string_view body, std::string_view event = "presence") {
    const std::string aor = absl::StrCat("sip:", ToAbsl(user), "@example.test");
    const int n = ++branch_;
    std::string text = absl::StrCat(
        ToAbsl(method), " ", ToAbsl(target), " SIP/2.0\r\n",
        "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK-m", n, "\r\n", "From: <", aor,
        ">;tag=f", n, ";epid=e1\r\nTo: <", ToAbsl(target), ">\r\nCall-ID: mras-", n,
        "\r\nCSeq: 1 ", ToAbsl(method), "\r\nMax-Forwards: 70\r\n",
        "Contact: <sip:127.0.0.1:40000;transport=tls>\r\n");
    if (method == "SUBSCRIBE") absl::StrAppend(&text, "Event: ", ToAbsl(event), "\r\n");
    if (!content_type.empty()) {
      absl::StrAppend(&text, "Content-Type: ", ToAbsl(content_type), "\r\n");
    }
    absl::StrAppend(&text, "Content-Length: ", body.size(), "\r\n\r\n", ToAbsl(body));
    auto m = SipMessage::Parse(std::move(text));
    EXPECT_TRUE(m.ok()) << m.status();
    ReceiveInfo info;
    info.kind = TransportKind::kTls;
    info.source = *NetAddress::Parse("127.0.0.1:40000");
    info.local = *NetAddress::Parse("127.0.0.1:5061");
    info.connection = 1;
    info.authenticated_user = authenticated;
    transport_.Take();
    server_->transport_user().OnMessage(std::move(*m), info);
    for (auto it = transport_.sent.rbegin(); it != transport_.sent.rend(); ++it) {
      if (it->StartsWith("SIP/2.0") && !it->StartsWith("SIP/2.0 100")) return it->Parse();
    }
    ADD_FAILURE() << "no final response";
    return *SipMessage::Parse("SIP/2.0 500 None\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\n"
                              "From: <sip:x@x>;tag=1\r\nTo: <sip:x@x>\r\nCall-ID: x\r\n"
                              "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  }

  SipMessage Mras(std::string_view authenticated, std::string body = SipeRequest(),
                  std::string_view target = "sip:MRASLoc@example.test") {
    return Send("SERVICE", target, "alice", authenticated, kMrasContentType, body);
  }

  static std::string Header(const SipMessage& m, std::string_view name) {
    const sip::Header* h = m.FindHeader(name);
    return h ? std::string(h->value) : std::string();
  }

  std::string ProvisionedMrasUri() {
    SipMessage ok = Send("SUBSCRIBE", "sip:alice@example.test", "alice", "sip:alice@example.test",
                         kProvisioningV2RequestContentType,
                         "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/"
                         "sip/provisioninggrouplist\">"
                         "<provisioningGroup name=\"ServerConfiguration\"/>"
                         "</provisioningGroupList>",
                         kProvisioningV2Event);
    EXPECT_EQ(ok.status_code(), 200);
    absl::StatusOr<XmlDocument> doc = ParseXml(ok.body());
    EXPECT_TRUE(doc.ok()) << ok.body();
    if (!doc.ok()) return "<unparsed>";
    for (const XmlElement* g : doc->root().Children("provisionGroup")) {
      if (g->AttrOr("name", "") == "ServerConfiguration") {
        return std::string(g->ChildText("mrasUri"));
      }
    }
    return "";
  }

  SimulatedClock clock_;
  TimerWheel wheel_{clock_};
  FakeTransport transport_{&clock_};
  LocationStore location_;
  NoResolver resolver_;
  SnapshotDirectory directory_;
  MemoryRoamingStore store_;
  FakeAuthority authority_;
  std::unique_ptr<SipServer> server_;
  std::unique_ptr<FrontEndState> state_;
  std::unique_ptr<FrontEnd> front_end_;
  int branch_ = 0;
};

TEST_F(MrasFrontEndTest, SignedInUserGetsCredentialsFromTheDefaultMrasUri) {
  Start(authority_.Hook());
  SipMessage ok = Mras("sip:alice@example.test");
  ASSERT_EQ(ok.status_code(), 200) << ok.body();
  EXPECT_EQ(Header(ok, "Content-Type"), kMrasContentType);
  EXPECT_TRUE(absl::StrContains(ToAbsl(ok.body()),
                                "<username>1765170000:alice@example.test</username>"))
      << ok.body();
  EXPECT_TRUE(absl::StrContains(ToAbsl(ok.body()), "reasonPhrase=\"OK\""));
  ASSERT_EQ(authority_.asked.size(), 1u);
  EXPECT_EQ(authority_.asked[0].user, "sip:alice@example.test");
  EXPECT_EQ(state_->stats().mras_granted, 1u);
  // Provisioning tells clients where MRAS is.
  EXPECT_EQ(ProvisionedMrasUri(), "sip:MRASLoc@example.test");
}

TEST_F(MrasFrontEndTest, ConfiguredMrasUriIsProvisionedAndAnswered) {
  Start(authority_.Hook(), "sip:mras.pool@example.test");
  EXPECT_EQ(ProvisionedMrasUri(), "sip:mras.pool@example.test");
  EXPECT_EQ(Mras("sip:alice@example.test", SipeRequest(), "sip:mras.pool@example.test")
                .status_code(),
            200);
}

TEST_F(MrasFrontEndTest, UnsignedAndUnknownUsersAreRefused) {
  Start(authority_.Hook());
  SipMessage unsigned_request = Mras("");
  EXPECT_EQ(unsigned_request.status_code(), 403);
  EXPECT_TRUE(absl::StrContains(ToAbsl(unsigned_request.body()), "reasonPhrase=\"Forbidden\""));
  // bob is signed in but asks as alice.
  SipMessage impostor = Mras("sip:bob@example.test");
  EXPECT_EQ(impostor.status_code(), 403);
  // Authenticated, but not a user of the directory (e.g. removed since sign-in).
  SipMessage gone = Send("SERVICE", "sip:MRASLoc@example.test", "carol", "sip:carol@example.test",
                         kMrasContentType,
                         SipeRequest("sip:carol@example.test", "sip:carol@example.test"));
  EXPECT_EQ(gone.status_code(), 403);
  EXPECT_TRUE(authority_.asked.empty());
  EXPECT_EQ(state_->stats().mras_refused, 3u);
  EXPECT_EQ(state_->stats().mras_granted, 0u);
}

TEST_F(MrasFrontEndTest, LabModeTrustsFromButNotForRelayCredentials) {
  Start(authority_.Hook(), {}, /*require_authentication=*/false);
  EXPECT_EQ(Mras("").status_code(), 403);
  EXPECT_TRUE(authority_.asked.empty());
  EXPECT_EQ(Mras("sip:alice@example.test").status_code(), 200);
}

TEST_F(MrasFrontEndTest, MalformedIs400WithABodyAndGetsMsDiagnostics) {
  Start(authority_.Hook());
  SipMessage bad = Mras("sip:alice@example.test", "<request xmlns=\"http://schemas.microsoft.com/"
                                                  "2006/09/sip/mrasp\"><credentialsRequest");
  EXPECT_EQ(bad.status_code(), 400);
  EXPECT_TRUE(absl::StrContains(ToAbsl(bad.body()), "reasonPhrase=\"Request Malformed\""));
  // The gateway's outgoing filter gives it ms-diagnostics like every front-end error.
  std::string bytes = bad.Serialize();
  DiagnosticsFilter filter({"edge.example.test", {"example.test"}});
  EXPECT_TRUE(filter.OnOutgoing(bytes, [] { return true; }));
  EXPECT_TRUE(absl::StrContains(bytes, "ms-diagnostics: 4001;reason=\"XML parse failure.\""))
      << bytes;
}

TEST_F(MrasFrontEndTest, WrongContentTypeIs415WithAcceptAndNoBody) {
  Start(authority_.Hook());
  SipMessage r = Send("SERVICE", "sip:MRASLoc@example.test", "alice", "sip:alice@example.test",
                      "application/SOAP+xml", SipeRequest());
  EXPECT_EQ(r.status_code(), 415);
  EXPECT_EQ(Header(r, "Accept"), kMrasContentType);
  EXPECT_TRUE(r.body().empty());
  SipMessage none = Send("SERVICE", "sip:MRASLoc@example.test", "alice", "sip:alice@example.test",
                         "", "");
  EXPECT_EQ(none.status_code(), 415);
}

TEST_F(MrasFrontEndTest, OtherMethodsAre405) {
  Start(authority_.Hook());
  SipMessage r = Send("SUBSCRIBE", "sip:MRASLoc@example.test", "alice", "sip:alice@example.test",
                      "", "");
  EXPECT_EQ(r.status_code(), 405);
  EXPECT_EQ(Header(r, "Allow"), "SERVICE");
}

TEST_F(MrasFrontEndTest, RelayOffIs503AndProvisioningHasNoMrasUri) {
  Start(nullptr);
  EXPECT_EQ(ProvisionedMrasUri(), "");
  SipMessage off = Mras("sip:alice@example.test");
  EXPECT_EQ(off.status_code(), 503);
  EXPECT_TRUE(absl::StrContains(ToAbsl(off.body()), "reasonPhrase=\"Server Busy\""));
}

TEST_F(MrasFrontEndTest, SelfServiceIsStillTheContactListService) {
  Start(authority_.Hook());
  // A SERVICE to one's own URI with the MRAS content type is not MRAS: the front end's SOAP
  // handling refuses the type as before.
  SipMessage r = Send("SERVICE", "sip:alice@example.test", "alice", "sip:alice@example.test",
                      kMrasContentType, SipeRequest());
  EXPECT_NE(r.status_code(), 200);
  EXPECT_TRUE(authority_.asked.empty());
}

}  // namespace
}  // namespace causeway::sip::lync
