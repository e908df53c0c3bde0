#pragma once
// Incremental XML stream parser (RFC 6120 §4) over expat: bytes in, callbacks out, no I/O.
//
//   StreamParser parser(handler);
//   absl::Status s = parser.Feed(bytes_from_the_socket);   // any chunking, even byte by byte
//   if (!s.ok()) send MakeStreamError(*StreamErrorOf(s)) and close;
//
// The handler sees the stream header (OnStreamOpen), every complete first-level element — stanza,
// stream features, SASL/TLS/dialback element, stream error — as an Element tree (OnStanza), and
// </stream:stream> (OnStreamClose). Namespaces are resolved (expat namespace mode).
//
// Errors are values: on the first violation the parser stops, and Feed returns (now and on every
// later call until Reset) a status carrying the RFC 6120 §4.9.3 condition to send (StreamErrorOf):
//   restricted-xml        DOCTYPE, entity declarations, references to undeclared entities,
//                         processing instructions, comments (RFC 6120 §11.1)
//   not-well-formed       ill-formed XML, invalid UTF-8
//   unsupported-encoding  an XML declaration naming an encoding other than UTF-8 (§11.6)
//   invalid-namespace     stream root not {http://etherx.jabber.org/streams}stream, or a content
//                         namespace other than jabber:client / jabber:server /
//                         jabber:component:accept
//   bad-namespace-prefix  stream root prefix other than `stream` (or none, §4.8.5), or a prefix
//                         that was never declared
//   bad-format            non-whitespace text between stanzas
//   policy-violation      a first-level element over max_stanza_bytes, nesting over max_depth,
//                         an element with more than max_attributes attributes
//
// Memory stays bounded: input is handed to expat in slices no larger than max_stanza_bytes and the
// bytes since the last completed stanza (expat's buffer, the tree being built) are checked after
// each, so the parser never holds much more than one stanza at its limit.
//
// Bytes after </stream:stream> are ignored until Reset().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/serializer.h"

struct XML_ParserStruct;

namespace causeway::xmpp {

struct StreamLimits {
  size_t max_stanza_bytes = 256 * 1024;  // one first-level element, start tag to end tag
  size_t max_depth = 32;                 // nesting inside a stanza; the stanza itself is level 1
  size_t max_attributes = 64;            // per element; namespace declarations not counted
};

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void OnStreamOpen(const StreamHeader& header) = 0;
  // A complete first-level element. The parser reuses `stanza` after the call: move from it to
  // keep it.
  virtual void OnStanza(Element& stanza) = 0;
  virtual void OnStreamClose() = 0;
};

class StreamParser {
 public:
  explicit StreamParser(StreamHandler& handler, StreamLimits limits = {});
  ~StreamParser();
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  // Parses the next bytes of the stream. OK, or the stream error that ended it (sticky).
  absl::Status Feed(std::string_view bytes);

  // Starts a fresh stream, as after STARTTLS and SASL success (RFC 6120 §5.4.3.3, §6.4.6): the
  // next bytes must begin with a new stream header. May be called from a handler callback: the
  // parser then stops right after the element being reported, Feed returns OK, and
  // last_feed_consumed() tells how many of its bytes were parsed (the rest belongs to the new
  // stream — or to TLS — and is for the caller to pass on).
  void Reset();

  // Bytes of the last Feed that were parsed (all of them unless Reset() was called from a
  // callback or the stream failed).
  size_t last_feed_consumed() const { return consumed_; }
  bool stream_open() const { return stream_open_; }
  bool stream_closed() const { return stream_closed_; }
  const StreamHeader& header() const { return header_; }
  const absl::Status& status() const { return status_; }
  const StreamLimits& limits() const { return limits_; }

 private:
  friend class StreamParserCallbacks;

  void InstallHandlers();
  void ClearState();
  void Fail(absl::Status status);

  StreamHandler& handler_;
  StreamLimits limits_;
  XML_ParserStruct* parser_ = nullptr;

  StreamHeader header_;
  std::vector<std::pair<std::string, std::string>> pending_declarations_;  // before the root
  Element stanza_;
  std::vector<Element*> open_;  // the stanza's open elements, innermost last
  size_t depth_ = 0;            // open elements including the stream root
  bool stream_open_ = false;
  bool stream_closed_ = false;
  absl::Status status_;

  // Byte accounting, absolute offsets since the stream (re)started.
  uint64_t fed_ = 0;             // bytes handed to expat
  uint64_t boundary_ = 0;        // end of the last complete stanza / header / stream-level text
  uint64_t stanza_begin_ = 0;    // '<' of the current stanza
  uint64_t stanza_tag_end_ = 0;  // end of the current stanza's start tag
  uint64_t event_end_ = 0;       // end of the construct being reported to the handler
  size_t consumed_ = 0;
  bool in_parse_ = false;
  bool reset_requested_ = false;
};

}  // namespace causeway::xmpp
