/* schema.c - the versioned schema: migration i brings the version (SQLite: PRAGMA
 * user_version; PostgreSQL: table warrant_schema) from i to i+1, in each engine's dialect.
 * Append new migrations, each in both dialects; never edit a released one. */
#include "schema.h"

/* SQLite */
const char *const schema_sqlite[] = {
	/* 1: the initial schema */
	"CREATE TABLE settings ("
	"  key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE orgs ("
	"  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);"
	"CREATE TABLE owners ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  password_hash TEXT,"
	"  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','deactivated')),"
	"  created_at INTEGER NOT NULL, changed_at INTEGER NOT NULL);"
	"CREATE TABLE workspaces ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  name TEXT NOT NULL,"
	"  org_visible INTEGER NOT NULL DEFAULT 0 CHECK (org_visible IN (0,1)),"
	"  org_verbs TEXT NOT NULL DEFAULT '',"
	"  approval_verbs TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (org_id, name));"
	"CREATE TABLE memberships ("
	"  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
	"  owner_id TEXT NOT NULL REFERENCES owners(id),"
	"  verbs TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL, changed_at INTEGER NOT NULL,"
	"  PRIMARY KEY (workspace_id, owner_id)) WITHOUT ROWID;"
	"CREATE INDEX memberships_owner ON memberships(owner_id);"
	"CREATE TABLE agents ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  owner_id TEXT NOT NULL REFERENCES owners(id),"
	"  name TEXT NOT NULL,"
	"  verbs TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','retired')),"
	"  per_minute INTEGER NOT NULL DEFAULT 0 CHECK (per_minute >= 0),"
	"  per_day INTEGER NOT NULL DEFAULT 0 CHECK (per_day >= 0),"
	"  tokens_before INTEGER NOT NULL DEFAULT 0," /* tokens issued up to this ms are dead */
	"  created_at INTEGER NOT NULL, changed_at INTEGER NOT NULL);"
	"CREATE INDEX agents_owner ON agents(owner_id);"
	"CREATE TABLE agent_workspaces ("
	"  agent_id TEXT NOT NULL REFERENCES agents(id),"
	"  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
	"  PRIMARY KEY (agent_id, workspace_id)) WITHOUT ROWID;"
	"CREATE TABLE credentials ("
	"  id TEXT PRIMARY KEY,"
	"  agent_id TEXT NOT NULL REFERENCES agents(id),"
	"  verifier BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER," /* end of a rotation grace; NULL while it is the newest */
	"  revoked_at INTEGER,"
	"  expiry_audited INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX credentials_agent ON credentials(agent_id);"
	"CREATE TABLE resource_servers ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  audience TEXT,"
	"  verifier BLOB NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'active',"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX resource_servers_audience ON resource_servers(audience);"
	"CREATE TABLE signing_keys ("
	"  kid TEXT PRIMARY KEY,"
	"  alg TEXT NOT NULL CHECK (alg IN ('ES256','RS256')),"
	"  state TEXT NOT NULL CHECK (state IN ('next','current','retiring','retired')),"
	"  private_der BLOB NOT NULL,"
	"  public_jwk TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  activated_at INTEGER,"
	"  retiring_at INTEGER,"
	"  retire_after INTEGER);"
	/* exactly one key signs, whatever number of processes share the file */
	"CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(state) WHERE state = 'current';"
	"CREATE TABLE revoked_tokens ("
	"  jti TEXT PRIMARY KEY, agent_id TEXT, exp INTEGER NOT NULL,"
	"  revoked_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE revoked_runs ("
	"  agent_id TEXT NOT NULL, run_id TEXT NOT NULL, revoked_at INTEGER NOT NULL,"
	"  PRIMARY KEY (agent_id, run_id)) WITHOUT ROWID;"
	"CREATE INDEX revoked_tokens_exp ON revoked_tokens(exp);"
	/* every change of live state, in order: servers poll it to stay exact (token/live.c) */
	"CREATE TABLE state_changes ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  a TEXT, b TEXT, n INTEGER);"
	"CREATE TABLE approvals ("
	"  id TEXT PRIMARY KEY," /* the auth_req_id */
	"  agent_id TEXT NOT NULL REFERENCES agents(id),"
	"  owner_id TEXT NOT NULL REFERENCES owners(id)," /* the approver */
	"  run_id TEXT NOT NULL, ws TEXT NOT NULL, scope TEXT NOT NULL,"
	"  binding_message TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (status IN ('pending','approved','denied','redeemed')),"
	"  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	"  decided_at INTEGER, redeemed_jti TEXT);"
	"CREATE INDEX approvals_owner ON approvals(owner_id, status);"
	"CREATE TABLE audit_events ("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  event TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  agent_id TEXT," /* the agent acting or acted upon */
	"  owner_id TEXT,"
	"  run_id TEXT,"
	"  ws TEXT,"
	"  jti TEXT,"
	"  client_addr TEXT,"
	"  outcome TEXT NOT NULL,"
	"  detail TEXT,"
	"  request_id TEXT);"
	"CREATE INDEX audit_owner_time ON audit_events(owner_id, time);"
	"CREATE INDEX audit_agent_time ON audit_events(agent_id, time) WHERE agent_id IS NOT NULL;"
	"CREATE INDEX audit_run ON audit_events(run_id) WHERE run_id IS NOT NULL;"
	"CREATE INDEX audit_time ON audit_events(time);",
	/* 2: the token ledger (store/ledger.c): what every issued token is, in a table of its
	 * own, written in the transaction of its audit row; cascades, revocation and quotas read
	 * it. Tokens that may still be alive are carried over from the audit trail; one whose
	 * scope or lifetime the trail does not hold gets NULL scope (every cascade revokes it:
	 * fail closed) and the longest lifetime. */
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY," /* iat << 12 | a number within the millisecond (ledger.c) */
	"  jti TEXT NOT NULL,"
	"  agent_id TEXT NOT NULL,"
	"  owner_id TEXT NOT NULL,"
	"  cred_id TEXT,"
	"  run_id TEXT NOT NULL,"
	"  ws TEXT NOT NULL,"
	"  scope TEXT,"           /* canonical verb set; NULL: unknown */
	"  aud TEXT NOT NULL,"    /* JSON array */
	"  iat INTEGER NOT NULL," /* ms */
	"  exp INTEGER NOT NULL," /* s */
	"  parent_jti TEXT);"
	"CREATE INDEX tokens_agent ON tokens(agent_id, iat);"
	"INSERT INTO tokens(id, jti, agent_id, owner_id, cred_id, run_id, ws, scope, aud, iat, exp)"
	"  SELECT time << 12 | (row_number() OVER (PARTITION BY time ORDER BY id) - 1), jti, agent_id,"
	"    coalesce(owner_id, ''),"
	"    CASE WHEN json_valid(detail) THEN json_extract(detail, '$.credential_id') END,"
	"    coalesce(run_id, ''), coalesce(ws, ''),"
	"    CASE WHEN json_valid(detail) THEN json_extract(detail, '$.scope') END,"
	"    coalesce(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.aud') END, '[]'), time,"
	"    time / 1000 + coalesce(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.expires_in') END, 3600)"
	"  FROM audit_events WHERE event = 'token.issued' AND jti IS NOT NULL AND agent_id IS NOT NULL"
	"  AND time >= (CAST(strftime('%s', 'now') AS INTEGER) - 3660) * 1000;",
	/* 3: a resource server's secret can be rotated, the previous one working until
	 * old_expires_at (ms); status is 'active' or 'disabled' */
	"ALTER TABLE resource_servers ADD COLUMN old_verifier BLOB;"
	"ALTER TABLE resource_servers ADD COLUMN old_expires_at INTEGER;"
	"ALTER TABLE resource_servers ADD COLUMN changed_at INTEGER;",
	/* 4: tokens counted against quotas per window (authz/quota.c), for servers sharing a
	 * database; win 'm': start = a UTC minute's number, 'd': a UTC day's */
	"CREATE TABLE quota_usage ("
	"  agent_id TEXT NOT NULL, win TEXT NOT NULL, start INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY (agent_id, win, start)) WITHOUT ROWID;"
	/* a CIBA request's polling pace, where several servers share the database */
	"ALTER TABLE approvals ADD COLUMN polled_at INTEGER;"
	"ALTER TABLE approvals ADD COLUMN poll_interval INTEGER;",
	/* 5: single-use identifiers (store/replay.c), remembered until exp (s) */
	"CREATE TABLE used_ids ("
	"  kind TEXT NOT NULL, id TEXT NOT NULL, exp INTEGER NOT NULL,"
	"  PRIMARY KEY (kind, id)) WITHOUT ROWID;"
	"CREATE INDEX used_ids_exp ON used_ids(exp);",
	/* 6: public-key credentials (private_key_jwt); a key credential's verifier is empty */
	"ALTER TABLE credentials ADD COLUMN kind TEXT NOT NULL DEFAULT 'secret';"
	"ALTER TABLE credentials ADD COLUMN jwk TEXT;"
	"ALTER TABLE credentials ADD COLUMN kid TEXT;"
	"ALTER TABLE credentials ADD COLUMN jkt TEXT;",
	/* 7: trusts, external token issuers (clients/federation.c); a 'federated' credential
	 * binds an agent to a trust's subject. audience NULL: the server's own issuer; key set
	 * from jwks_uri, jwks_file or (discovery 1) the issuer's openid-configuration */
	"CREATE TABLE trusts ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  issuer TEXT NOT NULL,"
	"  jwks_uri TEXT,"
	"  jwks_file TEXT,"
	"  discovery INTEGER NOT NULL DEFAULT 0 CHECK (discovery IN (0,1)),"
	"  audience TEXT,"
	"  max_lifetime INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX trusts_issuer ON trusts(issuer);"
	"ALTER TABLE credentials ADD COLUMN trust_id TEXT;"
	"ALTER TABLE credentials ADD COLUMN subject TEXT;"
	"CREATE INDEX credentials_trust ON credentials(trust_id) WHERE trust_id IS NOT NULL;",
	/* 8: DPoP (RFC 9449) required of an agent's token requests, or optional */
	("ALTER TABLE agents ADD COLUMN dpop TEXT NOT NULL DEFAULT 'optional'"
	 " CHECK (dpop IN ('required', 'optional'));"),
	/* 9: owners' console sessions (authz/session.c), keyed by the SHA-256 of the cookie's
	 * token, and OpenID Connect sign-ins in progress, keyed by that of the browser's
	 * sign-in cookie; times in ms */
	("CREATE TABLE console_sessions ("
	 "  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES owners(id), method TEXT NOT NULL,"
	 "  created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
	 "CREATE INDEX console_sessions_owner ON console_sessions(owner_id);"
	 "CREATE TABLE console_logins ("
	 "  id TEXT PRIMARY KEY, state TEXT NOT NULL, nonce TEXT NOT NULL, verifier TEXT NOT NULL,"
	 "  expires_at INTEGER NOT NULL);"),
	/* 10: delegation between agents (authz/delegation.c): who may act for whom; and, for
	 * each exchanged token, the tokens above it in its chain (token/exchange.c) */
	"CREATE TABLE delegations ("
	"  agent_id TEXT NOT NULL,"    /* the delegating agent (A) */
	"  delegate_id TEXT NOT NULL," /* the agent that may act for it (B) */
	"  max_depth INTEGER NOT NULL CHECK (max_depth BETWEEN 1 AND 5),"
	"  created_at INTEGER NOT NULL," /* ms: tokens exchanged earlier are not covered */
	"  created_by TEXT NOT NULL,"
	"  PRIMARY KEY (agent_id, delegate_id));"
	"CREATE INDEX delegations_delegate ON delegations(delegate_id);"
	"CREATE TABLE exchanges ("
	"  jti TEXT PRIMARY KEY,"  /* the exchanged token */
	"  chain TEXT NOT NULL,"   /* the tokens above it, root first: "jti/cred_id jti/cred_id" */
	"  exp INTEGER NOT NULL);" /* s */
	"CREATE INDEX exchanges_exp ON exchanges(exp);",
	/* 11: Token Status Lists (token/statuslist.c): each list K is claimed by one server
	 * process; it serves K until hold_until (s), by which every token holding an index in K
	 * has expired plus leeway plus ttl. A token's list and index are kept in its ledger row. */
	"CREATE TABLE statuslists ("
	"  id INTEGER PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL," /* ms */
	"  hold_until INTEGER NOT NULL);"
	"ALTER TABLE tokens ADD COLUMN status_list INTEGER;"
	"ALTER TABLE tokens ADD COLUMN status_idx INTEGER;",
	/* 12: the tamper-evident audit (audit/chain.h): each row's chain, seq and hash; the
	 * chains; their signed checkpoints; the webhook's acknowledged seq per chain */
	"ALTER TABLE audit_events ADD COLUMN chain TEXT;"
	"ALTER TABLE audit_events ADD COLUMN seq BIGINT;"
	"ALTER TABLE audit_events ADD COLUMN hash TEXT;"
	"CREATE UNIQUE INDEX audit_chain_seq ON audit_events(chain, seq);"
	"CREATE TABLE audit_chains (chain TEXT PRIMARY KEY, created BIGINT NOT NULL);"
	"CREATE TABLE audit_checkpoints ("
	"  chain TEXT NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, iat BIGINT NOT NULL,"
	"  jws TEXT NOT NULL, PRIMARY KEY (chain, seq));"
	"CREATE INDEX audit_checkpoints_iat ON audit_checkpoints(iat);"
	"CREATE TABLE audit_webhook_cursor ("
	"  chain TEXT PRIMARY KEY, seq BIGINT NOT NULL, updated BIGINT NOT NULL);",
};

/* PostgreSQL: the same tables and indexes. Times are BIGINT milliseconds or seconds as in
 * SQLite; the change log is numbered from a counter row updated in the writer lock, so
 * numbers come out in commit order (store/changes.c); emails are unique ignoring ASCII
 * case, as SQLite's NOCASE. */
const char *const schema_pg[] = {
	/* 1 */
	"CREATE TABLE settings (key TEXT PRIMARY KEY, value BYTEA NOT NULL);"
	"CREATE TABLE orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);"
	"CREATE TABLE owners ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  email TEXT NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  password_hash TEXT,"
	"  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','deactivated')),"
	"  created_at BIGINT NOT NULL, changed_at BIGINT NOT NULL);"
	"CREATE UNIQUE INDEX owners_email ON owners(lower(email));"
	"CREATE TABLE workspaces ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  name TEXT NOT NULL,"
	"  org_visible BIGINT NOT NULL DEFAULT 0 CHECK (org_visible IN (0,1)),"
	"  org_verbs TEXT NOT NULL DEFAULT '',"
	"  approval_verbs TEXT NOT NULL DEFAULT '',"
	"  created_at BIGINT NOT NULL,"
	"  UNIQUE (org_id, name));"
	"CREATE TABLE memberships ("
	"  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
	"  owner_id TEXT NOT NULL REFERENCES owners(id),"
	"  verbs TEXT NOT NULL,"
	"  created_at BIGINT NOT NULL, changed_at BIGINT NOT NULL,"
	"  PRIMARY KEY (workspace_id, owner_id));"
	"CREATE INDEX memberships_owner ON memberships(owner_id);"
	"CREATE TABLE agents ("
	"  id TEXT PRIMARY KEY,"
	"  org_id TEXT NOT NULL REFERENCES orgs(id),"
	"  owner_id TEXT NOT NULL REFERENCES owners(id),"
	"  name TEXT NOT NULL,"
	"  verbs TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','retired')),"
	"  per_minute BIGINT NOT NULL DEFAULT 0 CHECK (per_minute >= 0),"
	"  per_day BIGINT NOT NULL DEFAULT 0 CHECK (per_day >= 0),"
	"  tokens_before BIGINT NOT NULL DEFAULT 0,"
	"  created_at BIGINT NOT NULL, changed_at BIGINT NOT NULL);"
	"CREATE INDEX agents_owner ON agents(owner_id);"
	"CREATE TABLE agent_workspaces ("
	"  agent_id TEXT NOT NULL REFERENCES agents(id),"
	"  workspace_id TEXT NOT NULL REFERENCES workspaces(id),"
	"  PRIMARY KEY (agent_id, workspace_id));"
	"CREATE TABLE credentials ("
	"  id TEXT PRIMARY KEY,"
	"  agent_id TEXT NOT NULL REFERENCES agents(id),"
	"  verifier BYTEA NOT NULL,"
	"  created_at BIGINT NOT NULL,"
	"  expires_at BIGINT,"
	"  revoked_at BIGINT,"
	"  expiry_audited BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX credentials_agent ON credentials(agent_id);"
	"CREATE TABLE resource_servers ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  audience TEXT,"
	"  verifier BYTEA NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'active',"
	"  created_at BIGINT NOT NULL);"
	"CREATE INDEX resource_servers_audience ON resource_servers(audience);"
	"CREATE TABLE signing_keys ("
	"  kid TEXT PRIMARY KEY,"
	"  alg TEXT NOT NULL CHECK (alg IN ('ES256','RS256')),"
	"  state TEXT NOT NULL CHECK (state IN ('next','current','retiring','retired')),"
	"  private_der BYTEA NOT NULL,"
	"  public_jwk TEXT NOT NULL,"
	"  created_at BIGINT NOT NULL,"
	"  activated_at BIGINT,"
	"  retiring_at BIGINT,"
	"  retire_after BIGINT);"
	"CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(state) WHERE state = 'current';"
	"CREATE TABLE revoked_tokens ("
	"  jti TEXT PRIMARY KEY, agent_id TEXT, exp BIGINT NOT NULL, revoked_at BIGINT NOT NULL);"
	"CREATE TABLE revoked_runs ("
	"  agent_id TEXT NOT NULL, run_id TEXT NOT NULL, revoked_at BIGINT NOT NULL,"
	"  PRIMARY KEY (agent_id, run_id));"
	"CREATE INDEX revoked_tokens_exp ON revoked_tokens(exp);"
	"CREATE TABLE state_changes ("
	"  seq BIGINT PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  a TEXT, b TEXT, n BIGINT);"
	"CREATE TABLE change_counter (v BIGINT NOT NULL);"
	"INSERT INTO change_counter VALUES (0);"
	"CREATE TABLE approvals ("
	"  id TEXT PRIMARY KEY,"
	"  agent_id TEXT NOT NULL REFERENCES agents(id),"
	"  owner_id TEXT NOT NULL REFERENCES owners(id),"
	"  run_id TEXT NOT NULL, ws TEXT NOT NULL, scope TEXT NOT NULL,"
	"  binding_message TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (status IN ('pending','approved','denied','redeemed')),"
	"  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,"
	"  decided_at BIGINT, redeemed_jti TEXT);"
	"CREATE INDEX approvals_owner ON approvals(owner_id, status);"
	"CREATE TABLE audit_events ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  time BIGINT NOT NULL,"
	"  event TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  agent_id TEXT,"
	"  owner_id TEXT,"
	"  run_id TEXT,"
	"  ws TEXT,"
	"  jti TEXT,"
	"  client_addr TEXT,"
	"  outcome TEXT NOT NULL,"
	"  detail TEXT,"
	"  request_id TEXT);"
	"CREATE INDEX audit_owner_time ON audit_events(owner_id, time);"
	"CREATE INDEX audit_agent_time ON audit_events(agent_id, time) WHERE agent_id IS NOT NULL;"
	"CREATE INDEX audit_run ON audit_events(run_id) WHERE run_id IS NOT NULL;"
	"CREATE INDEX audit_time ON audit_events(time);",
	/* 2: the token ledger (a PostgreSQL database starts at the current schema: there is no
	 * earlier audit trail to carry tokens over from) */
	"CREATE TABLE tokens ("
	"  id BIGINT NOT NULL," /* unique with jti: rows are written many at once, unprobed */
	"  jti TEXT NOT NULL,"
	"  agent_id TEXT NOT NULL,"
	"  owner_id TEXT NOT NULL,"
	"  cred_id TEXT,"
	"  run_id TEXT NOT NULL,"
	"  ws TEXT NOT NULL,"
	"  scope TEXT,"
	"  aud TEXT NOT NULL,"
	"  iat BIGINT NOT NULL,"
	"  exp BIGINT NOT NULL,"
	"  parent_jti TEXT,"
	"  PRIMARY KEY (id, jti));"
	"CREATE INDEX tokens_agent ON tokens(agent_id, iat);",
	/* 3 */
	"ALTER TABLE resource_servers ADD COLUMN old_verifier BYTEA;"
	"ALTER TABLE resource_servers ADD COLUMN old_expires_at BIGINT;"
	"ALTER TABLE resource_servers ADD COLUMN changed_at BIGINT;",
	/* 4 */
	"CREATE TABLE quota_usage ("
	"  agent_id TEXT NOT NULL, win TEXT NOT NULL, start BIGINT NOT NULL, n BIGINT NOT NULL,"
	"  PRIMARY KEY (agent_id, win, start));"
	"ALTER TABLE approvals ADD COLUMN polled_at BIGINT;"
	"ALTER TABLE approvals ADD COLUMN poll_interval BIGINT;",
	/* 5 */
	"CREATE TABLE used_ids ("
	"  kind TEXT NOT NULL, id TEXT NOT NULL, exp BIGINT NOT NULL,"
	"  PRIMARY KEY (kind, id));"
	"CREATE INDEX used_ids_exp ON used_ids(exp);",
	/* 6 */
	"ALTER TABLE credentials ADD COLUMN kind TEXT NOT NULL DEFAULT 'secret';"
	"ALTER TABLE credentials ADD COLUMN jwk TEXT;"
	"ALTER TABLE credentials ADD COLUMN kid TEXT;"
	"ALTER TABLE credentials ADD COLUMN jkt TEXT;",
	/* 7 */
	"CREATE TABLE trusts ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  issuer TEXT NOT NULL,"
	"  jwks_uri TEXT,"
	"  jwks_file TEXT,"
	"  discovery INTEGER NOT NULL DEFAULT 0 CHECK (discovery IN (0,1)),"
	"  audience TEXT,"
	"  max_lifetime BIGINT NOT NULL,"
	"  created_at BIGINT NOT NULL);"
	"CREATE INDEX trusts_issuer ON trusts(issuer);"
	"ALTER TABLE credentials ADD COLUMN trust_id TEXT;"
	"ALTER TABLE credentials ADD COLUMN subject TEXT;"
	"CREATE INDEX credentials_trust ON credentials(trust_id) WHERE trust_id IS NOT NULL;",
	/* 8 */
	("ALTER TABLE agents ADD COLUMN dpop TEXT NOT NULL DEFAULT 'optional'"
	 " CHECK (dpop IN ('required', 'optional'));"),
	/* 9 */
	("CREATE TABLE console_sessions ("
	 "  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES owners(id), method TEXT NOT NULL,"
	 "  created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
	 "CREATE INDEX console_sessions_owner ON console_sessions(owner_id);"
	 "CREATE TABLE console_logins ("
	 "  id TEXT PRIMARY KEY, state TEXT NOT NULL, nonce TEXT NOT NULL, verifier TEXT NOT NULL,"
	 "  expires_at BIGINT NOT NULL);"),
	/* 10 */
	"CREATE TABLE delegations ("
	"  agent_id TEXT NOT NULL,"
	"  delegate_id TEXT NOT NULL,"
	"  max_depth INTEGER NOT NULL CHECK (max_depth BETWEEN 1 AND 5),"
	"  created_at BIGINT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  PRIMARY KEY (agent_id, delegate_id));"
	"CREATE INDEX delegations_delegate ON delegations(delegate_id);"
	"CREATE TABLE exchanges ("
	"  jti TEXT PRIMARY KEY,"
	"  chain TEXT NOT NULL,"
	"  exp BIGINT NOT NULL);"
	"CREATE INDEX exchanges_exp ON exchanges(exp);",
	/* 11 */
	"CREATE TABLE statuslists ("
	"  id BIGINT PRIMARY KEY,"
	"  size BIGINT NOT NULL,"
	"  created_at BIGINT NOT NULL,"
	"  hold_until BIGINT NOT NULL);"
	"ALTER TABLE tokens ADD COLUMN status_list BIGINT;"
	"ALTER TABLE tokens ADD COLUMN status_idx BIGINT;",
	/* 12: the tamper-evident audit (audit/chain.h): each row's chain, seq and hash; the
	 * chains; their signed checkpoints; the webhook's acknowledged seq per chain */
	"ALTER TABLE audit_events ADD COLUMN chain TEXT;"
	"ALTER TABLE audit_events ADD COLUMN seq BIGINT;"
	"ALTER TABLE audit_events ADD COLUMN hash TEXT;"
	"CREATE UNIQUE INDEX audit_chain_seq ON audit_events(chain, seq);"
	"CREATE TABLE audit_chains (chain TEXT PRIMARY KEY, created BIGINT NOT NULL);"
	"CREATE TABLE audit_checkpoints ("
	"  chain TEXT NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, iat BIGINT NOT NULL,"
	"  jws TEXT NOT NULL, PRIMARY KEY (chain, seq));"
	"CREATE INDEX audit_checkpoints_iat ON audit_checkpoints(iat);"
	"CREATE TABLE audit_webhook_cursor ("
	"  chain TEXT PRIMARY KEY, seq BIGINT NOT NULL, updated BIGINT NOT NULL);",
};

_Static_assert(sizeof schema_sqlite == sizeof schema_pg, "every migration in both dialects");

const int schema_version = (int)(sizeof schema_sqlite / sizeof schema_sqlite[0]);
