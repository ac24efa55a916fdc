/* The SVG view of the design: draws what the document and the editor's state say, owns no state of its own
 * beyond the elements it drew. */
import { NODE_H, NODE_W, PORT_R, clamp } from './document.js';

const NS = 'http://www.w3.org/2000/svg';
const FIT_MARGIN = 40;
// Canvas units per screen pixel: beyond 1.5 a part's text is under 8 px; zoom from 2× in to 4× out.
const READABLE_SCALE = 1.5;
const MIN_SCALE = 0.5;
const MAX_SCALE = 4;
const MARKERS = [['kata-arrow', 'edge-arrow'], ['kata-arrow-selected', 'edge-arrow edge-arrow--selected'],
  ['kata-arrow-temp', 'edge-arrow edge-arrow--temp']];

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  if (attrs) Object.keys(attrs).forEach((k) => { node.setAttribute(k, attrs[k]); });
  if (parent) parent.appendChild(node);
  return node;
}

export function curve(x1, y1, x2, y2) {
  const dx = Math.max(24, Math.abs(x2 - x1) / 2);
  return 'M' + x1 + ',' + y1 + ' C' + (x1 + dx) + ',' + y1 + ' ' + (x2 - dx) + ',' + y2 + ' ' + x2 + ',' + y2;
}

function edgePath(a, b) {
  return curve(a.x + NODE_W + PORT_R, a.y + NODE_H / 2, b.x - PORT_R - 1, b.y + NODE_H / 2);
}

function utilClass(u) { return u > 0.8 ? 'hot' : (u >= 0.6 ? 'warm' : 'ok'); }

function fullText(fill) {
  const pct = fill * 100;
  return (pct > 0 && pct < 1 ? '< 1' : String(Math.round(pct))) + ' % full';
}

function buildNode(node) {
  const g = el('g', { class: 'node', tabindex: '0', role: 'button', 'data-node-id': node.id });
  el('title', null, g);
  el('rect', { class: 'node__body', width: NODE_W, height: NODE_H, rx: 9, ry: 9 }, g);
  el('rect', { class: 'node__fill', x: 1, y: NODE_H - 5, height: 4, width: 0, rx: 2 }, g);
  el('path', { class: 'node__stripe', d: 'M9,0 A9,9 0 0 0 0,9 V' + (NODE_H - 9) + ' A9,9 0 0 0 9,' + NODE_H + ' H5 V0 Z' }, g);
  el('text', { class: 'node__name', x: 13, y: 23 }, g);
  el('text', { class: 'node__summary', x: 13, y: 41 }, g);
  el('text', { class: 'node__id', x: 2, y: -6 }, g);
  el('circle', { class: 'port port--in', cx: 0, cy: NODE_H / 2, r: PORT_R }, g);
  el('circle', { class: 'port port--out', cx: NODE_W, cy: NODE_H / 2, r: PORT_R }, g);
  const badge = el('g', { class: 'node__badge', transform: 'translate(' + (NODE_W - 44) + ',-11)' }, g);
  el('rect', { width: 44, height: 20, rx: 10, ry: 10 }, badge);
  el('text', { x: 22, y: 14, 'text-anchor': 'middle' }, badge);
  return g;
}

function cutToWidth(textEl, text, width, length) {
  let cut = text.length;
  while (length > width && cut > 1) {
    cut -= 1;
    textEl.textContent = text.slice(0, cut).replace(/\s+$/, '') + '…';
    length = textEl.getComputedTextLength();
  }
}

// Long part names are cut to the node's width, with the full name kept in the tooltip and aria-label.
function fitText(textEl, text, width) {
  if (textEl.dataset.full === text) return;
  textEl.dataset.full = text;
  textEl.removeAttribute('textLength');
  textEl.removeAttribute('lengthAdjust');
  textEl.textContent = text;
  if (typeof textEl.getComputedTextLength !== 'function') return;
  let length = textEl.getComputedTextLength();
  if (!length) {
    if (text.length > 18) textEl.textContent = text.slice(0, 17) + '…';
    return;
  }
  // "Payment gateway (external)" reads better as "Payment gateway" than as "Payment gate…".
  const plain = text.replace(/\s*\([^)]*\)\s*$/, '');
  if (length > width && plain && plain !== text) {
    textEl.textContent = plain;
    length = textEl.getComputedTextLength();
    text = plain;
  }
  // A name a little too long is condensed slightly rather than cut.
  if (length > width && length <= width * 1.14) {
    textEl.setAttribute('textLength', width);
    textEl.setAttribute('lengthAdjust', 'spacingAndGlyphs');
    return;
  }
  cutToWidth(textEl, text, width, length);
}

function showUtilization(g, load) {
  const fill = g.querySelector('.node__fill');
  const badge = g.querySelector('.node__badge');
  if (load) {
    fill.setAttribute('width', Math.max(0, (NODE_W - 2) * clamp(load.value, 0, 1)));
    const wide = load.text.length > 5;
    badge.setAttribute('transform', 'translate(' + (NODE_W - (wide ? 78 : 44)) + ',-11)');
    badge.querySelector('rect').setAttribute('width', wide ? 78 : 44);
    badge.querySelector('text').setAttribute('x', wide ? 39 : 22);
    badge.querySelector('text').textContent = load.text;
    badge.style.display = '';
  } else {
    fill.setAttribute('width', 0);
    badge.style.display = 'none';
  }
}

/* The view of one canvas. `state` is the editor's: {selection, problemNodes, connectFrom, utilization}. */
export class SvgView {
  constructor(svg, model, state) {
    this.svg = svg;
    this.model = model;
    this.state = state;
    this.nodeEls = new Map();
    svg.setAttribute('xmlns', NS);
    const defs = el('defs', null, svg);
    MARKERS.forEach(([id, cls]) => {
      const marker = el('marker', {
        id, viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7',
        orient: 'auto-start-reverse', markerUnits: 'strokeWidth',
      }, defs);
      el('path', { d: 'M0,1 L10,5 L0,9 z', class: cls }, marker);
    });
    // Lines under the parts; the connections' focusable hit areas over them, so parts come first in the tab order.
    this.edgeLayer = el('g', { class: 'edges' }, svg);
    this.nodeLayer = el('g', { class: 'nodes' }, svg);
    this.edgeHitLayer = el('g', { class: 'edge-hits' }, svg);
    this.overlayLayer = el('g', { class: 'overlay', 'pointer-events': 'none' }, svg);
    this.tempLine = el('path', { class: 'edge edge--temp', 'marker-end': 'url(#kata-arrow-temp)' }, null);
    this.isSelectedEdge = this.isSelectedEdge.bind(this);
    this.fit = this.fit.bind(this);
    this.remeasure = this.remeasure.bind(this);
  }

  isSelectedEdge(e) {
    const s = this.state.selection;
    return !!s && s.kind === 'edge' && s.source === e.source && s.target === e.target;
  }

  // An edge is two elements: its line in the layer under the parts, and its focusable hit area in the layer over
  // them (after the parts in the document, so after them in the tab order).
  drawEdge(e) {
    const model = this.model;
    const a = model.findNode(e.source), b = model.findNode(e.target);
    if (!a || !b) return;
    const selected = this.isSelectedEdge(e);
    const d = edgePath(a, b);
    const line = el('g', { class: 'edge-line' + (selected ? ' edge-line--selected' : '') }, this.edgeLayer);
    const path = el('path', {
      class: 'edge' + (selected ? ' edge--selected' : ''), d, 'data-source': e.source, 'data-target': e.target,
      'marker-end': selected ? 'url(#kata-arrow-selected)' : 'url(#kata-arrow)',
    }, line);
    const group = el('g', {
      class: 'edge-group' + (selected ? ' edge-group--selected' : ''), tabindex: '0', role: 'button',
      'aria-label': 'Connection ' + model.partOf(a).name + ' to ' + model.partOf(b).name,
      'data-source': e.source, 'data-target': e.target,
    }, this.edgeHitLayer);
    el('path', { class: 'edge-hit', d }, group);
    const lit = (on) => () => { path.classList.toggle('edge--lit', on); };
    group.addEventListener('focus', lit(true));
    group.addEventListener('blur', lit(false));
    group.addEventListener('pointerenter', lit(true));
    group.addEventListener('pointerleave', () => { if (document.activeElement !== group) path.classList.remove('edge--lit'); });
    // A part with several connections splits its traffic evenly: each edge says its share.
    const siblings = model.outgoing(e.source);
    if (siblings > 1) {
      const share = el('text', {
        class: 'edge__share', 'text-anchor': 'middle',
        x: (a.x + NODE_W + b.x) / 2, y: (a.y + b.y + NODE_H) / 2 - 6,
      }, line);
      share.textContent = Math.round(100 / siblings) + ' %';
      group.setAttribute('aria-label', group.getAttribute('aria-label') + ', ' + share.textContent + ' of its traffic');
    }
  }

  renderEdges() {
    [this.edgeLayer, this.edgeHitLayer].forEach((layer) => {
      while (layer.firstChild) layer.removeChild(layer.firstChild);
    });
    this.model.edges.forEach((e) => this.drawEdge(e));
  }

  utilizationOf(id) {
    const map = this.state.utilization;
    const u = map && map.has(id) ? Number(map.get(id)) : null;
    return u !== null && Number.isFinite(u) ? u : null;
  }

  // A queue shows how full it is (waiting over its capacity), not its consumers' busy share.
  fillOf(node) {
    const map = this.state.waiting;
    const waiting = map && map.has(node.id) ? Number(map.get(node.id)) : null;
    const part = this.model.partOf(node);
    const capacity = Number((node.params || {}).capacity !== undefined ? node.params.capacity
      : (part.defaults || {}).capacity);
    if (waiting === null || !Number.isFinite(waiting) || !(capacity > 0)) return null;
    return clamp(waiting / capacity, 0, 1);
  }

  // What the node's badge shows during and after a run: {value 0..1, text} or null.
  loadOf(node, role) {
    if (role === 'queue') {
      const fill = this.fillOf(node);
      return fill === null ? null : { value: fill, text: fullText(fill), spoken: fullText(fill) };
    }
    const u = this.utilizationOf(node.id);
    return u === null ? null : { value: u, text: Math.round(u * 100) + ' %', spoken: Math.round(u * 100) + ' % busy' };
  }

  classesOf(node, role, u) {
    const classes = ['node', 'node--' + role];
    const s = this.state.selection;
    if ((s && s.kind === 'node' && s.id === node.id) || this.state.multi.has(node.id)) classes.push('node--selected');
    if (this.state.problemNodes.has(node.id)) classes.push('node--problem');
    if (this.state.connectFrom === node.id) classes.push('node--connecting');
    if (u !== null) classes.push('node--util', 'node--util-' + utilClass(u));
    return classes;
  }

  updateNode(node) {
    const g = this.nodeEls.get(node.id);
    const part = this.model.partOf(node);
    const load = this.loadOf(node, part.role);
    const u = load ? load.value : null;
    const classes = this.classesOf(node, part.role, u);
    g.setAttribute('class', classes.join(' '));
    g.setAttribute('transform', 'translate(' + node.x + ',' + node.y + ')');
    g.setAttribute('aria-label', this.model.nodeLabel(node) + (load ? ', ' + load.spoken : ''));
    g.setAttribute('aria-pressed', classes.indexOf('node--selected') >= 0 ? 'true' : 'false');
    g.querySelector('title').textContent = part.name + (part.description ? ' — ' + part.description : '');
    fitText(g.querySelector('.node__name'), part.name, NODE_W - 22);
    fitText(g.querySelector('.node__summary'), this.model.summary(node) || node.id, NODE_W - 22);
    // Only ids the learner cannot guess from the name (a second copy, or a renamed part) are shown.
    g.querySelector('.node__id').textContent = node.id === part.key ? '' : node.id;
    g.querySelector('.port--in').style.display = part.role === 'source' ? 'none' : '';
    showUtilization(g, load);
  }

  dropGone(alive) {
    Array.from(this.nodeEls.keys()).forEach((id) => {
      if (alive.has(id)) return;
      const g = this.nodeEls.get(id);
      const hadFocus = g.contains(document.activeElement);
      g.remove();
      this.nodeEls.delete(id);
      if (hadFocus) this.svg.focus({ preventScroll: true });
    });
  }

  render() {
    const alive = new Set();
    const layer = this.nodeLayer;
    this.model.nodes.forEach((node, index) => {
      alive.add(node.id);
      if (!this.nodeEls.has(node.id)) this.nodeEls.set(node.id, buildNode(node));
      // DOM order is document order (the tab order); only move what is out of place, since moving an
      // element takes its focus and pointer capture away.
      const g = this.nodeEls.get(node.id);
      if (layer.children[index] !== g) layer.insertBefore(g, layer.children[index] || null);
      this.updateNode(node);
    });
    this.dropGone(alive);
    this.renderEdges();
  }

  // The view box covers the whole design with a margin; small designs are not blown up beyond 1:1. Unless asked
  // for everything (the Fit button), the view zooms out no further than keeps a part's text readable, and then
  // shows the design from its start (the traffic sources); the learner pans to the rest.
  fit(everything) {
    const svg = this.svg, nodes = this.model.nodes;
    const width = svg.clientWidth || 800;
    const height = svg.clientHeight || 460;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    nodes.forEach((n) => {
      minX = Math.min(minX, n.x - PORT_R); minY = Math.min(minY, n.y - 16);
      maxX = Math.max(maxX, n.x + NODE_W + PORT_R); maxY = Math.max(maxY, n.y + NODE_H);
    });
    if (!nodes.length) { minX = 0; minY = 0; maxX = width - 2 * FIT_MARGIN; maxY = height - 2 * FIT_MARGIN; }
    const needed = Math.max(1, (maxX - minX + 2 * FIT_MARGIN) / width, (maxY - minY + 2 * FIT_MARGIN) / height);
    const scale = everything === true ? needed : Math.min(needed, READABLE_SCALE);
    const viewW = width * scale, viewH = height * scale;
    let x = (minX + maxX) / 2 - viewW / 2, y = (minY + maxY) / 2 - viewH / 2;
    if (scale < needed) {
      if (maxX - minX + 2 * FIT_MARGIN > viewW) x = minX - FIT_MARGIN;
      if (maxY - minY + 2 * FIT_MARGIN > viewH) y = minY - FIT_MARGIN;
    }
    this.setBox(x, y, viewW, viewH);
  }

  setBox(x, y, w, h) {
    this.svg.setAttribute('viewBox', [x, y, w, h].map((v) => Math.round(v * 10) / 10).join(' '));
    this.svg.dataset.scale = String(Math.round((w / (this.svg.clientWidth || 800)) * 1000) / 1000);
  }

  // Zooms by `factor` (> 1 zooms in) about a point of the screen (the canvas's centre by default).
  zoom(factor, clientX, clientY) {
    const box = this.viewBox();
    if (!box) return;
    const width = this.svg.clientWidth || 800;
    const scale = clamp(box.width / width / factor, MIN_SCALE, MAX_SCALE);
    const rect = this.svg.getBoundingClientRect();
    const at = this.toSvgPoint(clientX === undefined ? rect.left + rect.width / 2 : clientX,
      clientY === undefined ? rect.top + rect.height / 2 : clientY);
    const w = width * scale, h = box.height * (w / box.width);
    this.setBox(at.x - (at.x - box.x) * (w / box.width), at.y - (at.y - box.y) * (h / box.height), w, h);
  }

  // Moves the view by a distance on the screen (a drag of the background).
  pan(dxClient, dyClient) {
    const box = this.viewBox();
    if (!box) return;
    const k = box.width / (this.svg.clientWidth || 800);
    this.setBox(box.x - dxClient * k, box.y - dyClient * k, box.width, box.height);
  }

  viewBox() {
    const box = this.svg.viewBox && this.svg.viewBox.baseVal;
    return box && box.width ? box : null;
  }

  toSvgPoint(clientX, clientY) {
    const ctm = this.svg.getScreenCTM();
    if (!ctm) return { x: clientX, y: clientY };
    const point = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
    return { x: point.x, y: point.y };
  }

  // The part under the pointer, even where a connection's hit area lies over it.
  nodeAt(clientX, clientY) {
    const hits = document.elementsFromPoint(clientX, clientY);
    for (const hit of hits) {
      const g = hit && hit.closest ? hit.closest('#canvas .node') : null;
      if (g) return g.dataset.nodeId;
    }
    return null;
  }

  showTempLine(from, point) {
    this.tempLine.setAttribute('d', curve(from.x + NODE_W + PORT_R, from.y + NODE_H / 2, point.x, point.y));
    if (!this.tempLine.parentNode) this.overlayLayer.appendChild(this.tempLine);
  }

  hideTempLine() { this.tempLine.remove(); }

  moveNodeElement(node) {
    this.nodeEls.get(node.id).setAttribute('transform', 'translate(' + node.x + ',' + node.y + ')');
    this.renderEdges();
  }

  // Fonts can change text widths after first paint: forget what was measured.
  remeasure() {
    this.nodeEls.forEach((g) => { g.querySelectorAll('text').forEach((t) => { delete t.dataset.full; }); });
    this.render();
  }
}
