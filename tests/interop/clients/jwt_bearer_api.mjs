// jwt_bearer_api.mjs - an Express API that verifies Warrant's access tokens locally with
// Auth0's express-oauth2-jwt-bearer, configured only with Warrant's issuer URL: the library
// reads the discovery document (jwks_uri, and id_token_signing_alg_values_supported as the
// algorithms it accepts), then checks each token's signature, iss, aud, exp and, with
// strict, the RFC 9068 typ "at+jwt".
//
// Input (environment): WARRANT_ISSUER, API_AUDIENCE (the audience of a registered resource
// server), API_PORT.
// Output: {"step":"listening","url"} on stdout once it serves. GET /orders answers 200 with
// the token's claims, or 401 with the library's WWW-Authenticate. Stops on SIGTERM.
import express from 'express'
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer'

function need(name) {
  const v = process.env[name]
  if (!v) {
    console.log(JSON.stringify({ step: 'error', message: `${name} is not set` }))
    process.exit(2)
  }
  return v
}

const issuer = need('WARRANT_ISSUER')
const audience = need('API_AUDIENCE')
const port = Number(need('API_PORT'))

const app = express()
// discovery gives the JWKS and the accepted algorithm; strict adds RFC 9068's checks
// (typ "at+jwt"; iat, sub, client_id and jti present)
app.use(auth({ issuerBaseURL: issuer, audience, strict: true }))
app.get('/orders', requiredScopes('tickets:read'), (req, res) => {
  const { sub, owner_id: owner, ws, run_id: run, scope } = req.auth.payload
  res.json({ sub, owner, ws, run, scope, alg: req.auth.header.alg })
})
// the library's errors carry status and headers (WWW-Authenticate); nothing else is shown
app.use((err, req, res, next) => {
  res.status(err.status || 500).set(err.headers || {}).json({ error: err.code || 'server_error', message: err.message })
})
const listener = app.listen(port, '127.0.0.1', () =>
  console.log(JSON.stringify({ step: 'listening', url: `http://127.0.0.1:${port}` })))
process.on('SIGTERM', () => listener.close(() => process.exit(0)))
