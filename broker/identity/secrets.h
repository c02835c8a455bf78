#pragma once
// Making and hashing bearer secrets. A secret is "<prefix><43 base62 chars>", the 43
// characters being one 256-bit number from getrandom(2) written in base62 (62^43 > 2^256).
// Secrets live only in SecureBuffers; what is stored is their SHA-256. A plain hash (no
// salt, no slow KDF) is enough because the input has 256 bits of entropy: there is no
// dictionary to attack, and verification must stay cheap because it runs per request.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::broker::identity {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

// SHA-256 (mbedTLS) of `data`.
Sha256Digest Sha256(ByteView data);

// getrandom(2) into `out`, looping on short reads and EINTR. Errors: kInternal + errno.
Status FillRandom(MutableByteView out);

// Writes the 32-byte big-endian number `number` as exactly 43 base62 digits
// ("0-9A-Za-z", most significant first, zero-padded) into `out`. `number` is used as
// scratch and left zeroed.
void EncodeBase62Secret(MutableByteView number, MutableByteView out);

// A new secret "<prefix><43 base62>" in a SecureBuffer. Errors: kNoMem, kInternal.
Result<SecureBuffer> NewSecret(std::string_view prefix);

// Non-secret identifiers. "agt_" + 16 base62 (rejection-sampled, so unbiased).
Result<std::string> NewAgentId();
// 16 lower-case hex characters (64 bits), the MCP Key Manager's id shape.
Result<std::string> NewApiKeyId();

bool IsBase62(char c);

}  // namespace keycell::broker::identity
