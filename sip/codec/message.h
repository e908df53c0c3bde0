#pragma once
// A parsed SIP message (RFC 3261 §7): one owned buffer that never moves, headers as string_views
// into it, routing headers parsed eagerly, everything else lazily through Get...() that never
// throws. Mutations (proxy/UA work) keep added text in stable storage owned by the message.
//
// Parse errors carry the SIP answer as a payload (causeway::SipCodeOf):
//   400  malformed start line, header, or a required header missing/duplicated/invalid
//        (Via, From, To, Call-ID, CSeq; Content-Length; CSeq method != request method)
//   505  SIP-Version other than SIP/2.0
//   413  the body (declared Content-Length) exceeds max_message_bytes
//   513  the message, header section, one header line or the header count exceeds the limits
//        (RFC 3261 §21.5.14 Message Too Large; SIP has no separate code for header limits)
// A response that fails to parse is never answered: callers drop it (RFC 3261 §18.1.2).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sip/codec/name_addr.h"
#include "sip/codec/small_vector.h"
#include "sip/codec/uri.h"

namespace causeway::sip {

struct ParseLimits {
  size_t max_message_bytes = 65535;  // whole message incl. body (a Lync NOTIFY can be ~60 KB)
  size_t max_headers = 100;          // header lines (a folded line counts once)
  size_t max_header_line = 8192;     // one header line incl. its continuation lines
};

enum class Method : uint8_t {
  kUnknown,
  kInvite,
  kAck,
  kBye,
  kCancel,
  kRegister,
  kOptions,
  kInfo,
  kMessage,
  kSubscribe,
  kNotify,
  kRefer,
  kPrack,
  kUpdate,
  kPublish,
  kService,   // Lync (MS-SIPRE)
  kBenotify,  // Lync best-effort NOTIFY (MS-SIP)
};

// Methods are case-sensitive (RFC 3261 §7.1): "invite" is an unknown method.
Method ParseMethod(std::string_view text);
std::string_view MethodName(Method method);  // "" for kUnknown

enum class HeaderId : uint8_t {
  kOther,  // anything not listed: kept with its spelling
  kVia,
  kFrom,
  kTo,
  kCallId,
  kCSeq,
  kContact,
  kMaxForwards,
  kRoute,
  kRecordRoute,
  kContentLength,
  kContentType,
  kExpires,
  kMinExpires,
  kSupported,
  kRequire,
  kProxyRequire,
  kUnsupported,
  kAllow,
  kWwwAuthenticate,
  kAuthorization,
  kProxyAuthenticate,
  kProxyAuthorization,
  kUserAgent,
  kServer,
  kEvent,
  kSubscriptionState,
  kPath,
  kAllowEvents,
  kAccept,
  kDate,
  kTimestamp,
  kContentEncoding,
  kSubject,
  kReferTo,
  kReferredBy,
  kSessionExpires,
  kAcceptContact,
  kRejectContact,
  kRequestDisposition,
  kIdentity,
  kIdentityInfo,
  kContentDisposition,
  kAuthenticationInfo,
  kRetryAfter,
  kWarning,
  kRSeq,
  kRAck,
  kSipEtag,
  kSipIfMatch,
  kMinSe,
  kCount,  // not a header: number of ids
};

// Case-insensitive; compact forms (v f t i m l c k s e o u r b x a j d y n) map to their id.
HeaderId LookupHeader(std::string_view name);
// Canonical long name ("Call-ID", "CSeq", "WWW-Authenticate"); "" for kOther.
std::string_view HeaderName(HeaderId id);

struct Header {
  HeaderId id = HeaderId::kOther;
  std::string_view name;   // as received (kOther keeps it; known ones serialize canonically)
  std::string_view value;  // trimmed; folding replaced by spaces
};

// One Via value (RFC 3261 §20.42). Views point into the message.
struct Via {
  std::string_view raw;               // the whole value ("SIP/2.0/UDP host:port;branch=...")
  std::string_view protocol_name;     // "SIP"
  std::string_view protocol_version;  // "2.0"
  std::string_view transport;         // as written: "UDP", "TCP", "TLS", "SCTP", "WS"...
  std::string_view host;              // IPv6 references keep brackets
  std::optional<uint16_t> port;
  std::string_view branch;  // "" when absent (RFC 2543 peers)
  std::string_view received;
  bool rport = false;                   // ;rport present (with or without a value)
  std::optional<uint16_t> rport_value;  // ;rport=N
  std::string_view maddr;
  std::optional<uint8_t> ttl;
  GenericParams params;  // every parameter, in order, including the ones above
};
absl::StatusOr<Via> ParseVia(std::string_view value);

using ViaList = SmallVector<Via, 2>;

class SipMessage {
 public:
  // Parses one complete message (a datagram, or a message framed by FrameStream). Bytes after the
  // body declared by Content-Length are ignored (RFC 3261 §18.3, RFC 4475 dblreq). Without
  // Content-Length the body is the rest of the input (datagrams only: streams require it).
  static absl::StatusOr<SipMessage> Parse(std::string bytes, const ParseLimits& limits = {});

  SipMessage(SipMessage&&) noexcept;
  SipMessage& operator=(SipMessage&&) noexcept;
  SipMessage(const SipMessage&) = delete;
  SipMessage& operator=(const SipMessage&) = delete;
  ~SipMessage();

  // Start line.
  bool is_request() const { return is_request_; }
  bool is_response() const { return !is_request_; }
  Method method() const { return method_; }  // requests only
  std::string_view method_text() const { return method_text_; }
  const Uri& request_uri() const { return request_uri_; }
  std::string_view request_uri_text() const { return request_uri_text_; }
  int status_code() const { return status_code_; }  // responses only
  std::string_view reason() const { return reason_; }

  // Headers in order (one entry per header line, values not comma-split).
  const std::vector<Header>& headers() const { return headers_; }
  std::string_view body() const { return body_; }

  // Eagerly parsed routing headers (always present on a parsed message).
  const ViaList& vias() const { return vias_; }  // every Via value, top first
  const NameAddr& from() const { return from_; }
  const NameAddr& to() const { return to_; }
  std::string_view from_tag() const { return from_.tag(); }
  std::string_view to_tag() const { return to_.tag(); }
  std::string_view call_id() const { return call_id_; }
  uint32_t cseq() const { return cseq_; }
  Method cseq_method() const { return cseq_method_; }
  std::string_view cseq_method_text() const { return cseq_method_text_; }
  std::optional<int> max_forwards() const { return max_forwards_; }
  size_t content_length() const { return body_.size(); }
  const std::vector<NameAddr>& routes() const { return routes_; }  // every value, in order
  const std::vector<NameAddr>& record_routes() const { return record_routes_; }

  // Lazily parsed headers. NotFound when the header is absent; InvalidArgument (SIP 400) when
  // malformed.
  absl::StatusOr<std::vector<NameAddr>> GetContacts() const;  // includes a "*" wildcard entry
  absl::StatusOr<uint32_t> GetExpires() const;
  absl::StatusOr<uint32_t> GetMinExpires() const;
  absl::StatusOr<MediaType> GetContentType() const;
  absl::StatusOr<TokenWithParams> GetEvent() const;
  absl::StatusOr<TokenWithParams> GetSubscriptionState() const;
  absl::StatusOr<std::vector<NameAddr>> GetPath() const;
  // Every token of every line of a token-list header (Supported, Require, Proxy-Require,
  // Unsupported, Allow, Allow-Events). An absent header yields an empty list, not an error.
  absl::StatusOr<std::vector<std::string_view>> GetTokens(HeaderId id) const;
  // Every value of WWW-Authenticate / Authorization / Proxy-Authenticate / Proxy-Authorization
  // (one per header line).
  absl::StatusOr<std::vector<AuthValue>> GetAuth(HeaderId id) const;
  // Every value of a name-addr list header (Contact, Route, Record-Route, Path, ...).
  absl::StatusOr<std::vector<NameAddr>> GetNameAddrs(HeaderId id) const;

  // Header lookup. FindHeader returns the first line or nullptr; by name is case-insensitive and
  // understands compact forms for known headers.
  const Header* FindHeader(HeaderId id) const;
  const Header* FindHeader(std::string_view name) const;
  std::vector<std::string_view> HeaderValues(HeaderId id) const;  // every line's value
  std::vector<std::string_view> HeaderValues(std::string_view name) const;

  // Mutation. Values are validated: on error nothing changes. Eager fields stay consistent.
  absl::Status SetRequestUri(std::string_view text);
  absl::Status SetStatus(int code, std::string_view reason = {});  // responses only
  absl::Status PushVia(std::string_view value);  // new top Via (its own line, first Via line)
  bool PopVia();                                 // removes the top Via value; false if none
  bool RemoveFirstRoute();                       // removes the first Route value; false if none
  absl::Status PrependHeader(HeaderId id, std::string_view value);
  absl::Status PrependHeader(std::string_view name, std::string_view value);
  absl::Status AppendHeader(HeaderId id, std::string_view value);
  absl::Status AppendHeader(std::string_view name, std::string_view value);
  // Removes every line of the header; returns how many. Removing From/To/Call-ID/CSeq/Via leaves
  // the matching eager field empty.
  size_t RemoveHeaders(HeaderId id);
  size_t RemoveHeaders(std::string_view name);
  absl::Status SetHeader(HeaderId id, std::string_view value);  // replaces every line by one
  absl::Status SetHeader(std::string_view name, std::string_view value);
  void SetMaxForwards(int value);
  absl::Status SetToTag(std::string_view tag);  // adds or replaces ;tag= on To
  // Replaces the body; an empty content_type removes Content-Type. Content-Length follows.
  void SetBody(std::string_view content_type, std::string_view body);

  // Canonical form: start line, "Name: value" per header line with canonical long names for known
  // headers (others keep their spelling), folded values unfolded, Content-Length last and
  // recomputed from the body.
  std::string Serialize() const;
  void SerializeTo(std::string* out) const;  // appends
  // An independent copy (its own buffer), equivalent to this message.
  SipMessage Clone() const;

 private:
  struct InPlace {
    explicit InPlace() = default;
  };

 public:
  // For absl::StatusOr's in-place construction only: the tag is private.
  explicit SipMessage(InPlace) {}

 private:
  SipMessage();
  friend SipMessage MakeResponse(const SipMessage&, int, std::string_view, std::string_view);

  absl::Status ParseInternal(const ParseLimits& limits);
  absl::Status Reindex();  // re-derives the eager fields from headers_
  absl::Status ValidateAndReindex(std::vector<Header> previous);
  std::string_view Own(std::string_view text);  // copies into stable storage
  std::string_view OwnedHeaderName(std::string_view name, HeaderId* id);
  absl::Status InsertHeader(HeaderId id, std::string_view name, std::string_view value, bool front);

  std::unique_ptr<std::string> buffer_;  // the received bytes; never moves
  std::deque<std::string> owned_;        // text added by mutation; deque keeps elements in place

  bool is_request_ = true;
  Method method_ = Method::kUnknown;
  std::string_view method_text_;
  std::string_view request_uri_text_;
  Uri request_uri_;
  int status_code_ = 0;
  std::string_view reason_;

  std::vector<Header> headers_;
  std::string_view body_;

  ViaList vias_;
  NameAddr from_;
  NameAddr to_;
  std::string_view call_id_;
  uint32_t cseq_ = 0;
  Method cseq_method_ = Method::kUnknown;
  std::string_view cseq_method_text_;
  std::optional<int> max_forwards_;
  std::vector<NameAddr> routes_;
  std::vector<NameAddr> record_routes_;
};

// A response to `request` per RFC 3261 §8.2.6: every Via, From, To (with `to_tag` added unless the
// code is 100 or To already has a tag), Call-ID, CSeq, Content-Length: 0. An empty reason uses
// DefaultReason(code). Characters that cannot appear in a reason phrase or tag are dropped.
SipMessage MakeResponse(const SipMessage& request, int code, std::string_view reason = {},
                        std::string_view to_tag = {});

// The RFC 3261 §21 reason phrase ("Not Found"), or a class default ("Client Error") for others.
std::string_view DefaultReason(int code);

}  // namespace causeway::sip
