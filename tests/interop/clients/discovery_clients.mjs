// discovery_clients.mjs - Warrant's metadata and token endpoint through three independent
// client libraries, unmodified and with no insecure-transport switches (Warrant is served
// over https): openid-client (OIDC discovery, client_credentials with client_secret_basic),
// oauth4webapi (both discovery paths, client_credentials with client_secret_basic and
// client_secret_post), and the MCP TypeScript SDK's authorization-server discovery.
//
// Input (environment): WARRANT_ISSUER, WARRANT_CLIENT_ID, WARRANT_CLIENT_SECRET, SCOPE.
// Output: one JSON line per step on stdout, {"step","...":...}; tokens are printed so that
// the caller can verify them. Exits 1 after {"step":"error"} when a library refuses.
import * as client from 'openid-client'
import * as oauth from 'oauth4webapi'
import {
  discoverAuthorizationServerMetadata, startAuthorization
} from '@modelcontextprotocol/sdk/client/auth.js'

function need(name) {
  const v = process.env[name]
  if (!v) {
    console.log(JSON.stringify({ step: 'error', message: `${name} is not set` }))
    process.exit(2)
  }
  return v
}

const issuer = new URL(need('WARRANT_ISSUER'))
const clientId = need('WARRANT_CLIENT_ID')
const clientSecret = need('WARRANT_CLIENT_SECRET')
const scope = need('SCOPE')
const emit = (obj) => console.log(JSON.stringify(obj))
let step = 'start'

try {
  // openid-client: discovery at /.well-known/openid-configuration, then the grant
  step = 'openid-client'
  const config = await client.discovery(issuer, clientId, undefined, client.ClientSecretBasic(clientSecret))
  const m = config.serverMetadata()
  const t1 = await client.clientCredentialsGrant(config, { scope })
  emit({ step, issuer: m.issuer, token_endpoint: m.token_endpoint, access_token: t1.access_token, scope: t1.scope })

  // oauth4webapi: each discovery path, then the grant with each client authentication
  const c = { client_id: clientId }
  for (const algorithm of ['oidc', 'oauth2']) {
    step = `oauth4webapi/${algorithm}`
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm }))
    const tokens = {}
    for (const [name, auth] of [['client_secret_basic', oauth.ClientSecretBasic(clientSecret)],
      ['client_secret_post', oauth.ClientSecretPost(clientSecret)]]) {
      const res = await oauth.clientCredentialsGrantRequest(as, c, auth, new URLSearchParams({ scope }))
      tokens[name] = (await oauth.processClientCredentialsResponse(as, c, res)).access_token
    }
    emit({ step, issuer: as.issuer, token_endpoint: as.token_endpoint, tokens })
  }

  // the MCP SDK: its schema-checked discovery (RFC 8414 first, then OIDC); and the browser
  // flow, which Warrant does not offer, is refused before anyone is sent anywhere
  step = 'mcp-sdk'
  const meta = await discoverAuthorizationServerMetadata(issuer)
  let browserFlow = 'started'
  try {
    await startAuthorization(issuer, {
      metadata: meta, clientInformation: { client_id: clientId },
      redirectUrl: 'http://127.0.0.1:1/callback', scope
    })
  } catch (e) {
    browserFlow = String(e.message)
  }
  emit({ step, issuer: meta.issuer, authorization_endpoint: meta.authorization_endpoint, browser_flow: browserFlow })
} catch (e) {
  emit({ step: 'error', at: step, name: e?.constructor?.name, message: String(e?.message ?? e), code: e?.code })
  process.exit(1)
}
