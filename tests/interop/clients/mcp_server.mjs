// mcp_server.mjs - a small MCP server (the official TypeScript SDK's server side, streamable
// HTTP) protected by Warrant: it publishes RFC 9728 protected resource metadata naming
// Warrant as its authorization server, and checks every bearer token at Warrant's
// /introspect (RFC 7662) as a registered resource server. One tool, "whoami", answers with
// the token's claims.
//
// Input (environment): WARRANT_ISSUER, RS_CLIENT_ID, RS_CLIENT_SECRET (from
// `warrant resource add NAME --audience MCP_URL`), MCP_PORT; MCP_SCOPE, the verbs a client
// should ask for (scopes_supported of the metadata).
// Output: JSON lines on stdout: {"step":"listening","url"} once it serves, then one
// {"step":"introspected","active",...} per checked token. Stops on SIGTERM.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js'
import { getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js'

function need(name) {
  const v = process.env[name]
  if (!v) {
    console.log(JSON.stringify({ step: 'error', message: `${name} is not set` }))
    process.exit(2)
  }
  return v
}

const issuer = need('WARRANT_ISSUER')
const rsId = need('RS_CLIENT_ID')
const rsSecret = need('RS_CLIENT_SECRET')
const port = Number(need('MCP_PORT'))
const scope = process.env.MCP_SCOPE || 'tickets:read'
const mcpUrl = new URL(`http://127.0.0.1:${port}/mcp`)
const log = (obj) => console.log(JSON.stringify(obj))

// Warrant's metadata, as published: the protected resource metadata points clients at it
const metaRes = await fetch(new URL('/.well-known/oauth-authorization-server', issuer))
if (!metaRes.ok) {
  log({ step: 'error', message: `metadata: HTTP ${metaRes.status}` })
  process.exit(1)
}
const warrantMeta = await metaRes.json()

// RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(rsId)}:${encodeURIComponent(rsSecret)}`).toString('base64')

const verifier = {
  async verifyAccessToken(token) {
    const res = await fetch(warrantMeta.introspection_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic },
      body: new URLSearchParams({ token })
    })
    if (!res.ok) throw new Error(`introspection failed: HTTP ${res.status}`)
    const data = await res.json()
    // one line per check: who, which token id, the answer (never the token itself)
    log({ step: 'introspected', active: data.active === true, sub: data.sub, jti: data.jti })
    // RFC 7662 §2.2: anything but active:true is a refusal, whatever the reason
    if (data.active !== true) throw new InvalidTokenError('token is not active')
    const aud = [data.aud ?? []].flat()
    return {
      token,
      clientId: data.client_id,
      scopes: data.scope ? data.scope.split(' ') : [],
      expiresAt: data.exp,
      resource: aud.includes(mcpUrl.href) ? mcpUrl : undefined,
      extra: { sub: data.sub, owner_id: data.owner_id, ws: data.ws, run_id: data.run_id, aud }
    }
  }
}

function mcpServer() {
  const server = new McpServer({ name: 'warrant-protected-tools', version: '1.0.0' })
  server.registerTool('whoami', { description: 'Who is calling, on whose behalf, in which run' },
    async (extra) => ({
      content: [{ type: 'text', text: JSON.stringify({ ...extra.authInfo.extra, scope: extra.authInfo.scopes.join(' ') }) }]
    }))
  return server
}

const app = createMcpExpressApp()
app.use(mcpAuthMetadataRouter({
  oauthMetadata: warrantMeta,
  resourceServerUrl: mcpUrl,
  scopesSupported: scope.split(' '),
  resourceName: 'Warrant-protected tools'
}))
const auth = requireBearerAuth({
  verifier,
  requiredScopes: scope.split(' '),
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpUrl),
  expectedResource: mcpUrl
})
// stateless: one transport and one server per request
app.post('/mcp', auth, async (req, res) => {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
  const server = mcpServer()
  res.on('close', () => { transport.close(); server.close() })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
})
// no server-initiated stream and no sessions in stateless mode (MCP streamable HTTP)
const notAllowed = (req, res) => res.status(405).set('Allow', 'POST').json({
  jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null
})
app.get('/mcp', notAllowed)
app.delete('/mcp', notAllowed)
const listener = app.listen(port, '127.0.0.1', () => log({ step: 'listening', url: mcpUrl.href }))
process.on('SIGTERM', () => listener.close(() => process.exit(0)))
