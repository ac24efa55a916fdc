/* Kata diagram editor: an SVG canvas for the learner's design document. Vanilla JS modules, no build step, no
 * library; htmx (already on the page) loads the inspector.
 *
 * document.js holds the design and its undo; view.js draws it; input.js takes the learner's pointer and keys;
 * controller.js turns both into edits; autosave.js saves them; status.js speaks to the learner. The page's API
 * is window.KataEditor (below).
 */
import { Autosave } from './autosave.js';
import { Editor } from './controller.js';
import { DesignDocument } from './document.js';
import { DesignFiles } from './files.js';
import { bindInput } from './input.js';
import { Inspector, StatusLine, Toast } from './status.js';
import { SvgView } from './view.js';

function readJson(id, fallback) {
  const el = document.getElementById(id);
  if (!el) return fallback;
  try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
}

function publish(model, state, ctl) {
  window.KataEditor = {
    getDesign: () => model.toJSON(),
    // Replaces the design (undoable) and saves it unless read-only; the view box refits.
    setDesign: ctl.setDesign,
    selectNode(id) {
      if (id === null || id === undefined) { ctl.select(null); return true; }
      if (!model.findNode(id)) return false;
      ctl.select({ kind: 'node', id });
      return true;
    },
    // `map`: busy share per part (0..1); `waiting`: requests waiting per part (a queue's badge says how full it is).
    setUtilization(map, waiting) {
      // Own keys only, read without assignment: a '__proto__' key stays a key.
      state.utilization = map && typeof map === 'object' ? new Map(Object.entries(map)) : null;
      state.waiting = waiting && typeof waiting === 'object' ? new Map(Object.entries(waiting)) : null;
      ctl.render();
    },
    clearUtilization() { state.utilization = null; state.waiting = null; ctl.render(); },
    setReadOnly: ctl.setReadOnly,
    isReadOnly: () => state.readOnly,
    undo: ctl.undo,
    redo: ctl.redo,
    // Loads the selected part's panel again (a run finished: its figures are there now).
    reloadInspector() {
      const s = state.selection;
      const node = s && s.kind === 'node' ? model.findNode(s.id) : null;
      if (node) ctl.inspector.load(node);
    },
  };
}

// The Design menu: export as JSON, SVG or PNG; import a JSON file. The menu closes after a choice.
function bindFiles(files) {
  const menu = document.getElementById('design-menu');
  if (!menu) return;
  const close = () => { menu.open = false; };
  const on = (id, action) => {
    const el = document.getElementById(id);
    if (el) el.addEventListener('click', () => { close(); action(); });
  };
  on('export-json', () => files.exportJson());
  on('export-svg', () => files.exportSvg());
  on('export-png', () => files.exportPng());
  const input = document.getElementById('import-file');
  on('import-json', () => input.click());
  input.addEventListener('change', () => {
    const file = input.files && input.files[0];
    files.importFile(file).then(() => { input.value = ''; });
  });
  window.KataFiles = files;
}

// "Open in workspace" from an attempt: its design goes on the canvas as one undoable step over the draft.
function openAttempt(ctl) {
  const opened = readJson('opened-data', null);
  if (!opened || !opened.design) return;
  ctl.setDesign(opened.design);
  ctl.offerUndo('Opened attempt #' + opened.attempt + ' on the canvas. Undo brings back the draft you had.');
  const url = new URL(window.location.href);
  url.searchParams.delete('from');
  window.history.replaceState(null, '', url.pathname + url.search + url.hash);
}

function start(svg) {
  const workspace = document.getElementById('workspace');
  const model = new DesignDocument(readJson('palette-data', []), readJson('design-data', { nodes: [], edges: [] }));
  const state = {
    selection: null,           // {kind: 'node', id} | {kind: 'edge', source, target} | null
    multi: new Set(),          // the parts of a multi-selection (two or more), empty otherwise
    readOnly: svg.hasAttribute('data-readonly'),
    utilization: null,         // Map nodeId → 0..1 during a live run
    waiting: null,             // Map nodeId → requests waiting (a queue's fill)
    problemNodes: new Set(),
    connectFrom: null,         // node id while connecting with the keyboard
    dragging: null,            // pointer gesture in progress
    viewSet: false,            // the learner zoomed or panned: changes no longer refit the view
    fitAll: false,             // the learner asked for Fit: refits show the whole design, small text or not
  };
  const view = new SvgView(svg, model, state);
  const status = new StatusLine(document.getElementById('save-status'));
  const inspectorEl = document.getElementById('inspector');
  const inspector = new Inspector(inspectorEl, workspace ? workspace.dataset.inspectorUrl : null);
  const paletteEl = document.getElementById('palette');
  const buttons = {
    undo: document.getElementById('undo'), redo: document.getElementById('redo'),
    remove: document.getElementById('delete'), duplicate: document.getElementById('duplicate'), palette: paletteEl,
    zoomIn: document.getElementById('zoom-in'), zoomOut: document.getElementById('zoom-out'),
    fit: document.getElementById('zoom-fit'),
  };
  const ctl = new Editor({
    model, state, view, status, inspector, buttons, problemsEl: document.getElementById('problems'),
    toast: new Toast(document.getElementById('canvas-toast')),
  });
  const autosave = new Autosave({
    url: workspace ? workspace.dataset.draftUrl : null, design: () => model.doc, status,
    onSaved: (data) => ctl.showProblems(data.problems || []),
  });
  ctl.autosave = autosave;
  window.addEventListener('pagehide', () => { if (!state.readOnly) autosave.onLeave(); });
  bindInput({ svg, paletteEl, toolbarEl: document.getElementById('toolbar'), buttons, model, state, view, ctl });
  bindFiles(new DesignFiles({
    svg, model, ctl, kata: workspace ? workspace.dataset.kata : null,
    importUrl: workspace ? workspace.dataset.importUrl : null,
  }));
  publish(model, state, ctl);
  return { view, ctl, state };
}

// The workspace has #workspace around the canvas; a saved attempt's page has only a read-only #canvas.
const svg = document.getElementById('canvas');
if (svg && document.getElementById('design-data')) {
  const { view, ctl, state } = start(svg);
  ctl.setReadOnly(state.readOnly);
  ctl.render();
  view.fit();
  if (!state.readOnly) openAttempt(ctl);
  // Fonts can change text widths after first paint; measure once more when they are ready.
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(view.remeasure);
  if (svg.clientWidth === 0) requestAnimationFrame(view.fit);
}
