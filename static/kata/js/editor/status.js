/* What the editor tells the learner: the status line (an announcement beside the save state), the list of
 * problems the server found, and the inspector panel. */

const NOTE_MS = 6000;
const PROBLEMS_SHOWN = 12;

// #save-status holds the last announcement and the save state side by side, so an announcement never hides
// a "Not saved" warning.
export function createStatus(statusEl) {
  let note = '';
  let saveState = '';
  let noteTimer = null;
  let noteEl = null, saveEl = null;
  if (statusEl) {
    statusEl.textContent = '';
    noteEl = document.createElement('span');
    noteEl.className = 'ws-status__note';
    saveEl = document.createElement('span');
    saveEl.className = 'ws-status__save';
    statusEl.appendChild(noteEl);
    statusEl.appendChild(saveEl);
  }

  function show() {
    if (!statusEl) return;
    noteEl.textContent = note;
    saveEl.textContent = saveState;
    statusEl.classList.toggle('ws-status--bad', saveState.indexOf('Not saved') === 0);
  }

  return {
    announce(text) {
      note = text;
      show();
      clearTimeout(noteTimer);
      noteTimer = setTimeout(() => { note = ''; show(); }, NOTE_MS);
    },
    setSaveState(text) { saveState = text; show(); },
    saveState() { return saveState; },
  };
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
export function createInspector(inspectorEl, inspectorUrl) {
  const empty = inspectorEl ? inspectorEl.innerHTML : '';
  return {
    el: inspectorEl,
    reset(message) {
      if (!inspectorEl) return;
      inspectorEl.innerHTML = empty;
      if (message) {
        const p = inspectorEl.querySelector('p');
        if (p) p.textContent = message;
      }
    },
    load(node) {
      if (!inspectorEl || !inspectorUrl || !window.htmx) return;
      const query = new URLSearchParams({ part: node.part, node: node.id, params: JSON.stringify(node.params || {}) });
      window.htmx.ajax('GET', inspectorUrl + '?' + query, { target: '#inspector', swap: 'innerHTML' });
    },
    shows(id) {
      return !!inspectorEl && !!inspectorEl.querySelector('[data-node="' + CSS.escape(id) + '"]');
    },
  };
}
