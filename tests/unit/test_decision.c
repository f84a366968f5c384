/* test_decision.c - the one access decision (authz/decision.c) on a real database: the
 * access table of SPEC "Access model" (effective(agent, W) = grant ∩ (O ∪ V), the
 * workspace limit, lifecycle, the run kill switch), approval-required verbs, the CIBA
 * request and redemption, and an extra bound, each with its exact outcome, decided from
 * the records (fresh) and through the server's caches. */
#include "../../authz/decision.h"
#include "../../authz/effective.h"
#include "../../authz/runs.h"
#include "fixture.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#define R "tickets:read"
#define N "tickets:note"
#define I "refunds:issue"
#define D "tickets:delete"
#define ALL I " " D " " N " " R /* canonical order */

/* 64 bytes: one too many for a workspace id (ID_MAX counts the NUL) */
#define WS_64 "ws_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* 63 bytes: the longest well-formed id, of no workspace */
#define WS_63 "ws_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* ---- the table ----
 *
 * ws:     the case's workspaces by label; foreign: in a second org of the case; visible:
 *         org_visible with those org-wide verbs.
 * member: the owner's memberships. A bystander owner of the same org is a member of every
 *         workspace with every verb: nobody else's access may reach the case's agent.
 * grant:  the agent's verbs; limit: its workspace limit (labels).
 * after:  changes made through the writer jobs once all of that exists.
 * the request: purpose, workspace (a label or a literal; NULL: absent), scope (NULL:
 *         absent), run id, bound.
 * the outcome: rc, ws (a label, a literal, or "" when none was chosen), scope (canonical;
 *         "" on a refusal), and on a refusal status, code, reason and the description. */

enum step { S_NONE, S_MEMBER_SET, S_MEMBER_REMOVE, S_SUSPEND, S_RETIRE, S_DEACTIVATE, S_REVOKE_RUN, S_APPROVAL };

struct wspec {
	const char *label;
	int foreign, visible;
	const char *org_verbs;
};
struct mspec {
	const char *label, *verbs;
};
struct sspec {
	enum step op;
	const char *label; /* a workspace label */
	const char *arg;   /* verbs, or a run id */
};

struct dcase {
	const char *name;
	struct wspec ws[3];
	struct mspec member[3];
	const char *grant;
	const char *limit[2];
	struct sspec after[3];
	enum access_purpose purpose;
	const char *workspace, *scope, *run, *bound;
	int rc;
	const char *ws_out, *scope_out;
	int status;
	const char *code, *reason, *desc;
};

#define OK(ws_, scope_) .rc = 0, .ws_out = ws_, .scope_out = scope_
#define NO(ws_, status_, code_, reason_, desc_) \
	.rc = 1, .ws_out = ws_, .scope_out = "", .status = status_, .code = code_, .reason = reason_, .desc = desc_

/* rows of the table (one line each: clang-format would spread a braced macro over four) */
/* clang-format off */
#define W(l) {.label = l}
#define WF(l) {.label = l, .foreign = 1}
#define WV(l, v) {.label = l, .visible = 1, .org_verbs = v}
#define WFV(l, v) {.label = l, .foreign = 1, .visible = 1, .org_verbs = v}
#define M(l, v) {.label = l, .verbs = v}
#define ST(op_) {.op = op_}
#define ST3(op_, l, a) {.op = op_, .label = l, .arg = a}
/* clang-format on */

#define NOT_HERE "the agent has no effective verbs in this workspace"
#define NOT_ANYWHERE "the agent has no effective verbs in any workspace"
#define SEVERAL "the agent has access to several workspaces: name one with workspace"
#define BAD_WS "workspace must be a ws_ id"
#define NOTHING_LEFT "none of the requested verbs is allowed to both the subject and the actor"

static const struct dcase CASES[] = {
	/* -- effective(agent, W) = grant ∩ (O ∪ V) -- */
	{"default deny: a verb in neither the grant nor the owner's verbs", .ws = {W("W")}, .member = {M("W", R)},
	 .grant = R, .workspace = "W", .scope = D,
	 NO("W", 400, "invalid_scope", "scope_not_allowed", "not allowed: " D)},
	{"default deny: a verb the owner has but the grant lacks", .ws = {W("W")}, .member = {M("W", R " " N)},
	 .grant = R, .workspace = "W", .scope = N,
	 NO("W", 400, "invalid_scope", "scope_not_allowed", "not allowed: " N)},
	{"grant narrower than the owner: the grant bounds the token", .ws = {W("W")}, .member = {M("W", R " " N " " D)},
	 .grant = R, .workspace = "W", OK("W", R)},
	{"owner narrower than the grant: the owner bounds the token", .ws = {W("W")}, .member = {M("W", R)},
	 .grant = R " " N " " I, .workspace = "W", OK("W", R)},
	{"explicit scope, a subset of the effective verbs: exactly that scope", .ws = {W("W")},
	 .member = {M("W", R " " N " " D)}, .grant = R " " N " " D, .workspace = "W", .scope = D " " R,
	 OK("W", D " " R)},
	{"scope with repeated verbs and runs of spaces: canonical", .ws = {W("W")}, .member = {M("W", R " " N)},
	 .grant = R " " N, .workspace = "W", .scope = "  " R "   " N " " R " ", OK("W", N " " R)},
	{"scope with an unknown verb beside an allowed one", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .workspace = "W", .scope = R " tickets:fly",
	 NO("W", 400, "invalid_scope", "scope_not_allowed", "not allowed: tickets:fly")},
	{"malformed scope", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .workspace = "W", .scope = "tickets",
	 NO("W", 400, "invalid_scope", "bad_scope", "malformed scope 'tickets'")},
	{"malformed scope: the first bad verb is named", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .workspace = "W", .scope = R " a:b:c " N,
	 NO("W", 400, "invalid_scope", "bad_scope", "malformed scope 'a:b:c'")},
	{"empty effective set in a named workspace", .ws = {W("W"), W("E")}, .member = {M("W", R), M("E", N)},
	 .grant = R, .workspace = "E", NO("E", 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},
	{"a members-only workspace of the same org the owner is not in", .ws = {W("W"), W("Z")}, .member = {M("W", R)},
	 .grant = R, .workspace = "Z", NO("Z", 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},
	{"a well-formed workspace id of no workspace", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .workspace = WS_63, NO(WS_63, 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},

	/* -- org_visible: V only in the agent's own org -- */
	{"org-visible workspace of the agent's org: V without membership", .ws = {WV("V", R " " D)}, .grant = R " " N,
	 .workspace = "V", OK("V", R)},
	{"org-visible workspace of the agent's org is its default", .ws = {WV("V", R)}, .grant = R " " N, OK("V", R)},
	{"org-visible workspace of another org does not leak (named)", .ws = {WFV("X", R " " N)}, .grant = R " " N,
	 .workspace = "X", NO("X", 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},
	{"org-visible workspace of another org does not leak (not a default)", .ws = {WFV("X", R " " N)},
	 .grant = R " " N, NO("", 400, "invalid_request", "no_workspace", NOT_ANYWHERE)},
	{"cross-org membership: trust follows the owner", .ws = {WF("F")}, .member = {M("F", R " " N)},
	 .grant = R " " I, .workspace = "F", OK("F", R)},
	{"cross-org membership is a default workspace too", .ws = {WF("F")}, .member = {M("F", R " " N)},
	 .grant = R " " I, OK("F", R)},
	{"cross-org membership of a foreign org-visible workspace: O only, never its V", .ws = {WFV("F", R)},
	 .member = {M("F", N)}, .grant = R " " N, .workspace = "F", OK("F", N)},
	{"org-wide verbs ∪ the owner's verbs, then ∩ the grant", .ws = {WV("V", R)}, .member = {M("V", N " " D)},
	 .grant = R " " N " " I, .workspace = "V", OK("V", N " " R)},

	/* -- the agent's workspace limit -- */
	{"limit: a workspace outside it gives no verbs", .ws = {W("W1"), W("W2")},
	 .member = {M("W1", R), M("W2", R " " N)}, .grant = R " " N, .limit = {"W1"}, .workspace = "W2",
	 NO("W2", 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},
	{"limit: inside it the usual intersection", .ws = {W("W1"), W("W2")}, .member = {M("W1", R), M("W2", R " " N)},
	 .grant = R " " N, .limit = {"W1"}, .workspace = "W1", OK("W1", R)},
	{"limit: the one workspace inside it is the default", .ws = {W("W1"), W("W2")},
	 .member = {M("W1", R), M("W2", R " " N)}, .grant = R " " N, .limit = {"W1"}, OK("W1", R)},
	{"limit: an org-visible workspace outside it gives no V", .ws = {W("W1"), WV("V", R " " N)},
	 .member = {M("W1", R)}, .grant = R " " N, .limit = {"W1"}, .workspace = "V",
	 NO("V", 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},
	{"limit: an org-visible workspace inside it gives V", .ws = {W("W1"), WV("V", R " " N)}, .member = {M("W1", R)},
	 .grant = R " " N, .limit = {"V"}, .workspace = "V", OK("V", N " " R)},

	/* -- the default workspace: none, one, several -- */
	{"default workspace: none", .ws = {W("W")}, .grant = R,
	 NO("", 400, "invalid_request", "no_workspace", NOT_ANYWHERE)},
	{"default workspace: a membership with no verb of the grant is none", .ws = {W("W")}, .member = {M("W", D)},
	 .grant = R, NO("", 400, "invalid_request", "no_workspace", NOT_ANYWHERE)},
	{"default workspace: one", .ws = {W("W")}, .member = {M("W", R " " N)}, .grant = R " " N, OK("W", N " " R)},
	{"default workspace: one with verbs beside one without", .ws = {W("W1"), W("W2")},
	 .member = {M("W1", D), M("W2", R)}, .grant = R, OK("W2", R)},
	/* refused as ambiguous: no workspace was chosen, on the fresh path as on the cached one
	 * (effective_default_workspace() fills ws_out with a candidate before it knows it is the
	 * only one; choose_workspace() clears it) */
	{"default workspace: several", .ws = {W("W1"), W("W2")}, .member = {M("W1", R), M("W2", N)}, .grant = R " " N,
	 NO("", 400, "invalid_request", "ambiguous_workspace", SEVERAL)},
	{"default workspace: a membership and an org-visible workspace are several", .ws = {W("W"), WV("V", N)},
	 .member = {M("W", R)}, .grant = R " " N, NO("", 400, "invalid_request", "ambiguous_workspace", SEVERAL)},
	{"several workspaces: W1 gives its own intersection", .ws = {W("W1"), W("W2")},
	 .member = {M("W1", R " " I), M("W2", N)}, .grant = R " " N, .workspace = "W1", OK("W1", R)},
	{"several workspaces: W2 gives its own intersection", .ws = {W("W1"), W("W2")},
	 .member = {M("W1", R " " I), M("W2", N " " D)}, .grant = R " " N " " D, .workspace = "W2", OK("W2", D " " N)},

	/* -- malformed workspace ids -- */
	{"workspace \"ws_\" alone", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .workspace = "ws_",
	 NO("", 400, "invalid_request", "bad_workspace", BAD_WS)},
	{"workspace \"xx_abc\"", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .workspace = "xx_abc",
	 NO("", 400, "invalid_request", "bad_workspace", BAD_WS)},
	{"workspace \"WS_abc\": the prefix is lowercase", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .workspace = "WS_abc", NO("", 400, "invalid_request", "bad_workspace", BAD_WS)},
	{"workspace \"ws\"", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .workspace = "ws",
	 NO("", 400, "invalid_request", "bad_workspace", BAD_WS)},
	{"workspace id of ID_MAX bytes", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .workspace = WS_64,
	 NO("", 400, "invalid_request", "bad_workspace", BAD_WS)},

	/* -- lifecycle and the run kill switch: what no scope makes up for -- */
	{"suspended agent", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .after = {ST(S_SUSPEND)},
	 .workspace = "W", NO("", 400, "unauthorized_client", "agent_inactive", "agent is suspended")},
	{"retired agent", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .after = {ST(S_RETIRE)}, .workspace = "W",
	 NO("", 400, "unauthorized_client", "agent_inactive", "agent is retired")},
	{"deactivated owner: the agent is suspended with them", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .after = {ST(S_DEACTIVATE)}, .workspace = "W",
	 NO("", 400, "unauthorized_client", "agent_inactive", "agent is suspended")},
	{"suspended agent, malformed workspace: lifecycle first", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .after = {ST(S_SUSPEND)}, .workspace = "ws_",
	 NO("", 400, "unauthorized_client", "agent_inactive", "agent is suspended")},
	{"revoked run", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .after = {ST3(S_REVOKE_RUN, NULL, "run_a")},
	 .workspace = "W", .run = "run_a", NO("", 400, "invalid_request", "run_revoked", "run run_a is revoked")},
	{"revoked run, no workspace named", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .after = {ST3(S_REVOKE_RUN, NULL, "run_a")}, .run = "run_a",
	 NO("", 400, "invalid_request", "run_revoked", "run run_a is revoked")},
	{"another run of the agent is revoked: this one is not", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .after = {ST3(S_REVOKE_RUN, NULL, "run_a")}, .workspace = "W", .run = "run_b", OK("W", R)},

	/* -- changes of membership -- */
	{"member removed: nothing left in that workspace", .ws = {W("W")}, .member = {M("W", R " " N)},
	 .grant = R " " N, .after = {ST3(S_MEMBER_REMOVE, "W", NULL)}, .workspace = "W",
	 NO("W", 400, "invalid_scope", "no_effective_verbs", NOT_HERE)},
	{"member removed: no default workspace any more", .ws = {W("W")}, .member = {M("W", R " " N)}, .grant = R " " N,
	 .after = {ST3(S_MEMBER_REMOVE, "W", NULL)}, NO("", 400, "invalid_request", "no_workspace", NOT_ANYWHERE)},
	{"member removed from an org-visible workspace: V remains", .ws = {WV("V", R)}, .member = {M("V", R " " N)},
	 .grant = R " " N, .after = {ST3(S_MEMBER_REMOVE, "V", NULL)}, .workspace = "V", OK("V", R)},
	{"member narrowed: the new intersection", .ws = {W("W")}, .member = {M("W", R " " N)}, .grant = R " " N,
	 .after = {ST3(S_MEMBER_SET, "W", R)}, .workspace = "W", OK("W", R)},
	{"member narrowed: the verb taken away is refused", .ws = {W("W")}, .member = {M("W", R " " N)},
	 .grant = R " " N, .after = {ST3(S_MEMBER_SET, "W", R)}, .workspace = "W", .scope = N,
	 NO("W", 400, "invalid_scope", "scope_not_allowed", "not allowed: " N)},

	/* -- approval-required verbs at plain issuance -- */
	{"approval verbs: absent scope gives the others", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W", OK("W", R)},
	{"approval verbs: asking for one is refused", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W", .scope = I,
	 NO("W", 400, "invalid_scope", "approval_required", "approval required for: " I " (use /bc-authorize)")},
	{"approval verbs: one among allowed verbs is refused", .ws = {W("W")}, .member = {M("W", R " " I)},
	 .grant = R " " I, .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W", .scope = R " " I,
	 NO("W", 400, "invalid_scope", "approval_required", "approval required for: " I " (use /bc-authorize)")},
	{"approval verbs: every effective verb needs approval", .ws = {W("W")}, .member = {M("W", I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W",
	 NO("W", 400, "invalid_scope", "approval_required",
	    "every effective verb here requires approval (use /bc-authorize)")},
	{"approval verbs of another workspace do not apply here", .ws = {W("W"), W("A")},
	 .member = {M("W", R " " I), M("A", I)}, .grant = R " " I, .after = {ST3(S_APPROVAL, "A", I)}, .workspace = "W",
	 .scope = I, OK("W", I)},
	{"approval verbs: a verb outside the effective set is not allowed first", .ws = {W("W")}, .member = {M("W", R)},
	 .grant = R " " I, .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W", .scope = I,
	 NO("W", 400, "invalid_scope", "scope_not_allowed", "not allowed: " I)},

	/* -- CIBA: the request and the redemption -- */
	{"CIBA request of an approval verb", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .purpose = ACCESS_CIBA_REQUEST, .workspace = "W", .scope = I, OK("W", I)},
	{"CIBA request of approval and plain verbs, default workspace", .ws = {W("W")}, .member = {M("W", R " " I)},
	 .grant = R " " I, .after = {ST3(S_APPROVAL, "W", I)}, .purpose = ACCESS_CIBA_REQUEST, .scope = R " " I,
	 OK("W", I " " R)},
	{"CIBA request without scope", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .purpose = ACCESS_CIBA_REQUEST, .workspace = "W",
	 NO("W", 400, "invalid_scope", "missing_scope", "scope is required")},
	{"CIBA request of a verb not allowed", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .purpose = ACCESS_CIBA_REQUEST, .workspace = "W", .scope = D " " I,
	 NO("W", 400, "invalid_scope", "scope_not_allowed", "not allowed: " D)},
	{"CIBA request in a workspace with nothing effective", .ws = {W("W"), W("E")}, .member = {M("W", I)},
	 .grant = R " " I, .purpose = ACCESS_CIBA_REQUEST, .workspace = "E", .scope = I,
	 NO("E", 400, "invalid_scope", "scope_not_allowed", "not allowed: " I)},
	{"CIBA request with a malformed scope", .ws = {W("W")}, .member = {M("W", I)}, .grant = I,
	 .purpose = ACCESS_CIBA_REQUEST, .workspace = "W", .scope = "refunds",
	 NO("W", 400, "invalid_scope", "bad_scope", "malformed scope 'refunds'")},
	{"CIBA request by a suspended agent", .ws = {W("W")}, .member = {M("W", I)}, .grant = I,
	 .after = {ST(S_SUSPEND)}, .purpose = ACCESS_CIBA_REQUEST, .workspace = "W", .scope = I,
	 NO("", 400, "unauthorized_client", "agent_inactive", "agent is suspended")},
	{"CIBA redemption of verbs still allowed", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .purpose = ACCESS_CIBA_REDEEM, .workspace = "W", .scope = I, OK("W", I)},
	{"CIBA redemption of verbs no longer allowed", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I), ST3(S_MEMBER_SET, "W", R)}, .purpose = ACCESS_CIBA_REDEEM, .workspace = "W",
	 .scope = R " " I,
	 NO("W", 400, "invalid_grant", "approval_no_longer_allowed", "the approved verbs are no longer allowed: " I)},
	{"CIBA redemption after the owner left the workspace", .ws = {W("W")}, .member = {M("W", I)}, .grant = I,
	 .after = {ST3(S_APPROVAL, "W", I), ST3(S_MEMBER_REMOVE, "W", NULL)}, .purpose = ACCESS_CIBA_REDEEM,
	 .workspace = "W", .scope = I,
	 NO("W", 400, "invalid_grant", "approval_no_longer_allowed", "the approved verbs are no longer allowed: " I)},
	{"CIBA redemption of a revoked run", .ws = {W("W")}, .member = {M("W", I)}, .grant = I,
	 .after = {ST3(S_APPROVAL, "W", I), ST3(S_REVOKE_RUN, NULL, "run_c")}, .purpose = ACCESS_CIBA_REDEEM,
	 .workspace = "W", .scope = I, .run = "run_c",
	 NO("", 400, "invalid_request", "run_revoked", "run run_c is revoked")},
	{"CIBA redemption by a retired agent", .ws = {W("W")}, .member = {M("W", I)}, .grant = I,
	 .after = {ST3(S_APPROVAL, "W", I), ST(S_RETIRE)}, .purpose = ACCESS_CIBA_REDEEM, .workspace = "W", .scope = I,
	 NO("", 400, "unauthorized_client", "agent_inactive", "agent is retired")},

	/* -- an extra bound (token exchange): asked ∩ held ∩ bound, never an approval verb -- */
	{"bound narrower than the effective verbs", .ws = {W("W")}, .member = {M("W", R " " N)}, .grant = R " " N,
	 .workspace = "W", .bound = R, OK("W", R)},
	{"bound wider than the effective verbs", .ws = {W("W")}, .member = {M("W", R)}, .grant = R " " N,
	 .workspace = "W", .bound = ALL, OK("W", R)},
	{"bound disjoint from the effective verbs", .ws = {W("W")}, .member = {M("W", R " " N)}, .grant = R " " N,
	 .workspace = "W", .bound = D, NO("W", 400, "invalid_request", "nothing_left", NOTHING_LEFT)},
	{"bound and a scope: the scope within both", .ws = {W("W")}, .member = {M("W", R " " N " " D)},
	 .grant = R " " N " " D, .workspace = "W", .scope = N " " D, .bound = N " " R, OK("W", N)},
	{"bound and a scope outside the effective verbs: nothing left", .ws = {W("W")}, .member = {M("W", R " " N)},
	 .grant = R " " N, .workspace = "W", .scope = D, .bound = D " " N " " R,
	 NO("W", 400, "invalid_request", "nothing_left", NOTHING_LEFT)},
	{"bound: approval verbs are left out", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W", .bound = I " " R, OK("W", R)},
	{"bound: only approval verbs left is nothing", .ws = {W("W")}, .member = {M("W", R " " I)}, .grant = R " " I,
	 .after = {ST3(S_APPROVAL, "W", I)}, .workspace = "W", .bound = I,
	 NO("W", 400, "invalid_request", "nothing_left", NOTHING_LEFT)},
	{"bound with a malformed scope", .ws = {W("W")}, .member = {M("W", R)}, .grant = R, .workspace = "W",
	 .scope = "x", .bound = R, NO("W", 400, "invalid_scope", "bad_scope", "malformed scope 'x'")},
	{"bound does not make up for a missing workspace", .ws = {W("W")}, .member = {M("W", R)}, .grant = R,
	 .workspace = "xx_abc", .bound = R, NO("", 400, "invalid_request", "bad_workspace", BAD_WS)},
};

#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

struct world {
	char org[ID_MAX], foreign[ID_MAX], owner[ID_MAX], agent[ID_MAX];
	char ws[3][ID_MAX];
};

static const char *ws_of(const struct dcase *c, const struct world *w, const char *label)
{
	for (int i = 0; i < 3 && c->ws[i].label; i++)
		if (strcmp(c->ws[i].label, label) == 0)
			return w->ws[i];
	return label; /* a literal */
}

/* The case's orgs, owners, workspaces, memberships and agent, then its changes. */
static void build(struct fx *f, int n, const struct dcase *c, struct world *w)
{
	char name[64], bystander[ID_MAX];
	memset(w, 0, sizeof *w);
	snprintf(name, sizeof name, "case%d-own", n);
	fx_org(f, name, w->org);
	snprintf(name, sizeof name, "case%d-foreign", n);
	fx_org(f, name, w->foreign);
	snprintf(name, sizeof name, "case%d@example.com", n);
	fx_owner(f, w->org, name, w->owner);
	snprintf(name, sizeof name, "case%d-other@example.com", n);
	fx_owner(f, w->org, name, bystander);
	for (int i = 0; i < 3 && c->ws[i].label; i++) {
		snprintf(name, sizeof name, "%s-%d", c->ws[i].label, n);
		fx_workspace(f, c->ws[i].foreign ? w->foreign : w->org, name, c->ws[i].visible, c->ws[i].org_verbs,
			     w->ws[i]);
		fx_member(f->db, MEMBER_ADD, w->ws[i], bystander, ALL);
	}
	for (int i = 0; i < 3 && c->member[i].label; i++)
		fx_member(f->db, MEMBER_ADD, ws_of(c, w, c->member[i].label), w->owner, c->member[i].verbs);
	const char *limit[2];
	int nl = 0;
	for (int i = 0; i < 2 && c->limit[i]; i++)
		limit[nl++] = ws_of(c, w, c->limit[i]);
	fx_agent(f, w->owner, c->grant, limit, nl, 0, 0, w->agent, NULL);
	for (int i = 0; i < 3 && c->after[i].op != S_NONE; i++) {
		const struct sspec *s = &c->after[i];
		const char *ws = s->label ? ws_of(c, w, s->label) : NULL;
		switch (s->op) {
		case S_MEMBER_SET: fx_member(f->db, MEMBER_SET, ws, w->owner, s->arg); break;
		case S_MEMBER_REMOVE: fx_member(f->db, MEMBER_REMOVE, ws, w->owner, NULL); break;
		case S_SUSPEND: fx_lifecycle(f->db, w->agent, LC_SUSPEND); break;
		case S_RETIRE: fx_lifecycle(f->db, w->agent, LC_RETIRE); break;
		case S_DEACTIVATE: fx_deactivate(f->db, w->owner); break;
		case S_REVOKE_RUN: fx_revoke_run(f->db, w->agent, s->arg); break;
		case S_APPROVAL: fx_approval(f->db, ws, s->arg); break;
		case S_NONE: break;
		}
	}
}

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

/* Compares one decision with the case; prints every difference and counts a failure. */
static void expect(const struct dcase *c, const struct world *w, const char *how, int rc,
		   const struct access_decision *d)
{
	const char *want_ws = c->ws_out[0] ? ws_of(c, w, c->ws_out) : "";
	int bad = 0;
	char got[2 * VERBSET_MAX + 512], want[2 * VERBSET_MAX + 512];
	snprintf(got, sizeof got, "rc %d ws '%s' scope '%s' | %d %s %s '%s'", rc, d->ws, d->scope, d->err.status,
		 d->err.code ? d->err.code : "-", d->err.reason ? d->err.reason : "-", d->err.desc);
	snprintf(want, sizeof want, "rc %d ws '%s' scope '%s' | %d %s %s '%s'", c->rc, want_ws, c->scope_out, c->status,
		 c->code ? c->code : "-", c->reason ? c->reason : "-", c->desc ? c->desc : "");
	bad |= rc != c->rc || strcmp(d->ws, want_ws) != 0 || strcmp(d->scope, c->scope_out) != 0;
	bad |= d->err.status != c->status || !str_eq(d->err.code, c->code) || !str_eq(d->err.reason, c->reason);
	bad |= strcmp(d->err.desc, c->desc ? c->desc : "") != 0;
	if (bad) {
		test_failures++;
		fprintf(stderr, "    case \"%s\" (%s):\n      got  %s\n      want %s\n", c->name, how, got, want);
	}
}

static int decide(struct db *db, const struct dcase *c, const struct world *w, const struct agent *a, int fresh,
		  struct access_decision *d)
{
	struct access_request q = {
		.purpose = c->purpose,
		.agent = a,
		.run_id = c->run,
		.bound = c->bound,
		.fresh = fresh,
		.workspace = c->workspace ? slice_of(ws_of(c, w, c->workspace)) : (slice){0},
		.scope = c->scope ? slice_of(c->scope) : (slice){0},
	};
	memset(d, 0x5a, sizeof *d); /* the decision must set every field it reports */
	return access_decide(db, &q, d);
}

/* The process-wide caches, as a test finds and leaves them: empty, the run set off. */
static void caches_reset(void)
{
	effective_cache_clear();
	run_cache_free();
}

TEST(decision_access_table)
{
	struct fx f;
	if (fx_open(&f) < 0)
		return;
	caches_reset();
	effective_cache_enable();
	for (int i = 0; i < NCASES; i++) {
		const struct dcase *c = &CASES[i];
		struct world w;
		struct agent a;
		struct access_decision d;
		build(&f, i, c, &w);
		if (fx_load(f.db, w.agent, &a) != 1)
			continue;
		/* from the records (the writer), then twice through the caches (fill, then hit) */
		expect(c, &w, "fresh", decide(f.db, c, &w, &a, 1, &d), &d);
		expect(c, &w, "cached, first", decide(f.db, c, &w, &a, 0, &d), &d);
		expect(c, &w, "cached, again", decide(f.db, c, &w, &a, 0, &d), &d);
	}
	caches_reset();
	fx_close(&f);
}

/* An agent record whose owner is deactivated while it still reads active (a record loaded
 * before the owner's agents were suspended): the owner's status is checked on its own. */
TEST(decision_owner_inactive)
{
	struct fx f;
	char owner[ID_MAX], ws[ID_MAX], agent[ID_MAX];
	if (fx_open(&f) < 0)
		return;
	caches_reset();
	fx_owner(&f, f.org, "u@example.com", owner);
	fx_workspace(&f, f.org, "w", 0, NULL, ws);
	fx_member(f.db, MEMBER_ADD, ws, owner, R);
	fx_agent(&f, owner, R, NULL, 0, 0, 0, agent, NULL);
	fx_deactivate(f.db, owner);
	struct agent a;
	if (fx_load(f.db, agent, &a) == 1) {
		CHECK_STR(a.status, "suspended");
		CHECK_STR(a.owner_status, "deactivated");
		snprintf(a.status, sizeof a.status, "active");
		for (int fresh = 1; fresh >= 0; fresh--) {
			struct access_request q = {.agent = &a, .workspace = slice_of(ws), .fresh = fresh};
			struct access_decision d;
			CHECK(access_decide(f.db, &q, &d) == 1);
			CHECK(d.err.status == 400);
			CHECK_STR(d.err.code, "unauthorized_client");
			CHECK_STR(d.err.reason, "owner_inactive");
			CHECK_STR(d.err.desc, "the agent's owner is deactivated");
			CHECK_STR(d.ws, "");
			CHECK_STR(d.scope, "");
		}
	}
	fx_close(&f);
}

/* A run is (agent, run id): another agent's revoked run of the same id refuses nothing here,
 * fresh or from the server's in-memory set of revoked runs. */
TEST(decision_run_is_per_agent)
{
	struct fx f;
	char owner[ID_MAX], ws[ID_MAX], a1[ID_MAX], a2[ID_MAX];
	if (fx_open(&f) < 0)
		return;
	caches_reset();
	fx_owner(&f, f.org, "u@example.com", owner);
	fx_workspace(&f, f.org, "w", 0, NULL, ws);
	fx_member(f.db, MEMBER_ADD, ws, owner, R);
	fx_agent(&f, owner, R, NULL, 0, 0, 0, a1, NULL);
	fx_agent(&f, owner, R, NULL, 0, 0, 0, a2, NULL);
	fx_revoke_run(f.db, a1, "shared-run");
	struct agent one, two;
	if (fx_load(f.db, a1, &one) != 1 || fx_load(f.db, a2, &two) != 1) {
		fx_close(&f);
		return;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) { /* the server's way: the set in memory */
			CHECK(run_cache_enable() == 0);
			CHECK(run_cache_add(a1, "shared-run") == 0);
		}
		for (int fresh = 1; fresh >= 0; fresh--) {
			struct access_decision d;
			struct access_request q = {.agent = &one, .run_id = "shared-run", .fresh = fresh};
			CHECK(access_decide(f.db, &q, &d) == 1);
			CHECK_STR(d.err.reason, "run_revoked");
			q.agent = &two;
			CHECK(access_decide(f.db, &q, &d) == 0);
			CHECK_STR(d.ws, ws);
			CHECK_STR(d.scope, R);
		}
	}
	caches_reset();
	fx_close(&f);
}

/* fresh decides from the records; the cached path answers from the caches until the change
 * log clears them (token/live.c does, test_live.c shows it). */
TEST(decision_fresh_bypasses_caches)
{
	struct fx f;
	char owner[ID_MAX], ws[ID_MAX], agent[ID_MAX];
	if (fx_open(&f) < 0)
		return;
	caches_reset();
	effective_cache_enable();
	CHECK(run_cache_enable() == 0);
	fx_owner(&f, f.org, "u@example.com", owner);
	fx_workspace(&f, f.org, "w", 0, NULL, ws);
	fx_member(f.db, MEMBER_ADD, ws, owner, R " " N);
	fx_agent(&f, owner, R " " N, NULL, 0, 0, 0, agent, NULL);
	struct agent a;
	if (fx_load(f.db, agent, &a) != 1) {
		fx_close(&f);
		return;
	}
	struct access_decision d;
	struct access_request named = {.agent = &a, .workspace = slice_of(ws), .run_id = "run_x"};
	struct access_request dflt = {.agent = &a, .run_id = "run_x"};
	CHECK(access_decide(f.db, &named, &d) == 0);
	CHECK_STR(d.scope, N " " R);
	CHECK(access_decide(f.db, &dflt, &d) == 0);
	CHECK_STR(d.ws, ws);

	fx_member(f.db, MEMBER_REMOVE, ws, owner, NULL);
	fx_revoke_run(f.db, agent, "run_x");
	/* the caches still hold the earlier answers */
	CHECK(access_decide(f.db, &named, &d) == 0);
	CHECK_STR(d.scope, N " " R);
	CHECK(access_decide(f.db, &dflt, &d) == 0);
	/* the writer's fresh decision sees the records: the run first, then the workspace */
	named.fresh = dflt.fresh = 1;
	CHECK(access_decide(f.db, &named, &d) == 1);
	CHECK_STR(d.err.reason, "run_revoked");
	named.run_id = dflt.run_id = NULL;
	CHECK(access_decide(f.db, &named, &d) == 1);
	CHECK_STR(d.err.reason, "no_effective_verbs");
	CHECK(access_decide(f.db, &dflt, &d) == 1);
	CHECK_STR(d.err.reason, "no_workspace");
	/* cleared, the cached path agrees */
	effective_cache_clear();
	named.fresh = dflt.fresh = 0;
	CHECK(access_decide(f.db, &named, &d) == 1);
	CHECK_STR(d.err.reason, "no_effective_verbs");
	CHECK(access_decide(f.db, &dflt, &d) == 1);
	CHECK_STR(d.err.reason, "no_workspace");
	caches_reset();
	fx_close(&f);
}

TEST(decision_workspace_id_valid)
{
	CHECK(!workspace_id_valid(slice_of("")));
	CHECK(!workspace_id_valid(slice_of("ws")));
	CHECK(!workspace_id_valid(slice_of("ws_")));
	CHECK(workspace_id_valid(slice_of("ws_a")));
	CHECK(!workspace_id_valid(slice_of("xx_abc")));
	CHECK(!workspace_id_valid(slice_of("Ws_abc")));
	CHECK(workspace_id_valid(slice_of(WS_63)));
	CHECK(!workspace_id_valid(slice_of(WS_64)));
}

/* A scope of more than VERBS_MAX verbs, or with a long bad verb: bad_scope, its description
 * naming at most 64 bytes of what was sent. */
TEST(decision_scope_too_long)
{
	struct fx f;
	char owner[ID_MAX], ws[ID_MAX], agent[ID_MAX];
	if (fx_open(&f) < 0)
		return;
	caches_reset();
	fx_owner(&f, f.org, "u@example.com", owner);
	fx_workspace(&f, f.org, "w", 0, NULL, ws);
	fx_member(f.db, MEMBER_ADD, ws, owner, R);
	fx_agent(&f, owner, R, NULL, 0, 0, 0, agent, NULL);
	struct agent a;
	if (fx_load(f.db, agent, &a) != 1) {
		fx_close(&f);
		return;
	}
	static char many[(VERBS_MAX + 1) * 16];
	size_t n = 0;
	for (int i = 0; i <= VERBS_MAX; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "%sv:a%02d", i ? " " : "", i);
	char want[128];
	snprintf(want, sizeof want, "malformed scope '%.64s'", many);
	static char longverb[VERB_MAX_LEN + 8];
	memset(longverb, 'x', sizeof longverb - 1);
	longverb[1] = ':';
	char want2[128];
	snprintf(want2, sizeof want2, "malformed scope '%.64s'", longverb);
	for (int fresh = 1; fresh >= 0; fresh--) {
		struct access_request q = {
			.agent = &a, .workspace = slice_of(ws), .scope = slice_of(many), .fresh = fresh};
		struct access_decision d;
		CHECK(access_decide(f.db, &q, &d) == 1);
		CHECK_STR(d.err.code, "invalid_scope");
		CHECK_STR(d.err.reason, "bad_scope");
		CHECK_STR(d.err.desc, want);
		q.scope = slice_of(longverb);
		CHECK(access_decide(f.db, &q, &d) == 1);
		CHECK_STR(d.err.reason, "bad_scope");
		CHECK_STR(d.err.desc, want2);
		/* VERBS_MAX verbs are not too many: only tickets:read is allowed among them */
		many[strlen(many) - strlen(" v:a64")] = '\0';
		q.scope = slice_of(many);
		CHECK(access_decide(f.db, &q, &d) == 1);
		CHECK_STR(d.err.reason, "scope_not_allowed");
		many[strlen(many)] = ' ';
	}
	fx_close(&f);
}
