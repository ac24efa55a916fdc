/* What the editor tells the learner: the status line (an announcement beside the save state), the list of
 * problems the server found, and the inspector panel. */

const NOTE_MS = 6000;
const PROBLEMS_SHOWN = 12;

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
    item.textContent = p.message || String(p);
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

// The inspector is server-rendered (htmx loads it); the editor only asks for a part's form or empties it.
export class Inspector {
  constructor(inspectorEl, inspectorUrl) {
    this.el = inspectorEl;
    this.url = inspectorUrl;
    this.empty = inspectorEl ? inspectorEl.innerHTML : '';
  }

  reset(message) {
    if (!this.el) return;
    this.el.innerHTML = this.empty;
    const p = message ? this.el.querySelector('p') : null;
    if (p) p.textContent = message;
  }

  load(node) {
    if (!this.el || !this.url || !window.htmx) return;
    const query = new URLSearchParams({ part: node.part, node: node.id, params: JSON.stringify(node.params || {}) });
    window.htmx.ajax('GET', this.url + '?' + query, { target: '#inspector', swap: 'innerHTML' });
  }

  shows(id) { return !!this.el && !!this.el.querySelector('[data-node="' + CSS.escape(id) + '"]'); }
}
