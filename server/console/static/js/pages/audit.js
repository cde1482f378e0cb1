// What the callback audit's codes mean, in words an auditor reads at a glance: the risk
// factors behind a score, the evidence rules, outcomes and satisfaction. Shared by the
// queue and the task page. Labels are the server's (GET /i18n/labels).

import { h, label, duration } from "../dom.js";
import { t, locale } from "../i18n.js";

export { money, pct } from "../dom.js";

export function ruleLabel(code) {
  return label(code, "rule");
}

/** "Evidence rule failed: …" for "rule_failed:geofence_pass". */
export function factorLabel(code) {
  if (code.startsWith("rule_failed:")) {
    return `${label("rule_failed", "risk_factor")}: ${ruleLabel(code.slice(12))}`;
  }
  return label(code, "risk_factor");
}

/** A factor's detail as short text: "minutes early 180 · distance m 2990". */
export function detailText(detail) {
  return Object.entries(detail || {})
    .filter(([, v]) => v !== null && v !== "" && typeof v !== "object")
    .map(([key, v]) => `${label(key)} ${v}`)
    .join(" · ");
}

/** The risk model's factors: each one's push in log-odds and its facts in words
 * ("door photo taken 420 m from the address"). The model writes its words in English:
 * other locales show the factor's label, the words in its tooltip. */
export function factorList(factors, { brief = false } = {}) {
  if (!factors.length) return h("span", { class: "muted" }, t("audit.no_factors"));
  const english = locale() === "en";
  return h("ul", { class: "factors" }, factors.map((f) => {
    const words = f.words ? f.words.replace(/: [+-][0-9.]+$/, "") : null;
    return h("li", { title: !english && words ? words : null },
      h("span", { class: f.points > 0 ? "pts up" : "pts down" },
        `${f.points > 0 ? "+" : ""}${f.points}`), " ",
      english && words ? words : factorLabel(f.code),
      !brief && detailText(f.detail) ? h("small", { class: "muted" },
        ` (${detailText(f.detail)})`) : null);
  }));
}

/** The probability that the claim is false, in percent. */
export function riskBadge(score) {
  const level = score >= 50 ? "high" : score >= 20 ? "mid" : "low";
  return h("span", { class: `risk risk-${level}`,
    title: t("audit.risk_title", { score }) }, `${score}%`);
}

export const KINDS = ["not_home", "unable", "completion", "status_check"];
export const kindLabel = (kind) => label(kind, "callback_kind");

export const OUTCOMES = ["confirmed", "contradicted", "unreachable", "rescheduled"];
export function outcomeHint(outcome) {
  return {
    confirmed: t("audit.hint_confirmed"),
    contradicted: t("audit.hint_contradicted"),
    unreachable: t("audit.hint_unreachable"),
    rescheduled: t("audit.hint_rescheduled"),
  }[outcome];
}

export const SATISFACTION = ["very_satisfied", "satisfied", "dissatisfied"];

/** "due in 1 h 05 min" or "overdue by 12 min". */
export function dueText(task, now = Date.now()) {
  if (task.state !== "open") {
    return task.closed_at ? t("audit.closed") : label(task.state, "callback_state");
  }
  const ms = new Date(task.due_at).getTime() - now;
  return ms < 0 ? t("audit.overdue_by", { time: duration(ms) })
    : t("audit.due_in", { time: duration(ms) });
}
