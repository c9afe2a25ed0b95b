// The keyboard path of call-taking, so a call-taker never reaches for the mouse: Tab moves
// through the new-call form in reading order and Enter creates the call; the new call is
// selected and ranked, and focus leaves the form, so 1-9 send the unit of that rank, B the
// proposed ALS backup, R ranks again, N goes back to a new call, Esc leaves a field.
// Keys typed into a field stay text: shortcuts act only outside fields.

/**
 * @param {{
 *   recommendation: () => any,
 *   selected: () => number | null,
 *   assign: (incidentId: number, vehicleId: number, rank: number | null) => Promise<void>,
 *   recommend: (incidentId: number) => Promise<void>,
 *   newCall: () => void,
 * }} hooks
 */
export function bindCallKeys(hooks) {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = /** @type {HTMLElement} */ (event.target);
    if (target.closest?.("input, select, textarea, [contenteditable], dialog")) {
      if (event.key === "Escape") target.blur?.();
      return;
    }
    const rec = hooks.recommendation();
    const selected = hooks.selected();
    const current = rec && rec.incident_id === selected ? rec : null;
    const key = event.key.toLowerCase();
    if (/^[1-9]$/.test(key) && current) {
      const candidate = current.candidates.find((c) => c.rank === Number(key));
      if (!candidate) return;
      event.preventDefault();
      hooks.assign(current.incident_id, candidate.vehicle_id, candidate.rank);
    } else if (key === "b" && current?.backup) {
      event.preventDefault();
      hooks.assign(current.incident_id, current.backup.vehicle_id, null);
    } else if (key === "r" && selected !== null) {
      event.preventDefault();
      hooks.recommend(selected);
    } else if (key === "n") {
      event.preventDefault();
      hooks.newCall();
    }
  });
}

/** After a call is created: leave the form so the number keys assign. */
export function leaveForm(form) {
  const active = document.activeElement;
  if (active instanceof HTMLElement && form.contains(active)) active.blur();
}
