#include "sip/stack/registrar.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"

namespace causeway::sip {
namespace {

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

std::optional<uint32_t> ParseUint(std::string_view text) {
  uint32_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// q-value (RFC 3261 §20.10: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]) as thousandths.
std::optional<int> ParseQ(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  int whole = text[0] - '0';
  int milli = 0;
  if (text.size() > 1) {
    if (text[1] != '.' || text.size() > 5) return std::nullopt;
    int scale = 100;
    for (char c : text.substr(2)) {
      if (c < '0' || c > '9') return std::nullopt;
      milli += (c - '0') * scale;
      scale /= 10;
    }
  }
  int q = whole * 1000 + milli;
  if (q > 1000) return std::nullopt;
  return q;
}

std::string Unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    return UnquoteString(v.substr(1, v.size() - 2));
  }
  return std::string(v);
}

// RFC 1123 date as RFC 3261 §20.17 requires ("Sat, 13 Nov 2010 23:29:00 GMT").
std::string HttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
}

}  // namespace

ServedDomains::ServedDomains(std::vector<std::string> domains) {
  for (std::string& d : domains) {
    if (!d.empty()) domains_.push_back(Lower(d));
  }
}

bool ServedDomains::Serves(std::string_view host) const {
  if (domains_.empty()) return true;
  for (const std::string& d : domains_) {
    if (absl::EqualsIgnoreCase(ToAbsl(d), ToAbsl(host))) return true;
  }
  return false;
}

absl::StatusOr<std::string> CanonicalAor(const Uri& uri) {
  if (!uri.is_sip() || uri.host().empty()) {
    return absl::InvalidArgumentError("address-of-record must be a sip or sips URI");
  }
  std::string aor = "sip:";
  if (uri.has_user() && !uri.user().empty()) absl::StrAppend(&aor, UnescapeUri(uri.user()), "@");
  absl::StrAppend(&aor, Lower(uri.host()));
  if (uri.port()) absl::StrAppend(&aor, ":", *uri.port());
  return aor;
}

std::string ContactKey(const Uri& uri) {
  if (!uri.is_sip()) return absl::StrCat(Lower(uri.scheme_text()), ":", ToAbsl(uri.opaque()), ToAbsl(uri.user()));
  std::string key = uri.scheme() == UriScheme::kSips ? "sips:" : "sip:";
  if (uri.has_user()) absl::StrAppend(&key, UnescapeUri(uri.user()), "@");
  absl::StrAppend(&key, Lower(uri.host()));
  if (uri.port()) absl::StrAppend(&key, ":", *uri.port());
  for (std::string_view name : {"transport", "user", "method", "ttl", "maddr"}) {
    if (auto v = uri.Param(name)) absl::StrAppend(&key, ";", ToAbsl(name), "=", Lower(UnescapeUri(*v)));
  }
  return key;
}

std::string PublicGruu(std::string_view aor, std::string_view instance_id) {
  if (instance_id.size() >= 2 && instance_id.front() == '<' && instance_id.back() == '>') {
    instance_id = instance_id.substr(1, instance_id.size() - 2);
  }
  return absl::StrCat(ToAbsl(aor), ";gr=", ToAbsl(instance_id));
}

std::string LyncGruu(std::string_view aor, std::string_view epid) {
  return absl::StrCat(ToAbsl(aor), ";opaque=user:epid:", ToAbsl(epid), ";gruu");
}

std::optional<GruuTarget> GruuOf(const Uri& uri) {
  if (!uri.is_sip()) return std::nullopt;
  if (std::optional<std::string_view> gr = uri.Param("gr"); gr && !gr->empty()) {
    return GruuTarget{absl::StrCat("<", ToAbsl(UnescapeUri(*gr)), ">"), ""};
  }
  constexpr std::string_view kEpidPrefix = "user:epid:";
  std::optional<std::string_view> opaque = uri.Param("opaque");
  if (opaque && uri.HasParam("gruu") && opaque->substr(0, kEpidPrefix.size()) == kEpidPrefix &&
      opaque->size() > kEpidPrefix.size()) {
    return GruuTarget{"", std::string(opaque->substr(kEpidPrefix.size()))};
  }
  return std::nullopt;
}

bool BindingMatches(const Binding& binding, const GruuTarget& gruu) {
  if (!gruu.instance_id.empty()) return binding.instance_id == gruu.instance_id;
  return !gruu.epid.empty() && absl::EqualsIgnoreCase(ToAbsl(binding.epid), ToAbsl(gruu.epid));
}

std::string NewLocalTag() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  uint64_t v = rng();
  for (int i = 15; i >= 0; --i) {
    buf[i] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  }
  buf[16] = '\0';
  return std::string(buf, 16);
}

Registrar::Registrar(LocationStore& store, const Clock& clock, RegistrarOptions options,
                     RegisterAuthorizer* authorizer)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      domains_(options_.domains),
      authorizer_(authorizer) {
  if (options_.min_expires.count() < 0) options_.min_expires = std::chrono::seconds(0);
  if (options_.max_expires < options_.min_expires) options_.max_expires = options_.min_expires;
  if (!options_.wall_clock) options_.wall_clock = [] { return absl::Now(); };
  if (authorizer_ == nullptr) {
    log::Warn("registrar", "no authenticator configured: every REGISTER is accepted");
  }
  if (domains_.accepts_any()) {
    log::Warn("registrar", "no served domains configured: REGISTER accepted for any domain");
  }
}

SipMessage Registrar::Reject(const SipMessage& request, int code, std::string_view reason) {
  ++stats_.rejected;
  return MakeResponse(request, code, reason, NewLocalTag());
}

SipMessage Registrar::Handle(const SipMessage& request, const ReceiveInfo& info) {
  const TimePoint now = clock_.Now();

  // Step 1: the Request-URI names the registrar's domain (no user part per §10.2).
  const Uri& ruri = request.request_uri();
  if (!ruri.is_sip()) return Reject(request, 416);
  if (!domains_.Serves(ruri.host())) return Reject(request, 404, "Domain Not Served");

  // Step 5: the AOR from To, canonicalised; it must belong to a domain we serve.
  absl::StatusOr<std::string> aor = CanonicalAor(request.to().uri);
  if (!aor.ok()) return Reject(request, 404, "Invalid Address-of-Record");
  if (!domains_.Serves(request.to().uri.host())) return Reject(request, 404, "Domain Not Served");

  // Step 4: authentication / authorization (hook; see registrar.h).
  std::vector<std::pair<std::string, std::string>> auth_headers;
  if (authorizer_ != nullptr) {
    absl::Status auth = authorizer_->Authorize(request, *aor, info, &auth_headers);
    if (!auth.ok()) {
      SipMessage response = Reject(request, SipCodeOf(auth).value_or(403));
      for (const auto& [name, value] : auth_headers) {
        (void)response.AppendHeader(name, value);
      }
      return response;
    }
  }

  // Expires header (§10.2.1.1): a malformed value is treated like an absent one.
  std::optional<uint32_t> header_expires;
  if (request.FindHeader(HeaderId::kExpires) != nullptr) {
    absl::StatusOr<uint32_t> e = request.GetExpires();
    if (e.ok()) header_expires = *e;
  }

  absl::StatusOr<std::vector<NameAddr>> contacts = request.GetContacts();
  const bool query = !contacts.ok() && absl::IsNotFound(contacts.status());
  if (!contacts.ok() && !query) return Reject(request, 400, "Malformed Contact");

  RegisterUpdate update;
  update.call_id = std::string(request.call_id());
  update.cseq = request.cseq();
  update.epid = std::string(request.from().Param("epid").value_or(std::string_view()));
  update.flow = Flow{info.kind, info.source, info.local, info.connection};
  if (const Header* ua = request.FindHeader(HeaderId::kUserAgent)) {
    update.user_agent = std::string(ua->value.substr(0, 256));  // bounded: it is only metadata
  }
  absl::StatusOr<std::vector<std::string_view>> supported = request.GetTokens(HeaderId::kSupported);
  auto supports = [&supported](std::string_view option) {
    if (!supported.ok()) return false;
    return std::any_of(supported->begin(), supported->end(), [option](std::string_view t) {
      return absl::EqualsIgnoreCase(ToAbsl(t), ToAbsl(option));
    });
  };
  if (request.FindHeader(HeaderId::kPath) != nullptr) {
    absl::StatusOr<std::vector<NameAddr>> path = request.GetPath();
    if (!path.ok()) return Reject(request, 400, "Malformed Path");
    for (const NameAddr& p : *path) update.path.emplace_back(p.raw);
  }

  bool any_reg_id = false;
  if (!query) {
    // Step 6: "*" only alone and only with Expires: 0.
    const bool has_wildcard = std::any_of(contacts->begin(), contacts->end(),
                                          [](const NameAddr& c) { return c.wildcard; });
    if (has_wildcard) {
      if (contacts->size() != 1 || header_expires != 0u) {
        return Reject(request, 400, "Invalid Wildcard Contact");
      }
      update.remove_all = true;
    } else {
      for (const NameAddr& c : *contacts) {
        ContactUpdate cu;
        cu.contact_uri = std::string(c.uri_text);
        cu.contact_key = ContactKey(c.uri);
        // Step 7: expires param, else Expires header, else the default; malformed counts absent.
        std::optional<uint32_t> expires;
        if (auto p = c.Param("expires")) expires = ParseUint(*p);
        if (!expires) expires = header_expires;
        std::chrono::seconds requested =
            expires ? std::chrono::seconds(*expires) : options_.default_expires;
        if (requested.count() > 0 && requested < options_.min_expires) {
          // §10.3 step 7: 423 with the minimum we accept.
          SipMessage response = Reject(request, 423);
          (void)response.AppendHeader(HeaderId::kMinExpires,
                                      absl::StrCat(options_.min_expires.count()));
          return response;
        }
        cu.expires = std::min(requested, options_.max_expires);
        if (auto q = c.Param("q")) {
          std::optional<int> parsed = ParseQ(*q);
          if (!parsed) return Reject(request, 400, "Invalid q-value");
          cu.q_milli = *parsed;
        }
        if (auto inst = c.Param("+sip.instance")) cu.instance_id = Unquote(*inst);
        if (auto reg = c.Param("reg-id")) {
          cu.reg_id = ParseUint(*reg);
          if (!cu.reg_id) return Reject(request, 400, "Invalid reg-id");
          // RFC 5626 §6: reg-id without an instance is meaningless: treat as a plain contact.
          if (cu.instance_id.empty()) cu.reg_id.reset();
          any_reg_id = any_reg_id || cu.reg_id.has_value();
        }
        update.contacts.push_back(std::move(cu));
      }
    }
  }

  absl::StatusOr<std::vector<Binding>> bindings;
  if (query) {
    bindings = store_.Lookup(*aor, now);
  } else {
    bindings = store_.Apply(*aor, update, now);
  }
  if (!bindings.ok()) {
    log::Info("registrar", "REGISTER refused",
              {{"aor", *aor}, {"reason", FromAbsl(bindings.status().message())}});
    return Reject(request, SipCodeOf(bindings.status()).value_or(500));
  }

  // Step 8: 200 listing every current binding with its remaining lifetime.
  SipMessage response = MakeResponse(request, 200, {}, NewLocalTag());
  for (const Binding& b : *bindings) {
    auto remaining = std::chrono::ceil<std::chrono::seconds>(b.expires - now);
    std::string value = absl::StrCat("<", b.contact_uri, ">;expires=", remaining.count());
    if (b.q_milli != 1000) {
      char q[32];
      std::snprintf(q, sizeof(q), "%d.%03d", b.q_milli / 1000, b.q_milli % 1000);
      absl::StrAppend(&value, ";q=", q);
    }
    if (!b.instance_id.empty()) {
      absl::StrAppend(&value, ";+sip.instance=", QuoteString(b.instance_id));
      // RFC 5627 §5.4 public GRUU; Lync clients (gruu-10, MS-SIPREGE) read the `gruu` form.
      if (supports("gruu")) {
        absl::StrAppend(&value, ";pub-gruu=", QuoteString(PublicGruu(*aor, b.instance_id)));
      } else if (supports("gruu-10") && !b.epid.empty()) {
        absl::StrAppend(&value, ";gruu=", QuoteString(LyncGruu(*aor, b.epid)));
      }
    }
    if (b.reg_id) absl::StrAppend(&value, ";reg-id=", *b.reg_id);
    (void)response.AppendHeader(HeaderId::kContact, value);
  }
  // RFC 3327 §5.3: echo the stored Path only to UAs that said they support it.
  if (!update.path.empty() && supports("path")) {
    for (const std::string& p : update.path) (void)response.AppendHeader(HeaderId::kPath, p);
  }
  // RFC 5626 §6: tell an outbound-capable UA its flow is used for inbound requests.
  if (any_reg_id && supports("outbound") && request.vias().size() == 1) {
    (void)response.AppendHeader(HeaderId::kRequire, "outbound");
  }
  // One contact registered: its granted lifetime as Expires too. Lync clients (MS-SIPREGE) take
  // their refresh interval from this header and treat a missing one as a failed registration.
  if (update.contacts.size() == 1) {
    (void)response.AppendHeader(HeaderId::kExpires,
                                absl::StrCat(update.contacts.front().expires.count()));
  }
  (void)response.AppendHeader(HeaderId::kDate, HttpDate(options_.wall_clock()));
  if (options_.decorate_accepted) options_.decorate_accepted(request, response);
  ++stats_.accepted;
  if (update.remove_all) ++stats_.removed_all;
  return response;
}

}  // namespace causeway::sip
