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
  };
}

function start(svg) {
  const workspace = document.getElementById('workspace');
  const model = new DesignDocument(readJson('palette-data', []), readJson('design-data', { nodes: [], edges: [] }));
  const state = {
    selection: null,           // {kind: 'node', id} | {kind: 'edge', source, target} | null
    readOnly: svg.hasAttribute('data-readonly'),
    utilization: null,         // Map nodeId → 0..1 during a live run
    waiting: null,             // Map nodeId → requests waiting (a queue's fill)
    problemNodes: new Set(),
    connectFrom: null,         // node id while connecting with the keyboard
    dragging: null,            // pointer gesture in progress
    viewSet: false,            // the learner zoomed or panned: changes no longer refit the view
  };
  const view = new SvgView(svg, model, state);
  const status = new StatusLine(document.getElementById('save-status'));
  const inspectorEl = document.getElementById('inspector');
  const inspector = new Inspector(inspectorEl, workspace ? workspace.dataset.inspectorUrl : null);
  const paletteEl = document.getElementById('palette');
  const buttons = {
    undo: document.getElementById('undo'), redo: document.getElementById('redo'),
    remove: document.getElementById('delete'), palette: paletteEl,
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
  // Fonts can change text widths after first paint; measure once more when they are ready.
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(view.remeasure);
  if (svg.clientWidth === 0) requestAnimationFrame(view.fit);
}
