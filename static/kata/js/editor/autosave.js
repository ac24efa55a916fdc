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
export class Autosave {
  constructor({ url, design, onSaved, status }) {
    Object.assign(this, { url, design, onSaved, status });
    this.dirty = false;          // changes not yet confirmed saved by the server
    this.timer = null;
    this.saving = false;
    this.again = false;
  }

  failed() { return this.status.saveState().indexOf('Not saved') === 0; }

  // A failed save keeps the document marked unsaved, so the next change (or leaving the page) tries again.
  fail(reason) {
    this.dirty = true;
    this.status.setSaveState('Not saved: ' + reason);
  }

  answered(response) {
    return response.json().catch(() => null).then((data) => {
      if (!(response.ok && data && data.saved)) { this.fail(failureReason(response, data)); return; }
      this.onSaved(data);
      this.status.setSaveState(this.dirty ? 'Saving…' : 'Saved');
    });
  }

  save() {
    this.timer = null;
    if (!this.dirty || !this.url) return;
    if (this.saving) { this.again = true; return; }
    this.saving = true;
    this.dirty = false;
    if (!this.failed()) this.status.setSaveState('Saving…');
    postJson(this.url, this.design(), { headers: { Accept: 'application/json' } })
      .then((response) => this.answered(response), () => this.fail('the server cannot be reached'))
      .then(() => {
        this.saving = false;
        // A change made while this save was in flight is saved now. A failed save is not retried in a loop:
        // the document stays dirty and the next change (or leaving the page) sends it again.
        if (this.again) { this.again = false; if (!this.timer) this.save(); }
      });
  }

  schedule() {
    if (!this.url) return;
    this.dirty = true;
    // "Saved" must never show while a change waits for its save; a failure stays visible until a save succeeds.
    if (!this.failed()) this.status.setSaveState('Saving…');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), SAVE_DELAY_MS);
  }

  // Saves now what waits (the design is about to be frozen).
  flush() {
    clearTimeout(this.timer);
    if (this.dirty) this.save();
  }

  // Last chance for unsaved work when the learner leaves the page.
  onLeave() {
    if (!this.dirty || !this.url) return;
    try {
      postJson(this.url, this.design(), { keepalive: true });
    } catch (e) { /* nothing more can be done while unloading */ }
  }
}
