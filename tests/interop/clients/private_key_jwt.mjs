// private_key_jwt.mjs - an agent with no secret gets tokens from Warrant through two client
// libraries, unmodified: openid-client (discovery, then client_credentials with its
// PrivateKeyJwt client authentication) and oauth4webapi (PrivateKeyJwt, both discovery
// paths). The private key never leaves this process; Warrant holds the public half.
//
// Input (environment): WARRANT_ISSUER, WARRANT_CLIENT_ID, WARRANT_PRIVATE_JWK (the agent's
// private JWK, JSON), WARRANT_KID, SCOPE. Output: one JSON line per step on stdout,
// {"step","access_token",...}. Exits 1 after {"step":"error"} when a library refuses.
import * as client from 'openid-client'
import * as oauth from 'oauth4webapi'

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
const jwk = JSON.parse(need('WARRANT_PRIVATE_JWK'))
const kid = need('WARRANT_KID')
const scope = need('SCOPE')
const emit = (obj) => console.log(JSON.stringify(obj))
let step = 'start'

const algorithm = jwk.kty === 'EC' ? { name: 'ECDSA', namedCurve: 'P-256' }
  : jwk.kty === 'OKP' ? { name: 'Ed25519' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }

try {
  step = 'import-key'
  const key = await crypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign'])

  step = 'openid-client'
  const config = await client.discovery(issuer, clientId, undefined, client.PrivateKeyJwt({ key, kid }))
  const m = config.serverMetadata()
  const t1 = await client.clientCredentialsGrant(config, { scope })
  emit({ step, methods: m.token_endpoint_auth_methods_supported, access_token: t1.access_token, scope: t1.scope })

  for (const alg of ['oidc', 'oauth2']) {
    step = `oauth4webapi/${alg}`
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: alg }))
    const c = { client_id: clientId }
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.PrivateKeyJwt({ key, kid }),
      new URLSearchParams({ scope }))
    const t = await oauth.processClientCredentialsResponse(as, c, res)
    emit({ step, access_token: t.access_token, scope: t.scope })
  }
} catch (e) {
  emit({ step: 'error', at: step, name: e?.constructor?.name, message: String(e?.message ?? e), code: e?.code })
  process.exit(1)
}
