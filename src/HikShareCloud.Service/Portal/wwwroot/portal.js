// The HikShare sharing portal: one ES module, no framework, no CDN. Every element is built with createElement and
// textContent (never innerHTML), so nothing from the API can become markup. The JSON API does the work; the page keeps
// the cookie session's one-time CSRF token (each change uses it and gets the next in the X-CSRF-Token header).

const PRIVILEGES = [
  ["liveView", "Live view"],
  ["playback", "Playback"],
  ["alarmPush", "Alarm notification"],
  ["twoWayAudio", "Two-way audio"],
  ["ptz", "PTZ control"],
];
const PRIVILEGE_LABEL = Object.fromEntries(PRIVILEGES);

let csrf = null;
let me = null;
const view = document.getElementById("view");

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `request failed (${status})`);
    this.status = status;
    this.type = problem?.type || "";
  }
}

async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const next = r.headers.get("X-CSRF-Token");
  if (next) csrf = next;
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) {
    // Another tab took the session's token: fetch a fresh one once and repeat.
    if (r.status === 403 && data?.type === "urn:hikshare:problem:csrf-token" && !retried) {
      await refreshCsrf();
      return api(method, path, body, true);
    }
    throw new ApiError(r.status, data);
  }
  return data;
}

async function refreshCsrf() {
  const r = await fetch("/api/v1/sessions/csrf", { credentials: "same-origin" });
  csrf = r.ok ? (await r.json()).csrfToken : null;
}

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function show(...nodes) {
  view.replaceChildren(...nodes.flat(Infinity).filter(n => n !== null && n !== undefined && n !== false));
}

function message(text, kind = "error") {
  const m = document.getElementById("message");
  m.textContent = text;
  m.className = kind === "info" ? "info" : "";
  m.hidden = !text;
}

let flashed = null;

/** A confirmation shown after the next page is drawn. */
function flash(text) {
  flashed = text;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

function stateBadge(state) {
  const label = { pending: "Pending", accepted: "Accepted", rejected: "Rejected", deleted: "Deleted" }[state] || state;
  return h("span", { class: `state ${state}`, "data-state": state }, label);
}

/** The owner's name for a device (or the gateway's), else its id. */
function deviceName(d) {
  return d.name || d.deviceId;
}

/** The name of one linked camera, else "Camera N". */
function cameraName(d, ch) {
  return d?.channelNames?.[ch] || `Camera ${ch}`;
}

function channelsText(channels, d) {
  return channels.length === 0 ? "all cameras" : channels.map(c => cameraName(d, c)).join(", ");
}

function privilegesText(privileges) {
  return privileges.map(p => PRIVILEGE_LABEL[p] || p).join(", ");
}

/** Runs an action of a button or form; shows the API's refusal as a message, changes nothing else. */
async function act(fn) {
  message("");
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && me) {
      // The session ended (expired, signed out elsewhere): back to sign-in, with the reason.
      me = null;
      flash(e.message);
      route("#/signin");
      return;
    }
    message(e.message);
  }
}

function form(attrs, fields, submitLabel, onSubmit) {
  return h("form", {
    class: "stack", ...attrs,
    onsubmit: ev => { ev.preventDefault(); act(() => onSubmit(new FormData(ev.target))); },
  }, fields, h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, submitLabel)));
}

// ---------------------------------------------------------------- signed out

function authTabs(active) {
  return h("div", { class: "tabs" },
    h("a", { href: "#/signin", class: active === "signin" ? "active" : "" }, "Sign in"),
    h("a", { href: "#/signup", class: active === "signup" ? "active" : "" }, "Create account"),
    h("a", { href: "#/verify", class: active === "verify" ? "active" : "" }, "Enter code"));
}

const addressHint = "E-mail, or mobile number with country code (+86…)";

function signInView(_m, show) {
  show(h("h2", {}, "Sign in"), authTabs("signin"),
    form({ id: "signin-form" }, [
      h("label", {}, "Account", h("input", { name: "address", autocomplete: "username", placeholder: addressHint, required: true })),
      h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    ], "Sign in", async f => {
      const r = await api("POST", "/sessions", { address: f.get("address"), password: f.get("password"), cookie: true });
      csrf = r.csrfToken;
      await startSignedIn(r.account);
    }));
}

function signUpView(_m, show) {
  show(h("h2", {}, "Create account"), authTabs("signup"),
    form({ id: "signup-form" }, [
      h("label", {}, "Account", h("input", { name: "address", autocomplete: "username", placeholder: addressHint, required: true })),
      h("label", {}, "Password (10 characters or more)", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true })),
    ], "Create account", async f => {
      await api("POST", "/accounts", { address: f.get("address"), password: f.get("password") });
      sessionStorage.setItem("verify-address", f.get("address"));
      flash("We sent a verification code. Enter it to prove the address is yours.");
      route("#/verify");
    }));
}

function verifyView(_m, show) {
  const address = sessionStorage.getItem("verify-address") || "";
  show(h("h2", {}, "Enter verification code"), authTabs("verify"),
    form({ id: "verify-form" }, [
      h("label", {}, "Account", h("input", { name: "address", value: address, required: true })),
      h("label", {}, "Code", h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true })),
    ], "Verify", async f => {
      await api("POST", "/accounts/verify", { address: f.get("address"), code: f.get("code") });
      flash("Verified. Sign in now.");
      route("#/signin");
    }),
    h("div", { class: "actions" }, h("button", {
      type: "button", class: "link",
      onclick: () => act(async () => {
        await api("POST", "/accounts/resend", { address: document.querySelector("#verify-form [name=address]").value });
        message("A new code is on its way.", "info");
      }),
    }, "Send a new code")));
}

// ---------------------------------------------------------------- the owner

async function mineView(_m, show) {
  const shares = (await api("GET", "/shares/outgoing")).filter(s => s.state !== "deleted");
  const byRecipient = new Map();
  for (const s of shares) {
    if (!byRecipient.has(s.recipient)) byRecipient.set(s.recipient, []);
    byRecipient.get(s.recipient).push(s);
  }
  const shareItem = s => h("li", { "data-share": s.shareId },
    h("a", { href: `#/share/${s.shareId}` },
      h("span", {}, s.remark || "(no remark)", h("br"),
        h("span", { class: "muted" }, s.devices.map(d => `${deviceName(d)}: ${privilegesText(d.privileges)}`).join(" · "))),
      stateBadge(s.state)));
  const accountItem = ([recipient, list]) => h("li", { "data-recipient": recipient },
    h("div", { class: "row" }, h("strong", {}, recipient), h("span", { class: "muted" }, `${list.length} share${list.length > 1 ? "s" : ""}`)),
    h("ul", { class: "list" }, list.map(shareItem)));
  show(h("h2", {}, "My shared devices"),
    h("div", { class: "actions" }, h("a", { href: "#/new" }, h("button", { class: "primary", type: "button", id: "share-new" }, "Share devices"))),
    byRecipient.size === 0 ? h("p", { class: "muted" }, "You have not shared any device yet.") : null,
    h("ul", { class: "list", id: "accounts" }, [...byRecipient].map(accountItem)));
}

async function findOutgoing(shareId) {
  const s = (await api("GET", "/shares/outgoing")).find(x => x.shareId === shareId);
  if (!s) throw new ApiError(404, { detail: "no such share of yours" });
  return s;
}

function deviceDetails(d) {
  return h("div", { class: "card", "data-device": d.deviceId },
    h("dl", { class: "details" },
      h("dt", {}, "Device"), h("dd", { class: "device-name" }, deviceName(d)),
      d.name ? [h("dt", {}, "Device id"), h("dd", {}, d.deviceId)] : null,
      h("dt", {}, "Linked cameras"), h("dd", { class: "cameras" }, channelsText(d.channels, d)),
      h("dt", {}, "Functions"), h("dd", { class: "functions" }, privilegesText(d.privileges))));
}

async function shareDetailsView(shareId, show) {
  const s = await findOutgoing(shareId);
  show(h("h2", {}, "Sharing details"),
    h("div", { class: "card" }, h("dl", { class: "details" },
      h("dt", {}, "Shared with"), h("dd", { id: "detail-recipient" }, s.recipient),
      h("dt", {}, "State"), h("dd", {}, stateBadge(s.state)),
      h("dt", {}, "Remark"), h("dd", {}, s.remark || "—"),
      h("dt", {}, "Expires"), h("dd", {}, s.expiresAt ? when(s.expiresAt) : "never"),
      h("dt", {}, "Shared on"), h("dd", {}, when(s.createdAt)))),
    s.devices.map(deviceDetails),
    s.state === "deleted" ? null : h("div", { class: "actions" },
      h("a", { href: `#/share/${s.shareId}/edit` }, h("button", { type: "button", id: "share-edit" }, "Edit")),
      h("button", {
        type: "button", class: "danger", id: "share-delete",
        onclick: () => act(async () => {
          if (!confirm(`Stop sharing with ${s.recipient}?`)) return;
          await api("DELETE", `/shares/${s.shareId}`);
          flash("Sharing stopped.");
          route("#/mine");
        }),
      }, "Delete")));
}

/** "Select device" then "Device permission"; for a new share or an edit (then the recipient is fixed). */
async function shareEditor(shareId, show) {
  const gateways = await api("GET", "/gateways");
  const devices = gateways.flatMap(g => g.devices);
  const existing = shareId ? await findOutgoing(shareId) : null;
  const chosen = new Map((existing?.devices || []).map(d => [d.deviceId, { channels: new Set(d.channels), privileges: new Set(d.privileges) }]));

  const selectStep = () => show(
    h("h2", {}, "Select device"),
    devices.length === 0 ? h("p", { class: "muted" }, "No devices yet: bind a gateway first (Gateways).") : null,
    h("ul", { class: "list", id: "device-select" }, devices.map(d => h("li", {},
      h("label", { class: "row check" },
        h("span", {}, h("input", {
          type: "checkbox", name: "device", value: d.deviceId, checked: chosen.has(d.deviceId),
          onchange: ev => ev.target.checked
            ? chosen.set(d.deviceId, { channels: new Set(d.channels.length === 1 ? d.channels : [1]), privileges: new Set(["liveView"]) })
            : chosen.delete(d.deviceId),
        }), " ", deviceName(d)),
        h("span", { class: "muted" }, `${d.name ? d.deviceId + " · " : ""}${d.model || "device"} · ${d.channels.length} camera${d.channels.length === 1 ? "" : "s"}${d.online ? "" : " · offline"}`))))),
    h("div", { class: "actions" },
      h("button", {
        class: "primary", type: "button", id: "select-next",
        onclick: () => chosen.size === 0 ? message("Select at least one device.") : (message(""), permissionStep()),
      }, "Next")));

  const permissionStep = () => show(
    h("h2", {}, "Device permission"),
    [...chosen].map(([deviceId, c]) => {
      const d = devices.find(x => x.deviceId === deviceId) || { deviceId, channels: [...c.channels] };
      return h("div", { class: "card", "data-device": deviceId },
        h("h3", {}, deviceName(d)),
        h("div", { class: "muted" }, "Functions"),
        h("div", { class: "privileges" }, PRIVILEGES.map(([p, label]) => h("label", {},
          h("input", { type: "checkbox", name: p, checked: c.privileges.has(p), onchange: ev => ev.target.checked ? c.privileges.add(p) : c.privileges.delete(p) }),
          label))),
        h("div", { class: "muted" }, "Linked cameras"),
        h("div", { class: "channels" }, d.channels.map(ch => h("label", {},
          h("input", { type: "checkbox", name: `channel-${ch}`, checked: c.channels.has(ch), onchange: ev => ev.target.checked ? c.channels.add(ch) : c.channels.delete(ch) }),
          cameraName(d, ch)))));
    }),
    h("form", {
      class: "stack", id: "permission-form",
      onsubmit: ev => {
        ev.preventDefault();
        const f = new FormData(ev.target);
        act(async () => {
          const body = {
            devices: [...chosen].map(([deviceId, c]) => ({ deviceId, channels: [...c.channels].sort((a, b) => a - b), privileges: [...c.privileges] })),
            remark: f.get("remark") || null,
            expiresAt: f.get("expires") ? new Date(f.get("expires")).toISOString() : null,
          };
          const saved = existing
            ? await api("PUT", `/shares/${existing.shareId}`, { ...body, version: existing.version })
            : await api("POST", "/shares", { ...body, recipient: f.get("recipient") });
          flash(existing ? "Saved." : `Shared. ${saved.recipient} sees it as pending until accepting.`);
          route(`#/share/${saved.shareId}`);
        });
      },
    },
      existing ? h("p", {}, "Shared with ", h("strong", {}, existing.recipient))
        : h("label", {}, "Share with (account)", h("input", { name: "recipient", placeholder: addressHint, required: true })),
      h("label", {}, "Remark", h("input", { name: "remark", maxlength: 256, value: existing?.remark || "" })),
      h("label", {}, "Expires (optional)", h("input", { name: "expires", type: "datetime-local", value: existing?.expiresAt ? localInput(existing.expiresAt) : "" })),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: selectStep }, "Back"),
        h("button", { class: "primary", type: "submit", id: "share-save" }, "Save"))));

  selectStep();
}

function localInput(iso) {
  const d = new Date(iso);
  const pad = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function historyView(_m, show) {
  const history = await api("GET", "/shares/history");
  show(h("h2", {}, "History"),
    history.length === 0 ? h("p", { class: "muted" }, "No account shared with yet.") : null,
    h("ul", { class: "list", id: "history" }, history.map(e => h("li", { "data-recipient": e.recipient },
      h("div", { class: "row" }, h("strong", {}, e.recipient),
        h("span", { class: "muted" }, `${e.shares} share${e.shares > 1 ? "s" : ""}, last ${when(e.lastSharedAt)}`))))));
}

async function gatewaysView(_m, show) {
  const gateways = await api("GET", "/gateways");
  show(h("h2", {}, "Gateways"),
    h("ul", { class: "list", id: "gateways" }, gateways.map(g => h("li", { "data-gateway": g.gatewayId },
      h("div", { class: "row" }, h("strong", {}, g.gatewayId),
        h("span", { class: "muted" }, `${g.devices.length} device${g.devices.length === 1 ? "" : "s"} · grants version ${g.grantsVersion}`)),
      h("ul", { class: "list devices" }, g.devices.map(d => h("li", { "data-device": d.deviceId },
        h("a", { href: `#/device/${encodeURIComponent(d.deviceId)}` },
          h("span", {}, h("strong", { class: "device-name" }, deviceName(d)), h("br"),
            h("span", { class: "muted" }, `${d.name ? d.deviceId + " · " : ""}${d.model || "device"} · ${d.channels.map(ch => cameraName(d, ch)).join(", ")}${d.online ? "" : " · offline"}`)),
          h("span", { class: "muted" }, "Rename")))))))),
    h("h3", {}, "Bind a gateway"),
    h("p", { class: "muted" }, "On the gateway run: hikshare-gateway bind-code — then enter its id and the printed code."),
    form({ id: "bind-form" }, [
      h("label", {}, "Gateway id", h("input", { name: "gateway", required: true })),
      h("label", {}, "Binding code", h("input", { name: "code", autocomplete: "off", required: true })),
    ], "Bind", async f => {
      await api("POST", `/gateways/${encodeURIComponent(f.get("gateway"))}/bind`, { code: f.get("code") });
      await gatewaysView(null, show);
      message("Gateway bound: its devices are yours to share.", "info");
    }));
}

/** The owner's device page: its name and its linked cameras' names (blank = the gateway's own name). */
async function deviceView(deviceId, show) {
  const d = (await api("GET", "/gateways")).flatMap(g => g.devices).find(x => x.deviceId === deviceId);
  if (!d) {
    route("#/gateways");
    throw new ApiError(404, { detail: "no device of yours has this id" });
  }
  const own = (ch) => (d.channelNames?.[ch] ?? "");
  show(h("h2", {}, deviceName(d)),
    h("p", { class: "muted" }, `Device ${d.deviceId} on gateway ${d.gatewayId}${d.model ? " · " + d.model : ""}. Names are shown to you and to everyone you share with; leave one blank for the gateway's own name.`),
    form({ id: "rename-form" }, [
      h("label", {}, "Device name", h("input", { name: "name", value: d.name || "", maxlength: 64, placeholder: d.reportedName || d.deviceId })),
      d.channels.map(ch => h("label", {}, `Camera ${ch} name`, h("input", { name: `channel-${ch}`, value: own(ch), maxlength: 64, placeholder: `Camera ${ch}` }))),
    ], "Save names", async f => {
      if ((f.get("name") || "") !== (d.name || "")) {
        await api("PUT", `/devices/${encodeURIComponent(d.deviceId)}/name`, { name: f.get("name") || null });
      }
      for (const ch of d.channels) {
        const v = f.get(`channel-${ch}`) || "";
        if (v !== own(ch)) await api("PUT", `/devices/${encodeURIComponent(d.deviceId)}/channels/${ch}/name`, { name: v || null });
      }
      await deviceView(deviceId, show);
      message("Names saved.", "info");
    }));
}

async function auditView(_m, show) {
  const events = await api("GET", "/audit");
  show(h("h2", {}, "Viewing log"),
    h("p", { class: "muted" }, "Who watched which camera of your devices, and when (reported by the gateways)."),
    events.length === 0 ? h("p", { class: "muted" }, "Nothing yet.") : h("table", { id: "audit" },
      h("thead", {}, h("tr", {}, ["When", "Account", "Device", "Camera", "Action", "Decision"].map(t => h("th", {}, t)))),
      h("tbody", {}, events.map(e => h("tr", {},
        h("td", {}, when(e.at)), h("td", {}, e.account), h("td", {}, e.deviceId), h("td", {}, e.channel ?? ""),
        h("td", {}, PRIVILEGE_LABEL[e.action] || e.action), h("td", {}, e.decision + (e.reason ? ` (${e.reason})` : "")))))));
}

// ---------------------------------------------------------------- the recipient

async function othersView(_m, show) {
  const shares = (await api("GET", "/shares/incoming")).filter(s => s.state === "accepted");
  const items = shares.flatMap(s => s.devices.map(d => ({ s, d })));
  show(h("h2", {}, "Others' devices"),
    items.length === 0 ? h("p", { class: "muted" }, "Nobody shares a device with you at the moment.") : null,
    h("ul", { class: "list", id: "others" }, items.map(({ s, d }) => h("li", { "data-share": s.shareId, "data-device": d.deviceId },
      h("a", { href: `#/other/${s.shareId}` },
        h("span", {}, h("strong", { class: "device-name" }, deviceName(d)), h("br"), h("span", { class: "muted" }, `from ${s.owner} · ${privilegesText(d.privileges)}`)),
        h("span", { class: "muted cameras" }, channelsText(d.channels, d)))))));
}

async function otherDetailsView(shareId, show) {
  const s = (await api("GET", "/shares/incoming")).find(x => x.shareId === shareId);
  if (!s) {
    route("#/others");
    throw new ApiError(404, { detail: "this share is no longer yours to see" });
  }
  show(h("h2", {}, "Sharing details"),
    h("div", { class: "card" }, h("dl", { class: "details" },
      h("dt", {}, "Source"), h("dd", { id: "detail-owner" }, s.owner),
      h("dt", {}, "Remark"), h("dd", {}, s.remark || "—"),
      h("dt", {}, "Expires"), h("dd", {}, s.expiresAt ? when(s.expiresAt) : "never"))),
    s.devices.map(d => h("div", { class: "card", "data-device": d.deviceId },
      h("dl", { class: "details" },
        h("dt", {}, "Device name"), h("dd", { class: "device-name" }, deviceName(d)),
        h("dt", {}, "Functions"), h("dd", { class: "functions" }, privilegesText(d.privileges)),
        h("dt", {}, "Linked cameras"), h("dd", { class: "cameras" }, channelsText(d.channels, d))),
      d.privileges.includes("liveView") || d.privileges.includes("playback")
        ? h("div", { class: "actions" }, (d.channels.length ? d.channels : [1]).map(ch => h("button", {
          type: "button", class: "primary", "data-watch": `${d.deviceId}/${ch}`,
          onclick: () => act(async () => {
            const w = await api("POST", "/watch", { deviceId: d.deviceId, channel: ch });
            window.location.assign(w.url);
          }),
        }, `Watch ${cameraName(d, ch)}`)))
        : null,
      d.privileges.includes("liveView")
        ? h("div", { class: "actions" }, (d.channels.length ? d.channels : [1]).map(ch => h("button", {
          type: "button", "data-relay": `${d.deviceId}/${ch}`,
          // The gateway's web viewer served by this service, its API relayed (WebRTC signalling over MQTT, §3.1).
          onclick: () => act(async () => {
            const w = await api("POST", "/watch", { deviceId: d.deviceId, channel: ch, relay: true });
            window.location.assign(w.url);
          }),
        }, `Watch ${cameraName(d, ch)} here`)))
        : null)),
    h("div", { class: "actions" }, h("button", {
      type: "button", class: "danger", id: "other-delete",
      onclick: () => act(async () => {
        if (!confirm(`Remove the devices ${s.owner} shares with you?`)) return;
        await api("DELETE", `/shares/${s.shareId}`);
        flash("Removed.");
        route("#/others");
      }),
    }, "Delete")));
}

/** The sharing message: every pending share, one at a time, with Accept and Reject. */
async function pendingDialog() {
  const dialog = document.getElementById("pending");
  const pending = (await api("GET", "/shares/incoming")).filter(s => s.state === "pending");
  if (pending.length === 0) {
    if (dialog.open) dialog.close();
    return;
  }
  const s = pending[0];
  const decide = verb => act(async () => {
    await api("POST", `/shares/${s.shareId}/${verb}`, { version: s.version });
    dialog.close();
    await pendingDialog();
    await render();
  });
  dialog.replaceChildren(...[
    h("h2", {}, "Sharing message"),
    h("p", { id: "pending-text" }, `${s.owner} wants to share ${s.devices.length} device${s.devices.length > 1 ? "s" : ""} with you.`),
    s.remark ? h("p", { class: "muted" }, s.remark) : null,
    s.devices.map(d => h("p", { class: "muted" }, `${deviceName(d)}: ${privilegesText(d.privileges)} (${channelsText(d.channels, d)})`)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "danger", id: "pending-reject", onclick: () => decide("reject") }, "Reject"),
      h("button", { type: "button", class: "primary", id: "pending-accept", onclick: () => decide("accept") }, "Accept")),
  ].flat().filter(Boolean));
  dialog.dataset.share = s.shareId;
  if (!dialog.open) dialog.showModal();
}

// ---------------------------------------------------------------- routing

const routes = [
  [/^#\/signin$/, signInView, false],
  [/^#\/signup$/, signUpView, false],
  [/^#\/verify$/, verifyView, false],
  [/^#\/mine$/, mineView, true],
  [/^#\/new$/, (_m, show) => shareEditor(null, show), true],
  [/^#\/share\/([\w-]+)$/, (m, show) => shareDetailsView(m[1], show), true],
  [/^#\/share\/([\w-]+)\/edit$/, (m, show) => shareEditor(m[1], show), true],
  [/^#\/history$/, historyView, true],
  [/^#\/gateways$/, gatewaysView, true],
  [/^#\/device\/([^/]+)$/, (m, show) => deviceView(decodeURIComponent(m[1]), show), true],
  [/^#\/audit$/, auditView, true],
  [/^#\/others$/, othersView, true],
  [/^#\/other\/([\w-]+)$/, (m, show) => otherDetailsView(m[1], show), true],
];

function route(hash) {
  if (location.hash !== hash) location.hash = hash;
  else render();
}

let renderSeq = 0;

async function render() {
  const hash = location.hash || (me ? "#/mine" : "#/signin");
  const found = routes.map(([re, fn, auth]) => [hash.match(re), fn, auth]).find(([m]) => m);
  if (!found) return route(me ? "#/mine" : "#/signin");
  const [m, fn, auth] = found;
  if (auth && !me) return route("#/signin");
  if (!auth && me) return route("#/mine");
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").textContent = me ? me : "";
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", hash.startsWith(`#/${a.dataset.nav}`) || (a.dataset.nav === "mine" && /^#\/(share|new)/.test(hash))
      || (a.dataset.nav === "others" && hash.startsWith("#/other/")));
  }
  view.dataset.route = hash.split("/")[1] || "";
  // A page whose data comes after a newer page started (a refresh still running when the viewer moved on) must
  // not replace it: every view draws through its own render's paint, which does nothing once another began.
  const seq = ++renderSeq;
  const paint = (...nodes) => {
    if (seq === renderSeq) show(...nodes);
    else view.dataset.dropped = String(Number(view.dataset.dropped || 0) + 1);
  };
  await act(() => fn(m, paint));
  if (seq !== renderSeq) return;
  if (flashed) {
    message(flashed, "info");
    flashed = null;
  }
}

async function startSignedIn(account) {
  me = account;
  await act(pendingDialog);
  route(location.hash && !/^#\/(signin|signup|verify)$/.test(location.hash) ? location.hash : "#/mine");
}

document.getElementById("signout").addEventListener("click", () => act(async () => {
  await api("DELETE", "/sessions/current");
  me = null;
  csrf = null;
  route("#/signin");
}));
window.addEventListener("hashchange", () => render());
// The sharing message comes while the page is open, too.
setInterval(() => { if (me) pendingDialog().catch(() => {}); }, 15000);

(async () => {
  try {
    const r = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (r.ok) {
      await refreshCsrf();
      await startSignedIn((await r.json()).account);
      return;
    }
  } catch { /* not signed in */ }
  render();
})();
