// ClassifyAddress and AddressPolicy: every range of the table in upstream_connect.cc,
// its edges, and the IPv6 forms that carry an IPv4 address.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string_view>

#include "broker/proxy/upstream_connect.h"

namespace keycell::broker::proxy {
namespace {

using C = AddressClass;

AddressClass Classify(std::string_view text) {
  const std::string s(text);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  if (inet_pton(AF_INET, s.c_str(), &in.sin_addr) == 1)
    return ClassifyAddress(reinterpret_cast<const sockaddr*>(&in));
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, s.c_str(), &in6.sin6_addr), 1) << s;
  return ClassifyAddress(reinterpret_cast<const sockaddr*>(&in6));
}

struct Case {
  std::string_view addr;
  AddressClass cls;
};

TEST(ClassifyAddressTest, Ipv4Table) {
  const Case kCases[] = {
      {"8.8.8.8", C::kPublic},
      {"1.1.1.1", C::kPublic},
      {"93.184.216.34", C::kPublic},
      // 0/8 and broadcast.
      {"0.0.0.0", C::kUnspecified},
      {"0.255.255.255", C::kUnspecified},
      {"1.0.0.0", C::kPublic},
      {"255.255.255.255", C::kBroadcast},
      {"255.255.255.254", C::kReserved},
      // RFC 1918, edges included.
      {"10.0.0.0", C::kPrivate},
      {"10.255.255.255", C::kPrivate},
      {"9.255.255.255", C::kPublic},
      {"11.0.0.0", C::kPublic},
      {"172.16.0.0", C::kPrivate},
      {"172.31.255.255", C::kPrivate},
      {"172.15.255.255", C::kPublic},
      {"172.32.0.0", C::kPublic},
      {"192.168.0.1", C::kPrivate},
      {"192.168.255.255", C::kPrivate},
      {"192.167.255.255", C::kPublic},
      {"192.169.0.0", C::kPublic},
      // CGNAT 100.64/10.
      {"100.64.0.0", C::kCgnat},
      {"100.127.255.255", C::kCgnat},
      {"100.63.255.255", C::kPublic},
      {"100.128.0.0", C::kPublic},
      // Loopback.
      {"127.0.0.1", C::kLoopback},
      {"127.255.255.254", C::kLoopback},
      {"126.255.255.255", C::kPublic},
      {"128.0.0.0", C::kPublic},
      // Link-local and the metadata addresses inside it.
      {"169.254.0.1", C::kLinkLocal},
      {"169.254.255.255", C::kLinkLocal},
      {"169.254.169.254", C::kMetadata},
      {"169.254.169.253", C::kLinkLocal},
      {"169.254.170.2", C::kMetadata},
      {"169.253.255.255", C::kPublic},
      {"169.255.0.0", C::kPublic},
      {"100.100.100.200", C::kMetadata},
      {"100.100.100.201", C::kCgnat},
      // Reserved and documentation.
      {"192.0.0.8", C::kReserved},
      {"192.0.2.1", C::kReserved},
      {"198.18.0.1", C::kReserved},
      {"198.19.255.255", C::kReserved},
      {"198.20.0.0", C::kPublic},
      {"198.51.100.7", C::kReserved},
      {"203.0.113.9", C::kReserved},
      {"240.0.0.1", C::kReserved},
      // Multicast.
      {"224.0.0.1", C::kMulticast},
      {"239.255.255.255", C::kMulticast},
      {"223.255.255.255", C::kPublic},
  };
  for (const Case& c : kCases) EXPECT_EQ(Classify(c.addr), c.cls) << c.addr;
}

TEST(ClassifyAddressTest, Ipv6Table) {
  const Case kCases[] = {
      {"2606:4700:4700::1111", C::kPublic},
      {"2001:4860:4860::8888", C::kPublic},
      {"::", C::kUnspecified},
      {"::1", C::kLoopback},
      {"::2", C::kUnspecified},  // IPv4-compatible 0.0.0.2
      {"fc00::1", C::kPrivate},
      {"fdff:ffff::1", C::kPrivate},
      {"fd00:ec2::254", C::kMetadata},
      {"fd00:ec2::253", C::kPrivate},
      {"fe80::1", C::kLinkLocal},
      {"febf:ffff::1", C::kLinkLocal},
      {"fec0::1", C::kPrivate},
      {"ff02::1", C::kMulticast},
      {"ff0e::1", C::kMulticast},
      {"100::1", C::kReserved},
      {"2001:db8::1", C::kReserved},
      {"64:ff9b:1::1", C::kPrivate},
      {"4000::1", C::kReserved},  // outside 2000::/3
      {"3fff:ffff::1", C::kPublic},
      // IPv4-mapped: what a dual-stack socket really connects to.
      {"::ffff:127.0.0.1", C::kLoopback},
      {"::ffff:10.1.2.3", C::kPrivate},
      {"::ffff:169.254.169.254", C::kMetadata},
      {"::ffff:100.64.0.1", C::kCgnat},
      {"::ffff:0.0.0.0", C::kUnspecified},
      {"::ffff:255.255.255.255", C::kBroadcast},
      {"::ffff:224.0.0.1", C::kMulticast},
      {"::ffff:8.8.8.8", C::kPublic},
      // IPv4-translated, IPv4-compatible, NAT64, 6to4.
      {"::ffff:0:127.0.0.1", C::kLoopback},
      {"::ffff:0:8.8.8.8", C::kPublic},
      {"::127.0.0.1", C::kLoopback},
      {"::169.254.169.254", C::kMetadata},
      {"::8.8.8.8", C::kPublic},
      {"64:ff9b::169.254.169.254", C::kMetadata},
      {"64:ff9b::7f00:1", C::kLoopback},
      {"64:ff9b::8.8.8.8", C::kPublic},
      {"2002:7f00:1::1", C::kLoopback},
      {"2002:a9fe:a9fe::", C::kMetadata},
      {"2002:c0a8:101::1", C::kPrivate},
      {"2002:808:808::1", C::kPublic},
  };
  for (const Case& c : kCases) EXPECT_EQ(Classify(c.addr), c.cls) << c.addr;
}

TEST(ClassifyAddressTest, OtherFamilies) {
  EXPECT_EQ(ClassifyAddress(nullptr), C::kUnsupported);
  sockaddr sa{};
  sa.sa_family = AF_UNIX;
  EXPECT_EQ(ClassifyAddress(&sa), C::kUnsupported);
}

TEST(AddressPolicyTest, WhatEachPolicyAllows) {
  struct Row {
    AddressClass cls;
    bool public_only, internal, metadata_only;
  };
  const Row kRows[] = {
      {C::kPublic, true, true, true},         {C::kPrivate, false, true, false},
      {C::kLoopback, false, true, false},     {C::kLinkLocal, false, true, false},
      {C::kCgnat, false, true, false},        {C::kReserved, false, true, false},
      {C::kMetadata, false, false, true},     {C::kUnspecified, false, false, false},
      {C::kMulticast, false, false, false},   {C::kBroadcast, false, false, false},
      {C::kUnsupported, false, false, false},
  };
  const AddressPolicy metadata{.allow_metadata = true};
  for (const Row& r : kRows) {
    SCOPED_TRACE(AddressClassName(r.cls));
    EXPECT_EQ(AddressPolicy::PublicOnly().Allows(r.cls), r.public_only);
    EXPECT_EQ(AddressPolicy::Internal().Allows(r.cls), r.internal);
    EXPECT_EQ(metadata.Allows(r.cls), r.metadata_only);
  }
}

}  // namespace
}  // namespace keycell::broker::proxy
