// Drive a toolserver MCP endpoint with the official TypeScript SDK client, for the Python tests.
//
// Reads one JSON object on stdin:
//   {"url": "...", "transport": "sse" | "streamable-http", "headers": {...},
//    "calls": [{"name": "...", "arguments": {...}}]}
// connects, lists the tools, makes each call in order and prints one JSON object on stdout:
//   {"tools": [...], "results": [{"name", "result"} | {"name", "error": {"code", "message"}}]}
// The SDK itself checks each result against the listed outputSchema, so a result that does not
// match its schema comes back as an error here.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const config = await readStdin();
const url = new URL(config.url);
const options = { requestInit: { headers: config.headers ?? {} } };
const transport =
  config.transport === 'sse'
    ? new SSEClientTransport(url, options)
    : new StreamableHTTPClientTransport(url, options);
const client = new Client({ name: 'toolserver-tests', version: '1.0.0' });
await client.connect(transport);

const listed = await client.listTools();
const results = [];
for (const call of config.calls ?? []) {
  try {
    const result = await client.callTool({ name: call.name, arguments: call.arguments ?? {} });
    results.push({ name: call.name, result });
  } catch (error) {
    results.push({ name: call.name, error: { code: error.code ?? null, message: String(error.message) } });
  }
}
await client.close();
process.stdout.write(JSON.stringify({ tools: listed.tools, results }));
