// What the callback audit's codes mean, in words an auditor reads at a glance: the risk
// factors behind a score, the evidence rules, outcomes and satisfaction. Shared by the
// queue and the task page.

import { h, label, duration } from "../dom.js";

const RULES = { // as the rule fails
  geofence_pass: "check-in not near the address",
  min_time_on_site: "too little time on site",
  min_call_attempts: "too few calls to the customer",
  door_photo_on_site: "no door photo taken on site",
  after_photo: "no photo of the finished work",
  customer_sign_off: "no customer signature",
  required_checklist: "checklist not fully answered",
};

const FACTORS = {
  not_home_claim: "“Nobody home” claim",
  claim_before_window: "Claimed before the appointment window",
  quick_claim: "Claimed quickly after arriving",
  no_check_in: "No check-in at the address",
  clock_skew: "Phone clock far from server time",
  mock_location: "Mock (faked) location",
  reused_photo: "Photo reused from another job",
  impossible_travel: "Impossible travel between check-ins",
  high_not_home_rate: "Technician files many “nobody home” claims",
  repeated_address: "Earlier “nobody home” claims at this address",
  customer_says_home: "Customer replied they were home",
  customer_confirms_away: "Customer confirmed they were away",
};

export function ruleLabel(code) {
  return RULES[code] || label(code);
}

/** "Rule failed: check-in outside the geofence" for "rule_failed:geofence_pass". */
export function factorLabel(code) {
  if (code.startsWith("rule_failed:")) return `Rule failed: ${ruleLabel(code.slice(12))}`;
  return FACTORS[code] || label(code);
}

/** A factor's detail as short text: "minutes early 180 · distance m 2990". */
export function detailText(detail) {
  return Object.entries(detail || {})
    .filter(([, v]) => v !== null && v !== "" && typeof v !== "object")
    .map(([k, v]) => `${label(k)} ${v}`)
    .join(" · ");
}

/** The risk model's factors: each one's push in log-odds and its facts in words
 * ("door photo taken 420 m from the address"). */
export function factorList(factors, { brief = false } = {}) {
  if (!factors.length) return h("span", { class: "muted" }, "no risk factors");
  return h("ul", { class: "factors" }, factors.map((f) => h("li", {},
    h("span", { class: f.points > 0 ? "pts up" : "pts down" },
      `${f.points > 0 ? "+" : ""}${f.points}`), " ",
    f.words ? f.words.replace(/: [+-][0-9.]+$/, "") : factorLabel(f.code),
    !brief && detailText(f.detail) ? h("small", { class: "muted" }, ` (${detailText(f.detail)})`)
      : null)));
}

/** The probability that the claim is false, in percent. */
export function riskBadge(score) {
  const level = score >= 50 ? "high" : score >= 20 ? "mid" : "low";
  return h("span", { class: `risk risk-${level}`,
    title: `${score} % likely to be a false claim` }, `${score}%`);
}

export const KINDS = { not_home: "nobody home", unable: "unable to complete",
  completion: "completion", status_check: "status check" };

export const OUTCOMES = [
  ["confirmed", "Confirmed", "the claim is true"],
  ["contradicted", "Contradicted", "the customer says otherwise: a violation, the job reopens"],
  ["unreachable", "Unreachable", "nobody answered: called again later"],
  ["rescheduled", "Rescheduled", "the customer rescheduled the visit themselves"],
];

export const SATISFACTION = [["very_satisfied", "very satisfied"], ["satisfied", "satisfied"],
  ["dissatisfied", "dissatisfied"]];

/** "due in 1 h 05 min" or "overdue by 12 min". */
export function dueText(task, now = Date.now()) {
  if (task.state !== "open") return task.closed_at ? "closed" : label(task.state);
  const ms = new Date(task.due_at).getTime() - now;
  return ms < 0 ? `overdue by ${duration(ms)}` : `due in ${duration(ms)}`;
}

/** Money in minor units, e.g. 200000 CNY → "CN¥2,000.00". */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  if (!currency || currency === "mixed") return `${amount / 100} (mixed)`;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency}`;
  }
}

export const pct = (rate) => (rate === null || rate === undefined ? "—"
  : `${Math.round(rate * 1000) / 10}%`);
