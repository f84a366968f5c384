"""test_access.py - the access model (SPEC "Access model (signed-agent inheritance)"), one
table of cases checked through the real POST /token of a running `warrant serve`.

An agent's effective verbs in workspace W are

    grant ∩ (O ∪ V)

O: the owner's verbs in W when the owner is a member of W (W may be in another org);
V: W's org-wide verbs when W is org_visible and in the agent's own org; nothing when W is
outside the agent's workspace limit. The token's org_id is always the agent's own org and
its ws claim names W, wherever W lives.

Every case builds its own world in its own org (so org-visible workspaces of one case
cannot leak into another), the server starts once everything is in place, and one loop
asks /token for each case and compares the scope returned, or the exact error, with the
table. All mismatches are reported together, each naming its case."""
import itertools

from harness import Env, jwt_parts

# ---- the table ----
#
# ws:      workspaces of the case, by label: {"org": "own" | "foreign", "visible": "org-wide
#          verbs"} ("visible" present means --org-visible). "own" is the owner's (and so the
#          agent's) org; "foreign" is a second org of the case.
# member:  the owner's memberships {label: "verbs"} (before "after" runs).
# grant:   the agent's own verbs.  limit: the agent's workspace limit (labels), optional.
# after:   changes made through the command line before the server starts:
#          ("member set", label, verbs), ("member remove", label), ("suspend",), ("retire",),
#          ("deactivate owner",).
# req:     /token parameters; "workspace" is a label (or a literal ws_ id), "scope" verbs.
# expect:  {"scope": "verbs", "ws": label} for a 200, or {"error": (status, code)}.

R, N, I, D = "tickets:read", "tickets:note", "refunds:issue", "tickets:delete"

CASES = [
    dict(name="default deny: requested verb in neither grant nor owner's verbs",
         ws={"W": {}}, member={"W": R}, grant=R,
         req={"workspace": "W", "scope": D}, expect={"error": (400, "invalid_scope")}),
    dict(name="default deny: verb the owner has but the grant lacks is never issued",
         ws={"W": {}}, member={"W": R + " " + N}, grant=R,
         req={"workspace": "W", "scope": N}, expect={"error": (400, "invalid_scope")}),
    dict(name="grant narrower than owner: the grant bounds the token",
         ws={"W": {}}, member={"W": R + " " + N + " " + D}, grant=R,
         req={"workspace": "W"}, expect={"scope": R, "ws": "W"}),
    dict(name="owner narrower than grant: the owner bounds the token",
         ws={"W": {}}, member={"W": R}, grant=" ".join([R, N, I]),
         req={"workspace": "W"}, expect={"scope": R, "ws": "W"}),
    dict(name="one workspace with verbs: workspace may be omitted",
         ws={"W": {}}, member={"W": R + " " + N}, grant=R + " " + N,
         req={}, expect={"scope": R + " " + N, "ws": "W"}),
    dict(name="several workspaces, no workspace parameter: 400 invalid_request",
         ws={"W1": {}, "W2": {}}, member={"W1": R, "W2": N}, grant=R + " " + N,
         req={}, expect={"error": (400, "invalid_request")}),
    dict(name="several workspaces: W1 gives its own intersection",
         ws={"W1": {}, "W2": {}}, member={"W1": R + " " + I, "W2": N}, grant=R + " " + N,
         req={"workspace": "W1"}, expect={"scope": R, "ws": "W1"}),
    dict(name="several workspaces: W2 gives its own intersection",
         ws={"W1": {}, "W2": {}}, member={"W1": R + " " + I, "W2": N + " " + D}, grant=R + " " + N + " " + D,
         req={"workspace": "W2"}, expect={"scope": N + " " + D, "ws": "W2"}),
    dict(name="org-visible workspace of the agent's org: V applies without membership",
         ws={"V": {"visible": R + " " + D}}, member={}, grant=R + " " + N,
         req={"workspace": "V"}, expect={"scope": R, "ws": "V"}),
    dict(name="org-visible workspace of the agent's org is its default workspace",
         ws={"V": {"visible": R}}, member={}, grant=R + " " + N,
         req={}, expect={"scope": R, "ws": "V"}),
    dict(name="org-visible workspace of ANOTHER org does not leak (named)",
         ws={"X": {"org": "foreign", "visible": R + " " + N}}, member={}, grant=R + " " + N,
         req={"workspace": "X"}, expect={"error": (400, "invalid_scope")}),
    dict(name="org-visible workspace of ANOTHER org does not leak (not a default)",
         ws={"X": {"org": "foreign", "visible": R + " " + N}}, member={}, grant=R + " " + N,
         req={}, expect={"error": (400, "invalid_request")}),
    dict(name="cross-org membership: trust follows the owner into the foreign workspace",
         ws={"F": {"org": "foreign"}}, member={"F": R + " " + N}, grant=R + " " + I,
         req={"workspace": "F"}, expect={"scope": R, "ws": "F"}),
    dict(name="cross-org membership of a foreign org-visible workspace: O only, never its V",
         ws={"F": {"org": "foreign", "visible": R}}, member={"F": N}, grant=R + " " + N,
         req={"workspace": "F"}, expect={"scope": N, "ws": "F"}),
    dict(name="workspace limit: a workspace outside the limit gives no verbs",
         ws={"W1": {}, "W2": {}}, member={"W1": R, "W2": R + " " + N}, grant=R + " " + N, limit=["W1"],
         req={"workspace": "W2"}, expect={"error": (400, "invalid_scope")}),
    dict(name="workspace limit: inside the limit the usual intersection",
         ws={"W1": {}, "W2": {}}, member={"W1": R, "W2": R + " " + N}, grant=R + " " + N, limit=["W1"],
         req={"workspace": "W1"}, expect={"scope": R, "ws": "W1"}),
    dict(name="workspace limit: the one workspace inside the limit is the default",
         ws={"W1": {}, "W2": {}}, member={"W1": R, "W2": R + " " + N}, grant=R + " " + N, limit=["W1"],
         req={}, expect={"scope": R, "ws": "W1"}),
    dict(name="workspace limit + org-visible outside the limit: no V either",
         ws={"W1": {}, "V": {"visible": R + " " + N}}, member={"W1": R}, grant=R + " " + N, limit=["W1"],
         req={"workspace": "V"}, expect={"error": (400, "invalid_scope")}),
    dict(name="workspace limit + org-visible inside the limit: V applies",
         ws={"W1": {}, "V": {"visible": R + " " + N}}, member={"W1": R}, grant=R + " " + N, limit=["V"],
         req={"workspace": "V"}, expect={"scope": R + " " + N, "ws": "V"}),
    dict(name="org-wide verbs ∪ owner's verbs, then ∩ grant",
         ws={"V": {"visible": R}}, member={"V": N + " " + D}, grant=" ".join([R, N, I]),
         req={"workspace": "V"}, expect={"scope": R + " " + N, "ws": "V"}),
    dict(name="deactivated owner: unauthorized_client",
         ws={"W": {}}, member={"W": R}, grant=R, after=[("deactivate owner",)],
         req={"workspace": "W"}, expect={"error": (400, "unauthorized_client")}),
    dict(name="suspended agent: unauthorized_client",
         ws={"W": {}}, member={"W": R}, grant=R, after=[("suspend",)],
         req={"workspace": "W"}, expect={"error": (400, "unauthorized_client")}),
    dict(name="retired agent: unauthorized_client",
         ws={"W": {}}, member={"W": R}, grant=R, after=[("retire",)],
         req={"workspace": "W"}, expect={"error": (400, "unauthorized_client")}),
    dict(name="member removed: nothing left in that workspace",
         ws={"W": {}}, member={"W": R + " " + N}, grant=R + " " + N, after=[("member remove", "W")],
         req={"workspace": "W"}, expect={"error": (400, "invalid_scope")}),
    dict(name="member removed: no default workspace any more",
         ws={"W": {}}, member={"W": R + " " + N}, grant=R + " " + N, after=[("member remove", "W")],
         req={}, expect={"error": (400, "invalid_request")}),
    dict(name="member removed from an org-visible workspace: V remains",
         ws={"V": {"visible": R}}, member={"V": R + " " + N}, grant=R + " " + N, after=[("member remove", "V")],
         req={"workspace": "V"}, expect={"scope": R, "ws": "V"}),
    dict(name="member narrowed: the new intersection",
         ws={"W": {}}, member={"W": R + " " + N}, grant=R + " " + N, after=[("member set", "W", R)],
         req={"workspace": "W"}, expect={"scope": R, "ws": "W"}),
    dict(name="member narrowed: the verb taken away is refused",
         ws={"W": {}}, member={"W": R + " " + N}, grant=R + " " + N, after=[("member set", "W", R)],
         req={"workspace": "W", "scope": N}, expect={"error": (400, "invalid_scope")}),
    dict(name="explicit scope, a subset of the effective verbs: exactly that scope",
         ws={"W": {}}, member={"W": R + " " + N + " " + D}, grant=R + " " + N + " " + D,
         req={"workspace": "W", "scope": D + " " + R}, expect={"scope": R + " " + D, "ws": "W"}),
    dict(name="scope with an unknown verb beside an allowed one: invalid_scope",
         ws={"W": {}}, member={"W": R}, grant=R,
         req={"workspace": "W", "scope": R + " tickets:fly"}, expect={"error": (400, "invalid_scope")}),
    dict(name="scope with a malformed verb: invalid_scope",
         ws={"W": {}}, member={"W": R}, grant=R,
         req={"workspace": "W", "scope": "tickets"}, expect={"error": (400, "invalid_scope")}),
    dict(name="empty effective set in a named workspace: invalid_scope",
         ws={"W": {}, "E": {}}, member={"W": R, "E": N}, grant=R,
         req={"workspace": "E"}, expect={"error": (400, "invalid_scope")}),
    dict(name="a workspace the owner is not in (members-only, same org): invalid_scope",
         ws={"W": {}, "Z": {}}, member={"W": R}, grant=R,
         req={"workspace": "Z"}, expect={"error": (400, "invalid_scope")}),
    dict(name="a workspace id that does not exist: invalid_scope",
         ws={"W": {}}, member={"W": R}, grant=R,
         req={"workspace": "ws_doesnotexist0000000000000"}, expect={"error": (400, "invalid_scope")}),
]

_seq = itertools.count()


def build(env, case):
    """Creates the case's orgs, owner, workspaces, memberships and agent, then applies its
    "after" changes. Returns what the check needs."""
    n = next(_seq)
    orgs = {"own": env.cli("org", "add", "case%d-own" % n)["id"]}
    if any(w.get("org") == "foreign" for w in case["ws"].values()):
        orgs["foreign"] = env.cli("org", "add", "case%d-foreign" % n)["id"]
    owner = env.owner(email="case%d@example.com" % n, org=orgs["own"])
    # a second owner of the same org, a member everywhere with every verb: others' access
    # must never reach this case's agent
    bystander = env.owner(email="case%d-other@example.com" % n, org=orgs["own"])
    ws = {}
    for label, spec in case["ws"].items():
        w = env.workspace(name="%s-%d" % (label, n), org=orgs[spec.get("org", "own")],
                          org_visible="visible" in spec, verbs=spec.get("visible"))
        ws[label] = w["id"]
        env.member(w["id"], bystander["id"], " ".join([R, N, I, D]))
    for label, verbs in case["member"].items():
        env.member(ws[label], owner["id"], verbs)
    agent = env.agent(owner["id"], case["grant"], name="agent-%d" % n,
                      workspaces=[ws[l] for l in case.get("limit", [])] or None)
    assert agent["org_id"] == orgs["own"], "an agent belongs to its owner's org: %r" % agent
    for step in case.get("after", []):
        op = step[0]
        if op == "member set":
            env.member(ws[step[1]], owner["id"], step[2], op="set")
        elif op == "member remove":
            env.member(ws[step[1]], owner["id"], None, op="remove")
        elif op == "suspend":
            env.cli("agent", "suspend", agent["client_id"])
        elif op == "retire":
            env.cli("agent", "retire", agent["client_id"])
        elif op == "deactivate owner":
            env.cli("owner", "deactivate", owner["id"])
        else:
            raise AssertionError("unknown step %r" % (step,))
    return {"orgs": orgs, "owner": owner, "ws": ws, "agent": agent}


def verbs(s):
    return sorted((s or "").split())


def check(srv, case, world):
    """Returns a list of problems (empty when the case holds)."""
    req = dict(case["req"])
    if "workspace" in req:
        req["workspace"] = world["ws"].get(req["workspace"], req["workspace"])
    a = world["agent"]
    st, h, body = srv.token(a["client_id"], a["client_secret"], **req)
    exp = case["expect"]
    shown = dict(body, access_token="<jwt>") if isinstance(body, dict) and "access_token" in body else body
    got = "%d %s" % (st, shown)
    problems = []
    if "error" in exp:
        status, code = exp["error"]
        if st != status or not isinstance(body, dict) or body.get("error") != code:
            problems.append("expected %d %s, got %s" % (status, code, got))
        elif "access_token" in body:
            problems.append("an error response carries a token: %s" % got)
        if h.get("cache-control") != "no-store":
            problems.append("error without Cache-Control: no-store (%r)" % h.get("cache-control"))
        return problems
    if st != 200 or not isinstance(body, dict) or "access_token" not in body:
        return ["expected 200 with scope %r, got %s" % (exp["scope"], got)]
    if verbs(body.get("scope")) != verbs(exp["scope"]):
        problems.append("scope %r, expected %r" % (body.get("scope"), exp["scope"]))
    _, claims = jwt_parts(body["access_token"])
    if verbs(claims.get("scope")) != verbs(exp["scope"]):
        problems.append("token scope claim %r, expected %r" % (claims.get("scope"), exp["scope"]))
    want_ws = world["ws"][exp["ws"]]
    if claims.get("ws") != want_ws:
        problems.append("ws claim %r, expected %s (%s)" % (claims.get("ws"), exp["ws"], want_ws))
    if claims.get("org_id") != world["orgs"]["own"]:
        problems.append("org_id claim %r, expected the agent's own org %s" % (claims.get("org_id"),
                                                                              world["orgs"]["own"]))
    if claims.get("owner_id") != world["owner"]["id"]:
        problems.append("owner_id claim %r, expected %s" % (claims.get("owner_id"), world["owner"]["id"]))
    if claims.get("sub") != a["client_id"] or claims.get("client_id") != a["client_id"]:
        problems.append("sub/client_id %r/%r, expected %s" % (claims.get("sub"), claims.get("client_id"),
                                                              a["client_id"]))
    return problems


def test_access_table():
    assert len(CASES) >= 15, "the table must hold at least fifteen cases"
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    env = Env()
    try:
        worlds = [build(env, c) for c in CASES]
        srv = env.serve()
        failures = []
        for case, world in zip(CASES, worlds):
            try:
                problems = check(srv, case, world)
            except Exception as e:  # a broken response is a failure of this case, not the run
                problems = ["%s: %s" % (type(e).__name__, e)]
            if problems:
                failures.append("[%s] %s" % (case["name"], "; ".join(problems)))
        assert not failures, "%d of %d access cases failed:\n  %s" % (len(failures), len(CASES),
                                                                     "\n  ".join(failures))
    finally:
        env.close()


def test_access_cross_org_token_claims():
    """The cross-org case spelled out: an owner of org A invited into org B's workspace; the
    agent's token names B's workspace and A's org, and B's own agents get nothing from A."""
    env = Env()
    try:
        org_a = env.cli("org", "add", "alpha")["id"]
        org_b = env.cli("org", "add", "beta")["id"]
        alice = env.owner(email="alice@alpha.example", org=org_a)
        bob = env.owner(email="bob@beta.example", org=org_b)
        home = env.workspace(name="home", org=org_a)
        shared = env.workspace(name="shared", org=org_b)
        env.member(home["id"], alice["id"], R)
        env.member(shared["id"], alice["id"], R + " " + N)      # the invitation
        env.member(shared["id"], bob["id"], R + " " + N + " " + I)
        agent = env.agent(alice["id"], R + " " + N + " " + I, name="helper")
        srv = env.serve()
        st, _, body = srv.token(agent["client_id"], agent["client_secret"])
        assert st == 400 and body["error"] == "invalid_request", \
            "two workspaces (home, shared) but no workspace parameter: %d %s" % (st, body)
        st, _, body = srv.token(agent["client_id"], agent["client_secret"], workspace=shared["id"])
        assert st == 200, "cross-org workspace: %d %s" % (st, body)
        assert verbs(body["scope"]) == verbs(R + " " + N), \
            "alice's verbs in beta's workspace ∩ grant, not bob's: %r" % body["scope"]
        _, c = jwt_parts(body["access_token"])
        assert c["org_id"] == org_a, "org_id must be the agent's own org alpha, got %r" % c["org_id"]
        assert c["ws"] == shared["id"], "ws must name beta's workspace, got %r" % c["ws"]
        assert c["owner_id"] == alice["id"]
        st, _, body = srv.token(agent["client_id"], agent["client_secret"], workspace=home["id"])
        assert st == 200 and body["scope"] == R, "home workspace: %d %s" % (st, body)
        assert jwt_parts(body["access_token"])[1]["org_id"] == org_a
    finally:
        env.close()
