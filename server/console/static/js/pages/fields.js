// The names of fields (of the audit trail's before/after, of a job's history events) in
// the page's language, and their values as labels where they are codes. A field this
// list does not know reads as itself ("contact_due_at" → "contact due at").

import { label } from "../dom.js";
import { t } from "../i18n.js";

const NAMES = {
  number: "field.number",
  kind: "field.kind",
  priority: "field.priority",
  source: "field.source",
  status: "field.status",
  description: "field.description",
  customer_id: "field.customer_id",
  appliance_id: "field.appliance_id",
  city_id: "field.city_id",
  previous_job_id: "field.previous_job_id",
  repeat_seq: "field.repeat_seq",
  window_start: "field.window_start",
  window_end: "field.window_end",
  window: "field.window",
  external_ref: "field.external_ref",
  parts: "field.parts",
  created_by: "field.created_by",
  version: "field.version",
  id: "field.id",
  created_at: "field.created_at",
  updated_at: "field.updated_at",
  name: "field.name",
  full_name: "field.full_name",
  address: "field.address",
  notes: "field.notes",
  phones: "field.phones",
  number_e164: "field.number_e164",
  label: "field.label",
  locale: "field.locale",
  role: "field.role",
  provider_id: "field.provider_id",
  technician_id: "field.technician_id",
  category: "field.category",
  brand: "field.brand",
  model: "field.model",
  serial: "field.serial",
  active: "field.active",
  reason: "field.reason",
  note: "field.note",
  skill_level: "field.skill_level",
  unable_reason: "field.unable_reason",
};

/** Fields whose value is a code, with the context of its label. */
const CODES = { kind: "job_kind", priority: "job_priority", source: "job_source",
  status: "job_status", category: "appliance_category", role: "role",
  skill_level: "skill_level", unable_reason: "unable_reason" };

export const fieldName = (key) => (Object.hasOwn(NAMES, key) ? t(NAMES[key]) : label(key));

/** A field's value as people read it: a code's label, else the value. */
export const fieldValue = (key, value) => (typeof value === "string" && Object.hasOwn(CODES, key)
  ? label(value, CODES[key]) : value);
