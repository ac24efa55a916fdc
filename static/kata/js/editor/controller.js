/* The editor's operations as the learner meets them: each checks read-only, changes the document, redraws,
 * announces what happened and schedules the save. Input (input.js) and the page's API (main.js) call these. */
import { clone } from './document.js';
import { renderProblems } from './status.js';

const READ_ONLY = 'The design is read-only right now.';
const LOCKED = 'A run is going: the design is frozen until it ends, so parameters cannot change now.';
const DEFAULT_BOX = { x: 0, y: 0, width: 900, height: 460 };
// Handed to event listeners and to window.KataEditor as they are, so bound to the editor once.
const BOUND = ['undo', 'redo', 'removeSelection', 'setDesign', 'setReadOnly', 'duplicateSelection'];

/* `parts`: {model, state, view, status, inspector, autosave, toast, buttons, problemsEl}; the autosave may come
 * later (it reports back to the editor). */
export class Editor {
  constructor(parts) {
    Object.assign(this, parts);
    BOUND.forEach((name) => { this[name] = this[name].bind(this); });
  }

  updateButtons() {
    const { buttons, state, model } = this;
    if (buttons.undo) buttons.undo.disabled = state.readOnly || !model.canUndo();
    if (buttons.redo) buttons.redo.disabled = state.readOnly || !model.canRedo();
    if (buttons.remove) buttons.remove.disabled = state.readOnly || !state.selection;
    if (buttons.duplicate) buttons.duplicate.disabled = state.readOnly || !this.selectedIds().length;
  }

  // ---- several parts: the selection's parts, shift-click, duplicate, copy and paste -------------------------
  // The parts selected: every one of a multi-selection, or the one selected part.
  selectedIds() {
    const s = this.state.selection;
    if (this.state.multi.size > 1) return this.model.nodes.map((n) => n.id).filter((id) => this.state.multi.has(id));
    return s && s.kind === 'node' && this.model.findNode(s.id) ? [s.id] : [];
  }

  // Shift-click: adds a part to the selection, or takes it out.
  toggleSelect(id) {
    if (!this.model.findNode(id)) return;
    const multi = this.state.multi;
    const s = this.state.selection;
    if (!multi.size && s && s.kind === 'node') multi.add(s.id);
    if (multi.has(id)) multi.delete(id); else multi.add(id);
    const rest = this.model.nodes.map((n) => n.id).filter((n) => multi.has(n));
    if (rest.length <= 1) {
      multi.clear();
      this.select(rest.length ? { kind: 'node', id: rest[0] } : null);
      return;
    }
    this.state.selection = { kind: 'node', id };
    this.render();
    this.showMulti();
  }

  selectAll() {
    const ids = this.model.nodes.map((n) => n.id);
    if (ids.length < 2) { if (ids.length) this.select({ kind: 'node', id: ids[0] }); return; }
    this.state.multi = new Set(ids);
    this.state.selection = { kind: 'node', id: ids[0] };
    this.render();
    this.showMulti();
  }

  showMulti() {
    const n = this.state.multi.size;
    this.inspector.reset(n + ' parts selected. Delete removes them, Ctrl+D duplicates them, Ctrl+C copies them; ' +
      'drag one to move them all; Escape selects none.');
    this.announce(n + ' parts selected.');
  }

  selectMany(ids) {
    if (ids.length === 1) { this.state.multi.clear(); this.select({ kind: 'node', id: ids[0] }); return; }
    this.state.multi = new Set(ids);
    this.state.selection = ids.length ? { kind: 'node', id: ids[ids.length - 1] } : null;
    this.render();
    if (ids.length) this.showMulti();
  }

  pasted(result, verb) {
    if (result.ids.length) {
      this.changed();
      this.selectMany(result.ids);
      const n = result.ids.length;
      this.announce((verb + ' ' + (n === 1 ? '1 part' : n + ' parts') + '.') +
        (result.refused.length ? ' ' + result.refused[0] : ''));
    } else if (result.refused.length) {
      this.announce(result.refused[0]);
    }
  }

  duplicateSelection() {
    const ids = this.selectedIds();
    if (!ids.length) return;
    if (this.state.readOnly) { this.announce(READ_ONLY); return; }
    this.pasted(this.model.duplicate(ids), 'Duplicated');
  }

  copySelection() {
    const ids = this.selectedIds();
    if (!ids.length) return;
    this.clipboard = this.model.copy(ids);
    this.pastes = 0;
    this.announce('Copied ' + (ids.length === 1 ? '1 part' : ids.length + ' parts') + '; Ctrl+V pastes them.');
  }

  paste() {
    if (!this.clipboard) { this.announce('Nothing copied yet: select parts and press Ctrl+C.'); return; }
    if (this.state.readOnly) { this.announce(READ_ONLY); return; }
    this.pastes = (this.pastes || 0) + 1;
    this.pasted(this.model.paste(this.clipboard, { dx: 40 * this.pastes, dy: 40 * this.pastes }), 'Pasted');
  }

  render() {
    this.view.render();
    this.updateButtons();
  }

  announce(text) { this.status.announce(text); }

  pruneSelection() {
    const { state, model, inspector } = this;
    state.multi.forEach((id) => { if (!model.findNode(id)) state.multi.delete(id); });
    if (state.multi.size === 1) state.multi.clear();
    const s = state.selection;
    if (s && s.kind === 'node' && !model.findNode(s.id)) { state.selection = null; inspector.reset(); }
    if (s && s.kind === 'edge' && !model.edges.some(this.view.isSelectedEdge)) { state.selection = null; inspector.reset(); }
    if (state.connectFrom && !model.findNode(state.connectFrom)) state.connectFrom = null;
  }

  designChanged() {
    document.dispatchEvent(new CustomEvent('kata:design-changed', { detail: clone(this.model.doc) }));
    if (!this.state.readOnly) this.autosave.schedule();
  }

  // The inspector shows the selected part's parameters as the document has them: after an undo, a redo or a
  // replaced design it is loaded again (a form that already shows them is left alone, half-typed input included).
  syncInspector() {
    const s = this.state.selection;
    if (this.inspectorAnswered || !s || s.kind !== 'node') return;
    const node = this.model.findNode(s.id);
    if (node && !this.inspector.showsParams(node)) this.inspector.load(node);
  }

  // After any change to the document: redraw, refit when a part left the view, tell the page, save.
  changed() {
    if (this.toast) this.toast.hide();  // its Undo would now undo this change instead
    this.pruneSelection();
    this.syncInspector();
    this.render();
    // Refit when a part left the view, until the learner has zoomed or panned the view themselves.
    const box = this.view.viewBox();
    if (!this.state.dragging && !this.state.viewSet && (!box || this.model.outOfView(box))) this.refit();
    this.designChanged();
  }

  // Runs a document operation unless read-only; the operation answers whether it changed the document.
  edit(operation) {
    if (this.state.readOnly) { this.announce(READ_ONLY); return false; }
    const changedIt = operation();
    if (changedIt) this.changed(); else this.updateButtons();
    return changedIt;
  }

  undo() {
    if (this.state.readOnly || !this.model.undo()) return;
    this.changed();
    this.announce('Undone.');
  }

  redo() {
    if (this.state.readOnly || !this.model.redo()) return;
    this.changed();
    this.announce('Redone.');
  }

  select(next) {
    const previous = this.state.selection;
    const wasMulti = this.state.multi.size > 1;
    this.state.multi.clear();
    this.state.selection = next;
    this.render();
    if (!next) {
      if (previous || wasMulti) this.inspector.reset();
      return;
    }
    if (next.kind === 'node') {
      const node = this.model.findNode(next.id);
      const open = !wasMulti && previous && previous.kind === 'node' && previous.id === next.id &&
        this.inspector.shows(next.id);
      if (node && !open) this.inspector.load(node);
    } else {
      this.inspector.reset('Connection ' + next.source + ' → ' + next.target + '. Press Delete to remove it.');
    }
  }

  addPart(key, at) {
    const part = this.model.parts.get(key);
    if (!part) return null;
    if (this.state.readOnly) { this.announce(READ_ONLY); return null; }
    const added = this.model.addPart(key, at || this.model.freeSpot(this.view.viewBox() || DEFAULT_BOX));
    if (added.refusal) { this.announce(added.refusal); return null; }
    this.changed();
    this.announce('Added ' + part.name + '.');
    this.select({ kind: 'node', id: added.id });
    return added.id;
  }

  moveNode(id, dx, dy) { return this.edit(() => this.model.moveNode(id, dx, dy)); }

  connect(source, target) {
    const model = this.model;
    const refusal = model.connectRefusal(source, target);
    if (refusal) { this.announce(refusal); return false; }
    if (!this.edit(() => model.connect(source, target).ok)) return false;
    this.announce('Connected ' + model.partOf(model.findNode(source)).name + ' → ' +
      model.partOf(model.findNode(target)).name + '.');
    return true;
  }

  // A deletion (or a design replaced) is said where the learner is looking (a toast on the canvas, with Undo) and
  // in the status line.
  offerUndo(text) {
    this.announce(text);
    if (this.toast) this.toast.show(text, () => { this.undo(); this.view.svg.focus({ preventScroll: true }); });
  }

  removed(text) { this.offerUndo(text); }

  importRefused(text) {
    this.announce(text);
    if (this.toast) this.toast.show(text, null);
  }

  removeSelection() {
    const s = this.state.selection, model = this.model;
    if (!s) return;
    const many = this.selectedIds();
    if (many.length > 1) {
      if (this.edit(() => model.removeNodes(many))) this.removed('Removed ' + many.length + ' parts and their connections.');
      return;
    }
    if (s.kind === 'node') {
      const node = model.findNode(s.id);
      const links = model.edges.filter((e) => e.source === s.id || e.target === s.id).length;
      if (node && this.edit(() => model.removeNode(s.id))) {
        this.removed('Removed ' + model.partOf(node).name +
          (links ? ' and its ' + (links === 1 ? 'connection' : links + ' connections') : '') + '.');
      }
    } else if (this.edit(() => model.removeEdge(s.source, s.target))) {
      const a = model.findNode(s.source), b = model.findNode(s.target);
      this.removed(a && b ? 'Removed the connection ' + model.partOf(a).name + ' → ' + model.partOf(b).name + '.'
        : 'Removed the connection.');
    }
  }

  applyParams(id, params) {
    const node = this.model.findNode(id);
    if (!node || !params || typeof params !== 'object') return;
    if (this.state.readOnly) { this.announce('The design is read-only right now; parameters were not applied.'); return; }
    // The inspector already shows what the server accepted: it is not loaded again for this change.
    this.inspectorAnswered = true;
    let applied;
    try {
      applied = this.edit(() => this.model.applyParams(id, params));
    } finally {
      this.inspectorAnswered = false;
    }
    const now = this.model.findNode(id);
    if (now) this.inspector.accepted(now);
    if (applied) this.announce('Applied to ' + this.model.partOf(node).name + '.');
  }

  // ---- gestures that span several events ---------------------------------------------------------------------
  startConnect(id) {
    if (this.state.readOnly) { this.announce(READ_ONLY); return; }
    this.state.connectFrom = id;
    this.render();
    this.announce('Connecting from ' + this.model.partOf(this.model.findNode(id)).name +
      ': Tab to the part it hands requests to and press Enter; Escape cancels.');
  }

  cancelConnect() {
    this.state.connectFrom = null;
    this.render();
    this.announce('Connection cancelled.');
  }

  endMove() {
    if (this.model.endGesture()) this.changed(); else this.render();
  }

  // ---- the view: zoom, pan, fit ------------------------------------------------------------------------------
  zoom(factor, clientX, clientY) { this.state.viewSet = true; this.state.fitAll = false; this.view.zoom(factor, clientX, clientY); }

  pan(dx, dy) { this.state.viewSet = true; this.state.fitAll = false; this.view.pan(dx, dy); }

  // Fit shows the whole design, and keeps doing so on later refits (a resize, a part out of view) until the learner
  // zooms or pans again.
  fitAll() { this.state.viewSet = false; this.state.fitAll = true; this.view.fit(true); }

  refit() { this.view.fit(this.state.fitAll); }

  // ---- the page's API and the server's answers ---------------------------------------------------------------
  setDesign(next) {
    // A design handed over whole (imported, reopened) is shown whole.
    this.state.viewSet = false;
    if (!this.model.replace(next)) { this.view.fit(true); return; }
    this.state.connectFrom = null;
    this.pruneSelection();
    this.render();
    this.view.fit(true);
    this.designChanged();
  }

  // `reason` is what the inspector says while its form is locked (a run is going, by default).
  setReadOnly(value, reason) {
    const state = this.state, svg = this.view.svg;
    state.readOnly = !!value;
    if (state.readOnly) {
      svg.setAttribute('data-readonly', '');
      state.connectFrom = null;
      this.autosave.flush();
      if (this.toast) this.toast.hide();
      this.inspector.lock(reason || LOCKED);
    } else {
      svg.removeAttribute('data-readonly');
      this.inspector.lock(null);
    }
    svg.classList.toggle('is-readonly', state.readOnly);
    if (this.buttons.palette) {
      this.buttons.palette.querySelectorAll('.palette-item').forEach((item) => {
        item.disabled = state.readOnly;
        item.draggable = !state.readOnly;
      });
    }
    this.render();
  }

  // The server's answer to a save: its problems are listed and their parts marked.
  showProblems(problems) {
    this.state.problemNodes = renderProblems(this.problemsEl, problems);
    this.render();
  }
}
