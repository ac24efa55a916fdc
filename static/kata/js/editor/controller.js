/* The editor's operations as the learner meets them: each checks read-only, changes the document, redraws,
 * announces what happened and schedules the save. Input (input.js) and the page's API (main.js) call these. */
import { clone } from './document.js';
import { renderProblems } from './status.js';

const READ_ONLY = 'The design is read-only right now.';
const DEFAULT_BOX = { x: 0, y: 0, width: 900, height: 460 };

export function createController({ model, state, view, status, inspector, autosave, buttons, problemsEl }) {
  const ctl = {};

  function updateButtons() {
    if (buttons.undo) buttons.undo.disabled = state.readOnly || !model.canUndo();
    if (buttons.redo) buttons.redo.disabled = state.readOnly || !model.canRedo();
    if (buttons.remove) buttons.remove.disabled = state.readOnly || !state.selection;
  }

  ctl.render = function render() {
    view.render();
    updateButtons();
  };

  ctl.announce = (text) => status.announce(text);

  function pruneSelection() {
    const s = state.selection;
    if (s && s.kind === 'node' && !model.findNode(s.id)) { state.selection = null; inspector.reset(); }
    if (s && s.kind === 'edge' && !model.edges.some(view.isSelectedEdge)) { state.selection = null; inspector.reset(); }
    if (state.connectFrom && !model.findNode(state.connectFrom)) state.connectFrom = null;
  }

  function designChanged() {
    document.dispatchEvent(new CustomEvent('kata:design-changed', { detail: clone(model.doc) }));
    if (!state.readOnly) autosave.schedule();
  }

  // After any change to the document: redraw, refit when a part left the view, tell the page, save.
  ctl.changed = function changed() {
    pruneSelection();
    ctl.render();
    const box = view.viewBox();
    if (!state.dragging && (!box || model.outOfView(box))) view.fit();
    designChanged();
  };

  // Runs a document operation unless read-only; `changedIt` says whether it changed the document.
  function edit(operation) {
    if (state.readOnly) { ctl.announce(READ_ONLY); return false; }
    const changedIt = operation();
    if (changedIt) ctl.changed(); else updateButtons();
    return changedIt;
  }

  ctl.undo = function undo() {
    if (state.readOnly || !model.undo()) return;
    ctl.changed();
    ctl.announce('Undone.');
  };

  ctl.redo = function redo() {
    if (state.readOnly || !model.redo()) return;
    ctl.changed();
    ctl.announce('Redone.');
  };

  ctl.select = function select(next) {
    const previous = state.selection;
    state.selection = next;
    ctl.render();
    if (!next) {
      if (previous) inspector.reset();
      return;
    }
    if (next.kind === 'node') {
      const node = model.findNode(next.id);
      const open = previous && previous.kind === 'node' && previous.id === next.id && inspector.shows(next.id);
      if (node && !open) inspector.load(node);
    } else {
      inspector.reset('Connection ' + next.source + ' → ' + next.target + '. Press Delete to remove it.');
    }
  };

  ctl.addPart = function addPart(key, at) {
    const part = model.parts.get(key);
    if (!part) return null;
    if (state.readOnly) { ctl.announce(READ_ONLY); return null; }
    const added = model.addPart(key, at || model.freeSpot(view.viewBox() || DEFAULT_BOX));
    if (added.refusal) { ctl.announce(added.refusal); return null; }
    ctl.changed();
    ctl.announce('Added ' + part.name + '.');
    ctl.select({ kind: 'node', id: added.id });
    return added.id;
  };

  ctl.moveNode = (id, dx, dy) => edit(() => model.moveNode(id, dx, dy));

  ctl.connect = function connect(source, target) {
    const refusal = model.connectRefusal(source, target);
    if (refusal) { ctl.announce(refusal); return false; }
    if (!edit(() => model.connect(source, target).ok)) return false;
    ctl.announce('Connected ' + model.partOf(model.findNode(source)).name + ' → ' +
      model.partOf(model.findNode(target)).name + '.');
    return true;
  };

  ctl.removeSelection = function removeSelection() {
    const s = state.selection;
    if (!s) return;
    if (s.kind === 'node') {
      const node = model.findNode(s.id);
      if (node && edit(() => model.removeNode(s.id))) ctl.announce('Removed ' + model.partOf(node).name + '.');
    } else if (edit(() => model.removeEdge(s.source, s.target))) {
      ctl.announce('Removed the connection.');
    }
  };

  ctl.applyParams = function applyParams(id, params) {
    const node = model.findNode(id);
    if (!node || !params || typeof params !== 'object') return;
    if (state.readOnly) { ctl.announce('The design is read-only right now; parameters were not applied.'); return; }
    if (edit(() => model.applyParams(id, params))) ctl.announce('Applied to ' + model.partOf(node).name + '.');
  };

  // ---- gestures that span several events ---------------------------------------------------------------------
  ctl.startConnect = function startConnect(id) {
    if (state.readOnly) { ctl.announce(READ_ONLY); return; }
    state.connectFrom = id;
    ctl.render();
    ctl.announce('Connecting from ' + model.partOf(model.findNode(id)).name +
      ': Tab to the part it hands requests to and press Enter; Escape cancels.');
  };

  ctl.cancelConnect = function cancelConnect() {
    state.connectFrom = null;
    ctl.render();
    ctl.announce('Connection cancelled.');
  };

  ctl.endMove = function endMove() {
    if (model.endGesture()) ctl.changed(); else ctl.render();
  };

  // ---- the page's API ----------------------------------------------------------------------------------------
  ctl.setDesign = function setDesign(next) {
    if (!model.replace(next)) { view.fit(); return; }
    state.connectFrom = null;
    pruneSelection();
    ctl.render();
    view.fit();
    designChanged();
  };

  ctl.setReadOnly = function setReadOnly(value) {
    state.readOnly = !!value;
    if (state.readOnly) {
      view.svg.setAttribute('data-readonly', '');
      state.connectFrom = null;
      autosave.flush();
    } else {
      view.svg.removeAttribute('data-readonly');
    }
    view.svg.classList.toggle('is-readonly', state.readOnly);
    if (buttons.palette) {
      buttons.palette.querySelectorAll('.palette-item').forEach((item) => {
        item.disabled = state.readOnly;
        item.draggable = !state.readOnly;
      });
    }
    ctl.render();
  };

  // The server's answer to a save: its problems are listed and their parts marked.
  ctl.showProblems = function showProblems(problems) {
    state.problemNodes = renderProblems(problemsEl, problems);
    ctl.render();
  };

  return ctl;
}
