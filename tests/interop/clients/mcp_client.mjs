// mcp_client.mjs - an agent as an MCP client: the official TypeScript SDK's Client over
// streamable HTTP with its ClientCredentialsProvider. The SDK finds the authorization server
// on its own (RFC 9728 protected resource metadata of the MCP server, then Warrant's RFC 8414
// metadata), gets a token with client_credentials and calls the "whoami" tool.
//
// Input (environment): MCP_URL, WARRANT_ISSUER (the expected issuer), WARRANT_CLIENT_ID,
// WARRANT_CLIENT_SECRET, MCP_SCOPE.
// Output: JSON lines on stdout. {"step":"called","result"} after each call, where result is
// the tool's answer; then it waits for a line on stdin and calls again, until stdin ends.
// A failed call prints {"step":"error","message"} and exits 1.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import * as readline from 'node:readline'

function need(name) {
  const v = process.env[name]
  if (!v) {
    console.log(JSON.stringify({ step: 'error', message: `${name} is not set` }))
    process.exit(2)
  }
  return v
}

const emit = (obj) => console.log(JSON.stringify(obj))
const tokenRequests = []
// every request to the authorization server, to stderr and counted (never the token itself)
async function loggingFetch(url, init) {
  const res = await fetch(url, init)
  const u = new URL(url)
  if (u.pathname === '/token') tokenRequests.push(res.status)
  console.error(`${init?.method ?? 'GET'} ${u.origin}${u.pathname} -> ${res.status}`)
  return res
}

for (const name of ['MCP_URL', 'WARRANT_ISSUER', 'WARRANT_CLIENT_ID', 'WARRANT_CLIENT_SECRET']) need(name)

const provider = new ClientCredentialsProvider({
  clientId: process.env.WARRANT_CLIENT_ID,
  clientSecret: process.env.WARRANT_CLIENT_SECRET,
  // the secret goes to this authorization server only, whatever an MCP server advertises
  expectedIssuer: process.env.WARRANT_ISSUER,
  scope: process.env.MCP_SCOPE || 'tickets:read'
})
const client = new Client({ name: 'warrant-agent', version: '1.0.0' })
const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
  authProvider: provider,
  fetch: loggingFetch // logs each request's method, URL and status to stderr
})

async function call() {
  const r = await client.callTool({ name: 'whoami', arguments: {} })
  emit({ step: 'called', result: JSON.parse(r.content[0].text), token_requests: tokenRequests.slice() })
}

try {
  await client.connect(transport)
  const tools = await client.listTools()
  emit({ step: 'connected', tools: tools.tools.map((t) => t.name) })
  await call()
  for await (const _ of readline.createInterface({ input: process.stdin })) await call()
  await client.close()
} catch (e) {
  emit({ step: 'error', message: String(e?.message ?? e), name: e?.constructor?.name, token_requests: tokenRequests })
  process.exit(1)
}
