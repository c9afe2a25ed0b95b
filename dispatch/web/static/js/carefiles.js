// The care centre's day in a spreadsheet: choose a CSV or XLSX file, see every row checked
// (with the row and column of each problem) before anything is booked, book the good rows
// in one go, and export a day's bookings as CSV (README, "Care centre files").

import { $, el, flash, fmtDateTime, localToday, t } from "./common.js";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

function contentType(file) {
  return file.name.toLowerCase().endsWith(".xlsx") ? XLSX : "text/csv";
}

/** Wire the import/export panel. ``onBooked`` reloads the bookings list. */
export function bindFiles(session, onBooked) {
  const form = $("#import-form");
  const message = form.querySelector(".flash");
  const bookButton = $("#import-book");
  let checked = null; // { file, answer } of the last check

  function render() {
    const body = $("#import-rows tbody");
    body.replaceChildren();
    $("#import-rows").hidden = !checked;
    bookButton.hidden = !checked || checked.answer.committed || checked.answer.valid === 0;
    if (!checked) return;
    const a = checked.answer;
    bookButton.textContent = t("files.book", { n: a.valid });
    for (const r of a.results) {
      const problem = r.errors.map((e) => `${e.column}: ${e.message}`).join("; ");
      const status = r.booking_id
        ? t("files.booked", { id: r.booking_id })
        : r.duplicate_of
          ? t("files.already", { id: r.duplicate_of })
          : problem || t("files.ok");
      const when = r.appointment_at || r.pickup_window_start;
      body.append(
        el(
          "tr",
          { "data-row": r.row, class: r.errors.length ? "row-error" : r.duplicate_of ? "row-duplicate" : "" },
          el("td", {}, String(r.row)),
          el("td", {}, r.patient, r.new_patient ? el("small", {}, ` ${t("files.new_patient")}`) : null),
          el("td", {}, r.destination),
          el("td", {}, when ? fmtDateTime(when) : ""),
          el("td", { "data-testid": "import-status" }, status),
        ),
      );
    }
    const summary = t(a.committed ? "files.summary_booked" : "files.summary_checked", {
      rows: a.rows,
      valid: a.valid,
      created: a.created,
      duplicates: a.duplicates,
      failed: a.failed,
    });
    const ignored = a.ignored_columns.length ? ` ${t("files.ignored", { columns: a.ignored_columns.join(", ") })}` : "";
    flash(message, summary + ignored, a.failed ? "error" : "ok");
  }

  async function send(dryRun) {
    const file = form.elements.file.files[0];
    if (!file) return;
    const path = `/bookings/import?dry_run=${dryRun}`;
    flash(message, t(dryRun ? "files.checking" : "files.booking"));
    try {
      const answer = await session.upload(`import:${dryRun}`, path, file, contentType(file));
      checked = { file, answer };
      render();
      if (!dryRun) await onBooked();
    } catch (error) {
      checked = null;
      render();
      flash(message, error.message, "error");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(true);
  });
  form.elements.file.addEventListener("change", () => {
    checked = null;
    render();
    flash(message, "");
  });
  bookButton.addEventListener("click", () => {
    if (checked && !checked.answer.committed) send(false);
  });

  const exportForm = $("#export-form");
  exportForm.elements.day.value ||= localToday(1);
  exportForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const day = exportForm.elements.day.value;
    try {
      await session.download(`/bookings/export?service_date=${day}`, `bookings-${day}.csv`);
      flash(exportForm.querySelector(".flash"), "");
    } catch (error) {
      flash(exportForm.querySelector(".flash"), error.message, "error");
    }
  });
  return { render };
}
