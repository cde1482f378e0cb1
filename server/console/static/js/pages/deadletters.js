// Messages to customers that did not get through: dead letters (every try failed, or the
// gateway refused them) and messages the gateway's receipt reported undelivered, the
// most recent failure first (GET /notifications/dead-letters). The call center's
// dispatchers and admins queue one again (POST /notifications/{id}/retry): the next
// outbox round sends it with the same idempotency key. The brand's staff only.

import { api } from "../api.js";
import { h, replace, table, submitting, flash, when } from "../dom.js";
import { t, k, code } from "../i18n.js";
import { go } from "../router.js";

export const page = {
  path: "/dead-letters",
  title: k("dead.title"),
  nav: k("nav.dead_letters"),
  roles: ["admin", "dispatcher", "auditor"],
  brandOnly: true,
  render,
};

const PAGE = 50;
const RETRY = ["admin", "dispatcher"];

async function render(main, { query, user, current }) {
  const offset = Math.max(0, Number(query.offset) || 0);
  const dead = await api("/notifications/dead-letters", { query: { limit: PAGE, offset } });
  if (!current()) return;
  const retry = RETRY.includes(user.role) && !user.provider_id;
  const columns = [
    { label: t("dead.failed_at"), cell: (n) => when(n.failed_at || n.created_at) },
    { label: t("col.job"), cell: (n) => (n.job_id ? h("a", { href: `#/jobs/${n.job_id}` },
      t("dead.job_link")) : "—") },
    { label: t("dead.message"), cell: (n) => [h("strong", {}, code("sms_template", n.template)),
      h("small", { class: "block muted" }, n.body)] },
    { label: t("dead.recipient"), cell: (n) => n.recipient },
    { label: t("col.status"), cell: (n) => h("span", { class: "badge urgent" },
      code("notification_status", n.status)) },
    { label: t("dead.attempts"), num: true, cell: (n) => n.attempts },
    { label: t("dead.error"), cell: (n) => n.error || "—" },
  ];
  if (retry) columns.push({ label: t("dead.action"), cell: retryForm });
  replace(main,
    h("h1", { tabindex: "-1" }, t("dead.title")),
    h("p", { class: "summary" }, t("dead.summary", { n: dead.total }), " ",
      h("button", { type: "button", class: "link", onclick: () => go("/dead-letters", query) },
        t("common.refresh"))),
    table({ id: "dead-letters", caption: t("dead.caption"), columns,
      rows: dead.items.map((n) => ({ ...n, __data: { notification: n.id } })),
      empty: t("dead.empty") }),
    pager(dead));
}

function retryForm(n) {
  const form = h("form", { class: "inline retry-form" },
    h("button", { type: "submit", "aria-label": t("dead.retry_label", { recipient: n.recipient }) },
      t("dead.retry")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      await api(`/notifications/${n.id}/retry`, { method: "POST" });
      flash(t("dead.queued", { recipient: n.recipient }));
      go("/dead-letters");
    });
  });
  return form;
}

function pager(dead) {
  if (dead.total <= dead.limit) return null;
  const last = dead.offset + dead.items.length;
  return h("p", { class: "muted" }, t("dead.range", { from: dead.offset + 1, to: last,
    total: dead.total }), " ",
  dead.offset > 0 ? h("a", { href: `#/dead-letters?offset=${Math.max(0, dead.offset - PAGE)}` },
    t("dead.newer")) : null, " ",
  last < dead.total ? h("a", { href: `#/dead-letters?offset=${last}` }, t("dead.older")) : null);
}
