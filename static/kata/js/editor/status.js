/* What the editor tells the learner: the status line (an announcement beside the save state), the list of
 * problems the server found, and the inspector panel. */

const NOTE_MS = 6000;
const PROBLEMS_SHOWN = 12;
const TOAST_MS = 10000;

// #save-status holds the last announcement and the save state side by side, so an announcement never hides
// a "Not saved" warning.
export class StatusLine {
  constructor(statusEl) {
    this.statusEl = statusEl;
    this.note = '';
    this.save = '';
    this.noteTimer = null;
    if (!statusEl) return;
    statusEl.textContent = '';
    this.noteEl = document.createElement('span');
    this.noteEl.className = 'ws-status__note';
    this.saveEl = document.createElement('span');
    this.saveEl.className = 'ws-status__save';
    statusEl.appendChild(this.noteEl);
    statusEl.appendChild(this.saveEl);
  }

  show() {
    if (!this.statusEl) return;
    this.noteEl.textContent = this.note;
    this.saveEl.textContent = this.save;
    this.statusEl.classList.toggle('ws-status--bad', this.save.indexOf('Not saved') === 0);
  }

  announce(text) {
    this.note = text;
    this.show();
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => { this.note = ''; this.show(); }, NOTE_MS);
  }

  setSaveState(text) { this.save = text; this.show(); }

  saveState() { return this.save; }
}

// Lists the server's problems under the canvas; answers the ids of the parts they name, to be marked.
export function renderProblems(problemsEl, problems) {
  const marked = new Set();
  if (!problemsEl) return marked;
  problemsEl.textContent = '';
  if (!problems || !problems.length) return marked;
  problems.forEach((p) => { if (p && p.node) marked.add(p.node); });
  const heading = document.createElement('p');
  heading.className = 'ws-problems__title';
  heading.textContent = problems.length === 1 ? '1 thing to fix before a run:' : problems.length + ' things to fix before a run:';
  const list = document.createElement('ul');
  problems.slice(0, PROBLEMS_SHOWN).forEach((p) => {
    const item = document.createElement('li');
    item.textContent = p.text || p.message || String(p);
    if (p.node) item.dataset.node = p.node;
    list.appendChild(item);
  });
  if (problems.length > PROBLEMS_SHOWN) {
    const more = document.createElement('li');
    more.textContent = '… and ' + (problems.length - PROBLEMS_SHOWN) + ' more';
    list.appendChild(more);
  }
  problemsEl.appendChild(heading);
  problemsEl.appendChild(list);
  return marked;
}

// A short notice over the canvas, where the learner is looking, with one action (Undo after a deletion).
export class Toast {
  constructor(el) {
    this.el = el;
    this.timer = null;
    if (!el) return;
    this.text = el.querySelector('.ws-toast__text');
    this.button = el.querySelector('.ws-toast__action');
    this.button.addEventListener('click', () => {
      const action = this.action;
      this.hide();
      if (action) action();
    });
  }

  show(text, action) {
    if (!this.el) return;
    this.text.textContent = text;
    this.action = action;
    this.button.hidden = !action;
    this.el.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), TOAST_MS);
  }

  hide() {
    if (!this.el) return;
    clearTimeout(this.timer);
    this.action = null;
    this.el.hidden = true;
  }
}

// The inspector is server-rendered (htmx loads it); the editor asks for a part's form, empties it, and locks it
// while the design is read-only (the form's fields disabled, with the reason said in the panel).
export class Inspector {
  constructor(inspectorEl, inspectorUrl) {
    this.el = inspectorEl;
    this.url = inspectorUrl;
    this.empty = inspectorEl ? inspectorEl.innerHTML : '';
    this.loaded = null;        // {id, params}: what the last form was asked for (JSON of the node's parameters)
    this.lockReason = null;
    if (!inspectorEl) return;
    inspectorEl.addEventListener('htmx:afterSwap', () => this.applyLock());
    // A form that arrives after its part was deselected or deleted (a quick Delete after a click) is dropped.
    inspectorEl.addEventListener('htmx:beforeSwap', (event) => {
      const match = /data-node="([^"]*)"/.exec((event.detail && event.detail.serverResponse) || '');
      if (match && (!this.loaded || this.loaded.id !== match[1])) event.detail.shouldSwap = false;
    });
  }

  reset(message) {
    if (!this.el) return;
    this.loaded = null;
    this.el.innerHTML = this.empty;
    const p = message ? this.el.querySelector('p') : null;
    if (p) p.textContent = message;
  }

  load(node) {
    if (!this.el || !this.url || !window.htmx) return;
    this.loaded = { id: node.id, params: JSON.stringify(node.params || {}) };
    const query = new URLSearchParams({ part: node.part, node: node.id, params: JSON.stringify(node.params || {}) });
    // After a run, the part's own figures come with its panel while the part is as it was in that run.
    const run = window.KataRun && window.KataRun.figuresRun(node.id);
    if (run) query.set('run', String(run));
    window.htmx.ajax('GET', this.url + '?' + query, { target: '#inspector', swap: 'innerHTML' });
  }

  shows(id) { return !!this.el && !!this.el.querySelector('[data-node="' + CSS.escape(id) + '"]'); }

  // Whether the panel shows (or is loading) this node with these parameters.
  showsParams(node) {
    return !!this.loaded && this.loaded.id === node.id && this.loaded.params === JSON.stringify(node.params || {});
  }

  // The server accepted this node's form and the document now has its values: the panel shows them already.
  accepted(node) {
    if (this.loaded && this.loaded.id === node.id) this.loaded.params = JSON.stringify(node.params || {});
  }

  lock(reason) {
    this.lockReason = reason;
    this.applyLock();
  }

  applyLock() {
    if (!this.el) return;
    const form = this.el.querySelector('form');
    const note = this.el.querySelector('.inspector__locked');
    if (form) {
      form.querySelectorAll('input, select, textarea, button').forEach((field) => {
        if (field.type !== 'hidden') field.disabled = !!this.lockReason;
      });
      form.setAttribute('aria-disabled', this.lockReason ? 'true' : 'false');
      const applied = form.querySelector('.ok');
      if (applied && this.lockReason) applied.remove();
    }
    if (this.lockReason && form && !note) {
      const p = document.createElement('p');
      p.className = 'inspector__locked';
      p.setAttribute('role', 'note');
      p.dataset.testid = 'inspector-locked';
      p.textContent = this.lockReason;
      form.parentNode.insertBefore(p, form);
    } else if (note && !this.lockReason) {
      note.remove();
    } else if (note) {
      note.textContent = this.lockReason;
    }
  }
}
