#pragma once
// MS-TURN exchange captured from libnice 0.1.21 (Debian 12, Nice.Compatibility.OC2007R2) by
// tests/integration/libnice_msturn_probe.py on loopback: credentials alice / secret, realm
// "causeway.test", nonce "0123456789abcdef0123456789abcdef". "libnice" messages are the exact bytes
// the client sent; "Responder" messages are the probe's answers that libnice accepted. Hex strings.

#include <cstdint>

namespace causeway::msturn::vectors {

inline constexpr char kUsername[] = "alice";
inline constexpr char kPassword[] = "secret";
inline constexpr char kRealm[] = "causeway.test";
inline constexpr char kNonce[] = "0123456789abcdef0123456789abcdef";
inline constexpr uint16_t kClientPort = 57853;  // libnice host socket, 127.0.0.1
inline constexpr uint16_t kRelayPort = 38583;   // the relayed address handed out, 127.0.0.1
inline constexpr uint16_t kPeerPort = 39813;    // the ICE peer, 127.0.0.1
inline constexpr char kConnectionId[] = "7f976e773088fcaac46e03260d17d4655bb54af8";  // hex

// libnice: first Allocate request (MAGIC-COOKIE, MS-VERSION 1).
inline constexpr char kAllocateRequest[] =
    "0003001032370682de500a2d0cbe685909f3a4ab000f000472c64bc68008000400000001";

// Responder: 401 with REALM (0x0015) and NONCE (0x0014); libnice retried with them.
inline constexpr char kAllocateUnauthorized[] =
    "0113005932370682de500a2d0cbe685909f3a4ab000f000472c64bc60009001000000401556e617574686f72"
    "697a65640015000d63617573657761792e746573740014002030313233343536373839616263646566303132"
    "333435363738396162636465668008000400000001";

// libnice: Allocate retry with REALM, NONCE, USERNAME "alice", MESSAGE-INTEGRITY (key from
// password "secret").
inline constexpr char kAllocateRequestAuthenticated[] =
    "000300665935439d7681110313d38aabf118f71d000f000472c64bc680080004000000010015000d63617573"
    "657761792e746573740014002030313233343536373839616263646566303132333435363738396162636465"
    "6600060005616c696365000800141a83e1e29eb41c417b5f3a3fb392c55ef34aff5e";

// Responder: success (MAPPED-ADDRESS relayed, XOR-MAPPED-ADDRESS 0x8020, LIFETIME 480,
// MS-VERSION 1, MS-SEQUENCE-NUMBER, MI); libnice verified its integrity and took the relayed
// address.
inline constexpr char kAllocateSuccess[] =
    "010300645935439d7681110313d38aabf118f71d000f000472c64bc600010008000196b77f00000180200008"
    "0001b8c82635439c000d0004000001e08008000400000001805000187f976e773088fcaac46e03260d17d465"
    "5bb54af80000000000080014e60aa0336a5eb7efe8e56c69b4c126b030a9eaec";

// libnice: Send request carrying an ICE connectivity check towards the peer (no response exists).
inline constexpr char kSendRequest[] =
    "000400de0e7947149da88d5ceb7b5f98ff517d09000f000472c64bc600060005616c6963650011000800019b"
    "857f0000018008000400000001805000187f976e773088fcaac46e03260d17d4655bb54af800000001001500"
    "0d63617573657761792e74657374001300700001005c2112a442467a8f24651b32921acca421002500000024"
    "00041ef003ff802a0008e38774f6de367ee00006001070656572757365723a38776c77000000805400043700"
    "0000807000040000000200080014e6e77d9ed709976a3ee3390f6c6952602c91f79a802800044cddece60008"
    "0014d0dfeb53abf773900586706f996f10051822fcc4";

// libnice: Set Active Destination request for the peer.
inline constexpr char kSetActiveDestinationRequest[] =
    "0006006205d8efc58f167d0febd5cecf4908e560000f000472c64bc600060005616c696365805000187f976e"
    "773088fcaac46e03260d17d4655bb54af8000000040015000d63617573657761792e74657374001100080001"
    "9b857f0000010008001497b0a5e6aba048c5a32005b1c0f397f1f25c9fcc";

// Responder: Set Active Destination success; libnice then sent media raw.
inline constexpr char kSetActiveDestinationSuccess[] =
    "0106002805d8efc58f167d0febd5cecf4908e560000f000472c64bc68008000400000001000800143e43be08"
    "b755483e67bfdda39691436819d9b9f6";

// Responder: Data indication from the peer (REMOTE-ADDRESS, DATA); libnice parsed it.
inline constexpr char kDataIndication[] =
    "011500373cd52e7c42c427aca0acbf54854e24be000f000472c64bc60012000800019b857f0000010013001f"
    "68656c6c6f206265666f7265206163746976652064657374696e6174696f6e";

// Over TCP (probe --transport tcp, another run): libnice's first Allocate in a [MS-TURN] 2.1.4
// control frame (type 0x02, reserved 0, length).
inline constexpr char kTcpControlFrame[] =
    "02000024000300106fe02ad5779f2c85c471aedaf145f0bd000f000472c64bc68008000400000001";

// libnice's media after Set Active Destination over TCP: an end-to-end data frame (type 0x03)
// whose payload starts with an RFC 4571 length (0x001e) — libnice frames its reliable component
// ICE-TCP style inside the MS-TURN frame.
inline constexpr char kTcpDataFrameFromClient[] =
    "03000020001e6d65646961206166746572206163746976652064657374696e6174696f6e";

// libnice's refresh (probe --lifetime 6, another run; libnice refreshes at LIFETIME / 2): an
// Allocate on the same 5-tuple, identical in form to the authenticated one (same REALM, NONCE,
// USERNAME; no LIFETIME).
inline constexpr char kAllocateRefresh[] =
    "0003006641346bb8c7056e3a9f22c09bd72df091000f000472c64bc680080004000000010015000d63617573"
    "657761792e746573740014002030313233343536373839616263646566303132333435363738396162636465"
    "6600060005616c6963650008001450085ff193a5d4eab7bc3291e385c9e93f2af7ea";

}  // namespace causeway::msturn::vectors
