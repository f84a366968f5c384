/* oidc_login.c - owners' sign-in through an OpenID Connect provider; see oidc_login.h. */
#include "oidc_login.h"

#include "../audit/audit.h"
#include "../audit/events.h"
#include "../clients/keyset.h"
#include "../common/codec.h"
#include "../common/jose.h"
#include "../common/timeutil.h"
#include "model.h"
#include "session.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OIDC_SECRET_MAX 512

static struct {
	char issuer[TRUST_URL_MAX];
	char client_id[256];
	char secret[OIDC_SECRET_MAX];
	int enabled;
} cfg;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char authz[TRUST_URL_MAX], token[TRUST_URL_MAX], jwks[TRUST_URL_MAX];
	int64_t fetched_ms; /* 0: none */
	struct jose_keyset keys;
	int64_t keys_ms;   /* when the keys were last fetched; 0 never */
	int64_t failed_ms; /* when discovery last failed; 0 when it did not */
	const char *why;   /* why it failed (static) */
} prov;

static int discover_fetch(const char **why);

int oidc_login_enabled(void) { return cfg.enabled; }

int oidc_login_configure(const char *issuer, const char *client_id, const char *secret_file, char *err, size_t n)
{
	char why[128];
	if (!issuer || !client_id || !secret_file) {
		snprintf(err, n,
			 "--owner-oidc-issuer, --owner-oidc-client-id and --owner-oidc-client-secret-file go together");
		return -1;
	}
	if (keyset_url_allowed(issuer, why, sizeof why) < 0) {
		snprintf(err, n, "--owner-oidc-issuer %s", why);
		return -1;
	}
	if (strlen(client_id) == 0 || strlen(client_id) >= sizeof cfg.client_id) {
		snprintf(err, n, "--owner-oidc-client-id must be 1 to %zu bytes", sizeof cfg.client_id - 1);
		return -1;
	}
	FILE *f = fopen(secret_file, "r");
	if (!f) {
		snprintf(err, n, "cannot read --owner-oidc-client-secret-file %s", secret_file);
		return -1;
	}
	size_t got = fread(cfg.secret, 1, sizeof cfg.secret - 1, f);
	int more = fgetc(f) != EOF;
	fclose(f);
	cfg.secret[got] = '\0';
	while (got > 0 && (cfg.secret[got - 1] == '\n' || cfg.secret[got - 1] == '\r'))
		cfg.secret[--got] = '\0';
	if (got == 0 || more || strlen(cfg.secret) != got) {
		OPENSSL_cleanse(cfg.secret, sizeof cfg.secret);
		snprintf(err, n, "--owner-oidc-client-secret-file must hold one line of 1 to %d bytes",
			 OIDC_SECRET_MAX - 1);
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT); /* at start, on the main thread */
	snprintf(cfg.issuer, sizeof cfg.issuer, "%s", issuer);
	snprintf(cfg.client_id, sizeof cfg.client_id, "%s", client_id);
	cfg.enabled = 1;
	return 0;
}

/* ---- HTTP with libcurl ---- */

struct body {
	char *p;
	size_t len;
	int over;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;
	if (n > OIDC_BODY_MAX - b->len) {
		b->over = 1;
		return 0;
	}
	char *q = realloc(b->p, b->len + n + 1);
	if (!q)
		return 0;
	b->p = q;
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int loopback_addr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

/* plain http: the address connected to must be a loopback one, whatever the name said */
static curl_socket_t open_loopback_only(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	if (purpose != CURLSOCKTYPE_IPCXN || !loopback_addr(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* GET url (form NULL) or POST form to it with the client's Basic credentials into *b (a
 * JSON document). 0, or -1 with *why. */
static int fetch(const char *url, const char *form, struct body *b, const char **why)
{
	char err[128];
	memset(b, 0, sizeof *b);
	if (keyset_url_allowed(url, err, sizeof err) < 0) {
		*why = "provider_url_refused";
		return -1;
	}
	CURL *h = curl_easy_init();
	if (!h) {
		*why = "provider_unreachable";
		return -1;
	}
	char *user = NULL, *pass = NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)OIDC_FETCH_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)OIDC_FETCH_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)OIDC_BODY_MAX);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "warrant");
	if (strncmp(url, "http://", 7) == 0)
		curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_loopback_only);
	if (form) {
		/* RFC 6749 §2.3.1: client_secret_basic, id and secret form-urlencoded first */
		user = curl_easy_escape(h, cfg.client_id, 0);
		pass = curl_easy_escape(h, cfg.secret, 0);
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	}
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (pass)
		OPENSSL_cleanse(pass, strlen(pass));
	curl_free(user);
	curl_free(pass);
	if (rc == CURLE_OK && status == 200 && b->len > 0)
		return 0;
	*why = rc != CURLE_OK ? "provider_unreachable" : form ? "code_refused" : "provider_bad_status";
	free(b->p);
	b->p = NULL;
	return -1;
}

static json_t *fetch_json(const char *url, const char *form, const char **why)
{
	struct body b;
	if (fetch(url, form, &b, why) < 0)
		return NULL;
	json_error_t je;
	json_t *doc = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &je);
	OPENSSL_cleanse(b.p, b.len); /* a token response */
	free(b.p);
	if (!json_is_object(doc)) {
		json_decref(doc);
		*why = "provider_malformed";
		return NULL;
	}
	return doc;
}

/* OpenID Connect Discovery 1.0 §4: the endpoints, cached; its issuer must be ours (§4.3).
 * Called with mu held. 0, or -1 with *why. */
static int discover(const char **why)
{
	if (prov.fetched_ms && now_ms() - prov.fetched_ms < (int64_t)OIDC_DISCOVERY_TTL_S * 1000)
		return 0;
	/* a provider that just failed is not asked again at once: clicks on the sign-in button
	 * must not hold the worker threads for a timeout each */
	if (prov.failed_ms && now_ms() - prov.failed_ms < OIDC_RETRY_MIN_MS) {
		*why = prov.why;
		return -1;
	}
	int rc = discover_fetch(why);
	prov.failed_ms = rc < 0 ? now_ms() : 0;
	prov.why = rc < 0 ? *why : NULL;
	return rc;
}

static int discover_fetch(const char **why)
{
	char url[TRUST_URL_MAX + 64];
	size_t il = strlen(cfg.issuer);
	while (il > 0 && cfg.issuer[il - 1] == '/')
		il--;
	snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)il, cfg.issuer);
	json_t *doc = fetch_json(url, NULL, why);
	if (!doc)
		return -1;
	const char *iss = json_string_value(json_object_get(doc, "issuer"));
	const char *a = json_string_value(json_object_get(doc, "authorization_endpoint"));
	const char *t = json_string_value(json_object_get(doc, "token_endpoint"));
	const char *j = json_string_value(json_object_get(doc, "jwks_uri"));
	char e[128];
	int rc = -1;
	if (!iss || strcmp(iss, cfg.issuer) != 0)
		*why = "discovery_issuer_mismatch";
	else if (!a || !t || !j || keyset_url_allowed(a, e, sizeof e) < 0 || keyset_url_allowed(t, e, sizeof e) < 0 ||
		 keyset_url_allowed(j, e, sizeof e) < 0)
		*why = "discovery_bad_endpoint";
	else {
		snprintf(prov.authz, sizeof prov.authz, "%s", a);
		snprintf(prov.token, sizeof prov.token, "%s", t);
		snprintf(prov.jwks, sizeof prov.jwks, "%s", j);
		prov.fetched_ms = now_ms();
		rc = 0;
	}
	json_decref(doc);
	return rc;
}

/* The provider's keys, fetched when there are none or (at most every
 * OIDC_JWKS_REFETCH_MIN_MS) when kid is not among them. Called with mu held. */
static void refresh_keys(const char *kid)
{
	int have = prov.keys.n > 0 && (!kid || jose_keyset_find(&prov.keys, kid));
	if (have || (prov.keys_ms && now_ms() - prov.keys_ms < OIDC_JWKS_REFETCH_MIN_MS))
		return;
	prov.keys_ms = now_ms();
	struct body b;
	const char *why;
	if (fetch(prov.jwks, NULL, &b, &why) < 0)
		return;
	struct jose_keyset ks;
	memset(&ks, 0, sizeof ks);
	if (jose_keyset_parse(b.p, b.len, &ks, &why) == 0) {
		jose_keyset_clear(&prov.keys);
		prov.keys = ks;
	}
	free(b.p);
}

static void b64url_random(char out[OIDC_COOKIE_LEN + 1])
{
	unsigned char raw[32];
	rand_bytes(raw, sizeof raw);
	b64url_encode(raw, sizeof raw, out);
}

struct login_row {
	char id[SESSION_ID_LEN + 1];
	char state[OIDC_COOKIE_LEN + 1], nonce[OIDC_COOKIE_LEN + 1], verifier[OIDC_COOKIE_LEN + 1];
	int64_t expires_at;
	int found;
};

static int login_put_job(struct db *db, void *arg)
{
	struct login_row *l = arg;
	struct db_stmt *st = db_prep(db, "DELETE FROM console_logins WHERE expires_at <= ?");
	if (!st)
		return -1;
	db_bind_int64(st, 1, now_ms());
	if (db_step_done(st) < 0)
		return -1;
	st = db_prep(db, "INSERT INTO console_logins(id, state, nonce, verifier, expires_at) VALUES (?,?,?,?,?)");
	if (!st)
		return -1;
	db_bind_text(st, 1, l->id);
	db_bind_text(st, 2, l->state);
	db_bind_text(st, 3, l->nonce);
	db_bind_text(st, 4, l->verifier);
	db_bind_int64(st, 5, l->expires_at);
	return db_step_done(st);
}

/* Reads and deletes the sign-in row: single use, on every node. */
static int login_take_job(struct db *db, void *arg)
{
	struct login_row *l = arg;
	struct db_stmt *st = db_prep(db, "SELECT state, nonce, verifier, expires_at FROM console_logins WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, l->id);
	int rc = db_step(st);
	if (rc == DB_ROW) {
		db_col_copy(st, 0, l->state, sizeof l->state);
		db_col_copy(st, 1, l->nonce, sizeof l->nonce);
		db_col_copy(st, 2, l->verifier, sizeof l->verifier);
		l->expires_at = db_col_int64(st, 3);
		l->found = 1;
	}
	db_reset(st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : -1;
	st = db_prep(db, "DELETE FROM console_logins WHERE id = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, l->id);
	return db_step_done(st);
}

static void append_param(char *url, size_t cap, const char *name, const char *value)
{
	char *v = curl_easy_escape(NULL, value, 0);
	size_t n = strlen(url);
	snprintf(url + n, cap - n, "%s%s=%s", strchr(url, '?') ? "&" : "?", name, v ? v : "");
	curl_free(v);
}

int oidc_login_start(struct warrant *w, struct oidc_start *s)
{
	const char *why = NULL;
	pthread_mutex_lock(&mu);
	int rc = discover(&why);
	char authz[TRUST_URL_MAX];
	snprintf(authz, sizeof authz, "%s", prov.authz);
	pthread_mutex_unlock(&mu);
	if (rc < 0) {
		oerr_set(&s->err, 503, "temporarily_unavailable", "the sign-in provider cannot be reached (%s)", why);
		return 1;
	}
	struct login_row l;
	memset(&l, 0, sizeof l);
	b64url_random(s->cookie);
	b64url_random(l.state);
	b64url_random(l.nonce);
	b64url_random(l.verifier);
	l.expires_at = now_ms() + (int64_t)OIDC_LOGIN_TTL_S * 1000;
	if (session_hash_hex(s->cookie, l.id) < 0 || warrant_write(w, login_put_job, &l) != 0)
		return -1;
	/* RFC 7636 §4.2: S256 challenge of the verifier */
	unsigned char md[32];
	unsigned int mdn = 0;
	char challenge[64];
	EVP_Digest(l.verifier, strlen(l.verifier), md, &mdn, EVP_sha256(), NULL);
	b64url_encode(md, sizeof md, challenge);
	snprintf(s->url, sizeof s->url, "%s", authz);
	append_param(s->url, sizeof s->url, "response_type", "code");
	append_param(s->url, sizeof s->url, "client_id", cfg.client_id);
	append_param(s->url, sizeof s->url, "redirect_uri", s->redirect_uri);
	append_param(s->url, sizeof s->url, "scope", "openid email");
	append_param(s->url, sizeof s->url, "state", l.state);
	append_param(s->url, sizeof s->url, "nonce", l.nonce);
	append_param(s->url, sizeof s->url, "code_challenge", challenge);
	append_param(s->url, sizeof s->url, "code_challenge_method", "S256");
	OPENSSL_cleanse(&l, sizeof l);
	return 0;
}

/* OpenID Connect Core 1.0 §3.1.3.7: the ID token's signature with the provider's keys, and
 * its claims. NULL when valid (email copied out), else the reason. */
static const char *id_token_check(const char *tok, const char *nonce, char *email, size_t cap)
{
	struct jose_jws j;
	const char *why = NULL;
	if (!tok || jose_jws_parse(tok, strlen(tok), &j, &why) < 0)
		return "id_token_malformed";
	pthread_mutex_lock(&mu);
	refresh_keys(j.kid);
	int ok = 0;
	for (int i = 0; i < prov.keys.n && !ok; i++) {
		const struct jose_key *k = &prov.keys.keys[i];
		if (!j.kid || strcmp(k->kid, j.kid) == 0)
			ok = jose_jws_verify(&j, k) == 1;
	}
	pthread_mutex_unlock(&mu);
	json_t *c = j.claims, *aud = json_object_get(c, "aud");
	int64_t now = now_ms() / 1000;
	json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
	const char *iss = json_string_value(json_object_get(c, "iss")),
		   *azp = json_string_value(json_object_get(c, "azp"));
	const char *n = json_string_value(json_object_get(c, "nonce"));
	const char *mail = json_string_value(json_object_get(c, "email"));
	int aud_ok = json_is_string(aud) ? strcmp(json_string_value(aud), cfg.client_id) == 0 : 0;
	for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
		const char *a = json_string_value(json_array_get(aud, i));
		aud_ok |= a && strcmp(a, cfg.client_id) == 0;
	}
	const char *r = NULL;
	if (!ok)
		r = "id_token_signature";
	else if (!iss || strcmp(iss, cfg.issuer) != 0)
		r = "id_token_issuer";
	else if (!aud_ok || (json_is_array(aud) && json_array_size(aud) > 1 && (!azp || strcmp(azp, cfg.client_id))))
		r = "id_token_audience";
	else if (!json_is_integer(exp) || json_integer_value(exp) + OIDC_LEEWAY_S <= now)
		r = "id_token_expired";
	else if (!json_is_integer(iat) || json_integer_value(iat) > now + OIDC_LEEWAY_S)
		r = "id_token_iat";
	else if (!n || strlen(n) != strlen(nonce) || CRYPTO_memcmp(n, nonce, strlen(nonce)) != 0)
		r = "id_token_nonce";
	else if (!mail || !*mail || strlen(mail) >= cap)
		r = "no_email";
	else if (json_object_get(c, "email_verified") != json_true())
		r = "email_not_verified";
	if (mail && strlen(mail) < cap)
		snprintf(email, cap, "%s", mail);
	jose_jws_clear(&j);
	return r;
}

/* The active owner of that email: 1 found (me set), 0 refused (*why), -1 error. */
static int owner_of_email(struct warrant *w, const char *email, struct owner_session *me, const char **why)
{
	struct db *db = warrant_reader(w);
	struct db_stmt *st =
		db ? db_prep(db, "SELECT id, org_id, status FROM owners WHERE lower(email) = lower(?)") : NULL;
	if (!st)
		return -1;
	db_bind_text(st, 1, email);
	int rc = db_step(st), active = 0;
	if (rc == DB_ROW) {
		db_col_copy(st, 0, me->id, sizeof me->id);
		db_col_copy(st, 1, me->org_id, sizeof me->org_id);
		active = strcmp(db_col_text(st, 2), "active") == 0;
	}
	db_reset(st);
	if (rc == DB_ERROR)
		return -1;
	*why = rc != DB_ROW ? "unknown_account" : active ? NULL : "deactivated";
	return *why ? 0 : 1;
}

static int refuse(struct warrant *w, struct oidc_finish *f, const char *reason, const char *email)
{
	struct audit_event ev;
	const char *owner = f->me.id[0] ? f->me.id : NULL;
	struct audit_keys k = {.actor = owner ? owner : "",
			       .owner_id = owner,
			       .client_addr = f->client_addr,
			       .request_id = f->request_id};
	audit_event_init(&ev, EV_OWNER_LOGIN_FAILED, "refused", &k);
	struct buf d;
	size_t el = email ? strlen(email) : 0;
	buf_init(&d, AUDIT_DETAIL_LIMIT);
	buf_printf(&d, "{\"method\":\"oidc\",\"reason\":\"%s\"", reason);
	if (email) {
		buf_puts(&d, ",\"email\":");
		buf_json_str(&d, email, el > LOGIN_AUDIT_EMAIL_MAX ? LOGIN_AUDIT_EMAIL_MAX : el);
	}
	buf_puts(&d, "}");
	audit_detail_take(&ev, &d);
	int rc = warrant_write(w, audit_job, &ev);
	audit_event_clear(&ev);
	f->reason = reason;
	oerr_set(&f->err, 401, "access_denied", "sign-in refused");
	return rc == 0 ? 1 : -1;
}

/* The token request of the code (RFC 6749 §4.1.3, RFC 7636 §4.5): the ID token's text, or
 * NULL with *why. Free the result. */
static char *redeem_code(const struct oidc_finish *f, const char *verifier, const char **why)
{
	char tok_url[TRUST_URL_MAX];
	pthread_mutex_lock(&mu);
	int rc = discover(why);
	snprintf(tok_url, sizeof tok_url, "%s", prov.token);
	pthread_mutex_unlock(&mu);
	if (rc < 0)
		return NULL;
	char form[OIDC_URL_MAX + OIDC_PARAM_MAX];
	form[0] = '\0';
	char *code = curl_easy_escape(NULL, f->code, 0), *ru = curl_easy_escape(NULL, f->redirect_uri, 0);
	snprintf(form, sizeof form, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s",
		 code ? code : "", ru ? ru : "", verifier);
	curl_free(code);
	curl_free(ru);
	json_t *doc = fetch_json(tok_url, form, why);
	OPENSSL_cleanse(form, sizeof form);
	const char *idt = json_string_value(json_object_get(doc, "id_token"));
	char *out = idt ? strdup(idt) : NULL;
	if (doc && !idt)
		*why = "no_id_token";
	json_decref(doc);
	return out;
}

int oidc_login_finish(struct warrant *w, struct oidc_finish *f)
{
	struct login_row l;
	memset(&l, 0, sizeof l);
	memset(&f->me, 0, sizeof f->me);
	if (!f->cookie || strlen(f->cookie) != OIDC_COOKIE_LEN)
		return refuse(w, f, "no_login_cookie", NULL);
	if (session_hash_hex(f->cookie, l.id) < 0 || warrant_write(w, login_take_job, &l) != 0)
		return -1;
	if (!l.found || l.expires_at <= now_ms())
		return refuse(w, f, "unknown_login", NULL);
	if (f->error)
		return refuse(w, f, "provider_error", NULL);
	if (!f->state || !f->code || strlen(f->state) != strlen(l.state) ||
	    CRYPTO_memcmp(f->state, l.state, strlen(l.state)) != 0)
		return refuse(w, f, "state_mismatch", NULL);
	if (strlen(f->code) > OIDC_PARAM_MAX)
		return refuse(w, f, "code_malformed", NULL);
	const char *why = NULL;
	char *idt = redeem_code(f, l.verifier, &why);
	if (!idt)
		return refuse(w, f, why ? why : "code_refused", NULL);
	char email[EMAIL_MAX + 1] = "";
	why = id_token_check(idt, l.nonce, email, sizeof email);
	OPENSSL_cleanse(idt, strlen(idt));
	free(idt);
	OPENSSL_cleanse(&l, sizeof l);
	if (why)
		return refuse(w, f, why, email[0] ? email : NULL);
	int found = owner_of_email(w, email, &f->me, &why);
	if (found < 0)
		return -1;
	if (!found)
		return refuse(w, f, why, email);
	return 0;
}
