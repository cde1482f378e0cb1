// A CSV export fetched with the user's token, then saved from a blob: link (a plain link
// could not carry the bearer token). Used by the list pages' "Export CSV" buttons.

import { fetchAuthed, withQuery } from "../api.js";
import { h, submitting, flash } from "../dom.js";
import { t } from "../i18n.js";

/** A form with one button that downloads `path` with `query` (the list's filters). */
export function csvButton(path, query, fallback, id = "csv-form", text = t("common.export_csv")) {
  const form = h("form", { class: "inline", id },
    h("button", { type: "submit" }, text));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitting(form, async () => {
      const res = await fetchAuthed(withQuery(path, query));
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "")?.[1]
        || fallback;
      const link = h("a", { href: URL.createObjectURL(await res.blob()), download: name,
        id: `${id}-link` }, t("common.download_file", { name }));
      document.getElementById(`${id}-link`)?.remove();
      form.after(" ", link);
      link.click();
      flash(t("common.exported", { name }));
    });
  });
  return form;
}
