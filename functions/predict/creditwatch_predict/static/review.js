// The reviewer's page: the queue, a case, a decision. Every value is written with textContent (no HTML
// from data), and every call carries the reviewer's token; the page holds nothing else.
"use strict";

const state = { token: null, cursor: null, open: null };
const $ = (id) => document.getElementById(id);

function takeToken() {
  // The identity provider's redirect (implicit grant) returns #id_token=...; keep it for this tab only.
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("id_token") || hash.get("access_token");
  if (fromHash) {
    sessionStorage.setItem("review-token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("review-token");
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (e) {
    return {};
  }
}

async function api(path, options = {}) {
  const resp = await fetch(path, {
    ...options,
    headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json" },
  });
  const body = await resp.json().catch(() => ({}));
  if (resp.status === 401) signOut(body.error ? body.error.message : "sign in again");
  return { status: resp.status, body };
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function age(seconds) {
  if (seconds < 90) return seconds + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h";
  return Math.round(seconds / 86400) + " d";
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

async function loadQueue(append = false) {
  const query = "reviews?status=pending&limit=25" + (append && state.cursor ? "&cursor=" + encodeURIComponent(state.cursor) : "");
  const { status, body } = await api(query);
  if (status !== 200) return say((body.error && body.error.message) || "the queue cannot be read", true);
  const tbody = $("queue").querySelector("tbody");
  if (!append) tbody.replaceChildren();
  for (const c of body.cases) {
    const row = document.createElement("tr");
    row.dataset.caseId = c.case_id;
    cell(row, c.case_id.slice(-8));
    cell(row, age(c.age_seconds));
    cell(row, c.referral.join(", "));
    cell(row, c.model_decision, c.model_decision);
    cell(row, c.probability_good_credit.toFixed(3));
    row.addEventListener("click", () => openCase(c.case_id));
    tbody.appendChild(row);
  }
  state.cursor = body.next_cursor;
  $("more").hidden = !state.cursor;
  const shown = tbody.children.length;
  $("queue-count").textContent = shown + (state.cursor ? "+" : "") + " waiting";
  $("queue-empty").hidden = shown > 0;
}

async function openCase(caseId) {
  const { status, body } = await api("reviews/" + encodeURIComponent(caseId));
  if (status !== 200) return say((body.error && body.error.message) || "the case cannot be read", true);
  state.open = body;
  for (const row of $("queue").querySelectorAll("tbody tr")) row.classList.toggle("open", row.dataset.caseId === caseId);
  $("case-panel").hidden = false;
  $("case-id").textContent = body.case_id;
  $("case-summary").textContent =
    "The model says " + body.model_decision + " (P(good) " + body.probability_good_credit.toFixed(3) +
    ", model " + body.model_version + "); referred for " + body.referral.join(", ") + ", " + age(body.age_seconds) + " ago." +
    (body.status === "decided" ? " Decided: " + body.decision + " by " + body.decided_by + "." : "");
  const reasons = $("reasons");
  reasons.replaceChildren();
  for (const r of body.reasons) {
    const li = document.createElement("li");
    li.textContent = r.label + ": " + r.value + (r.meaning ? " (" + r.meaning + ")" : "") + ", " + r.contribution.toFixed(3);
    reasons.appendChild(li);
  }
  const cf = body.counterfactual;
  $("counterfactual").textContent = !cf
    ? "No counterfactual: the model approves, or the record is not the serving model's."
    : cf.status === "found"
      ? cf.changes.map((c) => c.label + ": " + c.from + " → " + c.to + (c.meaning ? " (" + c.meaning + ")" : "")).join("; ") +
        " gives P(good) " + cf.probability_good_credit.toFixed(3)
      : cf.message;
  const tbody = $("application").querySelector("tbody");
  tbody.replaceChildren();
  for (const [name, value] of Object.entries(body.application || {})) {
    const row = document.createElement("tr");
    cell(row, name);
    cell(row, String(value));
    tbody.appendChild(row);
  }
  $("decide").reset();
  say("");
}

async function decide(event) {
  event.preventDefault();
  const form = new FormData($("decide"));
  const decision = form.get("decision");
  if (!decision || !form.get("reason_code")) return say("Choose approve or refuse, and a reason.", true);
  const payload = { decision, reason_code: form.get("reason_code") };
  if (form.get("note")) payload.note = form.get("note");
  const caseId = state.open.case_id;
  const { status, body } = await api("reviews/" + encodeURIComponent(caseId), { method: "POST", body: JSON.stringify(payload) });
  if (status === 200) {
    say("Recorded: " + body.decision + " (" + body.reason_code + ")" + (body.override ? ", overriding the model" : "") + ".");
    $("case-panel").hidden = true;
  } else {
    say((body.error && body.error.message) || "not recorded: try again", true);
  }
  await loadQueue();
}

function signOut(message) {
  sessionStorage.removeItem("review-token");
  state.token = null;
  $("workspace").hidden = true;
  $("signin").hidden = false;
  $("who").textContent = "not signed in" + (message ? ": " + message : "");
}

function start() {
  state.token = takeToken();
  if (!state.token) return signOut();
  const c = claims(state.token);
  $("who").textContent = "signed in as " + (c["cognito:username"] || c.username || c.sub || "?");
  $("signin").hidden = true;
  $("workspace").hidden = false;
  loadQueue();
}

document.addEventListener("DOMContentLoaded", () => {
  $("use-token").addEventListener("click", () => {
    sessionStorage.setItem("review-token", $("token").value.trim());
    start();
  });
  $("more").addEventListener("click", () => loadQueue(true));
  $("decide").addEventListener("submit", decide);
  start();
});
