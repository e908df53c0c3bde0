// Parse / serialize throughput for a realistic Lync mix: REGISTER with NTLM Authorization,
// SERVICE with an enhanced-presence body, INVITE with ICE-laden SDP, BENOTIFY with XML.
// Target: >= 500k parses/s per core for the mix (Release build).

#include <cstdlib>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sip/codec/message.h"
#include "sip/codec/stream_framer.h"

namespace causeway::sip {
namespace {

std::string WithBody(std::string head, const std::string& body) {
  head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  return head + body;
}

std::string Register() {
  return WithBody(
      "REGISTER sip:contoso.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:51234\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@contoso.com>;tag=8f4d2e1a9b;epid=4a5b6c7d8e\r\n"
      "To: <sip:alice@contoso.com>\r\n"
      "Call-ID: 3b8d6f0e2c4a4e1f9a7b5c3d1e0f2a4b\r\n"
      "CSeq: 3 REGISTER\r\n"
      "Contact: <sip:192.168.1.20:51234;transport=tls;ms-opaque=d3470f2e1d>;methods=\"INVITE, "
      "MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";"
      "proxy=replace;+sip.instance=\"<urn:uuid:2b9c0e5d-1c3a-5f6e-9a8b-7c6d5e4f3a2b>\"\r\n"
      "User-Agent: UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)\r\n"
      "Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n"
      "Supported: ms-forking\r\n"
      "Supported: ms-cluster-failover\r\n"
      "Supported: ms-userservices-state-notification\r\n"
      "ms-keep-alive: UAC;hop-hop=yes\r\n"
      "Event: registration\r\n"
      "Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", "
      "opaque=\"A2B7C4F1\", targetname=\"fe01.contoso.com\", gssapi-data=\"TlRMTVNTUAADAAAAGA"
      "AYAHgAAAAYABgAkAAAAA4ADgBIAAAADAAMAFYAAAAWABYAYgAAAAAAAACoAAAABYKIogYBsR0AAAAPr3v/2v1F8t"
      "q7m0m5X9pY1kEAQwBNAEUAYQBsAGkAYwBlAEQARQBTAEsAVABPAFAALQAxADIAMwA0AGcXw2dN2yJq6Cq+9sC6"
      "n5g2w3X1kVYqjR9m1kP0KlH8H3N5yT0Zp8Yq\", version=4\r\n",
      "");
}

std::string Service() {
  std::string body =
      "<setPresence xmlns=\"http://schemas.microsoft.com/2006/09/sip/presence-service\">"
      "<publications uri=\"sip:alice@contoso.com\">"
      "<publication categoryName=\"state\" instance=\"1905960085\" container=\"2\" version=\"3\" "
      "expireType=\"endpoint\"><state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" "
      "manual=\"false\" xsi:type=\"machineState\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-"
      "instance\"><availability>3500</availability><endpointLocation></endpointLocation>"
      "</state></publication>"
      "<publication categoryName=\"calendarData\" instance=\"0\" container=\"300\" version=\"1\" "
      "expireType=\"static\"><calendarData xmlns=\"http://schemas.microsoft.com/2006/09/sip/"
      "calendarData\" mailboxID=\"alice@contoso.com\"><WorkingHours xmlns=\"http://schemas."
      "microsoft.com/exchange/services/2006/types\"><TimeZone><Bias>480</Bias><StandardTime>"
      "<Bias>0</Bias><Time>02:00:00</Time><DayOrder>1</DayOrder><Month>11</Month><DayOfWeek>"
      "Sunday</DayOfWeek></StandardTime></TimeZone><WorkingPeriodArray><WorkingPeriod>"
      "<DayOfWeek>Monday Tuesday Wednesday Thursday Friday</DayOfWeek><StartTimeInMinutes>480"
      "</StartTimeInMinutes><EndTimeInMinutes>1020</EndTimeInMinutes></WorkingPeriod>"
      "</WorkingPeriodArray></WorkingHours></calendarData></publication>"
      "<publication categoryName=\"device\" instance=\"1905960085\" container=\"2\" version=\"1\" "
      "expireType=\"endpoint\"><device xmlns=\"http://schemas.microsoft.com/2006/09/sip/device\" "
      "endpointId=\"2B9C0E5D-1C3A-5F6E-9A8B-7C6D5E4F3A2B\"><capabilities preferred=\"false\" "
      "uri=\"sip:alice@contoso.com\"><text capture=\"true\" render=\"true\" publish=\"false\"/>"
      "<gifInk capture=\"false\" render=\"true\" publish=\"false\"/><isfInk capture=\"false\" "
      "render=\"true\" publish=\"false\"/></capabilities><timezone>00:00:00-08:00</timezone>"
      "<machineName>ALICE-PC</machineName></device></publication></publications></setPresence>";
  return WithBody(
      "SERVICE sip:alice@contoso.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:51234;branch=z9hG4bK7f3c2a1e;ms-received-port=51234;"
      "ms-received-cid=1C00\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@contoso.com>;tag=5e9d0c8b7a;epid=4a5b6c7d8e\r\n"
      "To: <sip:alice@contoso.com>\r\n"
      "Call-ID: 7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29\r\n"
      "CSeq: 1 SERVICE\r\n"
      "Contact: <sip:alice@contoso.com;opaque=user:epid:XZwrK1wRUV6ai3xtXk86Kw;gruu>\r\n"
      "User-Agent: UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)\r\n"
      "Proxy-Authorization: TLS-DSK qop=\"auth\", realm=\"SIP Communications Service\", "
      "opaque=\"3E4F1A2B\", targetname=\"fe01.contoso.com\", crand=\"8c2a5e1f\", cnum=\"7\", "
      "response=\"0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6\"\r\n"
      "Content-Type: application/msrtc-category-publish+xml\r\n",
      body);
}

std::string Invite() {
  std::string sdp =
      "v=0\r\no=- 0 0 IN IP4 192.168.1.20\r\ns=session\r\nc=IN IP4 192.168.1.20\r\nb=CT:99980\r\n"
      "t=0 0\r\nm=audio 50012 RTP/SAVP 117 104 9 112 111 0 8 116 115 4 97 13 118 101\r\n"
      "a=x-ssrc-range:3251247872-3251247872\r\na=rtcp-fb:* x-message app send:dsh recv:dsh\r\n"
      "a=rtcp-rsize\r\na=label:main-audio\r\na=x-source:main-audio\r\n"
      "a=ice-ufrag:0b4g\r\na=ice-pwd:t2DCHsnHrAmsG3bH9ojFWA/E\r\n"
      "a=candidate:1 1 UDP 2130706431 192.168.1.20 50012 typ host\r\n"
      "a=candidate:1 2 UDP 2130705918 192.168.1.20 50013 typ host\r\n"
      "a=candidate:2 1 TCP-PASS 174455807 203.0.113.7 55821 typ relay raddr 198.51.100.4 rport "
      "55821\r\n"
      "a=candidate:2 2 TCP-PASS 174455294 203.0.113.7 55821 typ relay raddr 198.51.100.4 rport "
      "55821\r\n"
      "a=candidate:3 1 UDP 184547839 203.0.113.7 52302 typ relay raddr 198.51.100.4 rport 3478\r\n"
      "a=candidate:3 2 UDP 184547326 203.0.113.7 52303 typ relay raddr 198.51.100.4 rport 3478\r\n"
      "a=candidate:4 1 TCP-ACT 174846975 203.0.113.7 52302 typ relay raddr 198.51.100.4 rport "
      "3478\r\n"
      "a=candidate:5 1 UDP 1694234111 198.51.100.4 50012 typ srflx raddr 192.168.1.20 rport "
      "50012\r\n"
      "a=x-candidate-ipv6:6 1 UDP 2130705919 2001:db8::20 50014 typ host\r\n"
      "a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 "
      "inline:Qm9ndXNLZXlGb3JCZW5jaG1hcmtpbmcx|2^31|1:1\r\n"
      "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:Qm9ndXNLZXlGb3JCZW5jaG1hcmtpbmcy|2^31|1:1\r\n"
      "a=remote-candidates:1 198.51.100.9 50100 2 198.51.100.9 50101\r\n"
      "a=maxptime:200\r\na=rtcp:50013\r\na=rtpmap:117 G722/8000/2\r\na=rtpmap:104 SILK/16000\r\n"
      "a=fmtp:104 useinbandfec=1; usedtx=0\r\na=rtpmap:9 G722/8000\r\na=rtpmap:112 G7221/16000\r\n"
      "a=fmtp:112 bitrate=24000\r\na=rtpmap:111 SIREN/16000\r\na=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
      "a=ptime:20\r\n";
  return WithBody(
      "INVITE sip:bob@contoso.com;opaque=user:epid:Ab12Cd34;gruu SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 10.0.0.10:5061;branch=z9hG4bKfe01a;ms-internal-info=\"dq1b3c\"\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:51234;branch=z9hG4bK1a2b3c;ms-received-port=51234;"
      "ms-received-cid=1C00\r\n"
      "Record-Route: <sip:fe01.contoso.com:5061;transport=tls;opaque=state:T:F:Ci.R1c00;lr;"
      "ms-route-sig=aaVx1VxQ>\r\n"
      "Max-Forwards: 69\r\n"
      "From: \"Alice Example\" <sip:alice@contoso.com>;tag=c0ffee01;epid=4a5b6c7d8e\r\n"
      "To: <sip:bob@contoso.com>\r\n"
      "Call-ID: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:alice@contoso.com;opaque=user:epid:XZwrK1wRUV6ai3xtXk86Kw;gruu>\r\n"
      "User-Agent: UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)\r\n"
      "Supported: ms-dialog-route-set-update, timer, histinfo, ms-safe-transfer, ms-sender, "
      "ms-early-media, 100rel, replaces, ms-conf-invite\r\n"
      "ms-keep-alive: UAC;hop-hop=yes\r\n"
      "Allow: INVITE, BYE, ACK, CANCEL, INFO, UPDATE, REFER, NOTIFY, BENOTIFY, OPTIONS\r\n"
      "ms-subnet: 192.168.1.0\r\n"
      "ms-endpoint-location-data: NetworkScope;ms-media-location-type=Intranet\r\n"
      "P-Preferred-Identity: <sip:alice@contoso.com>, <tel:+14255550100>\r\n"
      "Session-Expires: 1800\r\n"
      "Content-Type: application/sdp\r\n",
      sdp);
}

std::string Benotify() {
  std::string body =
      "<roamingData xmlns=\"http://schemas.microsoft.com/2006/09/sip/roaming-self\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><categories xmlns=\"http://"
      "schemas.microsoft.com/2006/09/sip/categories\" uri=\"sip:bob@contoso.com\">"
      "<category name=\"state\" instance=\"1\" publishTime=\"2026-11-25T09:00:00.000\" "
      "container=\"2\" version=\"7\" expireType=\"user\"><state xsi:type=\"aggregateState\" "
      "xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\"><availability>3500"
      "</availability><delimiter xmlns=\"http://schemas.microsoft.com/2006/09/sip/"
      "commontypes\"/></state></category><category name=\"note\" instance=\"0\" "
      "publishTime=\"2026-11-25T08:55:00.000\" container=\"400\" version=\"2\" expireType=\""
      "static\"><note xmlns=\"http://schemas.microsoft.com/2006/09/sip/note\"><body type=\""
      "personal\" uri=\"\">In the lab all day</body></note></category></categories>"
      "</roamingData>";
  return WithBody(
      "BENOTIFY sip:alice@contoso.com;opaque=user:epid:XZwrK1wRUV6ai3xtXk86Kw;gruu SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 10.0.0.10:5061;branch=z9hG4bK9c8b7a\r\n"
      "Authentication-Info: TLS-DSK qop=\"auth\", opaque=\"3E4F1A2B\", srand=\"6A5B4C3D\", "
      "snum=\"88\", rspauth=\"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4\", "
      "targetname=\"fe01.contoso.com\", realm=\"SIP Communications Service\", version=4\r\n"
      "Max-Forwards: 70\r\n"
      "To: <sip:alice@contoso.com>;tag=5e9d0c8b7a;epid=4a5b6c7d8e\r\n"
      "From: <sip:alice@contoso.com>;tag=91c2ab30\r\n"
      "Call-ID: 1f2e3d4c5b6a79880796a5b4c3d2e1f0\r\n"
      "CSeq: 14 BENOTIFY\r\n"
      "Require: eventlist\r\n"
      "Event: vnd-microsoft-roaming-self\r\n"
      "Subscription-State: active;expires=35940\r\n"
      "ms-sequence-number: 14\r\n"
      "Content-Type: application/vnd-microsoft-roaming-self+xml\r\n",
      body);
}

const std::vector<std::string>& Mix() {
  static const std::vector<std::string> mix = {Register(), Service(), Invite(), Benotify()};
  return mix;
}

void CheckParses(const std::string& text) {
  if (!SipMessage::Parse(text).ok()) std::abort();  // a benchmark of failures is meaningless
}

void BM_Parse(benchmark::State& state) {
  const std::string& text = Mix()[static_cast<size_t>(state.range(0))];
  CheckParses(text);
  for (auto _ : state) {
    absl::StatusOr<SipMessage> m = SipMessage::Parse(text);  // includes the buffer copy
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_Parse)->ArgName("msg")->DenseRange(0, 3);  // 0 REGISTER 1 SERVICE 2 INVITE 3 BENOTIFY

void BM_ParseMix(benchmark::State& state) {
  const std::vector<std::string>& mix = Mix();
  int64_t bytes = 0;
  size_t i = 0;
  for (const std::string& m : mix) CheckParses(m);
  for (auto _ : state) {
    const std::string& text = mix[i++ & 3];
    absl::StatusOr<SipMessage> m = SipMessage::Parse(text);
    benchmark::DoNotOptimize(m);
    bytes += static_cast<int64_t>(text.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_ParseMix);

void BM_SerializeMix(benchmark::State& state) {
  std::vector<SipMessage> parsed;
  for (const std::string& m : Mix()) parsed.push_back(*SipMessage::Parse(m));
  int64_t bytes = 0;
  size_t i = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    parsed[i++ & 3].SerializeTo(&out);
    benchmark::DoNotOptimize(out.data());
    bytes += static_cast<int64_t>(out.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_SerializeMix);

void BM_ProxyForwardMix(benchmark::State& state) {
  // Parse, push a Via, drop a Route, decrement Max-Forwards, serialize: the proxy hot path.
  const std::vector<std::string>& mix = Mix();
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& text = mix[i++ & 3];
    absl::StatusOr<SipMessage> m = SipMessage::Parse(text);
    (void)m->PushVia("SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKbench");
    m->RemoveFirstRoute();
    m->SetMaxForwards(m->max_forwards().value_or(70) - 1);
    std::string out = m->Serialize();
    benchmark::DoNotOptimize(out.data());
    bytes += static_cast<int64_t>(text.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_ProxyForwardMix);

void BM_FrameStream(benchmark::State& state) {
  std::string stream;
  for (const std::string& m : Mix()) stream += m;
  int64_t frames = 0;
  for (auto _ : state) {
    std::string_view rest = stream;
    while (!rest.empty()) {
      FrameResult r = FrameStream(rest);
      if (!r.is_message()) std::abort();
      rest.remove_prefix(r.length);
      ++frames;
    }
  }
  state.SetItemsProcessed(frames);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
}
BENCHMARK(BM_FrameStream);

}  // namespace
}  // namespace causeway::sip

BENCHMARK_MAIN();
