// Drives keycell's MCP server with an official TypeScript SDK client and reports what it
// saw as one JSON document on stdout. The C++ test (tests/mcp_clients/mcp_clients_test.cc)
// writes the plan, runs this script and makes every assertion about the outcome; the
// script only asserts what the client library itself checks (the handshake, the result
// shapes, structuredContent against each tool's outputSchema).
//
// Usage: node driver.mjs < plan.json
// The plan (stdin, so that no argument ever lands in argv):
//   {"client": "v1" | "v2",                   // @modelcontextprotocol/sdk | @modelcontextprotocol/client
//    "transport": "streamable" | "sse" | "stdio",
//    "url": "http://127.0.0.1:PORT/mcp",      // streamable / sse
//    "command": ["/path/keycell", "mcp"],     // stdio
//    "negotiation": "auto" | "legacy",        // v2 only
//    "identities": ["agent", "owner"],        // one connection each (see ensure() below)
//    "calls": [{"as": "agent", "tool": "list_keys", "arguments": {...}, "save": "x",
//               "if_listed": false}, ...]}
// Credentials come from the environment, never the plan: KEYCELL_TEST_TOKEN_<AS> (AS in
// upper case) is sent as "Authorization: Bearer ..." over HTTP, or given to `keycell mcp`
// as KEYCELL_AGENT_TOKEN over stdio. A call's "save" keeps its structuredContent under that
// name; a later string argument "${x.field}" is replaced by that field (e.g. a pxr_ token
// from assign_credential fed to proxy_request). A call with "if_listed": true is skipped
// (outcome "skipped") when its connection's tools/list does not have the tool.
//
// Output: {"connections": {AS: {server, protocolVersion, era, sessionId, capabilities,
//          tools}}, "results": [{as, tool, outcome: "result"|"error"|"skipped", isError,
//          text, structuredContent, code, message}]}
// Exit 0 when the plan ran (whatever the tool results), 1 when a connection or listing
// failed, 3 when the whole run took longer than KEYCELL_TEST_DEADLINE_MS (default 60 s).

import { readFileSync } from 'node:fs';

const deadlineMs = Number(process.env.KEYCELL_TEST_DEADLINE_MS || 60000);
const watchdog = setTimeout(() => {
  console.error(`driver: no result after ${deadlineMs} ms`);
  process.exit(3);
}, deadlineMs);

const plan = JSON.parse(readFileSync(0, 'utf8'));

async function loadClient(kind) {
  if (kind === 'v2') {
    const m = await import('@modelcontextprotocol/client');
    const s = await import('@modelcontextprotocol/client/stdio');
    return {
      Client: m.Client,
      Streamable: m.StreamableHTTPClientTransport,
      Sse: m.SSEClientTransport,
      Stdio: s.StdioClientTransport,
    };
  }
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { SSEClientTransport } = await import('@modelcontextprotocol/sdk/client/sse.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  return { Client, Streamable: StreamableHTTPClientTransport, Sse: SSEClientTransport, Stdio: StdioClientTransport };
}

function tokenFor(as) {
  const token = process.env[`KEYCELL_TEST_TOKEN_${as.toUpperCase()}`];
  if (!token) throw new Error(`no KEYCELL_TEST_TOKEN_${as.toUpperCase()} in the environment`);
  return token;
}

function makeTransport(lib, as) {
  const token = tokenFor(as);
  if (plan.transport === 'stdio') {
    const [command, ...args] = plan.command;
    // The SDK passes only HOME, LOGNAME, PATH, SHELL, TERM, USER unless told (gotcha 8):
    // hand over the sandbox's environment (KEYCELL_DATA_DIR, XDG_*) without the test tokens.
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYCELL_TEST_')) env[k] = v;
    env.KEYCELL_AGENT_TOKEN = token;
    return new lib.Stdio({ command, args, env, stderr: 'pipe' });
  }
  const headers = { Authorization: `Bearer ${token}` };
  const url = new URL(plan.url);
  if (plan.transport === 'sse') {
    if (!lib.Sse) throw new Error('this client has no legacy SSE transport');
    return new lib.Sse(url, { requestInit: { headers } });
  }
  return new lib.Streamable(url, { requestInit: { headers } });
}

function substitute(value, saved) {
  if (typeof value === 'string') {
    return value.replace(/\$\{(\w+)\.(\w+)\}/g, (whole, name, field) => {
      const v = saved[name]?.[field];
      if (v === undefined) throw new Error(`nothing saved as ${name}.${field}`);
      return String(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, saved));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, saved)]));
  }
  return value;
}

function textOf(content) {
  return (content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

const lib = await loadClient(plan.client);
const connections = {};
const clients = {};
const transports = {};
const stderrs = {};

// Opens the connection of `as`: connect (initialize), ping, logging/setLevel, tools/list.
async function connect(as) {
  const options = { capabilities: {} };
  // The probe's timeout bounds a stdio server that never answers server/discover (the
  // client would then fall back to initialize after the default 60 s).
  if (plan.client === 'v2') {
    options.versionNegotiation = { mode: plan.negotiation ?? 'auto', probe: { timeoutMs: 15000 } };
  }
  const client = new lib.Client({ name: `keycell-test-${plan.client}`, version: '1.0.0' }, options);
  const transport = makeTransport(lib, as);
  stderrs[as] = '';
  transport.stderr?.on('data', (d) => { stderrs[as] += d.toString(); });
  await client.connect(transport);
  // The 2026-07-28 revision has no ping and no session-wide log level (the client refuses
  // to send them in that era); every legacy connection exercises both.
  if (client.getProtocolEra?.() !== 'modern') {
    await client.ping();
    // logging/setLevel through the client's own helper: the client checks the capability.
    await client.setLoggingLevel('warning');
  }
  const tools = [];
  let cursor;
  for (let page = 0; page < 100; ++page) {
    const r = await client.listTools(cursor ? { cursor } : {});
    tools.push(...r.tools);
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  connections[as] = {
    server: client.getServerVersion(),
    protocolVersion: client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? null,
    era: client.getProtocolEra?.() ?? null,
    sessionId: transport.sessionId ?? null,
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions?.() ?? null,
    tools,
  };
  clients[as] = client;
  transports[as] = transport;
}

// A connection opens at its identity's first call (a session opened after the owner's
// setup is what a real agent has), or after the calls if no call names it.
async function ensure(as) {
  if (clients[as]) return;
  try {
    await connect(as);
  } catch (e) {
    console.error(`driver: connecting as ${as} failed: ${e?.stack ?? e}`);
    for (const [who, text] of Object.entries(stderrs)) if (text) console.error(`[${who} server stderr]\n${text}`);
    process.exit(1);
  }
}

const results = [];
const saved = {};
for (const call of plan.calls) {
  await ensure(call.as);
  const out = { as: call.as, tool: call.tool };
  if (call.if_listed && !connections[call.as].tools.some((t) => t.name === call.tool)) {
    results.push({ ...out, outcome: 'skipped' });
    continue;
  }
  try {
    const args = substitute(call.arguments ?? {}, saved);
    const res = await clients[call.as].callTool({ name: call.tool, arguments: args });
    out.outcome = 'result';
    out.isError = res.isError === true;
    out.text = textOf(res.content);
    out.structuredContent = res.structuredContent ?? null;
    if (call.save) saved[call.save] = res.structuredContent ?? {};
  } catch (e) {
    out.outcome = 'error';
    out.code = typeof e?.code === 'number' ? e.code : null;
    out.message = String(e?.message ?? e);
  }
  results.push(out);
}

for (const as of plan.identities) await ensure(as);
for (const as of Object.keys(clients)) {
  const transport = transports[as];
  // Streamable HTTP ends its session with DELETE (gotcha 5); stdio closes stdin.
  if (plan.transport === 'streamable' && transport.sessionId) await transport.terminateSession();
  await clients[as].close();
}
clearTimeout(watchdog);
process.stdout.write(JSON.stringify({ connections, results, stderr: stderrs }) + '\n');
