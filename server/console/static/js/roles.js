// Who gets the console and which buttons it shows. The API's guards decide; these lists
// mirror them (server/auth/guards.py, the jobs routes) so nobody is offered a button that
// can only answer 403.

import { code } from "./i18n.js";

export const CONSOLE_ROLES = ["admin", "dispatcher", "auditor", "provider_manager"];

const ABILITIES = {
  dispatch: ["admin", "dispatcher", "provider_manager"], // assign, appointments, contacted
  cancel: ["admin", "dispatcher"],
  callbacks: ["admin", "auditor", "dispatcher"], // the callback queue and evidence (read)
  audit: ["admin", "auditor"], // take a callback, record outcomes
};

/** Where a user lands after signing in: auditors start at their queue. */
export const homeOf = (user) => (user?.role === "auditor" ? "/callbacks" : "/board");

export function can(user, ability) {
  return Boolean(user && ABILITIES[ability]?.includes(user.role));
}

/** A role as people read it, from the server's labels ("auditor" → "回访审核员"). */
export const roleName = (role) => code("role", role);
