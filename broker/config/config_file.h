#pragma once
// Finding and reading the config file. Internal to kc_broker_config (config.cc); public
// for its tests.

#include <optional>
#include <string>

#include "broker/config/environment.h"
#include "common/result.h"

namespace keycell::broker {

// Reads the config file at `path` (absolute). Returns nullopt when it does not exist
// and !required. Refuses, before reading a byte: anything but a regular file (a FIFO
// would block, /dev/zero never ends; opened O_NONBLOCK so even open() cannot hang),
// a file owned by a user other than us or root, and a group/other-writable file: the
// file names a library to load and a program to run, so whoever can write it can run
// code as us (OpenSSH refuses such a ~/.ssh/config for the same reason). Errors:
// kUpstreamIo (open/read failed; detail errno), kPolicyDenied (type, owner, mode),
// kTooLarge (more than kMaxConfigBytes). *why gets the message. May block on a slow
// filesystem, never on a FIFO.
Result<std::optional<std::string>> ReadConfigFile(const std::string& path, bool required,
                                                  std::string* why);

}  // namespace keycell::broker
