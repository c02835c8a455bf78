// Writes the scenario seeds for every fuzzer: make_seeds fuzz/corpus
// FakeToken's key is fixed, so its sealed blobs open in any fuzz run. Rerun when a
// request, the sealed format or a harness's input layout changes, and commit what it
// writes. Files named regress_* are kept by hand and never written here.

#include "fuzz/seed_builders.h"

namespace keycell::enclave::seeds {
namespace {

void SealedSeeds() {
  const RecordRef ref = MakeRef("fuzz-record", 1, "fuzz");  // sealed_record_fuzzer.cc FuzzRef()
  const Policy minimal = MakePolicy({"api.example.com"});
  const Bytes blob = Seal(ref, minimal, Str("sk-test-123"));
  const auto put = [](const char* name, const Bytes& b) { Put("sealed_record_fuzzer", name, b); };
  put("blob_minimal", blob);
  put("blob_full_policy", Seal(ref, Full(), Str("sk-full-policy")));
  put("blob_4k_secret", Seal(ref, minimal, Bytes(4096, 0xa5)));
  put("blob_other_ref", Seal(MakeRef("fuzz-record", 2, "fuzz"), minimal, Str("x")));
  const auto variant = [&](const char* name, size_t at, uint8_t x) {
    Bytes b = blob;
    b[at] ^= x;
    put(name, b);
  };
  variant("blob_bad_magic", 0, 0x20);
  variant("blob_future_format", 4, 0x03);
  variant("blob_unknown_mechanism", 5, 0x02);
  variant("blob_reserved_bits", 7, 0x01);
  variant("blob_flipped_wrapped_dek", 30, 0x01);
  variant("blob_flipped_ciphertext", kSealedHeaderBytes, 0x80);
  variant("blob_flipped_tag", blob.size() - 1, 0x01);
  variant("blob_length_mismatch", 83, 0x01);
  put("blob_truncated", Bytes(blob.begin(), blob.end() - 1));
  put("blob_header_only", Bytes(blob.begin(), blob.begin() + kSealedHeaderBytes + kGcmTagBytes));

  // Plain payloads (policy_len | Policy | secret) for DecodeSealedPayload, and bare
  // encoded policies for the seal/unseal round trip.
  const auto encode = [](const Policy& p) {
    Bytes b(keycell_ipc_Policy_size);
    pb_ostream_t os = pb_ostream_from_buffer(b.data(), b.size());
    KC_CHECK(pb_encode(&os, keycell_ipc_Policy_fields, &p));
    b.resize(os.bytes_written);
    return b;
  };
  const Bytes enc = encode(minimal);
  const uint8_t n = static_cast<uint8_t>(enc.size());
  put("payload_minimal", Cat({Bytes{0, n}, enc, Str("secret")}));
  put("payload_bad_policy_len", Cat({Bytes{0xff, 0xff}, enc}));
  put("policy_minimal", enc);
  put("policy_full", encode(Full()));
  put("policy_invalid_host", encode(MakePolicy({"API.example.com"})));
  put("empty", {});
}

// framing_fuzzer layout: ctl | sizes[8] | stream.
void FramingSeeds() {
  const Bytes hello = Hello();
  const Bytes seal = SealReq(MakeRef("r", 1, "n"), MakePolicy({"a.example.com"}), Str("sk"));
  const Bytes one = Frames({hello});
  const Bytes two = Frames({hello, seal});
  const Bytes big(8, 255), bytewise(8, 0), mixed = {0, 3, 1, 7, 255, 2, 0, 5};
  const auto put = [](const char* name, uint8_t ctl, const Bytes& sizes, const Bytes& stream) {
    Put("framing_fuzzer", name, Cat({Bytes{ctl}, sizes, stream}));
  };
  put("one_frame_hello", 0, big, one);
  put("two_frames", 0, big, two);
  put("split_bytewise", 0, bytewise, two);
  put("split_mixed", 0, mixed, two);
  put("truncated_length", 0, big, Bytes{0, 0});
  put("truncated_body", 0, big, Cat({U32(100), Bytes(10, 1)}));
  put("keep_open_partial", 1, big, Cat({U32(100), Bytes(10, 1)}));
  put("oversized_length", 0, big, U32(ipc::kMaxFrameBytes + 1));
  put("zero_length", 0, big, U32(0));
  put("fd_on_first_byte", 2 | (0 << 2), big, two);
  put("fd_in_length_prefix", 2 | (2 << 2), bytewise, two);                 // chunk 2 = byte 2
  put("fd_in_payload", 2 | (1 << 2), Bytes{7, 3, 0, 0, 0, 0, 0, 0}, two);  // chunk 1 = byte 8
  put("fd_on_second_frame", 2 | (1 << 2),
      Bytes{static_cast<uint8_t>(one.size() - 1), 255, 255, 255, 255, 255, 255, 255}, two);
  put("two_fds", 2 | 0x20, big, one);
}

// env_line_fuzzer layout: name_len | name | value.
void EnvSeeds() {
  const auto put = [](const char* file, std::string_view name, const Bytes& value) {
    Put("env_line_fuzzer", file, Cat({Bytes{static_cast<uint8_t>(name.size())}, Str(name), value}));
  };
  put("simple", "API_KEY", Str("sk-abc123"));
  put("empty_value", "EMPTY", {});
  put("single_quote", "K", Str("it's"));
  put("both_quotes", "K", Str("it's \"x\""));
  put("quote_and_dollar", "K", Str("it's $HOME"));
  put("backslash", "K", Str("a\\b\\n"));
  put("crlf", "K", Str("a\r\nb"));
  put("multiline", "PEM", Str("-----BEGIN KEY-----\nabc\n-----END KEY-----\n"));
  put("comment_and_export", "K", Str("x # not a comment\nexport Y=1"));
  put("utf8_mixed", "K", Str("h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e"));
  put("invalid_overlong", "K", Bytes{0xc0, 0xaf});
  put("invalid_surrogate", "K", Bytes{0xed, 0xa0, 0x80});
  put("invalid_truncated", "K", Bytes{'a', 0xe2, 0x82});
  put("invalid_above_max", "K", Bytes{0xf4, 0x90, 0x80, 0x80});
  put("nul_in_value", "K", Bytes{'a', 0, 'b'});
  put("bad_name_digit", "1ABC", Str("v"));
  put("bad_name_equals", "A=B", Str("v"));
  put("empty_name", "", Str("v"));
}

}  // namespace
}  // namespace keycell::enclave::seeds

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_ROOT   (e.g. fuzz/corpus)\n", argv[0]);
    return 64;
  }
  keycell::enclave::seeds::g_root = argv[1];
  keycell::enclave::seeds::IpcSeeds();
  keycell::enclave::seeds::SealedSeeds();
  keycell::enclave::seeds::FramingSeeds();
  keycell::enclave::seeds::EnvSeeds();
  keycell::enclave::seeds::ChannelSeeds();
  printf("make_seeds: wrote %d seeds under %s\n", keycell::enclave::seeds::g_written, argv[1]);
  return 0;
}
