// ciba.mjs - one OpenID CIBA (poll mode) run against Warrant with openid-client, an
// independent client library: discovery, client_secret_basic, /bc-authorize, then polling
// /token with the CIBA grant until the owner decides.
//
// Input (environment): WARRANT_ISSUER, WARRANT_CLIENT_ID, WARRANT_CLIENT_SECRET,
// CIBA_SCOPE, and optionally CIBA_WORKSPACE, CIBA_RUN_ID, CIBA_BINDING_MESSAGE.
// Output: JSON lines on stdout:
//   {"step":"discovered", ...}   what discovery returned that the flow relies on
//   {"step":"initiated", "auth_req_id", "expires_in", "interval"}
//   {"step":"token", "access_token", "token_type", "expires_in", "scope", "polls", "errors"}
// or {"step":"error", ...} and exit code 1. Every HTTP exchange goes to stderr.
import * as client from 'openid-client'

function need(name) {
  const v = process.env[name]
  if (!v) {
    console.log(JSON.stringify({ step: 'error', message: `${name} is not set` }))
    process.exit(2)
  }
  return v
}

const issuer = need('WARRANT_ISSUER')
const clientId = need('WARRANT_CLIENT_ID')
const clientSecret = need('WARRANT_CLIENT_SECRET')
const scope = need('CIBA_SCOPE')

// every request and answer of the run, to stderr; token-endpoint error codes are counted
const tokenErrors = []
let tokenPolls = 0
async function loggingFetch(url, options) {
  const res = await fetch(url, options)
  const u = new URL(url)
  let note = ''
  if (u.pathname.endsWith('/token')) {
    tokenPolls++
    if (res.status >= 400) {
      try {
        const body = await res.clone().json()
        tokenErrors.push(body.error)
        note = ` ${body.error}`
      } catch {
        note = ' (no JSON body)'
      }
    }
  }
  console.error(`${options?.method ?? 'GET'} ${u.pathname} -> ${res.status}${note}`)
  return res
}

function emit(obj) {
  console.log(JSON.stringify(obj))
}

try {
  // Warrant serves plain http on loopback in tests: openid-client refuses http unless told
  const config = await client.discovery(
    new URL(issuer),
    clientId,
    undefined,
    client.ClientSecretBasic(clientSecret),
    { execute: [client.allowInsecureRequests], [client.customFetch]: loggingFetch },
  )
  config[client.customFetch] = loggingFetch
  const md = config.serverMetadata()
  emit({
    step: 'discovered',
    issuer: md.issuer,
    backchannel_authentication_endpoint: md.backchannel_authentication_endpoint,
    backchannel_token_delivery_modes_supported: md.backchannel_token_delivery_modes_supported,
    grant_types_supported: md.grant_types_supported,
  })

  const params = { scope }
  if (process.env.CIBA_WORKSPACE) params.workspace = process.env.CIBA_WORKSPACE
  if (process.env.CIBA_RUN_ID) params.run_id = process.env.CIBA_RUN_ID
  if (process.env.CIBA_BINDING_MESSAGE) params.binding_message = process.env.CIBA_BINDING_MESSAGE
  const started = await client.initiateBackchannelAuthentication(config, params)
  emit({
    step: 'initiated',
    auth_req_id: started.auth_req_id,
    expires_in: started.expires_in,
    interval: started.interval,
  })

  // polls at the server's interval, backs off on slow_down, returns once approved
  const tokens = await client.pollBackchannelAuthenticationGrant(config, started)
  emit({
    step: 'token',
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    polls: tokenPolls,
    errors: tokenErrors,
  })
} catch (err) {
  emit({
    step: 'error',
    name: err?.name,
    code: err?.code,
    message: err?.message,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
    polls: tokenPolls,
    errors: tokenErrors,
  })
  process.exit(1)
}
