// mcp_client.mjs - an agent as an MCP client: the official TypeScript SDK's Client over
// streamable HTTP with one of its client_credentials providers. The SDK finds the
// authorization server on its own (RFC 9728 protected resource metadata of the MCP server,
// then Warrant's RFC 8414 metadata), gets a token with client_credentials and calls the
// "whoami" tool.
//
// Input (environment): MCP_URL, WARRANT_ISSUER (the expected issuer), WARRANT_CLIENT_ID,
// MCP_SCOPE, and MCP_AUTH, the provider, with what it needs:
//   client_secret (the default)  ClientCredentialsProvider: WARRANT_CLIENT_SECRET
//   private_key_jwt              PrivateKeyJwtProvider: WARRANT_PRIVATE_JWK (the agent's
//                                private JWK, JSON), WARRANT_ALG (ES256 unless set),
//                                WARRANT_JWT_LIFETIME (seconds, the SDK's 300 unless set); the
//                                SDK signs a fresh assertion for each token request
//   static_private_key_jwt       StaticPrivateKeyJwtProvider: WARRANT_CLIENT_ASSERTION, one
//                                assertion signed beforehand, sent as it is every time
// Output: JSON lines on stdout. {"step":"called","result","token_requests","assertions"}
// after each call, where result is the tool's answer, token_requests the HTTP status of each
// /token request so far and assertions the JOSE header and claims of each client assertion
// sent (never a signature or a token); then it waits for a line on stdin and calls again,
// until stdin ends. A failed call prints {"step":"error","message",...} and exits 1.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import {
  ClientCredentialsProvider, PrivateKeyJwtProvider, StaticPrivateKeyJwtProvider
} from '@modelcontextprotocol/sdk/client/auth-extensions.js'
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
const assertions = []
// the JOSE header and claims of a client assertion the SDK sent (never its signature)
function decoded(body) {
  const jws = new URLSearchParams(body ?? '').get('client_assertion')
  if (!jws) return null
  const [h, p] = jws.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()))
  return { header: h, claims: p }
}
// every request to the authorization server, to stderr and counted (never the token itself)
async function loggingFetch(url, init) {
  const res = await fetch(url, init)
  const u = new URL(url)
  if (u.pathname === '/token') {
    tokenRequests.push(res.status)
    const a = decoded(init?.body?.toString())
    if (a) assertions.push(a)
  }
  console.error(`${init?.method ?? 'GET'} ${u.origin}${u.pathname} -> ${res.status}`)
  return res
}

for (const name of ['MCP_URL', 'WARRANT_ISSUER', 'WARRANT_CLIENT_ID']) need(name)
const mode = process.env.MCP_AUTH || 'client_secret'
if (mode === 'client_secret') need('WARRANT_CLIENT_SECRET')

// with a secret (docs/integrations.md shows this block)
const provider = new ClientCredentialsProvider({
  clientId: process.env.WARRANT_CLIENT_ID,
  clientSecret: process.env.WARRANT_CLIENT_SECRET,
  // the secret goes to this authorization server only, whatever an MCP server advertises
  expectedIssuer: process.env.WARRANT_ISSUER,
  scope: process.env.MCP_SCOPE || 'tickets:read'
})

// with a key: the assertion, too, goes to the expected issuer only
const common = {
  clientId: process.env.WARRANT_CLIENT_ID,
  expectedIssuer: process.env.WARRANT_ISSUER,
  scope: process.env.MCP_SCOPE || 'tickets:read'
}
const providers = {
  client_secret: () => provider,
  // the SDK signs {iss, sub: clientId, aud: the issuer of the metadata it discovered, iat,
  // exp: iat + jwtLifetimeSeconds (300 by default), jti} with header {alg, typ: "JWT"}, no kid
  private_key_jwt: () => new PrivateKeyJwtProvider({
    ...common,
    privateKey: JSON.parse(need('WARRANT_PRIVATE_JWK')),
    algorithm: process.env.WARRANT_ALG || 'ES256',
    jwtLifetimeSeconds: process.env.WARRANT_JWT_LIFETIME ? Number(process.env.WARRANT_JWT_LIFETIME) : undefined
  }),
  static_private_key_jwt: () => new StaticPrivateKeyJwtProvider({
    ...common,
    jwtBearerAssertion: need('WARRANT_CLIENT_ASSERTION')
  })
}
if (!providers[mode]) {
  emit({ step: 'error', message: `MCP_AUTH ${mode} is not one of ${Object.keys(providers).join(', ')}` })
  process.exit(2)
}
const client = new Client({ name: 'warrant-agent', version: '1.0.0' })
const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
  authProvider: providers[mode](),
  fetch: loggingFetch // logs each request's method, URL and status to stderr
})

async function call() {
  const r = await client.callTool({ name: 'whoami', arguments: {} })
  emit({
    step: 'called', result: JSON.parse(r.content[0].text), token_requests: tokenRequests.slice(),
    assertions: assertions.slice()
  })
}

try {
  await client.connect(transport)
  const tools = await client.listTools()
  emit({ step: 'connected', tools: tools.tools.map((t) => t.name) })
  await call()
  for await (const _ of readline.createInterface({ input: process.stdin })) await call()
  await client.close()
} catch (e) {
  emit({
    step: 'error', message: String(e?.message ?? e), name: e?.constructor?.name, token_requests: tokenRequests,
    assertions
  })
  process.exit(1)
}
