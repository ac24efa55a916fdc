/* The design document and its undo history: no DOM, so Node's test runner can drive it (tests/js/).
 *
 * The document is the one the server validates and grades:
 *   {"nodes": [{"id", "part", "params": {...}, "x", "y"}], "edges": [{"source", "target"}]}
 * The connection refusals mirror the server's (kata/design.py connection_refusal), so the learner hears them at
 * once instead of after a save.
 */

export const NODE_W = 132;
export const NODE_H = 56;
export const PORT_R = 6;
export const LIMIT = 10000;
const UNDO_CAP = 100;
const COALESCE_MS = 1200;

export function clone(value) { return JSON.parse(JSON.stringify(value)); }

export function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

function finite(value, fallback) {
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

function isPlainObject(value) { return !!value && typeof value === 'object' && !Array.isArray(value); }

function normaliseNode(n, i) {
  return {
    id: n.id,
    part: String(n.part),
    params: isPlainObject(n.params) ? clone(n.params) : {},
    x: clamp(Math.round(finite(n.x, 40 + 180 * i)), 0, LIMIT - NODE_W),
    y: clamp(Math.round(finite(n.y, 40)), 0, LIMIT - NODE_H),
  };
}

// Accept whatever the server or a caller hands us, but keep the editor's own invariants.
export function normalise(input) {
  const source = input && typeof input === 'object' ? input : {};
  const nodes = Array.isArray(source.nodes) ? source.nodes : [];
  const edges = Array.isArray(source.edges) ? source.edges : [];
  const out = { nodes: [], edges: [] };
  const seen = new Set();
  nodes.forEach((n, i) => {
    if (!n || typeof n !== 'object' || typeof n.id !== 'string' || seen.has(n.id)) return;
    seen.add(n.id);
    out.nodes.push(normaliseNode(n, i));
  });
  edges.forEach((e) => {
    if (e && typeof e.source === 'string' && typeof e.target === 'string') {
      out.edges.push({ source: e.source, target: e.target });
    }
  });
  return out;
}

function formatNumber(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}

function queueSummary(p) {
  const tries = p.max_attempts === undefined ? null : Number(p.max_attempts);
  let text = 'cap ' + formatNumber(p.capacity);
  if (tries !== null) text += ' · ' + formatNumber(tries) + (tries === 1 ? ' try' : ' tries');
  return text;
}

/* The learner's design with its undo and redo stacks. Every operation answers what happened (true/false, or a
 * refusal in the learner's words) and leaves announcing it to the caller. */
export class DesignDocument {
  constructor(palette, design, { now = Date.now } = {}) {
    // Everything keyed by a part key or a node id is a Map: a plain object would take an id such as 'constructor',
    // 'toString' or '__proto__' for one it already has (and drop the node).
    this.parts = new Map();
    (palette || []).forEach((p) => { this.parts.set(p.key, p); });
    this.doc = normalise(design);
    this.undoStack = [];
    this.redoStack = [];
    this.lastUndoKey = null;   // consecutive arrow-key moves of one node share one undo step
    this.lastUndoAt = 0;
    this.now = now;
  }

  get nodes() { return this.doc.nodes; }

  get edges() { return this.doc.edges; }

  toJSON() { return clone(this.doc); }

  snapshot() { return JSON.stringify(this.doc); }

  canUndo() { return this.undoStack.length > 0; }

  canRedo() { return this.redoStack.length > 0; }

  findNode(id) { return this.doc.nodes.find((n) => n.id === id) || null; }

  hasEdge(source, target) { return this.doc.edges.some((e) => e.source === source && e.target === target); }

  partOf(node) {
    return this.parts.get(node.part) || { key: node.part, name: node.part, role: 'unknown', defaults: {}, description: '' };
  }

  roleOf(node) { return this.partOf(node).role; }

  nodeLabel(node) { return this.partOf(node).name + ' ' + node.id; }

  outgoing(id) { return this.doc.edges.filter((e) => e.source === id).length; }

  summary(node) {
    const part = this.partOf(node);
    const p = Object.assign({}, part.defaults || {}, node.params || {});
    if (part.fixed_servers) return part.fixed_servers + ' in flight';
    if (part.role === 'source') return 'traffic source';
    if (part.role === 'queue') return queueSummary(p);
    if (part.role === 'cache' && p.hit_ratio !== undefined) {
      const hit = 'hit ' + Math.round(Number(p.hit_ratio) * 100) + ' %';
      return Number(p.instances) > 1 ? formatNumber(p.instances) + ' × · ' + hit : hit;
    }
    if (p.instances !== undefined && p.concurrency !== undefined) {
      return formatNumber(p.instances) + ' × ' + formatNumber(p.concurrency);
    }
    if (p.instances !== undefined) return formatNumber(p.instances) + ' ×';
    return '';
  }

  // ---- undo ------------------------------------------------------------------------------------------------
  // Consecutive edits with the same key (arrow-key moves of one part) share one undo step.
  pushUndo(key) {
    const now = this.now();
    const coalesce = !!key && key === this.lastUndoKey && now - this.lastUndoAt < COALESCE_MS;
    this.lastUndoKey = key || null;
    this.lastUndoAt = now;
    if (coalesce) return false;
    this.undoStack.push(this.snapshot());
    if (this.undoStack.length > UNDO_CAP) this.undoStack.shift();
    this.redoStack = [];
    return true;
  }

  // Runs `mutate` as one undoable step; an edit that changes nothing leaves no step behind.
  // Nor does it clear what Redo would bring back (Apply on unchanged values, say).
  edit(mutate, undoKey) {
    const before = this.snapshot();
    const redo = this.redoStack;
    const pushed = this.pushUndo(undoKey);
    mutate(this.doc);
    if (this.snapshot() !== before) return true;
    if (pushed) this.undoStack.pop();
    this.redoStack = redo;
    return false;
  }

  // A pointer drag is one step however many moves it makes: begin before the first move, end after the last.
  beginGesture() { this.pushUndo(); }

  endGesture() {
    this.lastUndoKey = null;
    if (this.undoStack[this.undoStack.length - 1] !== this.snapshot()) return true;
    this.undoStack.pop();
    return false;
  }

  undo() { return this.step(this.undoStack, this.redoStack); }

  redo() { return this.step(this.redoStack, this.undoStack); }

  step(from, to) {
    if (!from.length) return false;
    to.push(this.snapshot());
    this.doc = JSON.parse(from.pop());
    this.lastUndoKey = null;
    return true;
  }

  // Replaces the whole design as one undoable step; false when it is the same design.
  replace(design) {
    const incoming = normalise(design);
    if (JSON.stringify(incoming) === this.snapshot()) return false;
    this.pushUndo();
    this.doc = incoming;
    return true;
  }

  // ---- operations ------------------------------------------------------------------------------------------
  newId(key) {
    if (!this.findNode(key)) return key;
    for (let i = 2; ; i++) if (!this.findNode(key + '-' + i)) return key + '-' + i;
  }

  // Adds a part at `spot`: {id} when added, {refusal} when the palette allows no more of it, null for no such part.
  addPart(key, spot) {
    const part = this.parts.get(key);
    if (!part) return null;
    const count = this.doc.nodes.filter((n) => n.part === key).length;
    if (part.max_per_design && count >= part.max_per_design) {
      return { refusal: 'Only ' + part.max_per_design + ' ' + part.name + ' per design.' };
    }
    const node = {
      id: this.newId(key), part: key, params: clone(part.defaults || {}),
      x: clamp(Math.round(spot.x), 0, LIMIT - NODE_W), y: clamp(Math.round(spot.y), 0, LIMIT - NODE_H),
    };
    this.edit((doc) => { doc.nodes.push(node); });
    return { id: node.id };
  }

  // Arrow-key moves: coalesced into one undo step per part.
  moveNode(id, dx, dy) {
    const node = this.findNode(id);
    if (!node) return false;
    return this.edit(() => {
      node.x = clamp(node.x + dx, 0, LIMIT - NODE_W);
      node.y = clamp(node.y + dy, 0, LIMIT - NODE_H);
    }, 'move:' + id);
  }

  // Pointer drags: no undo step of its own (see beginGesture).
  placeNode(id, x, y) {
    const node = this.findNode(id);
    if (!node) return null;
    node.x = clamp(Math.round(x), 0, LIMIT - NODE_W);
    node.y = clamp(Math.round(y), 0, LIMIT - NODE_H);
    return node;
  }

  // Why `source` may not feed `target`, or null when it may.
  connectRefusal(source, target) {
    const a = this.findNode(source), b = this.findNode(target);
    if (!a || !b) return 'That part is gone.';
    if (source === target) return 'A part cannot connect to itself.';
    const from = this.partOf(a), to = this.partOf(b);
    if (to.role === 'source') return to.name + ' is a traffic source; nothing connects into it.';
    if (this.hasEdge(source, target)) return from.name + ' already connects to ' + to.name + '.';
    if (from.feeds && from.feeds.indexOf(b.part) < 0) return this.feedsRefusal(from, to);
    if (this.outgoing(source) >= 1 && (from.fanout === 'single' || from.role === 'source')) {
      return from.name + ' feeds at most one part: remove its connection first.';
    }
    return null;
  }

  // The kata's connection rules, said as the server says them, with what the part may feed.
  feedsRefusal(from, to) {
    const allowed = from.feeds.map((key) => (this.parts.has(key) ? this.parts.get(key).name : key));
    const reason = from.feeds_reason || (from.name + ' cannot hand requests to ' + to.name + '.');
    return reason + (allowed.length ? ' (' + from.name + ' may connect to: ' + allowed.join(', ') + '.)'
      : ' (' + from.name + ' ends the path: it connects to nothing.)');
  }

  // {ok: true} when connected, {refusal} when the rules refuse it.
  connect(source, target) {
    const refusal = this.connectRefusal(source, target);
    if (refusal) return { refusal };
    return { ok: this.edit((doc) => { doc.edges.push({ source, target }); }) };
  }

  removeNode(id) {
    if (!this.findNode(id)) return false;
    return this.edit((doc) => {
      doc.nodes = doc.nodes.filter((n) => n.id !== id);
      doc.edges = doc.edges.filter((e) => e.source !== id && e.target !== id);
    });
  }

  // Several parts at once (a multi-selection), with their connections, as one undo step.
  removeNodes(ids) {
    const gone = new Set(ids.filter((id) => this.findNode(id)));
    if (!gone.size) return false;
    return this.edit((doc) => {
      doc.nodes = doc.nodes.filter((n) => !gone.has(n.id));
      doc.edges = doc.edges.filter((e) => !gone.has(e.source) && !gone.has(e.target));
    });
  }

  // The parts `ids` and the connections among them, as a clipboard holds them (a copy, not the document's own).
  copy(ids) {
    const chosen = new Set(ids);
    return clone({
      nodes: this.doc.nodes.filter((n) => chosen.has(n.id)),
      edges: this.doc.edges.filter((e) => chosen.has(e.source) && chosen.has(e.target)),
    });
  }

  /* Adds copies of a clipboard's parts `offset` away, with new ids and the connections among them, as one undo
   * step. Answers {ids} of the new parts and {refused} for those the palette allows no more of (or knows not). */
  paste(clip, offset = { dx: 40, dy: 40 }) {
    const ids = [], refused = [], renamed = new Map();
    const nodes = (clip && Array.isArray(clip.nodes) ? clip.nodes : []);
    const changed = this.edit((doc) => {
      nodes.forEach((source) => {
        const part = this.parts.get(source.part);
        const count = doc.nodes.filter((n) => n.part === source.part).length;
        if (!part || (part.max_per_design && count >= part.max_per_design)) {
          refused.push(part ? 'Only ' + part.max_per_design + ' ' + part.name + ' per design.' : 'No such part here.');
          return;
        }
        const node = {
          id: this.newId(source.part), part: source.part, params: clone(source.params || {}),
          x: clamp(Math.round(source.x + offset.dx), 0, LIMIT - NODE_W),
          y: clamp(Math.round(source.y + offset.dy), 0, LIMIT - NODE_H),
        };
        doc.nodes.push(node);
        renamed.set(source.id, node.id);
        ids.push(node.id);
      });
      (clip && Array.isArray(clip.edges) ? clip.edges : []).forEach((e) => {
        const source = renamed.get(e.source), target = renamed.get(e.target);
        if (source && target && !this.hasEdge(source, target)) doc.edges.push({ source, target });
      });
    });
    return { ids: changed ? ids : [], refused };
  }

  duplicate(ids, offset) { return this.paste(this.copy(ids), offset); }

  removeEdge(source, target) {
    return this.edit((doc) => {
      doc.edges = doc.edges.filter((e) => !(e.source === source && e.target === target));
    });
  }

  // Merges the inspector's answer into a part's parameters.
  applyParams(id, params) {
    const node = this.findNode(id);
    if (!node || !params || typeof params !== 'object') return false;
    const next = Object.assign({}, node.params, params);
    // The form answers in floats; keep whole numbers whole so the document stays tidy.
    Object.keys(next).forEach((k) => {
      const v = Number(next[k]);
      if (Number.isFinite(v) && Number.isInteger(v)) next[k] = v;
    });
    return this.edit(() => { node.params = next; });
  }

  // ---- placement -------------------------------------------------------------------------------------------
  overlaps(x, y) {
    return this.doc.nodes.some((n) => Math.abs(n.x - x) < NODE_W + 30 && Math.abs(n.y - y) < NODE_H + 30);
  }

  // The first free spot in `box` (the visible part of the canvas), or below every part.
  freeSpot(box) {
    const startX = Math.max(0, Math.ceil((box.x + 24) / 20) * 20);
    const startY = Math.max(0, Math.ceil((box.y + 24) / 20) * 20);
    for (let y = startY; y + NODE_H <= box.y + box.height - 10; y += NODE_H + 40) {
      for (let x = startX; x + NODE_W <= box.x + box.width - 10; x += NODE_W + 40) {
        if (!this.overlaps(x, y)) return { x, y };
      }
    }
    const bottom = this.doc.nodes.reduce((m, n) => Math.max(m, n.y + NODE_H), 0);
    return { x: startX, y: clamp(bottom + 40, 0, LIMIT - NODE_H) };
  }

  outOfView(box) {
    return this.doc.nodes.some((n) => n.x - PORT_R < box.x || n.y - 16 < box.y ||
      n.x + NODE_W + PORT_R > box.x + box.width || n.y + NODE_H > box.y + box.height);
  }
}
