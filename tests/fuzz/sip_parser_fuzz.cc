// Fuzzes the SIP codec: message parse, Serialize->Parse consistency, mutation, URI / name-addr /
// Via / auth / multipart parsers and the stream framer. Any crash, sanitizer report or broken
// invariant (abort) is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "sip/codec/message.h"
#include "sip/codec/multipart.h"
#include "sip/codec/name_addr.h"
#include "sip/codec/stream_framer.h"
#include "sip/codec/uri.h"

namespace {

using namespace causeway::sip;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

ParseLimits Unlimited() {
  return ParseLimits{std::numeric_limits<size_t>::max(), std::numeric_limits<size_t>::max(),
                     std::numeric_limits<size_t>::max()};
}

void FuzzMessage(std::string_view input) {
  absl::StatusOr<SipMessage> message = SipMessage::Parse(std::string(input));
  if (!message.ok()) return;
  // Canonical output must parse back to the same canonical output.
  std::string once = message->Serialize();
  absl::StatusOr<SipMessage> again = SipMessage::Parse(once, Unlimited());
  Check(again.ok(), "Parse(Serialize(m)) failed");
  Check(again->Serialize() == once, "Serialize is not idempotent");
  Check(again->vias().size() == message->vias().size(), "Via count changed");
  Check(again->call_id() == message->call_id(), "Call-ID changed");
  Check(again->body() == message->body(), "body changed");
  Check(again->cseq() == message->cseq(), "CSeq changed");
  // Lazy getters never crash, whatever they return.
  (void)message->GetContacts();
  (void)message->GetExpires();
  (void)message->GetContentType();
  (void)message->GetEvent();
  (void)message->GetTokens(HeaderId::kSupported);
  (void)message->GetAuth(HeaderId::kAuthorization);
  (void)message->GetAuth(HeaderId::kWwwAuthenticate);
  if (absl::StatusOr<MediaType> type = message->GetContentType(); type.ok()) {
    const Header* ct = message->FindHeader(HeaderId::kContentType);
    (void)ParseMultipartBody(ct->value, message->body());
  }
  // Mutation keeps the message serializable and parseable.
  SipMessage copy = message->Clone();
  Check(copy.Serialize() == once, "Clone differs");
  (void)copy.PushVia("SIP/2.0/TCP fuzz.example.com;branch=z9hG4bKfuzz");
  copy.PopVia();
  copy.RemoveFirstRoute();
  copy.SetMaxForwards(69);
  (void)copy.SetToTag("fuzztag");
  copy.SetBody("text/plain", "fuzz");
  absl::StatusOr<SipMessage> mutated = SipMessage::Parse(copy.Serialize(), Unlimited());
  Check(mutated.ok(), "mutated message does not parse");
  Check(mutated->Serialize() == copy.Serialize(), "mutated serialization unstable");
  if (message->is_request()) {
    SipMessage response = MakeResponse(*message, 486, {}, "t");
    absl::StatusOr<SipMessage> reparsed = SipMessage::Parse(response.Serialize(), Unlimited());
    Check(reparsed.ok(), "MakeResponse output does not parse");
  }
}

void FuzzFramer(std::string_view input) {
  ParseLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_header_line = 512;
  limits.max_headers = 20;
  std::string_view rest = input;
  for (int i = 0; i < 64 && !rest.empty(); ++i) {
    FrameResult r = FrameStream(rest, limits, (i & 1) != 0);
    if (r.is_error() || r.need_more()) break;
    Check(r.length > 0 && r.length <= rest.size(), "frame length out of range");
    if (r.is_message()) (void)SipMessage::Parse(std::string(rest.substr(0, r.length)), limits);
    rest.remove_prefix(r.length);
  }
}

// The incremental framer fed in small chunks must agree with the stateless one.
void FuzzIncrementalFramer(std::string_view input) {
  ParseLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_header_line = 512;
  limits.max_headers = 20;
  StreamFramer framer(limits);
  std::string buffer;
  size_t offset = 0;
  for (size_t guard = 0; guard < 2 * input.size() + 8; ++guard) {
    FrameResult a = framer.Next(buffer);
    FrameResult b = FrameStream(buffer, limits);
    Check(a.kind == b.kind && a.length == b.length, "incremental framer disagrees");
    if (a.is_error()) return;
    if (a.need_more()) {
      if (offset >= input.size()) return;
      buffer.append(input.substr(offset, 7));
      offset += 7;
      continue;
    }
    buffer.erase(0, a.length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzMessage(input);
  FuzzFramer(input);
  FuzzIncrementalFramer(input);
  if (size < 2048) {
    if (absl::StatusOr<Uri> uri = Uri::Parse(input); uri.ok()) {
      (void)uri->ToString();
      Check(UriEquivalent(*uri, *uri) || uri->scheme() == UriScheme::kTel,
            "URI not equal to itself");
    }
    (void)ParseNameAddr(input, true);
    (void)ParseVia(input);
    (void)ParseAuthValue(input);
    std::vector<std::string_view> items;
    (void)SplitCommaList(input, &items);
    (void)ParseMultipart(input, "boundary");
  }
  return 0;
}
