/* Saving the draft: a short while after each change, one save at a time, and a failure kept visible until a
 * later save succeeds. */
import { postJson } from '../http.js';

const SAVE_DELAY_MS = 600;

function failureReason(response, data) {
  if (data && data.error) return data.error;
  return response.status === 403 ? 'your session has expired; reload the page' : 'the server answered ' + response.status;
}

/* `design()` gives the document to send, `onSaved(data)` hears the server's answer (its problems), `status` is the
 * status line (see status.js). */
export function createAutosave({ url, design, onSaved, status }) {
  let dirty = false;             // changes not yet confirmed saved by the server
  let timer = null;
  let saving = false;
  let again = false;
  const failed = () => status.saveState().indexOf('Not saved') === 0;

  // A failed save keeps the document marked unsaved, so the next change (or leaving the page) tries again.
  function fail(reason) {
    dirty = true;
    status.setSaveState('Not saved: ' + reason);
  }

  function answered(response) {
    return response.json().catch(() => null).then((data) => {
      if (!(response.ok && data && data.saved)) { fail(failureReason(response, data)); return; }
      onSaved(data);
      status.setSaveState(dirty ? 'Saving…' : 'Saved');
    });
  }

  function save() {
    timer = null;
    if (!dirty || !url) return;
    if (saving) { again = true; return; }
    saving = true;
    dirty = false;
    if (!failed()) status.setSaveState('Saving…');
    postJson(url, design(), { headers: { Accept: 'application/json' } })
      .then(answered, () => fail('the server cannot be reached'))
      .then(() => {
        saving = false;
        // A change made while this save was in flight is saved now. A failed save is not retried in a loop:
        // the document stays dirty and the next change (or leaving the page) sends it again.
        if (again) { again = false; if (!timer) save(); }
      });
  }

  function schedule() {
    if (!url) return;
    dirty = true;
    // "Saved" must never show while a change waits for its save; a failure stays visible until a save succeeds.
    if (!failed()) status.setSaveState('Saving…');
    clearTimeout(timer);
    timer = setTimeout(save, SAVE_DELAY_MS);
  }

  // Saves now what waits (the design is about to be frozen).
  function flush() {
    clearTimeout(timer);
    if (dirty) save();
  }

  // Last chance for unsaved work when the learner leaves the page.
  function onLeave() {
    if (!dirty || !url) return;
    try {
      postJson(url, design(), { keepalive: true });
    } catch (e) { /* nothing more can be done while unloading */ }
  }

  return { schedule, flush, onLeave };
}
