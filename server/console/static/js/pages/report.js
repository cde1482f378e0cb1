// The service report of a job, as the server renders it (GET /jobs/{id}/service-report.html)
// with the staff's own permissions: a link cannot carry a bearer token, so the page is
// fetched with it, its images too (turned into data: URLs), and shown in a sandboxed
// frame that runs no script. Nothing is signed or shared: whoever cannot see the job
// gets the API's 404.

import { fetchAuthed } from "../api.js";
import { h, replace, flash } from "../dom.js";
import { CONSOLE_ROLES } from "../roles.js";
import { t, k, locale } from "../i18n.js";

export const page = {
  path: "/jobs/:id/report",
  title: k("report.title"),
  roles: CONSOLE_ROLES,
  render,
};

async function render(main, { params, current }) {
  const res = await fetchAuthed(`/jobs/${params.id}/service-report.html?lang=${locale()}`);
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  const images = [...doc.querySelectorAll("img[src]")];
  await Promise.all(images.map(async (img) => {
    const src = img.getAttribute("src");
    if (!src.startsWith("/")) {
      img.removeAttribute("src"); // only this server's images
      return;
    }
    try {
      img.setAttribute("src", await dataUrl(await (await fetchAuthed(src)).blob()));
    } catch {
      img.replaceWith(doc.createTextNode(t("report.image_unavailable",
        { name: img.getAttribute("alt") || t("report.image") })));
    }
  }));
  doc.querySelectorAll("script").forEach((s) => s.remove());
  if (!current()) return;
  const title = doc.title || t("report.title");
  const frame = h("iframe", { id: "report-frame", title, sandbox: "allow-same-origin allow-modals",
    class: "report" });
  frame.addEventListener("load", () => {
    // As tall as the report, so the console page scrolls and not a box inside it.
    const body = frame.contentDocument?.documentElement;
    if (body) frame.style.height = `${body.scrollHeight + 24}px`;
  });
  frame.srcdoc = "<!DOCTYPE html>" + doc.documentElement.outerHTML;
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/board" }, t("nav.board")), " › ",
      h("a", { href: `#/jobs/${params.id}` }, t("report.job")), ` › ${t("report.title")}`),
    h("h1", { tabindex: "-1" }, title),
    h("p", {}, h("button", { type: "button", id: "print-report", onclick: () => {
      try {
        frame.contentWindow.print();
      } catch {
        flash(t("report.print_blocked"), "error");
      }
    } }, t("report.print"))),
    frame);
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });
}
