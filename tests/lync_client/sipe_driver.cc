// sipe_driver: a headless libpurple UI that drives the pidgin-sipe plugin (prpl-sipe), the real
// Lync-protocol client, for Causeway's integration tests.
//
// It initialises libpurple with null UI ops on a GLib main loop, loads prpl-sipe, creates one
// account from the command line, signs in, reads commands from stdin (one per line) and prints
// events on stdout as one JSON object per line. See README.md beside this file.
//
// Two fixes make SIPE usable headless on Debian 12:
//  * xmlSAXUserParseMemory is interposed: libxml2 2.9.14 never calls SAX1 startElement for a
//    handler marked XML_SAX2_MAGIC without startElementNs, which is how SIPE parses every XML
//    body. The executable exports its own definition (linked with --export-dynamic) so the
//    dlopen'ed libsipe.so binds to it; it hands libxml2 a SAX1 copy of such handlers.
//  * The "x509"/"tls_cached" certificate verifier that libpurple's SSL layer uses is replaced by
//    one that accepts only a peer certificate whose SHA-256 fingerprint equals --trust-cert's
//    (never prompts, so a wrong certificate is a connection error, not a hang).

#include <dlfcn.h>
#include <glib-unix.h>
#include <glib.h>
#include <gmodule.h>
#include <libxml/parser.h>
#include <purple.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr char kUiId[] = "causeway-sipe-driver";
constexpr char kPrplId[] = "prpl-sipe";
constexpr char kDefaultPluginDir[] = "/usr/lib/purple-2";
constexpr guint kShutdownGraceMs = 1500;  // time for SIPE's un-REGISTER to leave before exit
constexpr guint kShutdownHardSeconds = 10;

// ---------------------------------------------------------------------------------------------
// xmlSAXUserParseMemory interposition state.

bool g_interpose_enabled = true;
int g_sax_rewrites = 0;

// --host-name: SIPE's epid (and the +sip.instance made from it) is a hash of the sign-in
// address, g_get_host_name() and the local IP, so two clients of one user on one host would be
// one endpoint. Set before libpurple starts; glib caches the first answer.
const char* g_host_name = nullptr;

}  // namespace

// Exported like xmlSAXUserParseMemory: glib's g_get_host_name() binds to this gethostname.
extern "C" int gethostname(char* name, size_t len) {
  using RealFn = int (*)(char*, size_t);
  if (g_host_name == nullptr) {
    static RealFn real = reinterpret_cast<RealFn>(dlsym(RTLD_NEXT, "gethostname"));
    if (real == nullptr) {
      errno = ENOSYS;
      return -1;
    }
    return real(name, len);
  }
  const size_t n = std::strlen(g_host_name);
  if (n + 1 > len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(name, g_host_name, n + 1);
  return 0;
}

// Defined in the executable and exported (ENABLE_EXPORTS), so libsipe.so, loaded later with
// dlopen, binds its xmlSAXUserParseMemory reference here instead of in libxml2.
extern "C" int xmlSAXUserParseMemory(xmlSAXHandlerPtr sax, void* user_data, const char* buffer,
                                     int size) {
  using RealFn = int (*)(xmlSAXHandlerPtr, void*, const char*, int);
  static RealFn real = reinterpret_cast<RealFn>(dlsym(RTLD_NEXT, "xmlSAXUserParseMemory"));
  if (real == nullptr) {
    return -1;
  }
  if (g_interpose_enabled && sax != nullptr && sax->initialized == XML_SAX2_MAGIC &&
      sax->startElementNs == nullptr && sax->endElementNs == nullptr &&
      (sax->startElement != nullptr || sax->endElement != nullptr)) {
    // A SAX1-style handler wearing the SAX2 magic: give libxml2 a SAX1 copy so startElement and
    // endElement are called. libxml2 only keeps the pointer for the duration of the call.
    xmlSAXHandler copy = *sax;
    copy.initialized = 1;
    ++g_sax_rewrites;
    return real(&copy, user_data, buffer, size);
  }
  return real(sax, user_data, buffer, size);
}

namespace {

// ---------------------------------------------------------------------------------------------
// JSON event lines on stdout.

void AppendJsonString(std::string& out, const char* s) {
  out.push_back('"');
  if (s != nullptr) {
    for (const unsigned char* p = reinterpret_cast<const unsigned char*>(s); *p != 0; ++p) {
      switch (*p) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (*p < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", *p);
            out += buf;
          } else {
            out.push_back(static_cast<char>(*p));
          }
      }
    }
  }
  out.push_back('"');
}

class JsonEvent {
 public:
  explicit JsonEvent(const char* name) { Str("event", name); }

  JsonEvent& Str(const char* key, const char* value) {
    Key(key);
    if (value == nullptr) {
      body_ += "null";
    } else {
      // libpurple hands us UTF-8 from the network; never let invalid bytes break the JSON.
      gchar* valid = g_utf8_make_valid(value, -1);
      AppendJsonString(body_, valid);
      g_free(valid);
    }
    return *this;
  }
  JsonEvent& Str(const char* key, const std::string& value) { return Str(key, value.c_str()); }
  JsonEvent& Int(const char* key, long long value) {
    Key(key);
    body_ += std::to_string(value);
    return *this;
  }
  JsonEvent& Bool(const char* key, bool value) {
    Key(key);
    body_ += value ? "true" : "false";
    return *this;
  }
  // Appends an already-serialized JSON value.
  JsonEvent& Raw(const char* key, const std::string& json) {
    Key(key);
    body_ += json;
    return *this;
  }

  void Emit() {
    std::string line = "{" + body_ + "}\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

 private:
  void Key(const char* key) {
    if (!body_.empty()) body_.push_back(',');
    AppendJsonString(body_, key);
    body_.push_back(':');
  }
  std::string body_;
};

// ---------------------------------------------------------------------------------------------
// Options.

struct Options {
  std::string user;        // sip:alice@example.test
  std::string login;       // alice@example.test or DOMAIN\alice
  std::string password;
  std::string server;      // 127.0.0.1:5061
  std::string transport = "tls";
  std::string auth = "ntlm";
  std::string trust_cert;  // PEM file of the only certificate accepted
  std::string user_dir;
  std::string user_agent;
  std::string host_name;    // what gethostname() tells SIPE (its epid hashes it)
  std::string plugin_dir = kDefaultPluginDir;
  std::string debug_file;
  bool verbose = false;
  bool publish = false;
  bool selftest_xml = false;
  bool no_interpose = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: sipe_driver --user sip:alice@example.test [--login alice@example.test]\n"
               "         --password PW --server HOST:PORT [--transport tls|tcp|auto]\n"
               "         [--auth ntlm|krb5|tls-dsk] --trust-cert server.pem --user-dir DIR\n"
               "         [--user-agent UA] [--plugin-dir DIR] [--debug-file PATH] [--verbose]\n"
               "         [--publish] [--host-name NAME]\n"
               "       sipe_driver --selftest-xml [--no-interpose] [--user-dir DIR]\n"
               "commands on stdin: status <id> [note], im <uri> <text>, typing <uri> [stop],\n"
               "  add <uri> [group], remove <uri>, buddies, ping, quit\n");
}

bool ParseOptions(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sipe_driver: %s needs a value\n", arg.c_str());
        return false;
      }
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--user") ok = value(o.user);
    else if (arg == "--login") ok = value(o.login);
    else if (arg == "--password") ok = value(o.password);
    else if (arg == "--server") ok = value(o.server);
    else if (arg == "--transport") ok = value(o.transport);
    else if (arg == "--auth") ok = value(o.auth);
    else if (arg == "--trust-cert") ok = value(o.trust_cert);
    else if (arg == "--user-dir") ok = value(o.user_dir);
    else if (arg == "--user-agent") ok = value(o.user_agent);
    else if (arg == "--host-name") ok = value(o.host_name);
    else if (arg == "--plugin-dir") ok = value(o.plugin_dir);
    else if (arg == "--debug-file") ok = value(o.debug_file);
    else if (arg == "--verbose") o.verbose = true;
    else if (arg == "--publish") o.publish = true;
    else if (arg == "--selftest-xml") o.selftest_xml = true;
    else if (arg == "--no-interpose") o.no_interpose = true;
    else if (arg == "--help" || arg == "-h") {
      Usage();
      std::exit(0);
    } else {
      std::fprintf(stderr, "sipe_driver: unknown option %s\n", arg.c_str());
      ok = false;
    }
    if (!ok) return false;
  }
  if (o.user_dir.empty()) {
    std::fprintf(stderr, "sipe_driver: --user-dir is required (never ~/.purple)\n");
    return false;
  }
  if (!o.selftest_xml && (o.user.empty() || o.server.empty())) {
    std::fprintf(stderr, "sipe_driver: --user and --server are required\n");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Global driver state (libpurple callbacks are plain C functions).

struct Driver {
  Options opts;
  GMainLoop* loop = nullptr;
  PurpleAccount* account = nullptr;
  FILE* debug_file = nullptr;
  PurpleCertificate* trusted = nullptr;  // parsed --trust-cert
  std::string stdin_buffer;
  bool shutting_down = false;
  bool signed_on = false;
};

Driver g;

// Leaves without purple_core_quit() and without exit handlers: purple_core_quit() unloads every
// probed plugin, and unloading the Tcl loader (tcl.so, libtcl8.6) while its notifier thread runs
// crashes the process now and then. The account is already signed off when we get here; the
// private user dir needs nothing saved.
[[noreturn]] void ExitNow(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (g.debug_file != nullptr) std::fclose(g.debug_file);
  _exit(code);
}

// ---------------------------------------------------------------------------------------------
// Event loop UI ops on GLib.

constexpr int kReadCond = G_IO_IN | G_IO_HUP | G_IO_ERR;
constexpr int kWriteCond = G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;

struct InputClosure {
  PurpleInputFunction function;
  gpointer data;
};

gboolean InvokeInput(GIOChannel* channel, GIOCondition condition, gpointer data) {
  auto* closure = static_cast<InputClosure*>(data);
  int purple_cond = 0;
  if (condition & kReadCond) purple_cond |= PURPLE_INPUT_READ;
  if (condition & kWriteCond) purple_cond |= PURPLE_INPUT_WRITE;
  closure->function(closure->data, g_io_channel_unix_get_fd(channel),
                    static_cast<PurpleInputCondition>(purple_cond));
  return TRUE;
}

guint InputAdd(gint fd, PurpleInputCondition condition, PurpleInputFunction function,
               gpointer data) {
  auto* closure = g_new0(InputClosure, 1);
  closure->function = function;
  closure->data = data;
  int cond = 0;
  if (condition & PURPLE_INPUT_READ) cond |= kReadCond;
  if (condition & PURPLE_INPUT_WRITE) cond |= kWriteCond;
  GIOChannel* channel = g_io_channel_unix_new(fd);
  guint id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, static_cast<GIOCondition>(cond),
                                 InvokeInput, closure, g_free);
  g_io_channel_unref(channel);
  return id;
}

PurpleEventLoopUiOps g_eventloop_ops;

void InitEventLoopOps() {
  g_eventloop_ops.timeout_add = g_timeout_add;
  g_eventloop_ops.timeout_remove = g_source_remove;
  g_eventloop_ops.input_add = InputAdd;
  g_eventloop_ops.input_remove = g_source_remove;
  g_eventloop_ops.input_get_error = nullptr;
  g_eventloop_ops.timeout_add_seconds = g_timeout_add_seconds;
}

// ---------------------------------------------------------------------------------------------
// Debug UI ops: --debug-file gets everything, --verbose adds "log" events on stdout.

const char* DebugLevelName(PurpleDebugLevel level) {
  switch (level) {
    case PURPLE_DEBUG_MISC: return "misc";
    case PURPLE_DEBUG_INFO: return "info";
    case PURPLE_DEBUG_WARNING: return "warning";
    case PURPLE_DEBUG_ERROR: return "error";
    case PURPLE_DEBUG_FATAL: return "fatal";
    default: return "all";
  }
}

void DebugPrint(PurpleDebugLevel level, const char* category, const char* text) {
  if (g.debug_file != nullptr) {
    gint64 now = g_get_real_time();
    std::fprintf(g.debug_file, "%lld.%06lld %s %s: %s", static_cast<long long>(now / 1000000),
                 static_cast<long long>(now % 1000000), DebugLevelName(level),
                 category != nullptr ? category : "-", text != nullptr ? text : "");
    if (text == nullptr || text[0] == 0 || text[std::strlen(text) - 1] != '\n') {
      std::fputc('\n', g.debug_file);
    }
    std::fflush(g.debug_file);
  }
  if (g.opts.verbose) {
    std::string line = text != nullptr ? text : "";
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    JsonEvent("log")
        .Str("level", DebugLevelName(level))
        .Str("category", category)
        .Str("text", line)
        .Emit();
  }
}

gboolean DebugIsEnabled(PurpleDebugLevel, const char*) {
  return g.debug_file != nullptr || g.opts.verbose;
}

PurpleDebugUiOps g_debug_ops;

// ---------------------------------------------------------------------------------------------
// Conversation and notify UI ops: errors and notices the plugin writes for the user.

void WriteConv(PurpleConversation* conv, const char* who, const char* alias, const char* message,
               PurpleMessageFlags flags, time_t) {
  (void)alias;
  if (flags & PURPLE_MESSAGE_ERROR) {
    gchar* plain = purple_markup_strip_html(message);
    JsonEvent("im_error")
        .Str("to", purple_conversation_get_name(conv))
        .Str("text", plain)
        .Emit();
    g_free(plain);
  } else if (flags & PURPLE_MESSAGE_SYSTEM) {
    gchar* plain = purple_markup_strip_html(message);
    JsonEvent("im_system")
        .Str("conversation", purple_conversation_get_name(conv))
        .Str("who", who)
        .Str("text", plain)
        .Emit();
    g_free(plain);
  }
}

PurpleConversationUiOps g_conv_ops;

void* NotifyMessage(PurpleNotifyMsgType type, const char* title, const char* primary,
                    const char* secondary) {
  const char* kind = type == PURPLE_NOTIFY_MSG_ERROR     ? "error"
                     : type == PURPLE_NOTIFY_MSG_WARNING ? "warning"
                                                         : "info";
  JsonEvent("notify")
      .Str("type", kind)
      .Str("title", title)
      .Str("primary", primary)
      .Str("secondary", secondary)
      .Emit();
  return nullptr;
}

PurpleNotifyUiOps g_notify_ops;

// ---------------------------------------------------------------------------------------------
// Certificate pinning: replaces the "x509"/"tls_cached" verifier libpurple's SSL layer asks for.

std::string HexFingerprint(GByteArray* bytes) {
  std::string out;
  if (bytes == nullptr) return out;
  for (guint i = 0; i < bytes->len; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof(buf), i == 0 ? "%02X" : ":%02X", bytes->data[i]);
    out += buf;
  }
  g_byte_array_free(bytes, TRUE);
  return out;
}

void PinnedStartVerification(PurpleCertificateVerificationRequest* vrq) {
  PurpleCertificate* peer =
      vrq->cert_chain != nullptr ? static_cast<PurpleCertificate*>(vrq->cert_chain->data) : nullptr;
  std::string peer_fp =
      peer != nullptr ? HexFingerprint(purple_certificate_get_fingerprint_sha256(peer, FALSE)) : "";
  std::string trusted_fp =
      g.trusted != nullptr
          ? HexFingerprint(purple_certificate_get_fingerprint_sha256(g.trusted, FALSE))
          : "";
  bool ok = !peer_fp.empty() && peer_fp == trusted_fp;
  JsonEvent("tls_peer")
      .Str("host", vrq->subject_name)
      .Str("sha256", peer_fp)
      .Bool("trusted", ok)
      .Emit();
  purple_certificate_verify_complete(vrq,
                                     ok ? PURPLE_CERTIFICATE_VALID : PURPLE_CERTIFICATE_INVALID);
}

void PinnedDestroyRequest(PurpleCertificateVerificationRequest*) {}

PurpleCertificateVerifier g_pinned_verifier;
char g_verifier_scheme[] = "x509";
char g_verifier_name[] = "tls_cached";

bool InstallPinnedVerifier() {
  // The SSL plugin registers the x509 scheme; make sure it is loaded.
  if (!purple_ssl_is_supported()) {
    JsonEvent("fatal").Str("reason", "libpurple has no SSL plugin").Emit();
    return false;
  }
  PurpleCertificateScheme* x509 = purple_certificate_find_scheme("x509");
  if (x509 == nullptr) {
    JsonEvent("fatal").Str("reason", "no x509 certificate scheme").Emit();
    return false;
  }
  if (!g.opts.trust_cert.empty()) {
    g.trusted = purple_certificate_import(x509, g.opts.trust_cert.c_str());
    if (g.trusted == nullptr) {
      JsonEvent("fatal").Str("reason", "cannot read --trust-cert " + g.opts.trust_cert).Emit();
      return false;
    }
  }
  PurpleCertificateVerifier* builtin = purple_certificate_find_verifier("x509", "tls_cached");
  if (builtin != nullptr) purple_certificate_unregister_verifier(builtin);
  g_pinned_verifier.scheme_name = g_verifier_scheme;
  g_pinned_verifier.name = g_verifier_name;
  g_pinned_verifier.start_verification = PinnedStartVerification;
  g_pinned_verifier.destroy_request = PinnedDestroyRequest;
  return purple_certificate_register_verifier(&g_pinned_verifier);
}

// ---------------------------------------------------------------------------------------------
// Signals -> events.

const char* StatusMessage(PurpleStatus* status) {
  return status != nullptr ? purple_status_get_attr_string(status, "message") : nullptr;
}

void EmitBuddyStatus(const char* event, PurpleBuddy* buddy) {
  PurplePresence* presence = purple_buddy_get_presence(buddy);
  PurpleStatus* status = purple_presence_get_active_status(presence);
  PurpleGroup* group = purple_buddy_get_group(buddy);
  JsonEvent(event)
      .Str("uri", purple_buddy_get_name(buddy))
      .Str("alias", purple_buddy_get_alias_only(buddy))
      .Str("group", group != nullptr ? purple_group_get_name(group) : nullptr)
      .Str("status", status != nullptr ? purple_status_get_id(status) : nullptr)
      .Str("primitive", status != nullptr ? purple_primitive_get_id_from_type(
                                                purple_status_type_get_primitive(
                                                    purple_status_get_type(status)))
                                          : nullptr)
      .Str("message", StatusMessage(status))
      .Bool("online", purple_presence_is_online(presence))
      .Emit();
}

void OnSignedOn(PurpleConnection* gc, gpointer) {
  g.signed_on = true;
  JsonEvent("signed_on")
      .Str("account", purple_account_get_username(purple_connection_get_account(gc)))
      .Emit();
}

void OnSignedOff(PurpleConnection* gc, gpointer) {
  g.signed_on = false;
  JsonEvent("signed_off")
      .Str("account", purple_account_get_username(purple_connection_get_account(gc)))
      .Emit();
}

void OnConnectionError(PurpleConnection*, PurpleConnectionError error, const char* description,
                       gpointer) {
  JsonEvent("connection_error").Int("code", error).Str("reason", description).Emit();
}

void OnBuddyStatusChanged(PurpleBuddy* buddy, PurpleStatus*, PurpleStatus*, gpointer) {
  EmitBuddyStatus("buddy_status", buddy);
}

// libpurple emits exactly one of buddy-signed-on, buddy-signed-off, buddy-status-changed per
// update; all three become "buddy_status".
void OnBuddySignedOnOff(PurpleBuddy* buddy, gpointer) { EmitBuddyStatus("buddy_status", buddy); }

void OnBuddyAdded(PurpleBuddy* buddy, gpointer) {
  PurpleGroup* group = purple_buddy_get_group(buddy);
  JsonEvent("buddy_added")
      .Str("uri", purple_buddy_get_name(buddy))
      .Str("group", group != nullptr ? purple_group_get_name(group) : nullptr)
      .Emit();
}

void OnBuddyRemoved(PurpleBuddy* buddy, gpointer) {
  JsonEvent("buddy_removed").Str("uri", purple_buddy_get_name(buddy)).Emit();
}

void OnReceivedIm(PurpleAccount*, char* sender, char* message, PurpleConversation*,
                  PurpleMessageFlags flags, gpointer) {
  gchar* plain = purple_markup_strip_html(message);
  JsonEvent("im_received")
      .Str("from", sender)
      .Str("text", plain)
      .Str("html", message)
      .Int("flags", flags)
      .Emit();
  g_free(plain);
}

void OnBuddyTyping(PurpleAccount*, const char* name, gpointer) {
  JsonEvent("typing").Str("from", name).Str("state", "typing").Emit();
}

void OnBuddyTypingStopped(PurpleAccount*, const char* name, gpointer) {
  JsonEvent("typing").Str("from", name).Str("state", "stopped").Emit();
}

void ConnectSignals() {
  static int handle;
  void* h = &handle;
  purple_signal_connect(purple_connections_get_handle(), "signed-on", h,
                        PURPLE_CALLBACK(OnSignedOn), nullptr);
  purple_signal_connect(purple_connections_get_handle(), "signed-off", h,
                        PURPLE_CALLBACK(OnSignedOff), nullptr);
  purple_signal_connect(purple_connections_get_handle(), "connection-error", h,
                        PURPLE_CALLBACK(OnConnectionError), nullptr);
  purple_signal_connect(purple_blist_get_handle(), "buddy-status-changed", h,
                        PURPLE_CALLBACK(OnBuddyStatusChanged), nullptr);
  purple_signal_connect(purple_blist_get_handle(), "buddy-signed-on", h,
                        PURPLE_CALLBACK(OnBuddySignedOnOff), nullptr);
  purple_signal_connect(purple_blist_get_handle(), "buddy-signed-off", h,
                        PURPLE_CALLBACK(OnBuddySignedOnOff), nullptr);
  purple_signal_connect(purple_blist_get_handle(), "buddy-added", h,
                        PURPLE_CALLBACK(OnBuddyAdded), nullptr);
  purple_signal_connect(purple_blist_get_handle(), "buddy-removed", h,
                        PURPLE_CALLBACK(OnBuddyRemoved), nullptr);
  purple_signal_connect(purple_conversations_get_handle(), "received-im-msg", h,
                        PURPLE_CALLBACK(OnReceivedIm), nullptr);
  purple_signal_connect(purple_conversations_get_handle(), "buddy-typing", h,
                        PURPLE_CALLBACK(OnBuddyTyping), nullptr);
  purple_signal_connect(purple_conversations_get_handle(), "buddy-typing-stopped", h,
                        PURPLE_CALLBACK(OnBuddyTypingStopped), nullptr);
}

// ---------------------------------------------------------------------------------------------
// libpurple start-up.

PurpleCoreUiOps g_core_ops;

void UiInit() {
  purple_conversations_set_ui_ops(&g_conv_ops);
  purple_notify_set_ui_ops(&g_notify_ops);
}

void DebugUiInit() { purple_debug_set_ui_ops(&g_debug_ops); }

bool InitPurple() {
  g_debug_ops.print = DebugPrint;
  g_debug_ops.is_enabled = DebugIsEnabled;
  g_conv_ops.write_conv = WriteConv;
  g_notify_ops.notify_message = NotifyMessage;
  g_core_ops.debug_ui_init = DebugUiInit;
  g_core_ops.ui_init = UiInit;
  InitEventLoopOps();

  // Console debug (stdout) stays off: it would corrupt the JSON stream. SIPE logs when any of
  // enabled/verbose/unsafe is set, so "verbose" routes its output through our debug UI ops.
  // SIPE 1.25 prints whole SIP messages (headers and bodies) only when "unsafe" is on, and just
  // a "MESSAGE >>>>>>>>>> SIP(0x...)" marker otherwise: the debug file gets the whole messages.
  purple_debug_set_enabled(FALSE);
  purple_debug_set_verbose(g.debug_file != nullptr || g.opts.verbose);
  purple_debug_set_unsafe(g.debug_file != nullptr);

  // No D-Bus: libpurple would otherwise register on (or, with $DISPLAY set, autolaunch) a
  // session bus, and parallel drivers would fight over its service name.
  g_setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/causeway-sipe-driver", TRUE);
  purple_util_set_user_dir(g.opts.user_dir.c_str());
  purple_plugins_add_search_path(g.opts.plugin_dir.c_str());
  purple_core_set_ui_ops(&g_core_ops);
  purple_eventloop_set_ui_ops(&g_eventloop_ops);
  if (!purple_core_init(kUiId)) {
    JsonEvent("fatal").Str("reason", "purple_core_init failed").Emit();
    return false;
  }
  // purple_debug_init() (inside purple_core_init) honours PURPLE_* debug environment
  // variables; stdout must stay JSON-only whatever they say.
  purple_debug_set_enabled(FALSE);
  purple_debug_set_verbose(g.debug_file != nullptr || g.opts.verbose);
  purple_debug_set_unsafe(g.debug_file != nullptr);
  purple_set_blist(purple_blist_new());
  purple_blist_load();
  purple_prefs_load();
  PurplePlugin* prpl = purple_plugins_find_with_id(kPrplId);
  if (prpl == nullptr) {
    JsonEvent("fatal").Str("reason", "prpl-sipe not found in " + g.opts.plugin_dir).Emit();
    return false;
  }
  if (!purple_plugin_is_loaded(prpl) && !purple_plugin_load(prpl)) {
    JsonEvent("fatal").Str("reason", "prpl-sipe failed to load").Emit();
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Shutdown: sign off, give the un-REGISTER a moment, quit the loop; a hard alarm bounds it all.

gboolean QuitLoop(gpointer) {
  g_main_loop_quit(g.loop);
  return FALSE;
}

void BeginShutdown(const char* why) {
  if (g.shutting_down) return;
  g.shutting_down = true;
  alarm(kShutdownHardSeconds);
  JsonEvent("shutting_down").Str("reason", why).Emit();
  bool was_connected = g.account != nullptr && !purple_account_is_disconnected(g.account);
  if (g.account != nullptr) {
    purple_account_set_enabled(g.account, kUiId, FALSE);  // disconnects: SIPE deregisters
  }
  g_timeout_add(was_connected ? kShutdownGraceMs : 0, QuitLoop, nullptr);
}

gboolean OnTermSignal(gpointer) {
  BeginShutdown("signal");
  return G_SOURCE_CONTINUE;
}

// ---------------------------------------------------------------------------------------------
// Commands.

std::string NextToken(std::string& rest) {
  size_t start = rest.find_first_not_of(" \t");
  if (start == std::string::npos) {
    rest.clear();
    return "";
  }
  size_t end = rest.find_first_of(" \t", start);
  std::string token =
      rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (end == std::string::npos) {
    rest.clear();
  } else {
    size_t next = rest.find_first_not_of(" \t", end);
    rest = next == std::string::npos ? "" : rest.substr(next);
  }
  return token;
}

void CommandError(const std::string& command, const std::string& reason) {
  JsonEvent("command_error").Str("command", command).Str("reason", reason).Emit();
}

std::string StatusIdFor(const std::string& word) {
  if (word == "dnd") return "do-not-disturb";
  if (word == "brb") return "be-right-back";
  if (word == "lunch") return "out-to-lunch";
  if (word == "appear-offline") return "invisible";
  return word;
}

void CmdStatus(std::string rest) {
  std::string id = StatusIdFor(NextToken(rest));
  if (id.empty()) return CommandError("status", "usage: status <id> [note]");
  if (purple_account_get_status_type(g.account, id.c_str()) == nullptr) {
    return CommandError("status", "unknown status id " + id);
  }
  if (id == "offline") {
    purple_account_set_status(g.account, id.c_str(), TRUE, nullptr);
  } else {
    purple_account_set_status(g.account, id.c_str(), TRUE, "message", rest.c_str(), nullptr);
  }
  JsonEvent("status_set").Str("status", id).Str("message", rest).Emit();
}

PurpleConnection* ConnectedGc(const char* command) {
  PurpleConnection* gc = purple_account_get_connection(g.account);
  if (gc == nullptr || !purple_account_is_connected(g.account)) {
    CommandError(command, "not signed on");
    return nullptr;
  }
  return gc;
}

void CmdIm(std::string rest) {
  std::string to = NextToken(rest);
  if (to.empty() || rest.empty()) return CommandError("im", "usage: im <sip-uri> <text>");
  if (ConnectedGc("im") == nullptr) return;
  PurpleConversation* conv =
      purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, to.c_str(), g.account);
  if (conv == nullptr) conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, g.account, to.c_str());
  gchar* escaped = g_markup_escape_text(rest.c_str(), -1);
  purple_conv_im_send(PURPLE_CONV_IM(conv), escaped);
  g_free(escaped);
  JsonEvent("im_sent").Str("to", to).Str("text", rest).Emit();
}

void CmdTyping(std::string rest) {
  std::string to = NextToken(rest);
  if (to.empty()) return CommandError("typing", "usage: typing <sip-uri> [stop]");
  PurpleConnection* gc = ConnectedGc("typing");
  if (gc == nullptr) return;
  bool stop = NextToken(rest) == "stop";
  serv_send_typing(gc, to.c_str(), stop ? PURPLE_NOT_TYPING : PURPLE_TYPING);
  JsonEvent("typing_sent").Str("to", to).Str("state", stop ? "stopped" : "typing").Emit();
}

void CmdAdd(std::string rest) {
  std::string uri = NextToken(rest);
  if (uri.empty()) return CommandError("add", "usage: add <sip-uri> [group]");
  if (ConnectedGc("add") == nullptr) return;
  std::string group_name = rest.empty() ? "Contacts" : rest;
  PurpleGroup* group = purple_find_group(group_name.c_str());
  if (group == nullptr) {
    group = purple_group_new(group_name.c_str());
    purple_blist_add_group(group, nullptr);
  }
  PurpleBuddy* buddy = purple_find_buddy_in_group(g.account, uri.c_str(), group);
  if (buddy != nullptr) return CommandError("add", "already in group: " + uri);
  buddy = purple_buddy_new(g.account, uri.c_str(), nullptr);
  purple_blist_add_buddy(buddy, nullptr, group, nullptr);
  purple_account_add_buddy(g.account, buddy);
}

void CmdRemove(std::string rest) {
  std::string uri = NextToken(rest);
  if (uri.empty()) return CommandError("remove", "usage: remove <sip-uri>");
  if (ConnectedGc("remove") == nullptr) return;
  GSList* buddies = purple_find_buddies(g.account, uri.c_str());
  if (buddies == nullptr) return CommandError("remove", "no such buddy: " + uri);
  for (GSList* it = buddies; it != nullptr; it = it->next) {
    auto* buddy = static_cast<PurpleBuddy*>(it->data);
    purple_account_remove_buddy(g.account, buddy, purple_buddy_get_group(buddy));
    purple_blist_remove_buddy(buddy);
  }
  g_slist_free(buddies);
}

void CmdBuddies() {
  std::string list = "[";
  GSList* buddies = purple_find_buddies(g.account, nullptr);
  for (GSList* it = buddies; it != nullptr; it = it->next) {
    auto* buddy = static_cast<PurpleBuddy*>(it->data);
    PurplePresence* presence = purple_buddy_get_presence(buddy);
    PurpleStatus* status = purple_presence_get_active_status(presence);
    PurpleGroup* group = purple_buddy_get_group(buddy);
    std::string item = "{\"uri\":";
    AppendJsonString(item, purple_buddy_get_name(buddy));
    item += ",\"group\":";
    AppendJsonString(item, group != nullptr ? purple_group_get_name(group) : "");
    item += ",\"status\":";
    AppendJsonString(item, status != nullptr ? purple_status_get_id(status) : "");
    item += ",\"message\":";
    AppendJsonString(item, StatusMessage(status));
    item += std::string(",\"online\":") + (purple_presence_is_online(presence) ? "true" : "false");
    item += "}";
    if (list.size() > 1) list += ",";
    list += item;
  }
  g_slist_free(buddies);
  list += "]";
  JsonEvent("buddies").Raw("buddies", list).Emit();
}

void HandleCommand(const std::string& line) {
  std::string rest = line;
  std::string command = NextToken(rest);
  if (command.empty()) return;
  if (g.shutting_down) return CommandError(command, "shutting down");
  if (command == "quit") return BeginShutdown("quit");
  if (command == "ping") {
    JsonEvent("pong").Str("data", rest).Bool("signed_on", g.signed_on).Emit();
    return;
  }
  if (command == "status") return CmdStatus(rest);
  if (command == "im") return CmdIm(rest);
  if (command == "typing") return CmdTyping(rest);
  if (command == "add") return CmdAdd(rest);
  if (command == "remove") return CmdRemove(rest);
  if (command == "buddies") return CmdBuddies();
  CommandError(command, "unknown command");
}

gboolean OnStdin(GIOChannel*, GIOCondition, gpointer) {
  char buf[4096];
  ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return G_SOURCE_CONTINUE;
  if (n <= 0) {
    BeginShutdown("stdin closed");
    return G_SOURCE_REMOVE;
  }
  g.stdin_buffer.append(buf, static_cast<size_t>(n));
  size_t newline;
  while ((newline = g.stdin_buffer.find('\n')) != std::string::npos) {
    std::string line = g.stdin_buffer.substr(0, newline);
    g.stdin_buffer.erase(0, newline + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    HandleCommand(line);
  }
  return G_SOURCE_CONTINUE;
}

// ---------------------------------------------------------------------------------------------
// Account.

bool CreateAccount() {
  std::string name = g.opts.user;
  if (g_str_has_prefix(name.c_str(), "sip:")) name = name.substr(4);
  // SIPE's account name: "<sign-in address>,<login>" (login optional).
  if (!g.opts.login.empty()) name += "," + g.opts.login;
  g.account = purple_account_new(name.c_str(), kPrplId);
  purple_account_set_password(g.account, g.opts.password.c_str());
  purple_account_set_remember_password(g.account, FALSE);
  purple_account_set_string(g.account, "server", g.opts.server.c_str());
  purple_account_set_string(g.account, "transport", g.opts.transport.c_str());
  purple_account_set_string(g.account, "authentication", g.opts.auth.c_str());
  if (!g.opts.user_agent.empty()) {
    purple_account_set_string(g.account, "useragent", g.opts.user_agent.c_str());
  }
  // Keep SIPE on loopback in tests: no calendar publishing, no EWS autodiscovery.
  purple_account_set_bool(g.account, "dont-publish", !g.opts.publish);
  purple_account_set_string(g.account, "email_url", "");
  purple_accounts_add(g.account);

  PurpleSavedStatus* saved = purple_savedstatus_new(nullptr, PURPLE_STATUS_AVAILABLE);
  purple_savedstatus_activate(saved);
  purple_account_set_enabled(g.account, kUiId, TRUE);
  JsonEvent("account_created")
      .Str("account", name)
      .Str("server", g.opts.server)
      .Str("transport", g.opts.transport)
      .Emit();
  return true;
}

// ---------------------------------------------------------------------------------------------
// --selftest-xml: proves the interposition on the path SIPE uses.

int g_selftest_starts = 0;
std::string g_selftest_attr;

void SelftestStart(void*, const xmlChar* name, const xmlChar** attrs) {
  ++g_selftest_starts;
  if (attrs != nullptr && std::strcmp(reinterpret_cast<const char*>(name), "contact") == 0) {
    for (const xmlChar** a = attrs; a[0] != nullptr; a += 2) {
      if (std::strcmp(reinterpret_cast<const char*>(a[0]), "uri") == 0) {
        g_selftest_attr = reinterpret_cast<const char*>(a[1]);
      }
    }
  }
}

void SelftestEnd(void*, const xmlChar*) {}

[[noreturn]] void RunSelftestXml() {
  static const char kDoc[] =
      "<contactList xmlns=\"http://schemas.microsoft.com/2006/09/sip/contactlist\">"
      "<group id=\"1\" name=\"~\"/>"
      "<contact uri=\"sip:bob@example.test\" name=\"Bob\" groups=\"1\"/>"
      "</contactList>";
  const int doc_len = static_cast<int>(sizeof(kDoc) - 1);

  // 1. A handler shaped like SIPE's: XML_SAX2_MAGIC, startElement set, startElementNs unset.
  xmlSAXHandler handler;
  std::memset(&handler, 0, sizeof(handler));
  handler.initialized = XML_SAX2_MAGIC;
  handler.startElement = SelftestStart;
  handler.endElement = SelftestEnd;
  int rc = xmlSAXUserParseMemory(&handler, nullptr, kDoc, doc_len);

  // 2. SIPE's own parser inside libsipe.so, loaded by libpurple like in a real run.
  std::string sipe_root;
  std::string sipe_contact;
  bool sipe_loaded = InitPurple();
  if (sipe_loaded) {
    PurplePlugin* prpl = purple_plugins_find_with_id(kPrplId);
    gpointer parse = nullptr;
    gpointer child = nullptr;
    gpointer name = nullptr;
    gpointer attribute = nullptr;
    gpointer free_fn = nullptr;
    auto* module = static_cast<GModule*>(prpl->handle);
    if (module != nullptr && g_module_symbol(module, "sipe_xml_parse", &parse) &&
        g_module_symbol(module, "sipe_xml_child", &child) &&
        g_module_symbol(module, "sipe_xml_name", &name) &&
        g_module_symbol(module, "sipe_xml_attribute", &attribute) &&
        g_module_symbol(module, "sipe_xml_free", &free_fn)) {
      using ParseFn = void* (*)(const gchar*, gsize);
      using ChildFn = const void* (*)(const void*, const gchar*);
      using NameFn = const gchar* (*)(const void*);
      using AttrFn = const gchar* (*)(const void*, const gchar*);
      using FreeFn = void (*)(void*);
      void* root = reinterpret_cast<ParseFn>(parse)(kDoc, doc_len);
      if (root != nullptr) {
        const gchar* root_name = reinterpret_cast<NameFn>(name)(root);
        sipe_root = root_name != nullptr ? root_name : "";
        const void* contact = reinterpret_cast<ChildFn>(child)(root, "contact");
        const gchar* uri = contact != nullptr
                               ? reinterpret_cast<AttrFn>(attribute)(contact, "uri")
                               : nullptr;
        sipe_contact = uri != nullptr ? uri : "";
        reinterpret_cast<FreeFn>(free_fn)(root);
      }
    } else {
      sipe_loaded = false;
    }
  }
  bool ok = rc == 0 && g_selftest_starts == 3 && g_selftest_attr == "sip:bob@example.test" &&
            sipe_root == "contactList" && sipe_contact == "sip:bob@example.test";
  JsonEvent("selftest_xml")
      .Bool("interpose", g_interpose_enabled)
      .Int("parse_rc", rc)
      .Int("start_element_calls", g_selftest_starts)
      .Str("contact_uri", g_selftest_attr)
      .Bool("sipe_loaded", sipe_loaded)
      .Str("sipe_root", sipe_root)
      .Str("sipe_contact_uri", sipe_contact)
      .Int("handlers_rewritten", g_sax_rewrites)
      .Bool("ok", ok)
      .Emit();
  ExitNow(ok ? 0 : 1);
}

void PrintToStderr(const gchar* text) { std::fputs(text, stderr); }


}  // namespace

int main(int argc, char** argv) {
  if (!ParseOptions(argc, argv, g.opts)) {
    Usage();
    return 2;
  }
  // stdout carries JSON only: route g_print to stderr.
  g_set_print_handler(PrintToStderr);
  signal(SIGPIPE, SIG_IGN);
  g_interpose_enabled = !g.opts.no_interpose;
  if (!g.opts.host_name.empty()) g_host_name = g.opts.host_name.c_str();
  if (g_mkdir_with_parents(g.opts.user_dir.c_str(), 0700) != 0) {
    std::fprintf(stderr, "sipe_driver: cannot create %s\n", g.opts.user_dir.c_str());
    return 2;
  }
  if (!g.opts.debug_file.empty()) {
    g.debug_file = std::fopen(g.opts.debug_file.c_str(), "a");
    if (g.debug_file == nullptr) {
      std::fprintf(stderr, "sipe_driver: cannot open %s\n", g.opts.debug_file.c_str());
      return 2;
    }
  }
  g.loop = g_main_loop_new(nullptr, FALSE);
  if (g.opts.selftest_xml) RunSelftestXml();

  if (!InitPurple()) ExitNow(1);
  if (!InstallPinnedVerifier()) ExitNow(1);
  ConnectSignals();
  g_unix_signal_add(SIGTERM, OnTermSignal, nullptr);
  g_unix_signal_add(SIGINT, OnTermSignal, nullptr);
  GIOChannel* in = g_io_channel_unix_new(STDIN_FILENO);
  g_io_add_watch(in, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), OnStdin, nullptr);
  g_io_channel_unref(in);
  CreateAccount();
  JsonEvent("ready").Emit();

  g_main_loop_run(g.loop);

  JsonEvent("exited").Emit();
  ExitNow(0);
}
