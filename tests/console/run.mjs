// run.mjs - browser tests of the owners' console (/console): Debian's chromium driven by
// puppeteer-core against a real `warrant serve` on 127.0.0.1 (SQLite), with sign-in through
// a real OpenID Connect provider (oidc-provider) on loopback. Every action is proven end to
// end with plain HTTP calls beside the browser: a killed run's token is inactive at
// /introspect, a rotated secret works at /token, a removed key's assertions are refused, a
// delegation added lets the delegate exchange at /token and its removal ends that token, a
// resource server's AuthZEN decisions show on the Activity page.
// Prints one line per test and "console: N passed, N failed".
// Usage: node tests/console/run.mjs [--screenshots] [FILTER...] (the tests build on each other:
// a filter that leaves out the sign-in test leaves the later ones signed out)
//   --screenshots also writes docs/console-*.png (the pages at desktop width, Agents at phone width)
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Provider from "oidc-provider";
import puppeteer from "puppeteer-core";

// oidc-provider's development-mode notices are not test output
for (const k of ["warn", "info"]) { const orig = console[k]; console[k] = (...a) => { if (!String(a[0]).startsWith("oidc-provider")) orig(...a); }; }
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const BIN = process.env.WARRANT_BIN || path.join(root, "warrant");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const args = process.argv.slice(2);
const SHOTS = args.includes("--screenshots");
const filters = args.filter((a) => !a.startsWith("--"));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "warrant-console-"));
const db = path.join(tmp, "warrant.db");
const PASSWORD = "correct horse battery staple";
const OIDC_SECRET = crypto.randomBytes(24).toString("base64url");

function cli(...a) {
  const out = execFileSync(BIN, [...a, "--db", db, "--json"], { encoding: "utf8", input: a.includes("--password-stdin") ? PASSWORD + "\n" : undefined });
  const lines = out.split("\n").filter((l) => l.trim());
  return lines.length === 1 ? JSON.parse(lines[0]) : lines.map((l) => JSON.parse(l));
}
function freePort() {
  return new Promise((res) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
}
function assert(cond, msg) { if (!cond) throw new Error("assertion failed: " + msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the world: owners, workspace, agents, a resource server ----
cli("init");
const alice = cli("owner", "add", "--email", "alice@example.com", "--name", "Alice Liddell", "--password-stdin");
const bob = cli("owner", "add", "--email", "bob@example.com", "--name", "Bob Stone", "--password-stdin");
const carol = cli("owner", "add", "--email", "carol@example.com", "--name", "Carol Ng");
const dave = cli("owner", "add", "--email", "dave@example.com");
cli("owner", "deactivate", dave.id);
const ws = cli("workspace", "add", "support");
cli("member", "add", "--workspace", ws.id, "--owner", alice.id, "--verbs", "tickets:read tickets:note refunds:issue");
cli("member", "add", "--workspace", ws.id, "--owner", bob.id, "--verbs", "tickets:read");
cli("member", "add", "--workspace", ws.id, "--owner", carol.id, "--verbs", "tickets:read");
cli("workspace", "approval", ws.id, "--verbs", "refunds:issue");
const refund = cli("agent", "add", "--owner", alice.id, "--name", "Refund bot", "--verbs", "tickets:read refunds:issue");
const triage = cli("agent", "add", "--owner", alice.id, "--name", "triage-helper", "--verbs", "tickets:read tickets:note");
const bobs = cli("agent", "add", "--owner", bob.id, "--name", "Bob's bot", "--verbs", "tickets:read");
const carols = cli("agent", "add", "--owner", carol.id, "--name", "Carol's crawler", "--verbs", "tickets:read");
const rs = cli("resource", "add", "helpdesk");
fs.writeFileSync(path.join(tmp, "oidc-secret"), OIDC_SECRET + "\n", { mode: 0o600 });

const wport = await freePort(), pport = await freePort();
const BASE = `http://127.0.0.1:${wport}`, ISSUER = `http://127.0.0.1:${pport}`;

// ---- the OpenID Connect provider: oidc-provider with its development sign-in pages ----
const provider = new Provider(ISSUER, {
  clients: [{ client_id: "warrant-console", client_secret: OIDC_SECRET, redirect_uris: [BASE + "/console/oidc/callback"],
    grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "client_secret_basic" }],
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  conformIdTokenClaims: false, // email and email_verified in the ID token, as most providers do
  cookies: { keys: [crypto.randomBytes(16).toString("hex")] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: !id.startsWith("unverified") }; } };
  },
});
const providerServer = provider.listen(pport, "127.0.0.1");
await new Promise((r) => providerServer.on("listening", r));

// ---- warrant serve ----
const log = fs.openSync(path.join(tmp, "serve.log"), "w");
const server = spawn(BIN, ["serve", "--db", db, "--listen", `127.0.0.1:${wport}`, "--issuer", BASE,
  "--owner-oidc-issuer", ISSUER, "--owner-oidc-client-id", "warrant-console",
  "--owner-oidc-client-secret-file", path.join(tmp, "oidc-secret")], { stdio: ["ignore", log, log] });
for (let i = 0; ; i++) {
  try { if ((await fetch(BASE + "/healthz")).status === 200) break; } catch (e) { /* not yet */ }
  if (i > 200) throw new Error("warrant serve did not start: " + fs.readFileSync(path.join(tmp, "serve.log"), "utf8"));
  await sleep(25);
}

// ---- plain HTTP helpers (the proof beside the browser) ----
function basic(id, secret) { return "Basic " + Buffer.from(encodeURIComponent(id) + ":" + encodeURIComponent(secret)).toString("base64"); }
async function post(pathname, form, auth) {
  const r = await fetch(BASE + pathname, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", ...(auth ? { Authorization: auth } : {}) },
    body: new URLSearchParams(form).toString() });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* empty */ }
  return { status: r.status, json, headers: r.headers };
}
const token = (a, secret, extra = {}) => post("/token", { grant_type: "client_credentials", workspace: ws.id, scope: "tickets:read", ...extra }, basic(a.client_id, secret));
async function active(tok) { return (await post("/introspect", { token: tok }, basic(rs.client_id, rs.client_secret))).json.active; }
function audit(...a) { return [].concat(cli("audit", ...a)); }

// ---- the browser ----
const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"] });
let page = await browser.newPage();
await page.setViewport({ width: 1200, height: 900 });
page.on("dialog", (d) => d.accept()); // the confirm() before a kill switch
const thirdParty = [];
page.on("request", (req) => { const u = req.url(); if (!u.startsWith(BASE) && !u.startsWith(ISSUER) && !u.startsWith("data:")) thirdParty.push(u); });
async function shot(name, p = page) { if (SHOTS) await p.screenshot({ path: path.join(root, "docs", `console-${name}.png`), fullPage: true }); }
async function go(p, url) { const r = await p.goto(BASE + url, { waitUntil: "networkidle0" }); return r; }
async function signIn(p, email, password) {
  await go(p, "/console/signin");
  await p.type("#email", email);
  await p.type("#password", password);
  await Promise.all([p.click("button[type=submit]"), p.waitForNavigation({ waitUntil: "networkidle0" }).catch(() => {})]);
}
const csrfOf = (p) => p.evaluate(() => fetch("/console/api/session").then((r) => r.json()).then((j) => j.csrf));
const inPage = (p, method, url, headers = {}) => p.evaluate(async (m, u, h) => {
  const r = await fetch(u, { method: m, headers: h, body: m === "GET" ? undefined : "{}" });
  return { status: r.status, body: await r.text() };
}, method, url, headers);

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test("sign-in page: every input labelled, wrong password refused and audited", async () => {
  await go(page, "/console/signin");
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
    .filter((i) => !(i.labels && i.labels.length) && !i.getAttribute("aria-label")).map((i) => i.id || i.name));
  assert(unlabelled.length === 0, "unlabelled inputs " + unlabelled);
  assert(await page.$("#oidc"), "the OpenID Connect button is offered");
  await shot("signin");
  await page.type("#email", "alice@example.com");
  await page.type("#password", "wrong password");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#signin-error").textContent.length > 0);
  assert(/Wrong email or password/.test(await page.$eval("#signin-error", (e) => e.textContent)), "error shown");
  const rows = audit("--owner", alice.id).filter((e) => e.event === "owner.login_failed");
  assert(rows.length >= 1 && rows[rows.length - 1].detail.reason === "bad_password", "login_failed audited");
});

test("password sign-in: session cookie flags, security headers, only my agents with a face", async () => {
  await signIn(page, "alice@example.com", PASSWORD);
  assert(page.url() === BASE + "/console/", "landed on Agents: " + page.url());
  const c = (await page.cookies()).find((k) => k.name === "warrant_console");
  assert(c && c.httpOnly && c.sameSite === "Strict" && c.path === "/console", "cookie flags " + JSON.stringify(c));
  const r = await go(page, "/console/");
  const hd = r.headers();
  assert(hd["content-security-policy"] === "default-src 'self'; frame-ancestors 'none'", "CSP " + hd["content-security-policy"]);
  assert(hd["x-frame-options"] === "DENY" && hd["referrer-policy"] === "no-referrer" && hd["x-content-type-options"] === "nosniff", "headers");
  await page.waitForSelector("#agents li");
  const names = await page.$$eval("#agents h2", (hs) => hs.map((x) => x.textContent));
  assert(names.includes("Refund bot") && names.includes("triage-helper") && !names.includes("Bob's bot"), "agents " + names);
  const faces = await page.$$eval("#agents .avatar", (as) => as.map((x) => x.textContent));
  assert(faces.includes("RB") && faces.includes("TH"), "initials " + faces);
  assert(audit("--owner", alice.id).some((e) => e.event === "owner.login" && e.detail.method === "password"), "owner.login audited");
  await shot("agents");
  await page.setViewport({ width: 375, height: 800, isMobile: true });
  await go(page, "/console/");
  await page.waitForSelector("#agents li");
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert(wide <= 376, "no sideways scrolling on a phone: " + wide);
  await shot("agents-phone");
  await page.setViewport({ width: 1200, height: 900 });
});

test("rotate: the new secret is shown once (no-store) and really works; the old one stops", async () => {
  await go(page, "/console/agents/" + triage.id);
  await page.waitForSelector("#rotate");
  await page.$eval("#grace", (e) => { e.value = "0"; });
  const [resp] = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/rotate")), page.click("#rotate")]);
  assert(resp.headers()["cache-control"] === "no-store", "no-store on the shown-once secret");
  await page.waitForSelector("#secret-value");
  const secret = await page.$eval("#secret-value", (e) => e.value);
  assert(secret.startsWith("wsk_"), "secret shown");
  assert(await page.$("#copy-secret"), "copy button");
  assert((await token(triage, secret)).status === 200, "new secret works");
  assert((await token(triage, triage.client_secret)).status === 401, "old secret refused");
  assert(!(await page.url()).includes(secret), "no secret in the URL");
  triage.client_secret = secret;
});

test("kill a live run: its token stops working and the run gets no new token", async () => {
  const t = await token(refund, refund.client_secret, { run_id: "run-nightly-42" });
  assert(t.status === 200 && (await active(t.json.access_token)), "token active first");
  await go(page, "/console/agents/" + refund.id);
  await page.waitForSelector("#runs");
  const btn = await page.$('button[aria-label="Kill run run-nightly-42"]');
  assert(btn, "the run is listed with a kill button");
  await Promise.all([page.waitForResponse((r) => r.url().includes("/runs/")), btn.click()]);
  assert(!(await active(t.json.access_token)), "killed run's token inactive");
  assert((await token(refund, refund.client_secret, { run_id: "run-nightly-42" })).status === 400, "run refused");
});

test("suspend and resume: tokens die, new ones are refused, then allowed again", async () => {
  const t = await token(refund, refund.client_secret);
  await go(page, "/console/agents/" + refund.id);
  await page.waitForSelector("#suspend");
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/suspend")), page.click("#suspend")]);
  await page.waitForSelector("#resume");
  assert(!(await active(t.json.access_token)), "token inactive after suspend");
  const refused = await token(refund, refund.client_secret);
  assert(refused.status === 400 && refused.json.error === "unauthorized_client", "suspended refused");
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/resume")), page.click("#resume")]);
  await page.waitForSelector("#suspend");
  assert((await token(refund, refund.client_secret)).status === 200, "resumed works");
});

test("add and remove a public key: private_key_jwt works, then is refused", async () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  await go(page, "/console/agents/" + triage.id);
  await page.waitForSelector("#jwk");
  await page.type("#jwk", JSON.stringify(jwk));
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/keys")), page.click("#add-key")]);
  await page.waitForFunction(() => [...document.querySelectorAll("#credentials td")].some((td) => td.textContent.startsWith("key")));
  const assertion = () => {
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const input = enc({ alg: "ES256", typ: "JWT" }) + "." + enc({ iss: triage.id, sub: triage.id, aud: BASE, iat: now, exp: now + 60, jti: crypto.randomUUID() });
    const sig = crypto.sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
    return input + "." + sig.toString("base64url");
  };
  const viaKey = () => post("/token", { grant_type: "client_credentials", workspace: ws.id, scope: "tickets:read",
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion() });
  assert((await viaKey()).status === 200, "the added key signs in");
  const rm = await page.$$('#credentials button[aria-label^="Remove credential"]');
  const rows = await page.$$eval("#credentials tbody tr", (trs) => trs.map((tr) => tr.textContent));
  const keyRow = rows.findIndex((t) => t.includes("key"));
  const buttons = await page.$$("#credentials tbody tr");
  const b = await buttons[keyRow].$("button");
  assert(b && rm.length >= 1, "remove button");
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/revoke")), b.click()]);
  assert((await viaKey()).status === 401, "the removed key is refused");
});

const exchange = (a, secret, subject) => post("/token", { grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
  subject_token: subject, subject_token_type: "urn:ietf:params:oauth:token-type:access_token" }, basic(a.client_id, secret));

test("delegations: added on the Agent page, the delegate exchanges; removed, its token dies", async () => {
  cli("agent", "delegate", triage.id, "--to", refund.id); // shown read-only on Refund bot's page
  await go(page, "/console/agents/" + refund.id);
  await page.waitForSelector("#delegate-form");
  assert(await page.$("#no-delegates"), "none yet");
  assert((await page.$eval("#delegated-by", (e) => e.textContent)).includes("triage-helper"), "delegated to it by triage-helper");
  const subject = (await token(refund, refund.client_secret, { run_id: "run-orchestrate-3" })).json.access_token;
  assert((await exchange(bobs, bobs.client_secret, subject)).status === 400, "no delegation: refused");
  await page.type("#delegate-agent", bobs.id); // another owner's agent, by id
  await page.select("#delegate-depth", "2");
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/delegates") && r.status() === 201), page.click("#add-delegate")]);
  await page.waitForSelector("#delegates");
  const row = await page.$eval("#delegates tbody", (e) => e.textContent);
  assert(row.includes(bobs.id) && row.includes("2"), "listed " + row);
  await shot("agent");
  const x = await exchange(bobs, bobs.client_secret, subject);
  assert(x.status === 200 && x.json.issued_token_type === "urn:ietf:params:oauth:token-type:access_token", "exchanged " + JSON.stringify(x.json));
  const tok = x.json.access_token;
  assert(await active(tok), "the exchanged token is active");
  await Promise.all([page.waitForResponse((r) => r.request().method() === "DELETE" && r.status() === 200),
    page.click(`button[aria-label="Remove delegation to ${bobs.id}"]`)]);
  const t0 = Date.now();
  while ((await active(tok)) && Date.now() - t0 < 1000) await sleep(50);
  assert(!(await active(tok)), "inactive within a second of the removal");
  const again = await exchange(bobs, bobs.client_secret, subject);
  assert(again.status === 400 && again.json.error === "invalid_request", "refused after removal " + JSON.stringify(again.json));
  await page.waitForSelector("#no-delegates");
  const ev = audit("--owner", alice.id).map((e) => e.event);
  assert(ev.includes("delegation.added") && ev.includes("delegation.removed"), "audited");
});

test("approvals: a new request appears without a reload; approving it lets the agent redeem", async () => {
  await go(page, "/console/approvals");
  await page.waitForSelector("#no-approvals");
  const navs = [];
  const onNav = (f) => { if (f === page.mainFrame()) navs.push(f.url()); };
  page.on("framenavigated", onNav);
  const bc = await post("/bc-authorize", { scope: "refunds:issue", workspace: ws.id, run_id: "run-refund-7", binding_message: "Refund order #1042" },
    basic(refund.client_id, refund.client_secret));
  assert(bc.status === 200, "bc-authorize " + JSON.stringify(bc.json));
  await page.waitForSelector(`[data-id="${bc.json.auth_req_id}"]`, { timeout: 8000 });
  assert(navs.length === 0, "no reload");
  page.off("framenavigated", onNav);
  const text = await page.$eval(`[data-id="${bc.json.auth_req_id}"]`, (e) => e.textContent);
  assert(text.includes("Refund order #1042") && text.includes("refunds:issue") && text.includes("run-refund-7") && text.includes("Refund bot"), text);
  await shot("approvals");
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/approve")), page.click(`[data-id="${bc.json.auth_req_id}"] button.approve`)]);
  const got = await post("/token", { grant_type: "urn:openid:params:grant-type:ciba", auth_req_id: bc.json.auth_req_id }, basic(refund.client_id, refund.client_secret));
  assert(got.status === 200 && got.json.scope === "refunds:issue", "approved token " + JSON.stringify(got.json));
});

test("activity: tokens and actions per agent per day, filters, JSON-lines export", async () => {
  // a resource server asks for decisions (OpenID AuthZEN): one action allowed, one denied
  const t = (await token(refund, refund.client_secret, { run_id: "run-act-1" })).json.access_token;
  for (const [verb, want] of [["tickets:read", true], ["tickets:note", false]]) {
    const r = await fetch(BASE + "/access/v1/evaluation", { method: "POST", headers: { "Content-Type": "application/json", Authorization: basic(rs.client_id, rs.client_secret) },
      body: JSON.stringify({ subject: { type: "agent", id: refund.id }, action: { name: verb }, resource: { type: "ticket", id: "T-1042" }, context: { access_token: t } }) });
    const j = await r.json();
    assert(r.status === 200 && j.decision === want, verb + " " + JSON.stringify(j));
  }
  await go(page, "/console/activity");
  await page.waitForSelector("#tokens-chart-title");
  const bars = (id) => page.$$eval(`svg[aria-labelledby="${id}-title"] rect`, (rs) => rs.filter((r) => parseFloat(r.getAttribute("height")) > 0).length);
  assert((await bars("tokens-chart")) >= 1 && (await bars("actions-chart")) >= 1, "both charts have bars");
  const cells = await page.$$eval("#activity-table tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const today = new Date().toISOString().slice(0, 10);
  const mine = cells.find((c) => c[0] === today && c[1] === "Refund bot");
  assert(mine && +mine[3] >= 1 && +mine[4] >= 1, "allowed and denied counted " + JSON.stringify(mine));
  const listed = await page.$$eval("#events tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert(listed.length > 0, "events listed");
  assert(listed.some((c) => c[1] === "action.allowed" && c[2] === "Refund bot" && c[5] === "tickets:read on ticket T-1042"), "allowed listed");
  assert(listed.some((c) => c[1] === "action.denied" && c[5].includes("tickets:note") && c[5].includes("action_not_in_scope")), "denied listed");
  await shot("activity");
  await page.select("#f-event", "token.issued");
  await Promise.all([page.waitForNavigation({ waitUntil: "networkidle0" }), page.click("#filters button")]);
  const evs = await page.$$eval("#events tbody tr td:nth-child(2)", (tds) => tds.map((t) => t.textContent));
  assert(evs.length > 0 && evs.every((e) => e === "token.issued"), "filtered " + evs);
  const href = await page.$eval("#export", (a) => a.getAttribute("href"));
  const out = await page.evaluate((u) => fetch(u).then((r) => r.text().then((t) => ({ ct: r.headers.get("content-type"), t }))), href);
  const lines = out.t.trim().split("\n").map((l) => JSON.parse(l));
  assert(out.ct.startsWith("application/x-ndjson") && lines.length > 0 && lines.every((l) => l.event === "token.issued" && l.time), "export");
  assert(!lines.some((l) => l.owner_id && l.owner_id !== alice.id), "only my agents' events");
});

test("CSRF: a state change without the token, or with a wrong one, is refused", async () => {
  await go(page, "/console/");
  const url = "/console/api/agents/" + triage.id + "/suspend";
  const none = await inPage(page, "POST", url, { "Content-Type": "application/json" });
  const wrong = await inPage(page, "POST", url, { "Content-Type": "application/json", "X-CSRF-Token": "A".repeat(43) });
  assert(none.status === 403 && wrong.status === 403, "refused " + none.status + " " + wrong.status);
  assert(cli("agent", "list", "--owner", alice.id).find((a) => a.id === triage.id).status === "active", "still active");
  const csrf = await csrfOf(page);
  const cross = await page.evaluate(async (u, t) => (await fetch(u, { method: "POST", headers: { "X-CSRF-Token": t } })).status, url.replace("suspend", "nothing"), csrf);
  assert(cross === 404, "with the token the request goes through to routing");
});

test("another owner's agent: not shown, not touched (404)", async () => {
  await go(page, "/console/agents/" + bobs.id);
  await page.waitForSelector(".error");
  const csrf = await csrfOf(page);
  const g = await inPage(page, "GET", "/console/api/agents/" + bobs.id);
  const s = await inPage(page, "POST", "/console/api/agents/" + bobs.id + "/suspend", { "X-CSRF-Token": csrf, "Content-Type": "application/json" });
  assert(g.status === 404 && s.status === 404, "404s " + g.status + " " + s.status);
  assert(cli("agent", "list", "--owner", bob.id)[0]?.status === "active" || cli("agent", "list", "--owner", bob.id).status === "active", "bob's agent untouched");
});

test("keyboard: tab order reaches every action of the Agent page, focus is visible", async () => {
  await go(page, "/console/agents/" + refund.id);
  await page.waitForSelector("#retire");
  const want = ["suspend", "retire", "add-delegate", "rotate", "add-key", "signout"];
  const seen = new Set(), outlines = [];
  for (let i = 0; i < 80 && seen.size < want.length; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => { const e = document.activeElement; const s = getComputedStyle(e); return { id: e.id, outline: s.outlineStyle + " " + s.outlineWidth }; });
    if (want.includes(f.id)) { seen.add(f.id); outlines.push(f.outline); }
  }
  assert(seen.size === want.length, "reached " + [...seen]);
  assert(outlines.every((o) => !o.startsWith("none")), "focus visible " + outlines);
});

test("retire: final, and the agent's tokens are refused", async () => {
  const t = await token(triage, triage.client_secret);
  await go(page, "/console/agents/" + triage.id);
  await page.waitForSelector("#retire");
  await Promise.all([page.waitForResponse((r) => r.url().endsWith("/retire")), page.click("#retire")]);
  await page.waitForFunction(() => document.body.textContent.includes("Retired for good"));
  assert(!(await active(t.json.access_token)), "token inactive");
  assert((await token(triage, triage.client_secret)).status === 400, "refused");
});

test("sign-out ends the session on the server", async () => {
  const cookie = (await page.cookies()).find((k) => k.name === "warrant_console");
  await go(page, "/console/");
  await page.waitForSelector("#signout");
  await Promise.all([page.waitForNavigation({ waitUntil: "networkidle0" }), page.click("#signout")]);
  assert(page.url().endsWith("/console/signin"), "back at sign-in");
  const r = await fetch(BASE + "/console/api/session", { headers: { Cookie: "warrant_console=" + cookie.value } });
  assert(r.status === 401, "the old cookie is dead: " + r.status);
  assert(audit("--owner", alice.id).some((e) => e.event === "owner.logout"), "owner.logout audited");
});

async function oidcSignIn(login) {
  const ctx = await browser.createBrowserContext();
  const p = await ctx.newPage();
  await go(p, "/console/signin");
  await p.waitForSelector("#oidc");
  await Promise.all([p.waitForNavigation(), p.click("#oidc")]);
  assert(p.url().startsWith(ISSUER), "at the provider: " + p.url());
  await p.waitForSelector('input[name="login"]');
  await p.type('input[name="login"]', login);
  await p.type('input[name="password"]', "any");
  await Promise.all([p.waitForNavigation(), p.click('button[type="submit"]')]);
  if (p.url().startsWith(ISSUER)) await Promise.all([p.waitForNavigation(), p.click('button[type="submit"]')]); // consent
  await p.waitForNetworkIdle({ idleTime: 200, timeout: 8000 }).catch((e) => console.log("    idle: " + e.message + " at " + p.url()));
  return { ctx, p };
}

test("OpenID Connect sign-in: a verified email of an owner signs in, audited", async () => {
  const { ctx, p } = await oidcSignIn("carol@example.com");
  await p.waitForSelector("#agents li", { timeout: 8000 });
  const names = await p.$$eval("#agents h2", (hs) => hs.map((x) => x.textContent));
  assert(names.length === 1 && names[0] === "Carol's crawler", "carol's agents " + names);
  assert(audit("--owner", carol.id).some((e) => e.event === "owner.login" && e.detail.method === "oidc"), "audited");
  await ctx.close();
});

test("OpenID Connect sign-in refused: unknown, deactivated, unverified email", async () => {
  for (const [login, reason] of [["nobody@example.com", "unknown_account"], ["dave@example.com", "deactivated"], ["unverified@example.com", "email_not_verified"]]) {
    const { ctx, p } = await oidcSignIn(login);
    const text = await p.evaluate(() => document.body.textContent);
    assert(/Sign-in refused/.test(text), login + ": " + text.slice(0, 200));
    const s = await p.evaluate(() => fetch("/console/api/session").then((r) => r.status));
    assert(s === 401, "no session for " + login);
    assert(audit().some((e) => e.event === "owner.login_failed" && e.detail.method === "oidc" && e.detail.reason === reason), "audited " + reason);
    await ctx.close();
  }
});

test("no third-party request was made by any page", async () => {
  assert(thirdParty.length === 0, "third-party requests: " + thirdParty);
});

let passed = 0, failed = 0;
const t0 = Date.now();
try {
  for (const [name, fn] of tests) {
    if (filters.length && !filters.some((f) => name.includes(f))) continue;
    const t = Date.now();
    try {
      await fn();
      passed++;
      console.log(`  ok   console::${name} (${((Date.now() - t) / 1000).toFixed(2)}s)`);
    } catch (e) {
      failed++;
      console.log(`  FAIL console::${name} (${((Date.now() - t) / 1000).toFixed(2)}s)\n    ${e.stack.split("\n").slice(0, 4).join("\n    ")}`);
    }
  }
} finally {
  await browser.close().catch(() => {});
  server.kill("SIGTERM");
  providerServer.close();
  await sleep(100);
  if (failed) console.log("  (server log: " + path.join(tmp, "serve.log") + ")");
  else fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
console.log(`console: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
