/* app.js - the owners' console: renders the page for the path it is at, from the JSON API
 * under /console/api/. No framework, no inline script, nothing from elsewhere. Text goes in
 * through textContent only (never HTML). The CSRF token comes from /console/api/session
 * and travels in the X-CSRF-Token header of every state change. */
"use strict";
(function () {
  var csrf = "", me = null, agentsById = {};
  var POLL_MS = 3000; /* the Approvals page asks for new requests this often while visible */
  var main = document.getElementById("main");

  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k === "class") el.className = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x) el.appendChild(typeof x === "string" ? document.createTextNode(x) : x); });
      else el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }
  function say(msg) { var l = document.getElementById("live"); l.textContent = ""; setTimeout(function () { l.textContent = msg; }, 50); }
  function show(nodes, title) {
    main.textContent = "";
    [].concat(nodes).forEach(function (n) { if (n) main.appendChild(n); });
    document.title = (title ? title + " · " : "") + "Warrant console";
  }

  function api(method, path, body, extra) {
    var headers = { "Accept": "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    for (var k in extra || {}) headers[k] = extra[k];
    return fetch("/console/api/" + path, { method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.status === 401 && path !== "signin") { location.assign("/console/signin"); throw new Error("sign in"); }
        if (!r.ok) throw new Error(j.error_description || j.error || ("HTTP " + r.status));
        return j;
      });
    });
  }

  function initials(name) {
    var parts = String(name || "?").replace(/[^\p{L}\p{N} _-]/gu, " ").split(/[\s_-]+/).filter(Boolean);
    var s = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] || "?").slice(0, 2);
    return s.toUpperCase();
  }
  function hue(id) { var n = 0; for (var i = 0; i < id.length; i++) n = (n * 31 + id.charCodeAt(i)) >>> 0; return n % 8; }
  function avatar(a, big) {
    return h("span", { class: "avatar hue-" + hue(a.id) + (big ? " big" : ""), "aria-hidden": "true", text: initials(a.name) });
  }
  function statusBadge(s) { return h("span", { class: "status " + s, text: s }); }
  function chips(list, label) {
    if (!list || !list.length) return h("span", { class: "muted", text: "none" });
    return h("ul", { class: "chips", "aria-label": label }, list.map(function (v) { return h("li", { text: v }); }));
  }
  function when(t) {
    if (!t) return "never";
    var d = new Date(t), s = Math.round((Date.now() - d.getTime()) / 1000);
    var rel = s < 60 ? s + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : s < 86400 ? Math.round(s / 3600) + " h ago" : Math.round(s / 86400) + " d ago";
    if (s < 0) rel = "in " + (-s < 3600 ? Math.round(-s / 60) + " min" : Math.round(-s / 3600) + " h");
    return rel;
  }
  function time(t) { return t ? h("time", { datetime: t, title: t, text: when(t) }) : h("span", { class: "muted", text: "never" }); }
  function errorBox(id) { return h("p", { id: id, class: "error", role: "alert" }); }
  function fail(box) { return function (e) { box.textContent = e.message; }; }
  function credSummary(creds) {
    var live = (creds || []).filter(function (c) { return c.live; });
    var by = {};
    live.forEach(function (c) { by[c.kind] = (by[c.kind] || 0) + 1; });
    var parts = Object.keys(by).map(function (k) { return by[k] + " " + k + (by[k] > 1 ? "s" : ""); });
    return parts.length ? parts.join(", ") : "none live";
  }

  /* ---- sign-in ---- */
  function signinPage() {
    document.getElementById("top").hidden = true;
    var err = errorBox("signin-error");
    var form = h("form", { class: "stack", novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      err.textContent = "";
      var btn = form.querySelector("button"); btn.disabled = true;
      api("POST", "signin", { email: form.email.value, password: form.password.value }).then(function (j) {
        form.password.value = "";
        location.assign("/console/");
      }).catch(function (e) { btn.disabled = false; err.textContent = e.message === "authentication failed" ? "Wrong email or password." : e.message; form.password.focus(); });
    } },
      h("div", null, h("label", { for: "email", text: "Email" }), h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true })),
      h("div", null, h("label", { for: "password", text: "Password" }), h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
      err,
      h("div", null, h("button", { type: "submit", text: "Sign in" })));
    var box = h("div", { class: "card" }, form);
    show(h("div", { class: "signin" }, h("h1", { text: "Sign in to the Warrant console" }),
      h("p", { class: "muted", text: "Owners manage their agents here." }), box), "Sign in");
    fetch("/console/api/config").then(function (r) { return r.json(); }).then(function (c) {
      if (c.oidc) box.appendChild(h("div", null, h("p", { class: "or", text: "or" }),
        h("a", { class: "button secondary", id: "oidc", href: "/console/oidc/start", text: "Sign in with your company account" })));
    }).catch(function () {});
    form.email.focus();
  }

  /* ---- agents ---- */
  function agentCard(a) {
    return h("li", { class: "card agent-card" }, avatar(a),
      h("div", null,
        h("h2", null, h("a", { href: "/console/agents/" + encodeURIComponent(a.id), text: a.name })),
        h("div", null, statusBadge(a.status), " ", h("code", { text: a.id })),
        h("dl", { class: "facts" },
          h("dt", { text: "Verbs" }), h("dd", null, chips(a.verbs, "verbs")),
          h("dt", { text: "Workspaces" }), h("dd", null, chips(a.workspaces, "workspaces")),
          h("dt", { text: "Credentials" }), h("dd", { text: credSummary(a.credentials) }),
          h("dt", { text: "Last token" }), h("dd", null, time(a.last_token_at)))));
  }
  function secretBox(title, id, secret, note) {
    var input = h("input", { id: "secret-value", readonly: true, value: secret, "aria-describedby": "secret-note" });
    var copied = h("span", { role: "status" });
    return h("div", { class: "card secret", id: "secret-box" }, h("h2", { text: title }),
      h("label", { for: "secret-value", text: "Client secret of " + id }), input,
      h("p", { id: "secret-note", class: "muted", text: note }),
      h("div", { class: "actions" }, h("button", { type: "button", id: "copy-secret", onclick: function () {
        var done = function () { copied.textContent = "Copied."; };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(secret).then(done, function () { input.select(); document.execCommand("copy"); done(); });
        else { input.select(); document.execCommand("copy"); done(); }
      }, text: "Copy secret" }), copied));
  }
  function newAgentForm(onmade) {
    var err = errorBox("new-agent-error"), out = h("div");
    var form = h("form", { class: "stack", onsubmit: function (ev) {
      ev.preventDefault(); err.textContent = "";
      var words = function (s) { return s.split(/[\s,]+/).filter(Boolean); };
      api("POST", "agents", { name: form.name.value, verbs: words(form.verbs.value), workspaces: words(form.workspaces.value) }).then(function (a) {
        out.textContent = "";
        out.appendChild(secretBox("Agent " + a.name + " created", a.id, a.client_secret, "Shown once: it is not stored and cannot be shown again."));
        form.reset(); onmade();
      }).catch(fail(err));
    } },
      h("div", null, h("label", { for: "new-name", text: "Name" }), h("input", { id: "new-name", name: "name", required: true, maxlength: 127 })),
      h("div", null, h("label", { for: "new-verbs", text: "Verbs (space-separated)" }), h("input", { id: "new-verbs", name: "verbs", required: true, placeholder: "tickets:read tickets:note" })),
      h("div", null, h("label", { for: "new-workspaces", text: "Limit to workspaces (optional, ws_ ids)" }), h("input", { id: "new-workspaces", name: "workspaces" })),
      err, h("div", null, h("button", { type: "submit", text: "Create agent" })));
    return h("div", null, h("details", { class: "card" }, h("summary", { text: "New agent" }), form), out);
  }
  function agentsPage() {
    var list = h("ul", { class: "grid", id: "agents", "aria-label": "Your agents", style: null });
    list.style && list.classList.add("plain");
    var load = function () {
      return api("GET", "agents").then(function (j) {
        list.textContent = "";
        agentsById = {};
        j.agents.forEach(function (a) { agentsById[a.id] = a; list.appendChild(agentCard(a)); });
        if (!j.agents.length) list.appendChild(h("li", { class: "muted", text: "You have no agents yet." }));
      });
    };
    show([h("h1", { text: "Your agents" }), newAgentForm(load), list], "Agents");
    return load();
  }

  /* ---- one agent ---- */
  function agentPage(id) {
    var err = errorBox("agent-error");
    var render = function (a) {
      agentsById[a.id] = a;
      var st = a.status;
      var act = function (what, confirmText) {
        return function () {
          if (confirmText && !window.confirm(confirmText)) return;
          err.textContent = "";
          api("POST", "agents/" + encodeURIComponent(a.id) + "/" + what, {}).then(function (x) { say("Agent " + what + "d."); render(x); }).catch(fail(err));
        };
      };
      var secretOut = h("div");
      var rotateForm = h("form", { class: "row", id: "rotate-form", onsubmit: function (ev) {
        ev.preventDefault(); err.textContent = "";
        api("POST", "agents/" + encodeURIComponent(a.id) + "/rotate", { grace_seconds: parseInt(rotateForm.grace.value, 10) }).then(function (r) {
          secretOut.textContent = "";
          secretOut.appendChild(secretBox("New secret", a.id, r.client_secret, "Shown once. The previous secret works until " + (r.old_expires_at || "now") + "."));
          secretOut.querySelector("input").focus();
          refresh(false);
        }).catch(fail(err));
      } },
        h("div", null, h("label", { for: "grace", text: "Old secret keeps working for (seconds)" }), h("input", { id: "grace", name: "grace", type: "number", min: 0, max: 86400, value: 900 })),
        h("div", null, h("button", { type: "submit", id: "rotate", text: "Rotate secret", disabled: st === "retired" })));
      var keyErr = errorBox("key-error");
      var keyForm = h("form", { class: "stack", onsubmit: function (ev) {
        ev.preventDefault(); keyErr.textContent = "";
        var jwk;
        try { jwk = JSON.parse(keyForm.jwk.value); } catch (e) { keyErr.textContent = "The key must be a JSON object (a public JWK)."; return; }
        var body = { jwk: jwk };
        if (keyForm.keygrace.value !== "") body.grace_seconds = parseInt(keyForm.keygrace.value, 10);
        api("POST", "agents/" + encodeURIComponent(a.id) + "/keys", body).then(function (k) { say("Key " + k.kid + " added."); keyForm.reset(); refresh(false); }).catch(fail(keyErr));
      } },
        h("div", null, h("label", { for: "jwk", text: "Public key (JWK, JSON)" }), h("textarea", { id: "jwk", name: "jwk", required: true, spellcheck: "false" })),
        h("div", null, h("label", { for: "keygrace", text: "Other keys expire after (seconds, optional)" }), h("input", { id: "keygrace", name: "keygrace", type: "number", min: 0, max: 86400 })),
        keyErr, h("div", null, h("button", { type: "submit", id: "add-key", text: "Add public key", disabled: st === "retired" })));
      var credRows = (a.credentials || []).map(function (c) {
        return h("tr", null, h("td", null, h("code", { text: c.id })), h("td", { text: c.kind + (c.kid ? " (" + c.kid + ")" : "") }),
          h("td", null, time(c.created_at)),
          h("td", { text: c.revoked_at ? "removed" : c.live ? (c.expires_at ? "live until " + c.expires_at : "live") : "expired" }),
          h("td", null, c.live ? h("button", { type: "button", class: "secondary", "aria-label": "Remove credential " + c.id, onclick: function () {
            if (!window.confirm("Remove this credential? Tokens it minted stop working now.")) return;
            api("POST", "agents/" + encodeURIComponent(a.id) + "/credentials/" + encodeURIComponent(c.id) + "/revoke", {}).then(function (x) { say("Credential removed."); render(x); }).catch(fail(err));
          }, text: "Remove" }) : null));
      });
      var runRows = (a.runs || []).map(function (r) {
        return h("tr", null, h("td", null, h("code", { text: r.run_id })), h("td", { text: String(r.tokens) }), h("td", null, time(r.first_issued_at)), h("td", { text: r.expires_at }),
          h("td", null, h("button", { type: "button", class: "danger", "aria-label": "Kill run " + r.run_id, onclick: function () {
            if (!window.confirm("Kill run " + r.run_id + "? Its tokens stop working now and it gets no new ones.")) return;
            api("POST", "agents/" + encodeURIComponent(a.id) + "/runs/" + encodeURIComponent(r.run_id) + "/revoke", {}).then(function () { say("Run " + r.run_id + " killed."); refresh(false); }).catch(fail(err));
          }, text: "Kill" })));
      });
      var dele = delegationsPart(a, err, function (x) { refresh(false); });
      show([
        h("p", null, h("a", { href: "/console/", text: "← All agents" })),
        h("div", { class: "agent-card" }, avatar(a, true), h("div", null, h("h1", { text: a.name }),
          h("div", null, statusBadge(st), " ", h("code", { text: a.id })))),
        err,
        h("div", { class: "card" }, h("dl", { class: "facts" },
          h("dt", { text: "Verbs" }), h("dd", null, chips(a.verbs, "verbs")),
          h("dt", { text: "Workspaces" }), h("dd", null, chips(a.workspaces, "workspaces")),
          h("dt", { text: "DPoP" }), h("dd", { text: a.dpop }),
          h("dt", { text: "Created" }), h("dd", null, time(a.created_at)),
          h("dt", { text: "Last token" }), h("dd", null, time(a.last_token_at)))),
        h("h2", { text: "Status" }),
        h("div", { class: "actions" },
          st === "active" ? h("button", { type: "button", id: "suspend", class: "secondary", onclick: act("suspend", "Suspend this agent? Every token it holds stops working."), text: "Suspend" }) : null,
          st === "suspended" ? h("button", { type: "button", id: "resume", onclick: act("resume"), text: "Resume" }) : null,
          st !== "retired" ? h("button", { type: "button", id: "retire", class: "danger", onclick: act("retire", "Retire this agent for good? This cannot be undone."), text: "Retire" }) : h("span", { class: "muted", text: "Retired for good." })),
        h("h2", { text: "Live runs" }),
        runRows.length ? h("div", { class: "table-wrap" }, h("table", { id: "runs" }, h("thead", null, h("tr", null, ["Run", "Tokens", "Started", "Last expiry", ""].map(function (t) { return h("th", { scope: "col", text: t }); }))), h("tbody", null, runRows)))
          : h("p", { class: "muted", id: "no-runs", text: "No run holds a live token." }),
        h("h2", { text: "Delegations" }), dele,
        h("h2", { text: "Secret" }), rotateForm, secretOut,
        h("h2", { text: "Credentials" }),
        h("div", { class: "table-wrap" }, h("table", { id: "credentials" }, h("thead", null, h("tr", null, ["Id", "Kind", "Created", "State", ""].map(function (t) { return h("th", { scope: "col", text: t }); }))), h("tbody", null, credRows))),
        h("h2", { text: "Add a public key" }), keyForm
      ], a.name);
    };
    var refresh = function (full) {
      return api("GET", "agents/" + encodeURIComponent(id)).then(function (a) {
        if (full) return render(a);
        /* keep a shown secret on screen while the rest is redrawn */
        var box = document.getElementById("secret-box");
        render(a);
        if (box) { var slot = document.getElementById("rotate-form"); slot.parentNode.insertBefore(box, slot.nextSibling); }
      });
    };
    /* names for the agents of mine among the delegations; the page works without them */
    return loadAgents().catch(function () {}).then(function () { return refresh(true); }).catch(function (e) { show([h("h1", { text: "Agent" }), h("p", { class: "error", role: "alert", text: e.message === "no such agent" || /not_found|no such/.test(e.message) ? "No such agent of yours." : e.message })]); });
  }

  /* The Agent page's delegations: the agents this one lets act for it (RFC 8693 token
   * exchange), each with a Remove button, a form to add one, and, read-only, the agents that
   * let this one act for them. Another owner's agent shows as its id only. */
  function agentRef(id) {
    var o = agentsById[id];
    return o ? h("span", null, h("a", { href: "/console/agents/" + encodeURIComponent(id), text: o.name }), " ", h("code", { text: id }))
      : h("code", { text: id });
  }
  function delegationsPart(a, err, changed) {
    var base = "agents/" + encodeURIComponent(a.id) + "/delegates";
    var rows = (a.delegates || []).map(function (d) {
      return h("tr", null, h("td", null, agentRef(d.agent)), h("td", { text: String(d.max_depth) }), h("td", null, time(d.created_at)),
        h("td", null, h("button", { type: "button", class: "secondary", "aria-label": "Remove delegation to " + d.agent, onclick: function () {
          if (!window.confirm("Stop letting " + d.agent + " act for this agent? The tokens it exchanged stop working now.")) return;
          err.textContent = "";
          api("DELETE", base + "/" + encodeURIComponent(d.agent)).then(function () { say("Delegation to " + d.agent + " removed."); changed(); }).catch(fail(err));
        }, text: "Remove" })));
    });
    var addErr = errorBox("delegate-error");
    var mine = Object.keys(agentsById).filter(function (id) { return id !== a.id && agentsById[id].status !== "retired"; });
    var form = h("form", { class: "row", id: "delegate-form", onsubmit: function (ev) {
      ev.preventDefault(); addErr.textContent = "";
      var to = form.delegate.value.trim();
      api("POST", base, { agent: to, max_depth: parseInt(form.depth.value, 10) }).then(function () { say("Agent " + to + " may now act for this agent."); changed(); }).catch(fail(addErr));
    } },
      h("div", null, h("label", { for: "delegate-agent", text: "Agent id (agt_…)" }),
        h("input", { id: "delegate-agent", name: "delegate", required: true, maxlength: 64, spellcheck: "false", autocomplete: "off", list: "my-agents", "aria-describedby": "delegate-note" }),
        h("datalist", { id: "my-agents" }, mine.map(function (id) { return h("option", { value: id, text: agentsById[id].name }); }))),
      h("div", null, h("label", { for: "delegate-depth", text: "Max depth" }),
        h("select", { id: "delegate-depth", name: "depth" }, [1, 2, 3, 4, 5].map(function (n) { return h("option", { value: String(n), text: String(n) }); }))),
      h("div", null, h("button", { type: "submit", id: "add-delegate", text: "Allow delegation", disabled: a.status === "retired" })));
    var by = (a.delegated_by || []).map(function (d) {
      return h("li", null, agentRef(d.agent), h("span", { class: "muted", text: " · max depth " + d.max_depth + " · since " }), time(d.created_at));
    });
    return h("div", { class: "card" },
      h("p", { class: "muted", id: "delegate-note", text: "An agent allowed here may exchange this agent's tokens for its own (RFC 8693 token exchange): it then acts for this agent, holding at most what both may do. Max depth is the longest chain of agents acting one for another that may pass through it. Removing a delegation ends the tokens exchanged under it." }),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "delegates" }, h("caption", { class: "visually-hidden", text: "Agents that may act for this one" }),
        h("thead", null, h("tr", null, ["May act for it", "Max depth", "Since", ""].map(function (t) { return h("th", { scope: "col", text: t }); }))), h("tbody", null, rows)))
        : h("p", { class: "muted", id: "no-delegates", text: "No agent may act for this one." }),
      form, addErr,
      h("h3", { text: "Agents this one may act for" }),
      by.length ? h("ul", { id: "delegated-by", class: "plain-list" }, by) : h("p", { class: "muted", id: "no-delegated-by", text: "None." }));
  }

  /* ---- approvals ---- */
  var seen = {}, pollTimer = null;
  function approvalsPage() {
    var list = h("ul", { id: "approvals", class: "plain-list", "aria-label": "Pending requests" });
    var err = errorBox("approvals-error");
    show([h("h1", { text: "Approvals" }), h("p", { class: "muted", text: "Requests of your agents for verbs that need your approval. New ones appear here as they arrive." }), err, list], "Approvals");
    var first = true;
    var draw = function (j) {
      var items = j.approvals, ids = {};
      items.forEach(function (p) { ids[p.auth_req_id] = 1; });
      [].slice.call(list.children).forEach(function (li) { if (!ids[li.dataset.id]) li.remove(); });
      var fresh = 0;
      items.forEach(function (p) {
        if (list.querySelector('[data-id="' + CSS.escape(p.auth_req_id) + '"]')) return;
        var a = agentsById[p.agent_id];
        var decide = function (what) { return function () {
          api("POST", "approvals/" + encodeURIComponent(p.auth_req_id) + "/" + what, {}).then(function () { li.remove(); say("Request " + (what === "approve" ? "approved" : "denied") + "."); updateBadge(list.children.length); }).catch(fail(err));
        }; };
        var li = h("li", { class: "card approval" + (first ? "" : " new"), "data-id": p.auth_req_id },
          h("h2", null, a ? avatar(a) : null, a ? a.name : p.agent_id),
          p.binding_message ? h("blockquote", { text: p.binding_message }) : null,
          h("dl", { class: "facts" }, h("dt", { text: "Scope" }), h("dd", null, chips(p.scope.split(" "), "scope")),
            h("dt", { text: "Run" }), h("dd", null, h("code", { text: p.run_id })),
            h("dt", { text: "Workspace" }), h("dd", null, h("code", { text: p.ws })),
            h("dt", { text: "Expires" }), h("dd", null, time(p.expires_at))),
          h("div", { class: "actions" },
            h("button", { type: "button", class: "approve", onclick: decide("approve"), "aria-label": "Approve " + p.scope + " for " + (a ? a.name : p.agent_id), text: "Approve" }),
            h("button", { type: "button", class: "danger deny", onclick: decide("deny"), "aria-label": "Deny " + p.scope + " for " + (a ? a.name : p.agent_id), text: "Deny" })));
        list.appendChild(li);
        if (!seen[p.auth_req_id]) fresh++;
        seen[p.auth_req_id] = 1;
      });
      if (!first && fresh) say(fresh + " new approval request" + (fresh > 1 ? "s" : ""));
      var empty = document.getElementById("no-approvals");
      if (!items.length && !empty) list.parentNode.insertBefore(h("p", { id: "no-approvals", class: "muted", text: "Nothing waits for you." }), list);
      if (items.length && empty) empty.remove();
      updateBadge(items.length);
      first = false;
    };
    var poll = function () {
      pollTimer = null;
      if (document.visibilityState === "visible")
        api("GET", "approvals", undefined, first ? {} : { "X-Console-Poll": "1" }).then(draw).catch(fail(err)).then(schedule);
      else schedule();
    };
    var schedule = function () { if (!pollTimer) pollTimer = setTimeout(poll, POLL_MS); };
    return loadAgents().then(poll);
  }
  function updateBadge(n) { var b = document.getElementById("approval-count"); b.hidden = !n; b.textContent = n ? String(n) : ""; b.setAttribute("aria-label", n + " pending"); }
  function loadAgents() { return api("GET", "agents").then(function (j) { j.agents.forEach(function (a) { agentsById[a.id] = a; }); return j.agents; }); }

  /* ---- activity ---- */
  function dayList(since) {
    var out = [], d = new Date(since), now = new Date();
    while (d <= now) { out.push(d.toISOString().slice(0, 10)); d = new Date(d.getTime() + 86400000); }
    return out;
  }
  function chart(id, title, days, agents, value) {
    var W = 640, H = 220, L = 36, B = 26, T = 10, max = 0;
    agents.forEach(function (a, i) { days.forEach(function (d) { max = Math.max(max, value(a, d)); }); });
    max = Math.max(2, max + (max % 2)); /* even, so the middle line is a whole number */
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    var el = function (tag, attrs, text) { var e = document.createElementNS(ns, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; };
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-labelledby", id + "-title");
    svg.appendChild(el("title", { id: id + "-title" }, title));
    var ph = H - B - T, gw = (W - L) / Math.max(days.length, 1), bw = Math.max(2, (gw - 8) / Math.max(agents.length, 1));
    [0, 0.5, 1].forEach(function (f) {
      var y = T + ph - f * ph;
      svg.appendChild(el("line", { x1: L, x2: W, y1: y, y2: y, stroke: "#c9d2e0" }));
      svg.appendChild(el("text", { x: L - 4, y: y + 4, "text-anchor": "end" }, String(f * max)));
    });
    days.forEach(function (d, di) {
      var x0 = L + di * gw + 4;
      agents.forEach(function (a, ai) {
        var v = value(a, d), bh = v / max * ph;
        var r = el("rect", { x: x0 + ai * bw, y: T + ph - bh, width: Math.max(1, bw - 1), height: bh, class: "fill-" + (ai % 8) });
        r.appendChild(el("title", {}, a.name + ", " + d + ": " + v));
        svg.appendChild(r);
      });
      svg.appendChild(el("text", { x: x0 + (gw - 8) / 2, y: H - 8, "text-anchor": "middle" }, d.slice(5)));
    });
    return svg;
  }
  /* The gist of an event's detail: the action decided, the delegation changed, whose token
   * was exchanged; empty for the rest (the export has every detail). */
  function eventWhat(e) {
    var d = e.detail || {};
    if (e.event.indexOf("action.") === 0) {
      var r = d.resource || {};
      return (d.action || "") + (r.type || r.id ? " on " + [r.type, r.id].filter(Boolean).join(" ") : "") + (d.reason ? " (" + d.reason + ")" : "");
    }
    var name = function (id) { return agentsById[id] ? agentsById[id].name : id || "?"; };
    if (e.event.indexOf("delegation.") === 0) return "to " + name(d.delegate_id) + ", max depth " + d.max_depth;
    if (e.event === "token.exchanged") return name(e.actor) + " acting for " + name(d.subject_agent) + ", depth " + d.depth;
    return "";
  }
  function activityPage() {
    var q = new URLSearchParams(location.search);
    var since = q.get("since") || "7d", agent = q.get("agent") || "", event = q.get("event") || "";
    var err = errorBox("activity-error");
    return Promise.all([loadAgents(), api("GET", "activity?since=" + encodeURIComponent(since)),
      api("GET", "events?" + new URLSearchParams({ since: since, agent: agent, event: event }).toString())]).then(function (r) {
      var agents = r[0], act = r[1], evs = r[2];
      var counts = {};
      act.counts.forEach(function (c) { var k = c.agent_id + "|" + c.day; counts[k] = counts[k] || {}; counts[k][c.event] = c.n; });
      var get = function (a, d, evn) { var c = counts[a.id + "|" + d]; if (!c) return 0; return evn.reduce(function (s, e) { return s + (c[e] || 0); }, 0); };
      var days = dayList(act.since);
      var shown = agents.filter(function (a) { return !agent || a.id === agent; });
      var legend = h("ul", { class: "legend", "aria-label": "Agents" }, shown.map(function (a, i) {
        return h("li", null, h("svg", { class: "swatch", width: 12, height: 12, "aria-hidden": "true" }), a.name);
      }));
      [].slice.call(legend.querySelectorAll("svg")).forEach(function (s, i) { s.remove(); });
      [].slice.call(legend.children).forEach(function (li, i) { var sw = h("span", { class: "swatch hue-" + (i % 8), "aria-hidden": "true" }); li.insertBefore(sw, li.firstChild); });
      var table = h("table", { id: "activity-table" }, h("caption", { class: "visually-hidden", text: "Tokens and actions per agent per day" }),
        h("thead", null, h("tr", null, ["Day", "Agent", "Tokens", "Actions allowed", "Actions denied"].map(function (t) { return h("th", { scope: "col", text: t }); }))),
        h("tbody", null, [].concat.apply([], days.map(function (d) { return shown.map(function (a) {
          return h("tr", null, h("td", { text: d }), h("td", { text: a.name }), h("td", { text: String(get(a, d, ["token.issued", "token.exchanged"])) }),
            h("td", { text: String(get(a, d, ["action.allowed"])) }), h("td", { text: String(get(a, d, ["action.denied"])) }));
        }); }))));
      var sel = function (id, label, name, options, value) {
        return h("div", null, h("label", { for: id, text: label }), h("select", { id: id, name: name }, options.map(function (o) {
          return h("option", { value: o[0], selected: o[0] === value, text: o[1] });
        })));
      };
      var filters = h("form", { class: "row", method: "get", action: "/console/activity", id: "filters" },
        sel("f-agent", "Agent", "agent", [["", "All agents"]].concat(agents.map(function (a) { return [a.id, a.name]; })), agent),
        sel("f-event", "Event", "event", [["", "All events"], ["token.", "Tokens (all)"], ["token.issued", "token.issued"], ["token.refused", "token.refused"], ["token.exchanged", "token.exchanged"], ["action.", "Actions (all)"], ["action.allowed", "action.allowed"], ["action.denied", "action.denied"], ["approval.", "Approvals"], ["agent.", "Lifecycle"], ["delegation.", "Delegations"], ["credential.", "Credentials"], ["run.revoked", "run.revoked"], ["owner.", "Sign-ins"]], event),
        sel("f-since", "Since", "since", [["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]], since),
        h("div", null, h("button", { type: "submit", text: "Apply" })));
      var exportUrl = "/console/api/events?" + new URLSearchParams({ since: since, agent: agent, event: event, format: "jsonl" }).toString();
      var rows = evs.events.slice().reverse().map(function (e) {
        var a = agentsById[e.actor] || agentsById[e.agent_id];
        return h("tr", null, h("td", null, h("time", { datetime: e.time, text: e.time.replace("T", " ").replace("Z", "") })), h("td", { text: e.event }),
          h("td", { text: a ? a.name : e.actor === me.owner_id ? "you" : e.actor }), h("td", null, h("code", { text: e.run_id || "" })), h("td", { text: e.outcome }),
          h("td", { text: eventWhat(e) }));
      });
      show([h("h1", { text: "Activity" }), err, filters,
        h("h2", { text: "Tokens per agent per day" }), chart("tokens-chart", "Tokens issued or exchanged per agent per day", days, shown, function (a, d) { return get(a, d, ["token.issued", "token.exchanged"]); }),
        h("h2", { text: "Actions per agent per day" }),
        act.counts.some(function (c) { return c.event.indexOf("action.") === 0; }) ? null : h("p", { class: "muted chart-note", text: "No action decisions recorded for your agents in this period." }),
        chart("actions-chart", "Actions allowed and denied per agent per day", days, shown, function (a, d) { return get(a, d, ["action.allowed", "action.denied"]); }),
        legend,
        h("details", null, h("summary", { text: "The numbers as a table" }), h("div", { class: "table-wrap" }, table)),
        h("h2", { text: "Events" }),
        h("p", null, h("a", { class: "button secondary", id: "export", href: exportUrl, download: "warrant-activity.jsonl", text: "Export as JSON lines" }),
          evs.truncated ? h("span", { class: "muted", text: " Showing the first " + evs.events.length + "; the export has them all." }) : null),
        rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "events" }, h("thead", null, h("tr", null, ["Time (UTC)", "Event", "Agent", "Run", "Outcome", "What"].map(function (t) { return h("th", { scope: "col", text: t }); }))), h("tbody", null, rows)))
          : h("p", { class: "muted", text: "No events match." })
      ], "Activity");
    });
  }

  /* ---- frame ---- */
  function frame(page) {
    document.getElementById("top").hidden = false;
    document.getElementById("who").textContent = (me.name || me.email) + (me.name ? " <" + me.email + ">" : "");
    [].slice.call(document.querySelectorAll("[data-nav]")).forEach(function (a) {
      if (a.dataset.nav === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
  }
  document.getElementById("signout").addEventListener("click", function () {
    api("POST", "signout", {}).then(function () { location.assign("/console/signin"); }).catch(function () { location.assign("/console/signin"); });
  });

  function route() {
    var p = location.pathname;
    if (p === "/console/signin") return signinPage();
    return fetch("/console/api/session", { headers: { "Accept": "application/json" } }).then(function (r) {
      if (r.status === 401) { location.replace("/console/signin"); return null; }
      return r.json();
    }).then(function (s) {
      if (!s) return;
      me = s; csrf = s.csrf;
      var m;
      if (p === "/console/approvals") { frame("approvals"); return approvalsPage(); }
      if (p === "/console/activity") { frame("activity"); return activityPage(); }
      if ((m = /^\/console\/agents\/([^/]+)$/.exec(p))) { frame("agents"); return agentPage(decodeURIComponent(m[1])); }
      frame("agents");
      return agentsPage();
    }).catch(function (e) { show(h("p", { class: "error", role: "alert", text: "The console could not load: " + e.message })); });
  }
  route();
})();
