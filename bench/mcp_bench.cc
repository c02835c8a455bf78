// tools/call latency over keycell's MCP transports, side by side with baselines in the
// same run (one call of each row per round, so load on a shared machine hits every row
// alike):
//   rest  GET /api/v1/whoami, /api/v1/credentials   the same answers without MCP
//   http  POST /mcp: ping, tools/call whoami, tools/call list_credentials
//   stdio `keycell mcp` (a relay to keycelld): ping, whoami, list_credentials
// Sequential calls (one client, one in flight): this is the latency an agent waits for.
// Prints a markdown table of p50/p90/p99 in µs and each row's p50 as a ratio of its
// baseline (MCP ping on the same transport; REST for http tools/call).
//
//   mcp_bench --http 127.0.0.1:PORT [--stdio /path/to/keycell] [--iterations 2000]
// The credential (API key) comes from $MCP_BENCH_TOKEN, never argv; `keycell mcp` gets it
// as KEYCELL_AGENT_TOKEN. bench/mcp_bench.sh sets everything up.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

namespace {

[[noreturn]] void Die(const std::string& why) {
  fprintf(stderr, "mcp_bench: %s\n", why.c_str());
  exit(1);
}

double NowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// ---- a minimal keep-alive HTTP/1.1 client (Content-Length or chunked bodies) ---------

class HttpClient {
 public:
  HttpClient(const std::string& host, int port, std::string token)
      : host_(host), port_(port), token_(std::move(token)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (fd_ < 0 || inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
        connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      Die("cannot connect to " + host + ":" + std::to_string(port));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpClient() { close(fd_); }

  struct Reply {
    int status = 0;
    std::string headers;  // raw, lower-cased names
    std::string body;
  };

  Reply Send(const char* method, const std::string& path, const std::string& body,
             const std::string& extra_headers = "") {
    std::string req = std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + host_ + ":" +
                      std::to_string(port_) + "\r\nAuthorization: Bearer " + token_ + "\r\n" +
                      extra_headers;
    if (!body.empty() || strcmp(method, "POST") == 0)
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    req += "\r\n" + body;
    for (size_t off = 0; off < req.size();) {
      const ssize_t n = write(fd_, req.data() + off, req.size() - off);
      if (n <= 0) Die("write failed");
      off += static_cast<size_t>(n);
    }
    Reply r;
    const size_t end = ReadUntil("\r\n\r\n");
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (sscanf(head.c_str(), "HTTP/1.1 %d", &r.status) != 1) Die("bad status line: " + head);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(tolower(c)); });
    r.headers = head;
    if (const size_t cl = head.find("\ncontent-length:"); cl != std::string::npos) {
      const size_t n = strtoul(head.c_str() + cl + 16, nullptr, 10);
      Fill(n);
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
    } else if (head.find("transfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        const size_t line = ReadUntil("\r\n");
        const size_t n = strtoul(buf_.c_str(), nullptr, 16);
        buf_.erase(0, line + 2);
        Fill(n + 2);
        r.body.append(buf_, 0, n);
        buf_.erase(0, n + 2);
        if (n == 0) break;
      }
    }
    return r;
  }

 private:
  size_t ReadUntil(const char* delim) {
    for (;;) {
      if (const size_t at = buf_.find(delim); at != std::string::npos) return at;
      More();
    }
  }
  void Fill(size_t n) {
    while (buf_.size() < n) More();
  }
  void More() {
    char chunk[16384];
    const ssize_t n = read(fd_, chunk, sizeof chunk);
    if (n <= 0) Die("connection closed by keycelld");
    buf_.append(chunk, static_cast<size_t>(n));
  }

  int fd_ = -1;
  std::string host_;
  int port_;
  std::string token_;
  std::string buf_;
};

// The JSON-RPC message of a reply: the body, or the last `data:` of an SSE body.
std::string MessageOf(const HttpClient::Reply& r) {
  if (r.headers.find("content-type: text/event-stream") == std::string::npos) return r.body;
  std::string last;
  for (size_t at = 0; (at = r.body.find("data: ", at)) != std::string::npos; at += 6) {
    last = r.body.substr(at + 6, r.body.find('\n', at) - at - 6);
  }
  return last;
}

// A call answered with a JSON-RPC error, an isError result or anything but 200 aborts the
// run: a benchmark of failures measures nothing.
void Expect(bool ok, const std::string& what, const std::string& got) {
  if (!ok) Die(what + ": unexpected answer: " + got.substr(0, 300));
}

bool IsSuccess(const std::string& message) {
  return message.find("\"result\"") != std::string::npos &&
         message.find("\"isError\":true") == std::string::npos;
}

class McpHttp {
 public:
  McpHttp(const std::string& host, int port, const std::string& token)
      : http_(host, port, token) {
    auto init = http_.Send("POST", "/mcp", Initialize(), kAccept);
    Expect(init.status == 200 && IsSuccess(MessageOf(init)), "initialize", init.body);
    const size_t at = init.headers.find("\nmcp-session-id: ");
    if (at == std::string::npos) Die("no Mcp-Session-Id");
    session_ = init.headers.substr(at + 17, init.headers.find('\r', at) - at - 17);
    auto done = http_.Send("POST", "/mcp", R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
                           Headers());
    Expect(done.status == 202, "notifications/initialized", done.body);
  }
  static std::string Initialize() {
    return R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp_bench","version":"1"}}})";
  }
  void Call(const std::string& request) {
    auto r = http_.Send("POST", "/mcp", request, Headers());
    Expect(r.status == 200 && IsSuccess(MessageOf(r)), request, r.body);
  }
  void Rest(const std::string& path) {
    auto r = http_.Send("GET", path, "");
    Expect(r.status == 200, path, r.body);
  }

 private:
  static constexpr const char* kAccept = "Accept: application/json, text/event-stream\r\n";
  std::string Headers() const {
    return std::string(kAccept) + "Mcp-Session-Id: " + session_ +
           "\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  }
  HttpClient http_;
  std::string session_;
};

// `keycell mcp` on two pipes.
class McpStdio {
 public:
  McpStdio(const std::string& keycell, const std::string& token) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) Die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<std::string> env_strings = {"KEYCELL_AGENT_TOKEN=" + token};
    for (char** e = environ; *e != nullptr; ++e) {
      if (strncmp(*e, "KEYCELL_AGENT_TOKEN=", 20) != 0 && strncmp(*e, "MCP_BENCH_TOKEN=", 16) != 0)
        env_strings.push_back(*e);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string arg0 = keycell, arg1 = "mcp";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    if (posix_spawn(&pid_, keycell.c_str(), &fa, nullptr, argv, envp.data()) != 0)
      Die("cannot start " + keycell + " mcp");
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
    Expect(IsSuccess(Exchange(McpHttp::Initialize())), "stdio initialize", buf_);
    Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
  ~McpStdio() {
    close(to_);  // EOF: keycell mcp exits
    close(from_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  void Call(const std::string& request) {
    const std::string reply = Exchange(request);
    Expect(IsSuccess(reply), request, reply);
  }

 private:
  void Send(const std::string& line) {
    const std::string framed = line + "\n";
    if (write(to_, framed.data(), framed.size()) != static_cast<ssize_t>(framed.size()))
      Die("write to keycell mcp failed");
  }
  std::string Exchange(const std::string& request) {
    Send(request);
    for (;;) {
      if (const size_t nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (line.find("\"id\"") != std::string::npos) return line;  // skip notifications
        continue;
      }
      char chunk[16384];
      const ssize_t n = read(from_, chunk, sizeof chunk);
      if (n <= 0) Die("keycell mcp closed its stdout");
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_;
};

std::string ToolCall(int id, const char* name) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":")" + name + R"(","arguments":{}}})";
}
std::string Ping(int id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":"ping"})";
}

struct Row {
  std::string name;
  int baseline;  // index of the row this one is compared to; -1 for none
  std::function<void(int)> call;
  std::vector<double> us;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string http, keycell;
  int iterations = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--http") http = argv[i + 1];
    else if (flag == "--stdio") keycell = argv[i + 1];
    else if (flag == "--iterations") iterations = atoi(argv[i + 1]);
    else Die("usage: mcp_bench --http HOST:PORT [--stdio KEYCELL] [--iterations N]");
  }
  const char* token = getenv("MCP_BENCH_TOKEN");
  if (http.empty() || token == nullptr || iterations < 10)
    Die("usage: MCP_BENCH_TOKEN=kc_... mcp_bench --http HOST:PORT [--stdio KEYCELL] [--iterations N]");
  signal(SIGPIPE, SIG_IGN);
  const size_t colon = http.rfind(':');
  const std::string host = http.substr(0, colon);
  const int port = atoi(http.c_str() + colon + 1);

  McpHttp mcp_http(host, port, token);
  std::vector<Row> rows;
  rows.push_back({"rest GET /api/v1/whoami", -1, [&](int) { mcp_http.Rest("/api/v1/whoami"); }, {}});
  rows.push_back({"rest GET /api/v1/credentials", -1,
                  [&](int) { mcp_http.Rest("/api/v1/credentials"); }, {}});
  rows.push_back({"http ping", -1, [&](int id) { mcp_http.Call(Ping(id)); }, {}});
  rows.push_back({"http tools/call whoami", 0,
                  [&](int id) { mcp_http.Call(ToolCall(id, "whoami")); }, {}});
  rows.push_back({"http tools/call list_credentials", 1,
                  [&](int id) { mcp_http.Call(ToolCall(id, "list_credentials")); }, {}});
  std::unique_ptr<McpStdio> stdio;
  if (!keycell.empty()) {
    stdio = std::make_unique<McpStdio>(keycell, token);
    rows.push_back({"stdio ping", 2, [&](int id) { stdio->Call(Ping(id)); }, {}});
    rows.push_back({"stdio tools/call whoami", 3,
                    [&](int id) { stdio->Call(ToolCall(id, "whoami")); }, {}});
    rows.push_back({"stdio tools/call list_credentials", 4,
                    [&](int id) { stdio->Call(ToolCall(id, "list_credentials")); }, {}});
  }
  int id = 1;
  for (int round = -20; round < iterations; ++round) {  // 20 warm-up rounds
    for (Row& row : rows) {
      const double start = NowUs();
      row.call(id++);
      if (round >= 0) row.us.push_back(NowUs() - start);
    }
  }
  printf("%d sequential calls per row, interleaved\n\n", iterations);
  printf("| row | p50 µs | p90 µs | p99 µs | p50 ÷ baseline |\n|---|---:|---:|---:|---|\n");
  for (const Row& row : rows) {
    const double p50 = Percentile(row.us, 0.50);
    std::string ratio = "–";
    if (row.baseline >= 0) {
      char buf[96];
      snprintf(buf, sizeof buf, "%.2f× %s", p50 / Percentile(rows[row.baseline].us, 0.50),
               rows[row.baseline].name.c_str());
      ratio = buf;
    }
    printf("| %s | %.0f | %.0f | %.0f | %s |\n", row.name.c_str(), p50, Percentile(row.us, 0.90),
           Percentile(row.us, 0.99), ratio.c_str());
  }
  return 0;
}
