/* The learner's hands on the canvas: pointer drags (move, connect), the palette (drag and drop, click, keys),
 * the keyboard on parts and connections, the toolbar, and the inspector's htmx events. */
import { NODE_H, NODE_W } from './document.js';

const DRAG_SLOP = 3;
const PART_MIME = 'text/x-kata-part';
const RESIZE_MS = 150;

function isFormField(target) {
  if (!target || !target.closest) return false;
  return !!target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
}

function edgeOf(group) { return { kind: 'edge', source: group.dataset.source, target: group.dataset.target }; }

// ---- pointer gestures ------------------------------------------------------------------------------------------
// One gesture at a time (state.dragging): moving a part, connecting from its output port, or a click on the canvas.
class PointerGestures {
  constructor({ svg, model, state, view, ctl }) {
    Object.assign(this, { svg, model, state, view, ctl });
    svg.addEventListener('pointerdown', (event) => this.down(event));
    svg.addEventListener('pointermove', (event) => this.move(event));
    svg.addEventListener('pointerup', (event) => { this.end(event, false); });
    svg.addEventListener('pointercancel', (event) => { this.end(event, true); });
  }

  down(event) {
    if (event.button !== 0 || this.state.dragging) return;
    const port = event.target.closest('.port--out');
    let edgeGroup = event.target.closest('.edge-group');
    let g = event.target.closest('.node');
    // A part under a connection's hit area is the part: connections are the thinner target.
    const under = edgeGroup ? this.view.nodeAt(event.clientX, event.clientY) : null;
    if (under && this.view.nodeEls.has(under)) { g = this.view.nodeEls.get(under); edgeGroup = null; }
    const point = this.view.toSvgPoint(event.clientX, event.clientY);
    if (port && g && !this.state.readOnly) this.startConnect(event, g, port, point);
    else if (g) this.startMove(event, g, point);
    else if (edgeGroup) {
      // Edges are drawn again on selection: focus stays on the canvas, where Delete then removes this one.
      this.ctl.select(edgeOf(edgeGroup));
      event.preventDefault();
      this.svg.focus({ preventScroll: true });
    }
    else {
      // The background: a click deselects, a drag pans the view.
      this.state.dragging = { kind: 'background', pointerId: event.pointerId, last: [event.clientX, event.clientY],
        start: [event.clientX, event.clientY], moved: false };
      this.svg.setPointerCapture(event.pointerId);
    }
  }

  startConnect(event, g, port, point) {
    event.preventDefault();
    const from = this.model.findNode(g.dataset.nodeId);
    if (!from) return;
    this.state.dragging = { kind: 'connect', source: from.id, pointerId: event.pointerId, captured: port, over: null };
    port.setPointerCapture(event.pointerId);
    this.view.showTempLine(from, point);
    this.svg.classList.add('is-connecting');
  }

  startMove(event, g, point) {
    const node = this.model.findNode(g.dataset.nodeId);
    if (!node) return;
    // Dragging a part of a multi-selection moves them all.
    const group = this.state.multi.has(node.id) ? this.ctl.selectedIds() : [node.id];
    this.state.dragging = {
      kind: 'move', id: node.id, pointerId: event.pointerId, captured: g, start: point,
      origin: { x: node.x, y: node.y }, moved: false, shift: event.shiftKey,
      group: group.map((id) => { const n = this.model.findNode(id); return { id, x: n.x, y: n.y }; }),
    };
    g.setPointerCapture(event.pointerId);
  }

  move(event) {
    const gesture = this.state.dragging;
    if (!gesture || event.pointerId !== gesture.pointerId) return;
    const point = this.view.toSvgPoint(event.clientX, event.clientY);
    if (gesture.kind === 'move') this.dragMove(gesture, point);
    else if (gesture.kind === 'connect') this.dragConnect(gesture, point, event);
    else if (gesture.kind === 'background') this.dragPan(gesture, event);
  }

  dragPan(gesture, event) {
    if (!gesture.moved && Math.hypot(event.clientX - gesture.start[0], event.clientY - gesture.start[1]) < DRAG_SLOP) return;
    gesture.moved = true;
    this.svg.classList.add('is-panning');
    this.ctl.pan(event.clientX - gesture.last[0], event.clientY - gesture.last[1]);
    gesture.last = [event.clientX, event.clientY];
  }

  dragMove(gesture, point) {
    const dx = point.x - gesture.start.x, dy = point.y - gesture.start.y;
    if (!gesture.moved && Math.hypot(dx, dy) < DRAG_SLOP) return;
    if (this.state.readOnly || !this.model.findNode(gesture.id)) return;
    if (!gesture.moved) {
      gesture.moved = true;
      this.model.beginGesture();
      gesture.captured.classList.add('node--dragging');
    }
    gesture.group.forEach((o) => {
      const node = this.model.placeNode(o.id, o.x + dx, o.y + dy);
      if (node) this.view.moveNodeElement(node);
    });
  }

  markDropTarget(gesture, id, on) {
    if (!id || !this.view.nodeEls.has(id)) return;
    const classes = this.view.nodeEls.get(id).classList;
    if (!on) classes.remove('node--drop-target', 'node--drop-refused');
    else classes.add(this.model.connectRefusal(gesture.source, id) ? 'node--drop-refused' : 'node--drop-target');
  }

  dragConnect(gesture, point, event) {
    const from = this.model.findNode(gesture.source);
    if (!from) return;
    this.view.showTempLine(from, point);
    const over = this.view.nodeAt(event.clientX, event.clientY);
    const overId = over && over !== gesture.source ? over : null;
    if (overId === gesture.over) return;
    this.markDropTarget(gesture, gesture.over, false);
    gesture.over = overId;
    this.markDropTarget(gesture, overId, true);
  }

  endConnect(gesture, event, cancelled) {
    this.view.hideTempLine();
    this.svg.classList.remove('is-connecting');
    this.markDropTarget(gesture, gesture.over, false);
    const target = cancelled ? null : this.view.nodeAt(event.clientX, event.clientY);
    if (target && target !== gesture.source) this.ctl.connect(gesture.source, target);
    else if (target === gesture.source) this.ctl.announce('A part cannot connect to itself.');
  }

  end(event, cancelled) {
    const gesture = this.state.dragging;
    if (!gesture || event.pointerId !== gesture.pointerId) return;
    this.state.dragging = null;
    const captured = gesture.captured;
    if (captured && captured.hasPointerCapture && captured.hasPointerCapture(event.pointerId)) {
      captured.releasePointerCapture(event.pointerId);
    }
    if (gesture.kind === 'move') {
      captured.classList.remove('node--dragging');
      if (gesture.moved) this.ctl.endMove();
      else if (!cancelled && gesture.shift) this.ctl.toggleSelect(gesture.id);
      else if (!cancelled) this.ctl.select({ kind: 'node', id: gesture.id });
    } else if (gesture.kind === 'connect') {
      this.endConnect(gesture, event, cancelled);
    } else if (gesture.kind === 'background') {
      this.svg.classList.remove('is-panning');
      if (this.svg.hasPointerCapture(event.pointerId)) this.svg.releasePointerCapture(event.pointerId);
      if (!cancelled && !gesture.moved) this.ctl.select(null);
    }
  }
}

// ---- palette: HTML5 drag and drop, click and keyboard -----------------------------------------------------------
function bindPalette({ svg, paletteEl, state, view, ctl }) {
  if (paletteEl) {
    paletteEl.addEventListener('dragstart', (event) => {
      const item = event.target.closest && event.target.closest('.palette-item');
      if (state.readOnly) { event.preventDefault(); return; }
      if (!item) return;
      event.dataTransfer.setData(PART_MIME, item.dataset.part);
      event.dataTransfer.setData('text/plain', item.dataset.part);
      event.dataTransfer.effectAllowed = 'copy';
    });
    paletteEl.addEventListener('click', (event) => {
      const item = event.target.closest('.palette-item');
      if (!item) return;
      const id = ctl.addPart(item.dataset.part, null);
      // A click from the keyboard (detail 0) hands focus to the new part, so arrows and Delete work next.
      if (id && event.detail === 0 && view.nodeEls.has(id)) view.nodeEls.get(id).focus();
    });
  }
  svg.addEventListener('dragover', (event) => {
    if (state.readOnly || !event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, PART_MIME) < 0) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    svg.classList.add('is-drop-target');
  });
  svg.addEventListener('dragleave', (event) => {
    if (event.target === svg) svg.classList.remove('is-drop-target');
  });
  svg.addEventListener('drop', (event) => {
    svg.classList.remove('is-drop-target');
    const key = event.dataTransfer && event.dataTransfer.getData(PART_MIME);
    if (!key) return;
    event.preventDefault();
    const point = view.toSvgPoint(event.clientX, event.clientY);
    ctl.addPart(key, { x: point.x - NODE_W / 2, y: point.y - NODE_H / 2 });
  });
}

// ---- keyboard on the canvas ------------------------------------------------------------------------------------
function arrowMove(event) {
  const step = event.shiftKey ? 50 : 10;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  return moves[event.key] || null;
}

// Enter or Space on a part: finish a keyboard connection onto it, cancel one from it, or select it.
function enterOnNode(id, { state, ctl }) {
  if (state.connectFrom && state.connectFrom !== id) {
    const source = state.connectFrom;
    state.connectFrom = null;
    ctl.connect(source, id);
    ctl.render();
  } else if (state.connectFrom === id) {
    ctl.cancelConnect();
  } else {
    ctl.select({ kind: 'node', id });
  }
}

function nodeKey(event, id, ctx) {
  const move = arrowMove(event);
  if (move) {
    event.preventDefault();
    ctx.ctl.moveNode(id, move[0], move[1]);
  } else if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    enterOnNode(id, ctx);
  } else if ((event.key === 'c' || event.key === 'C') && !event.shiftKey) {
    event.preventDefault();
    ctx.ctl.startConnect(id);
  } else if (event.key === 'Escape' && ctx.state.connectFrom) {
    event.preventDefault();
    ctx.ctl.cancelConnect();
  }
}

function bindCanvasKeys(ctx) {
  ctx.svg.addEventListener('keydown', (event) => {
    const g = event.target.closest && event.target.closest('.node');
    const edgeGroup = event.target.closest && event.target.closest('.edge-group');
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (edgeGroup && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      ctx.ctl.select(edgeOf(edgeGroup));
    } else if (g) {
      nodeKey(event, g.dataset.nodeId, ctx);
    } else if (event.key === 'Escape' && ctx.state.connectFrom) {
      ctx.ctl.cancelConnect();
    }
  });
}

// ---- keyboard in the editor: undo, redo, delete, deselect ---------------------------------------------------------
// Shortcuts act only while focus is on the canvas (undo and redo also from the toolbar's buttons): a Backspace
// after clicking the estimate's text, or anywhere else on the page, deletes nothing.
function inCanvas(svg) {
  const active = document.activeElement;
  return !!active && (active === svg || svg.contains(active));
}

function inToolbar(toolbarEl) {
  const active = document.activeElement;
  return !!toolbarEl && !!active && toolbarEl.contains(active);
}

function deleteKey(event, { svg, state, ctl }) {
  const active = document.activeElement;
  const focused = active && active.closest && active.closest('#canvas .node');
  const focusedEdge = active && active.closest && active.closest('#canvas .edge-group');
  if (focused) state.selection = { kind: 'node', id: focused.dataset.nodeId };
  else if (focusedEdge) state.selection = edgeOf(focusedEdge);
  if (!state.selection) return;
  event.preventDefault();
  ctl.removeSelection();
  if (focused || focusedEdge) svg.focus({ preventScroll: true });
}

function bindPageKeys(ctx) {
  const { svg, state, ctl, toolbarEl } = ctx;
  document.addEventListener('keydown', (event) => {
    if (isFormField(event.target)) return;
    const canvas = inCanvas(svg);
    if (!canvas && !inToolbar(toolbarEl)) return;
    const mod = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (mod && key === 'z' && !event.shiftKey) { event.preventDefault(); ctl.undo(); return; }
    if (mod && ((key === 'z' && event.shiftKey) || key === 'y')) { event.preventDefault(); ctl.redo(); return; }
    if (mod && canvas && !event.shiftKey && !event.altKey) {
      const action = { d: ctl.duplicateSelection, c: () => ctl.copySelection(), v: () => ctl.paste(),
        a: () => ctl.selectAll() }[key];
      if (action) { event.preventDefault(); action(); return; }
    }
    if (mod || event.altKey || !canvas) return;
    if (event.key === 'Delete' || event.key === 'Backspace') { deleteKey(event, ctx); return; }
    if (event.key === '+' || event.key === '=') { event.preventDefault(); ctl.zoom(1.25); return; }
    if (event.key === '-' || event.key === '_') { event.preventDefault(); ctl.zoom(0.8); return; }
    if (event.key === '0') { event.preventDefault(); ctl.fitAll(); return; }
    if (event.key === 'Escape' && (state.selection || state.multi.size) && !state.connectFrom) ctl.select(null);
  });
}

// ---- toolbar, inspector and window -----------------------------------------------------------------------------
function bindPage({ buttons, state, view, ctl }) {
  if (buttons.undo) buttons.undo.addEventListener('click', ctl.undo);
  if (buttons.redo) buttons.redo.addEventListener('click', ctl.redo);
  // The Delete button is disabled once nothing is selected: focus goes back to the canvas, where the keys work.
  if (buttons.remove) {
    buttons.remove.addEventListener('click', () => { ctl.removeSelection(); view.svg.focus({ preventScroll: true }); });
  }
  // The inspector form answers with an HX-Trigger `kata:params` event: {node, params}.
  document.body.addEventListener('kata:params', (event) => {
    const detail = event.detail || {};
    ctl.applyParams(detail.node, detail.params);
  });
  if (buttons.duplicate) buttons.duplicate.addEventListener('click', ctl.duplicateSelection);
  if (buttons.zoomIn) buttons.zoomIn.addEventListener('click', () => ctl.zoom(1.25));
  if (buttons.zoomOut) buttons.zoomOut.addEventListener('click', () => ctl.zoom(0.8));
  if (buttons.fit) buttons.fit.addEventListener('click', () => ctl.fitAll());
  // Ctrl (or ⌘) and the wheel zoom about the pointer; the wheel alone scrolls the page, as everywhere else.
  view.svg.addEventListener('wheel', (event) => {
    if (!(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    ctl.zoom(event.deltaY < 0 ? 1.1 : 1 / 1.1, event.clientX, event.clientY);
  }, { passive: false });
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (!state.dragging && !state.viewSet) ctl.refit(); }, RESIZE_MS);
  });
}

/* `ctx`: {svg, paletteEl, toolbarEl, buttons, model, state, view, ctl}. */
export function bindInput(ctx) {
  new PointerGestures(ctx);  // it lives on in its listeners
  bindPalette(ctx);
  bindCanvasKeys(ctx);
  bindPageKeys(ctx);
  bindPage(ctx);
}
