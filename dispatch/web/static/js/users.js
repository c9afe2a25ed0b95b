// The control screen's users panel, for supervisors and administrators: deactivate or
// reactivate a user, set a new password, log a user out everywhere. Each button is one
// call to /users/{id}/… (audited there); a supervisor's buttons on administrators are
// disabled because the server refuses them.

import { $, el, flash, t } from "./common.js";

const MANAGERS = ["supervisor", "admin"];

let session = null;
let me = null;
let bound = false;
let resetting = null; // the user whose new password the form is asking for

/** Show the "Users" button to managers (hide it from everyone else) and wire the panel. */
export function mountUsersPanel(screenSession, who) {
  session = screenSession;
  me = who;
  const button = $("#users-open");
  button.hidden = !MANAGERS.includes(who.role);
  if (bound) return;
  bound = true;
  const dialog = $("#users-dialog");
  button.addEventListener("click", () => {
    dialog.showModal();
    refresh();
  });
  $("#users-close").addEventListener("click", () => dialog.close());
  $("#users-reset").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const password = String(new FormData(form).get("password") || "");
    const user = resetting;
    form.reset();
    form.hidden = true;
    resetting = null;
    if (user) await act(user, "reset-password", { password });
  });
}

async function refresh() {
  const table = $("#users-table tbody");
  try {
    const users = await session.get("/users");
    table.replaceChildren(...users.map(row));
    $("#users-table").dataset.loaded = "1";
  } catch (error) {
    flash($("#users-flash"), error.message, "error");
  }
}

function row(user) {
  const locked = me.role !== "admin" && user.role === "admin";
  const button = (key, action, body) =>
    el(
      "button",
      {
        type: "button",
        "data-action": action,
        disabled: locked,
        onclick: () => (body ? body() : act(user, action)),
      },
      t(key),
    );
  const toggle = user.is_active
    ? button("users.deactivate", "deactivate")
    : button("users.activate", "activate");
  return el(
    "tr",
    { "data-user": user.username, "data-active": String(user.is_active) },
    el("td", {}, user.username),
    el("td", {}, user.full_name),
    el("td", {}, user.role),
    el("td", {}, user.is_active ? t("users.active") : t("users.inactive")),
    el(
      "td",
      { class: "actions" },
      toggle,
      button("users.reset_password", "reset-password", () => askPassword(user)),
      button("users.revoke", "revoke-sessions"),
    ),
  );
}

function askPassword(user) {
  resetting = user;
  const form = $("#users-reset");
  $("#users-reset-who").textContent = user.username;
  form.hidden = false;
  form.elements.password.focus();
}

async function act(user, action, body = {}) {
  const message = $("#users-flash");
  try {
    await session.post(`/users/${user.id}/${action}`, body);
    flash(message, t("users.done", { user: user.username }));
  } catch (error) {
    flash(message, error.message, "error");
  }
  await refresh();
}
