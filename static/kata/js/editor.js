/* Kata diagram editor: an SVG canvas for the learner's design document.
 *
 * The design document is the one the server validates and grades:
 *   {"nodes": [{"id", "part", "params": {...}, "x", "y"}], "edges": [{"source", "target"}]}
 * Vanilla JS, no build step, no library. htmx (already on the page) loads the inspector.
 * Public API: window.KataEditor (see the bottom of this file).
 */
(function () {
  'use strict';

  var svg = document.getElementById('canvas');
  var workspace = document.getElementById('workspace');
  // The workspace has #workspace around the canvas; a saved attempt's page has only a read-only #canvas.
  if (!svg || !document.getElementById('design-data')) return;

  var NS = 'http://www.w3.org/2000/svg';
  var NODE_W = 132;
  var NODE_H = 56;
  var PORT_R = 6;
  var LIMIT = 10000;
  var UNDO_CAP = 100;
  var SAVE_DELAY_MS = 600;
  var FIT_MARGIN = 40;
  var DRAG_SLOP = 3;
  var PART_MIME = 'text/x-kata-part';

  var draftUrl = workspace ? workspace.dataset.draftUrl : null;
  var inspectorUrl = workspace ? workspace.dataset.inspectorUrl : null;
  var statusEl = document.getElementById('save-status');
  var problemsEl = document.getElementById('problems');
  var inspectorEl = document.getElementById('inspector');
  var paletteEl = document.getElementById('palette');
  var undoButton = document.getElementById('undo');
  var redoButton = document.getElementById('redo');
  var deleteButton = document.getElementById('delete');
  var emptyInspector = inspectorEl ? inspectorEl.innerHTML : '';

  var palette = readJson('palette-data', []);
  // Everything keyed by a part key or a node id is a Map: a plain object would take an id such as 'constructor',
  // 'toString' or '__proto__' for one it already has (and drop the node).
  var parts = new Map();
  palette.forEach(function (p) { parts.set(p.key, p); });

  // ---- state -------------------------------------------------------------------------------------------------
  var doc = normalise(readJson('design-data', { nodes: [], edges: [] }));
  var selection = null;          // {kind: 'node', id} | {kind: 'edge', source, target} | null
  var undoStack = [];
  var redoStack = [];
  var lastUndoKey = null;        // consecutive arrow-key moves of one node share one undo step
  var lastUndoAt = 0;
  var readOnly = svg.hasAttribute('data-readonly');
  var utilization = null;        // Map nodeId → 0..1 during a live run
  var problemNodes = new Set();
  var connectFrom = null;        // node id while connecting with the keyboard
  var dragging = null;           // pointer gesture in progress
  var dirty = false;             // changes not yet confirmed saved by the server
  var saveTimer = null;
  var saving = false;
  var saveAgain = false;
  var saveState = '';
  var note = '';
  var noteTimer = null;

  // ---- helpers -----------------------------------------------------------------------------------------------
  function readJson(id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
  }

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

  function finite(value, fallback) {
    var n = Number(value);
    return Number.isFinite(n) ? n : fallback;
  }

  // Accept whatever the server or a caller hands us, but keep the editor's own invariants.
  function normalise(input) {
    var source = input && typeof input === 'object' ? input : {};
    var nodes = Array.isArray(source.nodes) ? source.nodes : [];
    var edges = Array.isArray(source.edges) ? source.edges : [];
    var out = { nodes: [], edges: [] };
    var seen = new Set();
    nodes.forEach(function (n, i) {
      if (!n || typeof n !== 'object' || typeof n.id !== 'string' || seen.has(n.id)) return;
      seen.add(n.id);
      out.nodes.push({
        id: n.id,
        part: String(n.part),
        params: n.params && typeof n.params === 'object' && !Array.isArray(n.params) ? clone(n.params) : {},
        x: clamp(Math.round(finite(n.x, 40 + 180 * i)), 0, LIMIT - NODE_W),
        y: clamp(Math.round(finite(n.y, 40)), 0, LIMIT - NODE_H),
      });
    });
    edges.forEach(function (e) {
      if (e && typeof e.source === 'string' && typeof e.target === 'string') {
        out.edges.push({ source: e.source, target: e.target });
      }
    });
    return out;
  }

  function findNode(id) {
    for (var i = 0; i < doc.nodes.length; i++) if (doc.nodes[i].id === id) return doc.nodes[i];
    return null;
  }

  function partOf(node) {
    return parts.get(node.part) || { key: node.part, name: node.part, role: 'unknown', defaults: {}, description: '' };
  }

  function roleOf(node) { return partOf(node).role; }

  function nodeLabel(node) { return partOf(node).name + ' ' + node.id; }

  function formatNumber(value) {
    var n = Number(value);
    if (!Number.isFinite(n)) return String(value);
    return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
  }

  function summary(node) {
    var part = partOf(node);
    var p = Object.assign({}, part.defaults || {}, node.params || {});
    if (part.fixed_servers) return part.fixed_servers + ' in flight';
    if (part.role === 'source') return 'traffic source';
    if (part.role === 'queue') {
      var tries = p.max_attempts === undefined ? null : Number(p.max_attempts);
      var text = 'cap ' + formatNumber(p.capacity);
      if (tries !== null) text += ' · ' + formatNumber(tries) + (tries === 1 ? ' try' : ' tries');
      return text;
    }
    if (part.role === 'cache' && p.hit_ratio !== undefined) {
      var hit = 'hit ' + Math.round(Number(p.hit_ratio) * 100) + ' %';
      return Number(p.instances) > 1 ? formatNumber(p.instances) + ' × · ' + hit : hit;
    }
    if (p.instances !== undefined && p.concurrency !== undefined) {
      return formatNumber(p.instances) + ' × ' + formatNumber(p.concurrency);
    }
    if (p.instances !== undefined) return formatNumber(p.instances) + ' ×';
    return '';
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function toSvgPoint(clientX, clientY) {
    var ctm = svg.getScreenCTM();
    if (!ctm) return { x: clientX, y: clientY };
    var point = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
    return { x: point.x, y: point.y };
  }

  function isFormField(target) {
    if (!target || !target.closest) return false;
    return !!target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
  }

  function edgeKey(source, target) { return source + '\u2192' + target; }

  // ---- SVG scaffold ------------------------------------------------------------------------------------------
  svg.setAttribute('xmlns', NS);
  var defs = el('defs', null, svg);
  [['kata-arrow', 'edge-arrow'], ['kata-arrow-selected', 'edge-arrow edge-arrow--selected'],
    ['kata-arrow-temp', 'edge-arrow edge-arrow--temp']].forEach(function (pair) {
    var marker = el('marker', {
      id: pair[0], viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7',
      orient: 'auto-start-reverse', markerUnits: 'strokeWidth',
    }, defs);
    el('path', { d: 'M0,1 L10,5 L0,9 z', class: pair[1] }, marker);
  });
  var edgeLayer = el('g', { class: 'edges' }, svg);
  var nodeLayer = el('g', { class: 'nodes' }, svg);
  var overlayLayer = el('g', { class: 'overlay', 'pointer-events': 'none' }, svg);
  var tempLine = el('path', { class: 'edge edge--temp', 'marker-end': 'url(#kata-arrow-temp)' }, null);
  var nodeEls = new Map();

  // ---- rendering ---------------------------------------------------------------------------------------------
  function edgePath(a, b) {
    var x1 = a.x + NODE_W + PORT_R, y1 = a.y + NODE_H / 2;
    var x2 = b.x - PORT_R - 1, y2 = b.y + NODE_H / 2;
    return curve(x1, y1, x2, y2);
  }

  function curve(x1, y1, x2, y2) {
    var dx = Math.max(24, Math.abs(x2 - x1) / 2);
    return 'M' + x1 + ',' + y1 + ' C' + (x1 + dx) + ',' + y1 + ' ' + (x2 - dx) + ',' + y2 + ' ' + x2 + ',' + y2;
  }

  function isSelectedEdge(e) {
    return selection && selection.kind === 'edge' && selection.source === e.source && selection.target === e.target;
  }

  function renderEdges() {
    while (edgeLayer.firstChild) edgeLayer.removeChild(edgeLayer.firstChild);
    doc.edges.forEach(function (e) {
      var a = findNode(e.source), b = findNode(e.target);
      if (!a || !b) return;
      var selected = isSelectedEdge(e);
      var group = el('g', {
        class: 'edge-group' + (selected ? ' edge-group--selected' : ''), tabindex: '0', role: 'button',
        'aria-label': 'Connection ' + partOf(a).name + ' to ' + partOf(b).name,
        'data-source': e.source, 'data-target': e.target,
      }, edgeLayer);
      var d = edgePath(a, b);
      el('path', { class: 'edge-hit', d: d }, group);
      el('path', {
        class: 'edge' + (selected ? ' edge--selected' : ''), d: d, 'data-source': e.source, 'data-target': e.target,
        'marker-end': selected ? 'url(#kata-arrow-selected)' : 'url(#kata-arrow)',
      }, group);
      // A part with several connections splits its traffic evenly: each edge says its share.
      var siblings = doc.edges.filter(function (o) { return o.source === e.source; }).length;
      if (siblings > 1) {
        var share = el('text', {
          class: 'edge__share', 'text-anchor': 'middle',
          x: (a.x + NODE_W + b.x) / 2, y: (a.y + b.y + NODE_H) / 2 - 6,
        }, group);
        share.textContent = Math.round(100 / siblings) + ' %';
        group.setAttribute('aria-label', group.getAttribute('aria-label') + ', ' + share.textContent + ' of its traffic');
      }
    });
  }

  function buildNode(node) {
    var g = el('g', { class: 'node', tabindex: '0', role: 'button', 'data-node-id': node.id });
    el('title', null, g);
    el('rect', { class: 'node__body', width: NODE_W, height: NODE_H, rx: 9, ry: 9 }, g);
    el('rect', { class: 'node__fill', x: 1, y: NODE_H - 5, height: 4, width: 0, rx: 2 }, g);
    el('path', { class: 'node__stripe', d: 'M9,0 A9,9 0 0 0 0,9 V' + (NODE_H - 9) + ' A9,9 0 0 0 9,' + NODE_H + ' H5 V0 Z' }, g);
    el('text', { class: 'node__name', x: 13, y: 23 }, g);
    el('text', { class: 'node__summary', x: 13, y: 41 }, g);
    el('text', { class: 'node__id', x: 2, y: -6 }, g);
    el('circle', { class: 'port port--in', cx: 0, cy: NODE_H / 2, r: PORT_R }, g);
    el('circle', { class: 'port port--out', cx: NODE_W, cy: NODE_H / 2, r: PORT_R }, g);
    var badge = el('g', { class: 'node__badge', transform: 'translate(' + (NODE_W - 44) + ',-11)' }, g);
    el('rect', { width: 44, height: 20, rx: 10, ry: 10 }, badge);
    el('text', { x: 22, y: 14, 'text-anchor': 'middle' }, badge);
    return g;
  }

  // Long part names are cut to the node's width, with the full name kept in the tooltip and aria-label.
  function fitText(textEl, text, width) {
    if (textEl.dataset.full === text) return;
    textEl.dataset.full = text;
    textEl.removeAttribute('textLength');
    textEl.removeAttribute('lengthAdjust');
    textEl.textContent = text;
    if (typeof textEl.getComputedTextLength !== 'function') return;
    var length = textEl.getComputedTextLength();
    if (!length) {
      if (text.length > 18) textEl.textContent = text.slice(0, 17) + '…';
      return;
    }
    // "Payment gateway (external)" reads better as "Payment gateway" than as "Payment gate…".
    var plain = text.replace(/\s*\([^)]*\)\s*$/, '');
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
    var cut = text.length;
    while (length > width && cut > 1) {
      cut -= 1;
      textEl.textContent = text.slice(0, cut).replace(/\s+$/, '') + '…';
      length = textEl.getComputedTextLength();
    }
  }

  function utilClass(u) { return u > 0.8 ? 'hot' : (u >= 0.6 ? 'warm' : 'ok'); }

  function updateNode(node) {
    var g = nodeEls.get(node.id);
    var part = partOf(node);
    var role = part.role;
    var classes = ['node', 'node--' + role];
    if (selection && selection.kind === 'node' && selection.id === node.id) classes.push('node--selected');
    if (problemNodes.has(node.id)) classes.push('node--problem');
    if (connectFrom === node.id) classes.push('node--connecting');
    var u = utilization && utilization.has(node.id) ? Number(utilization.get(node.id)) : null;
    if (u !== null && Number.isFinite(u)) classes.push('node--util', 'node--util-' + utilClass(u));
    g.setAttribute('class', classes.join(' '));
    g.setAttribute('transform', 'translate(' + node.x + ',' + node.y + ')');
    var label = nodeLabel(node);
    g.setAttribute('aria-label', label + (u !== null && Number.isFinite(u) ? ', ' + Math.round(u * 100) + ' % busy' : ''));
    g.setAttribute('aria-pressed', classes.indexOf('node--selected') >= 0 ? 'true' : 'false');
    g.querySelector('title').textContent = part.name + (part.description ? ' — ' + part.description : '');
    fitText(g.querySelector('.node__name'), part.name, NODE_W - 22);
    fitText(g.querySelector('.node__summary'), summary(node) || node.id, NODE_W - 22);
    // Only ids the learner cannot guess from the name (a second copy, or a renamed part) are shown.
    g.querySelector('.node__id').textContent = node.id === part.key ? '' : node.id;
    g.querySelector('.port--in').style.display = role === 'source' ? 'none' : '';
    var fill = g.querySelector('.node__fill');
    var badge = g.querySelector('.node__badge');
    if (u !== null && Number.isFinite(u)) {
      var share = clamp(u, 0, 1);
      fill.setAttribute('width', Math.max(0, (NODE_W - 2) * share));
      badge.querySelector('text').textContent = Math.round(u * 100) + ' %';
      badge.style.display = '';
    } else {
      fill.setAttribute('width', 0);
      badge.style.display = 'none';
    }
  }

  function render() {
    var alive = new Set();
    doc.nodes.forEach(function (node, index) {
      alive.add(node.id);
      if (!nodeEls.has(node.id)) nodeEls.set(node.id, buildNode(node));
      // DOM order is document order (the tab order); only move what is out of place, since moving an
      // element takes its focus and pointer capture away.
      var g = nodeEls.get(node.id);
      if (nodeLayer.children[index] !== g) nodeLayer.insertBefore(g, nodeLayer.children[index] || null);
      updateNode(node);
    });
    Array.from(nodeEls.keys()).forEach(function (id) {
      if (!alive.has(id)) {
        var g = nodeEls.get(id);
        var hadFocus = g.contains(document.activeElement);
        g.remove();
        nodeEls.delete(id);
        if (hadFocus) svg.focus({ preventScroll: true });
      }
    });
    renderEdges();
    updateButtons();
  }

  function updateButtons() {
    if (undoButton) undoButton.disabled = readOnly || undoStack.length === 0;
    if (redoButton) redoButton.disabled = readOnly || redoStack.length === 0;
    if (deleteButton) deleteButton.disabled = readOnly || !selection;
  }

  // The view box covers the whole design with a margin; small designs are not blown up beyond 1:1.
  function fit() {
    var width = svg.clientWidth || 800;
    var height = svg.clientHeight || 460;
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    doc.nodes.forEach(function (n) {
      minX = Math.min(minX, n.x - PORT_R); minY = Math.min(minY, n.y - 16);
      maxX = Math.max(maxX, n.x + NODE_W + PORT_R); maxY = Math.max(maxY, n.y + NODE_H);
    });
    if (!doc.nodes.length) { minX = 0; minY = 0; maxX = width - 2 * FIT_MARGIN; maxY = height - 2 * FIT_MARGIN; }
    var boxW = maxX - minX + 2 * FIT_MARGIN;
    var boxH = maxY - minY + 2 * FIT_MARGIN;
    var scale = Math.max(1, boxW / width, boxH / height);
    var viewW = width * scale, viewH = height * scale;
    var cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
    svg.setAttribute('viewBox', [cx - viewW / 2, cy - viewH / 2, viewW, viewH].map(function (v) {
      return Math.round(v * 10) / 10;
    }).join(' '));
  }

  function outOfView() {
    var box = svg.viewBox && svg.viewBox.baseVal;
    if (!box || !box.width) return true;
    return doc.nodes.some(function (n) {
      return n.x - PORT_R < box.x || n.y - 16 < box.y || n.x + NODE_W + PORT_R > box.x + box.width ||
        n.y + NODE_H > box.y + box.height;
    });
  }

  // ---- status and problems -----------------------------------------------------------------------------------
  // #save-status holds the last announcement and the save state side by side, so an announcement never hides
  // a "Not saved" warning.
  var noteEl = null, saveEl = null;
  if (statusEl) {
    statusEl.textContent = '';
    noteEl = document.createElement('span');
    noteEl.className = 'ws-status__note';
    saveEl = document.createElement('span');
    saveEl.className = 'ws-status__save';
    statusEl.appendChild(noteEl);
    statusEl.appendChild(saveEl);
  }

  function showStatus() {
    if (!statusEl) return;
    noteEl.textContent = note;
    saveEl.textContent = saveState;
    statusEl.classList.toggle('ws-status--bad', saveState.indexOf('Not saved') === 0);
  }

  function setSaveState(text) { saveState = text; showStatus(); }

  function announce(text) {
    note = text;
    showStatus();
    clearTimeout(noteTimer);
    noteTimer = setTimeout(function () { note = ''; showStatus(); }, 6000);
  }

  function renderProblems(problems) {
    problemNodes = new Set();
    if (!problemsEl) return;
    problemsEl.textContent = '';
    if (!problems || !problems.length) return;
    problems.forEach(function (p) { if (p && p.node) problemNodes.add(p.node); });
    var heading = document.createElement('p');
    heading.className = 'ws-problems__title';
    heading.textContent = problems.length === 1 ? '1 thing to fix before a run:' : problems.length + ' things to fix before a run:';
    var list = document.createElement('ul');
    problems.slice(0, 12).forEach(function (p) {
      var item = document.createElement('li');
      item.textContent = p.message || String(p);
      if (p.node) item.dataset.node = p.node;
      list.appendChild(item);
    });
    if (problems.length > 12) {
      var more = document.createElement('li');
      more.textContent = '… and ' + (problems.length - 12) + ' more';
      list.appendChild(more);
    }
    problemsEl.appendChild(heading);
    problemsEl.appendChild(list);
  }

  // ---- autosave ----------------------------------------------------------------------------------------------
  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute('hx-headers') || '{}');
      if (headers['X-CSRFToken']) return headers['X-CSRFToken'];
    } catch (e) { /* fall through to the cookie */ }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  function scheduleSave() {
    if (readOnly || !draftUrl) return;
    dirty = true;
    // "Saved" must never show while a change waits for its save; a failure stays visible until a save succeeds.
    if (saveState.indexOf('Not saved') !== 0) setSaveState('Saving…');
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, SAVE_DELAY_MS);
  }

  function save() {
    saveTimer = null;
    if (!dirty || !draftUrl) return;
    if (saving) { saveAgain = true; return; }
    saving = true;
    dirty = false;
    var body = JSON.stringify(doc);
    if (saveState.indexOf('Not saved') !== 0) setSaveState('Saving…');
    fetch(draftUrl, {
      method: 'POST', credentials: 'same-origin', body: body,
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (response.ok && data && data.saved) {
          renderProblems(data.problems || []);
          render();
          setSaveState(dirty ? 'Saving…' : 'Saved');
          return;
        }
        var reason = data && data.error ? data.error : (response.status === 403 ? 'your session has expired; reload the page' : 'the server answered ' + response.status);
        fail(reason);
      });
    }, function () {
      fail('the server cannot be reached');
    }).then(function () {
      saving = false;
      // A change made while this save was in flight is saved now. A failed save is not retried in a loop:
      // the document stays dirty and the next change (or leaving the page) sends it again.
      if (saveAgain) { saveAgain = false; if (!saveTimer) save(); }
    });
  }

  // A failed save keeps the document marked unsaved, so the next change (or leaving the page) tries again.
  function fail(reason) {
    dirty = true;
    setSaveState('Not saved: ' + reason);
  }

  // Last chance for unsaved work when the learner leaves the page.
  window.addEventListener('pagehide', function () {
    if (!dirty || readOnly || !draftUrl) return;
    try {
      fetch(draftUrl, {
        method: 'POST', credentials: 'same-origin', keepalive: true, body: JSON.stringify(doc),
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
      });
    } catch (e) { /* nothing more can be done while unloading */ }
  });

  // ---- changes and undo --------------------------------------------------------------------------------------
  function snapshot() { return JSON.stringify(doc); }

  // Consecutive edits with the same key (arrow-key moves of one part) share one undo step.
  function pushUndo(key) {
    var now = Date.now();
    var coalesce = !!key && key === lastUndoKey && now - lastUndoAt < 1200;
    lastUndoKey = key || null;
    lastUndoAt = now;
    if (coalesce) return false;
    undoStack.push(snapshot());
    if (undoStack.length > UNDO_CAP) undoStack.shift();
    redoStack = [];
    return true;
  }

  function changed() {
    pruneSelection();
    render();
    if (!dragging && outOfView()) fit();
    document.dispatchEvent(new CustomEvent('kata:design-changed', { detail: clone(doc) }));
    scheduleSave();
  }

  function edit(mutate, undoKey) {
    if (readOnly) { announce('The design is read-only right now.'); return false; }
    var before = snapshot();
    var pushed = pushUndo(undoKey);
    mutate();
    if (snapshot() === before) {
      if (pushed) undoStack.pop();
      updateButtons();
      return false;
    }
    changed();
    return true;
  }

  function undo() {
    if (readOnly || !undoStack.length) return;
    redoStack.push(snapshot());
    doc = JSON.parse(undoStack.pop());
    lastUndoKey = null;
    changed();
    announce('Undone.');
  }

  function redo() {
    if (readOnly || !redoStack.length) return;
    undoStack.push(snapshot());
    doc = JSON.parse(redoStack.pop());
    lastUndoKey = null;
    changed();
    announce('Redone.');
  }

  function pruneSelection() {
    if (!selection) return;
    if (selection.kind === 'node' && !findNode(selection.id)) { selection = null; resetInspector(); }
    if (selection && selection.kind === 'edge' && !doc.edges.some(isSelectedEdge)) { selection = null; resetInspector(); }
    if (connectFrom && !findNode(connectFrom)) connectFrom = null;
  }

  // ---- operations --------------------------------------------------------------------------------------------
  function newId(key) {
    if (!findNode(key)) return key;
    for (var i = 2; ; i++) if (!findNode(key + '-' + i)) return key + '-' + i;
  }

  function overlaps(x, y) {
    return doc.nodes.some(function (n) {
      return Math.abs(n.x - x) < NODE_W + 30 && Math.abs(n.y - y) < NODE_H + 30;
    });
  }

  function freeSpot() {
    var box = svg.viewBox && svg.viewBox.baseVal && svg.viewBox.baseVal.width ? svg.viewBox.baseVal : { x: 0, y: 0, width: 900, height: 460 };
    var startX = Math.max(0, Math.ceil((box.x + 24) / 20) * 20);
    var startY = Math.max(0, Math.ceil((box.y + 24) / 20) * 20);
    for (var y = startY; y + NODE_H <= box.y + box.height - 10; y += NODE_H + 40) {
      for (var x = startX; x + NODE_W <= box.x + box.width - 10; x += NODE_W + 40) {
        if (!overlaps(x, y)) return { x: x, y: y };
      }
    }
    var bottom = doc.nodes.reduce(function (m, n) { return Math.max(m, n.y + NODE_H); }, 0);
    return { x: startX, y: clamp(bottom + 40, 0, LIMIT - NODE_H) };
  }

  function addPart(key, at) {
    var part = parts.get(key);
    if (!part) return null;
    if (readOnly) { announce('The design is read-only right now.'); return null; }
    var count = doc.nodes.filter(function (n) { return n.part === key; }).length;
    if (part.max_per_design && count >= part.max_per_design) {
      announce('Only ' + part.max_per_design + ' ' + part.name + ' per design.');
      return null;
    }
    var spot = at || freeSpot();
    var node = {
      id: newId(key), part: key, params: clone(part.defaults || {}),
      x: clamp(Math.round(spot.x), 0, LIMIT - NODE_W), y: clamp(Math.round(spot.y), 0, LIMIT - NODE_H),
    };
    edit(function () { doc.nodes.push(node); });
    announce('Added ' + part.name + '.');
    select({ kind: 'node', id: node.id });
    return node.id;
  }

  function moveNode(id, dx, dy) {
    var node = findNode(id);
    if (!node) return;
    edit(function () {
      node.x = clamp(node.x + dx, 0, LIMIT - NODE_W);
      node.y = clamp(node.y + dy, 0, LIMIT - NODE_H);
    }, 'move:' + id);
  }

  function connectRefusal(source, target) {
    var a = findNode(source), b = findNode(target);
    if (!a || !b) return 'That part is gone.';
    if (source === target) return 'A part cannot connect to itself.';
    if (roleOf(b) === 'source') return partOf(b).name + ' is a traffic source; nothing connects into it.';
    if (doc.edges.some(function (e) { return e.source === source && e.target === target; })) {
      return partOf(a).name + ' already connects to ' + partOf(b).name + '.';
    }
    // The kata's connection rules, said as the server says them (kata/design.py connection_refusal).
    var feeds = partOf(a).feeds;
    if (feeds && feeds.indexOf(b.part) < 0) {
      var allowed = feeds.map(function (key) { return parts[key] ? parts[key].name : key; });
      var reason = partOf(a).feeds_reason || (partOf(a).name + ' cannot hand requests to ' + partOf(b).name + '.');
      return reason + (allowed.length ? ' (' + partOf(a).name + ' may connect to: ' + allowed.join(', ') + '.)'
                                      : ' (' + partOf(a).name + ' ends the path: it connects to nothing.)');
    }
    var outgoing = doc.edges.filter(function (e) { return e.source === source; }).length;
    if (outgoing >= 1 && (partOf(a).fanout === 'single' || roleOf(a) === 'source')) {
      return partOf(a).name + ' feeds at most one part: remove its connection first.';
    }
    return null;
  }

  function connect(source, target) {
    var refusal = connectRefusal(source, target);
    if (refusal) { announce(refusal); return false; }
    var ok = edit(function () { doc.edges.push({ source: source, target: target }); });
    if (ok) announce('Connected ' + partOf(findNode(source)).name + ' → ' + partOf(findNode(target)).name + '.');
    return ok;
  }

  function removeSelection() {
    if (!selection) return;
    if (selection.kind === 'node') {
      var id = selection.id;
      var node = findNode(id);
      if (!node) return;
      if (edit(function () {
        doc.nodes = doc.nodes.filter(function (n) { return n.id !== id; });
        doc.edges = doc.edges.filter(function (e) { return e.source !== id && e.target !== id; });
      })) announce('Removed ' + partOf(node).name + '.');
    } else {
      var s = selection;
      if (edit(function () {
        doc.edges = doc.edges.filter(function (e) { return !(e.source === s.source && e.target === s.target); });
      })) announce('Removed the connection.');
    }
  }

  function resetInspector(message) {
    if (!inspectorEl) return;
    inspectorEl.innerHTML = emptyInspector;
    if (message) {
      var p = inspectorEl.querySelector('p');
      if (p) p.textContent = message;
    }
  }

  function loadInspector(node) {
    if (!inspectorEl || !inspectorUrl || !window.htmx) return;
    var query = new URLSearchParams({ part: node.part, node: node.id, params: JSON.stringify(node.params || {}) });
    window.htmx.ajax('GET', inspectorUrl + '?' + query, { target: '#inspector', swap: 'innerHTML' });
  }

  function select(next) {
    var previous = selection;
    selection = next;
    render();
    if (!next) {
      if (previous) resetInspector();
      return;
    }
    if (next.kind === 'node') {
      var node = findNode(next.id);
      if (node && !(previous && previous.kind === 'node' && previous.id === next.id && inspectorEl &&
          inspectorEl.querySelector('[data-node="' + CSS.escape(next.id) + '"]'))) {
        loadInspector(node);
      }
    } else {
      resetInspector('Connection ' + next.source + ' → ' + next.target + '. Press Delete to remove it.');
    }
  }

  function applyParams(id, params) {
    var node = findNode(id);
    if (!node || !params || typeof params !== 'object') return;
    if (readOnly) { announce('The design is read-only right now; parameters were not applied.'); return; }
    var next = Object.assign({}, node.params, params);
    // The form answers in floats; keep whole numbers whole so the document stays tidy.
    Object.keys(next).forEach(function (k) {
      var v = Number(next[k]);
      if (Number.isFinite(v) && Number.isInteger(v)) next[k] = v;
    });
    if (edit(function () { node.params = next; })) announce('Applied to ' + partOf(node).name + '.');
  }

  // ---- pointer gestures --------------------------------------------------------------------------------------
  svg.addEventListener('pointerdown', function (event) {
    if (event.button !== 0 || dragging) return;
    var port = event.target.closest('.port--out');
    var g = event.target.closest('.node');
    var edgeGroup = event.target.closest('.edge-group');
    var point = toSvgPoint(event.clientX, event.clientY);
    if (port && g && !readOnly) {
      event.preventDefault();
      var from = findNode(g.dataset.nodeId);
      if (!from) return;
      dragging = { kind: 'connect', source: from.id, pointerId: event.pointerId, captured: port, over: null };
      port.setPointerCapture(event.pointerId);
      tempLine.setAttribute('d', curve(from.x + NODE_W + PORT_R, from.y + NODE_H / 2, point.x, point.y));
      overlayLayer.appendChild(tempLine);
      svg.classList.add('is-connecting');
      return;
    }
    if (g) {
      var node = findNode(g.dataset.nodeId);
      if (!node) return;
      dragging = {
        kind: 'move', id: node.id, pointerId: event.pointerId, captured: g, start: point,
        origin: { x: node.x, y: node.y }, moved: false,
      };
      g.setPointerCapture(event.pointerId);
      return;
    }
    if (edgeGroup) {
      select({ kind: 'edge', source: edgeGroup.dataset.source, target: edgeGroup.dataset.target });
      return;
    }
    dragging = { kind: 'background', pointerId: event.pointerId };
  });

  svg.addEventListener('pointermove', function (event) {
    if (!dragging || event.pointerId !== dragging.pointerId) return;
    var point = toSvgPoint(event.clientX, event.clientY);
    if (dragging.kind === 'move') {
      var dx = point.x - dragging.start.x, dy = point.y - dragging.start.y;
      if (!dragging.moved && Math.hypot(dx, dy) < DRAG_SLOP) return;
      if (readOnly) return;
      var node = findNode(dragging.id);
      if (!node) return;
      if (!dragging.moved) {
        dragging.moved = true;
        pushUndo();
        dragging.captured.classList.add('node--dragging');
      }
      node.x = clamp(Math.round(dragging.origin.x + dx), 0, LIMIT - NODE_W);
      node.y = clamp(Math.round(dragging.origin.y + dy), 0, LIMIT - NODE_H);
      dragging.captured.setAttribute('transform', 'translate(' + node.x + ',' + node.y + ')');
      renderEdges();
    } else if (dragging.kind === 'connect') {
      var from = findNode(dragging.source);
      if (!from) return;
      tempLine.setAttribute('d', curve(from.x + NODE_W + PORT_R, from.y + NODE_H / 2, point.x, point.y));
      var over = nodeAt(event.clientX, event.clientY);
      var overId = over && over !== dragging.source ? over : null;
      if (overId !== dragging.over) {
        if (dragging.over && nodeEls.has(dragging.over)) nodeEls.get(dragging.over).classList.remove('node--drop-target', 'node--drop-refused');
        dragging.over = overId;
        if (overId && nodeEls.has(overId)) {
          nodeEls.get(overId).classList.add(connectRefusal(dragging.source, overId) ? 'node--drop-refused' : 'node--drop-target');
        }
      }
    }
  });

  function nodeAt(clientX, clientY) {
    var hit = document.elementFromPoint(clientX, clientY);
    var g = hit && hit.closest ? hit.closest('#canvas .node') : null;
    return g ? g.dataset.nodeId : null;
  }

  function endGesture(event, cancelled) {
    if (!dragging || event.pointerId !== dragging.pointerId) return;
    var gesture = dragging;
    dragging = null;
    if (gesture.captured && gesture.captured.hasPointerCapture && gesture.captured.hasPointerCapture(event.pointerId)) {
      gesture.captured.releasePointerCapture(event.pointerId);
    }
    if (gesture.kind === 'move') {
      gesture.captured.classList.remove('node--dragging');
      if (gesture.moved) {
        lastUndoKey = null;
        if (undoStack[undoStack.length - 1] === snapshot()) { undoStack.pop(); render(); }
        else changed();
      } else if (!cancelled) {
        select({ kind: 'node', id: gesture.id });
      }
    } else if (gesture.kind === 'connect') {
      tempLine.remove();
      svg.classList.remove('is-connecting');
      if (gesture.over && nodeEls.has(gesture.over)) nodeEls.get(gesture.over).classList.remove('node--drop-target', 'node--drop-refused');
      var target = cancelled ? null : nodeAt(event.clientX, event.clientY);
      if (target && target !== gesture.source) connect(gesture.source, target);
      else if (target === gesture.source) announce('A part cannot connect to itself.');
    } else if (gesture.kind === 'background' && !cancelled) {
      if (event.target === svg || event.target.closest('.overlay')) select(null);
    }
  }

  svg.addEventListener('pointerup', function (event) { endGesture(event, false); });
  svg.addEventListener('pointercancel', function (event) { endGesture(event, true); });

  // ---- palette: HTML5 drag and drop, click and keyboard ------------------------------------------------------
  if (paletteEl) {
    paletteEl.addEventListener('dragstart', function (event) {
      var item = event.target.closest && event.target.closest('.palette-item');
      if (!item || readOnly) { if (readOnly) event.preventDefault(); return; }
      event.dataTransfer.setData(PART_MIME, item.dataset.part);
      event.dataTransfer.setData('text/plain', item.dataset.part);
      event.dataTransfer.effectAllowed = 'copy';
    });
    paletteEl.addEventListener('click', function (event) {
      var item = event.target.closest('.palette-item');
      if (!item) return;
      var id = addPart(item.dataset.part, null);
      // A click from the keyboard (detail 0) hands focus to the new part, so arrows and Delete work next.
      if (id && event.detail === 0 && nodeEls.has(id)) nodeEls.get(id).focus();
    });
  }

  svg.addEventListener('dragover', function (event) {
    if (readOnly || !event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, PART_MIME) < 0) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    svg.classList.add('is-drop-target');
  });
  svg.addEventListener('dragleave', function (event) {
    if (event.target === svg) svg.classList.remove('is-drop-target');
  });
  svg.addEventListener('drop', function (event) {
    svg.classList.remove('is-drop-target');
    var key = event.dataTransfer && event.dataTransfer.getData(PART_MIME);
    if (!key) return;
    event.preventDefault();
    var point = toSvgPoint(event.clientX, event.clientY);
    addPart(key, { x: point.x - NODE_W / 2, y: point.y - NODE_H / 2 });
  });

  // ---- keyboard ----------------------------------------------------------------------------------------------
  svg.addEventListener('keydown', function (event) {
    var g = event.target.closest && event.target.closest('.node');
    var edgeGroup = event.target.closest && event.target.closest('.edge-group');
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (edgeGroup && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      select({ kind: 'edge', source: edgeGroup.dataset.source, target: edgeGroup.dataset.target });
      return;
    }
    if (!g) {
      if (event.key === 'Escape' && connectFrom) cancelConnect();
      return;
    }
    var id = g.dataset.nodeId;
    var step = event.shiftKey ? 50 : 10;
    var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      event.preventDefault();
      moveNode(id, moves[event.key][0], moves[event.key][1]);
      return;
    }
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      if (connectFrom && connectFrom !== id) {
        var source = connectFrom;
        connectFrom = null;
        connect(source, id);
        render();
        return;
      }
      if (connectFrom === id) { cancelConnect(); return; }
      select({ kind: 'node', id: id });
      return;
    }
    if ((event.key === 'c' || event.key === 'C') && !event.shiftKey) {
      event.preventDefault();
      if (readOnly) { announce('The design is read-only right now.'); return; }
      var from = findNode(id);
      connectFrom = id;
      render();
      announce('Connecting from ' + partOf(from).name + ': Tab to the part it hands requests to and press Enter; Escape cancels.');
      return;
    }
    if (event.key === 'Escape' && connectFrom) {
      event.preventDefault();
      cancelConnect();
    }
  });

  function cancelConnect() {
    connectFrom = null;
    render();
    announce('Connection cancelled.');
  }

  document.addEventListener('keydown', function (event) {
    if (isFormField(event.target)) return;
    var mod = event.ctrlKey || event.metaKey;
    var key = event.key.toLowerCase();
    if (mod && key === 'z' && !event.shiftKey) { event.preventDefault(); undo(); return; }
    if (mod && ((key === 'z' && event.shiftKey) || key === 'y')) { event.preventDefault(); redo(); return; }
    if (mod || event.altKey) return;
    if (event.key === 'Delete' || event.key === 'Backspace') {
      var focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('#canvas .node');
      var focusedEdge = document.activeElement && document.activeElement.closest && document.activeElement.closest('#canvas .edge-group');
      if (focused) selection = { kind: 'node', id: focused.dataset.nodeId };
      else if (focusedEdge) selection = { kind: 'edge', source: focusedEdge.dataset.source, target: focusedEdge.dataset.target };
      if (!selection) return;
      event.preventDefault();
      var wasFocused = !!(focused || focusedEdge);
      removeSelection();
      if (wasFocused) svg.focus({ preventScroll: true });
      return;
    }
    if (event.key === 'Escape' && selection && !connectFrom && svg.contains(document.activeElement)) select(null);
  });

  if (undoButton) undoButton.addEventListener('click', undo);
  if (redoButton) redoButton.addEventListener('click', redo);
  if (deleteButton) deleteButton.addEventListener('click', removeSelection);

  // The inspector answers an invalid form with 400 and the form with its errors; htmx 2 does not swap error
  // responses by default, so let this one through to show the errors in place.
  document.body.addEventListener('htmx:beforeSwap', function (event) {
    var detail = event.detail || {};
    if (detail.xhr && detail.xhr.status === 400 && detail.target === inspectorEl &&
        /class="inspector"/.test(detail.serverResponse || '')) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  // The inspector form answers with an HX-Trigger `kata:params` event: {node, params}.
  document.body.addEventListener('kata:params', function (event) {
    var detail = event.detail || {};
    applyParams(detail.node, detail.params);
  });

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (!dragging) fit(); }, 150);
  });

  // ---- read-only ---------------------------------------------------------------------------------------------
  function setReadOnly(value) {
    readOnly = !!value;
    if (readOnly) {
      svg.setAttribute('data-readonly', '');
      connectFrom = null;
      clearTimeout(saveTimer);
      if (dirty) save();
    } else {
      svg.removeAttribute('data-readonly');
    }
    svg.classList.toggle('is-readonly', readOnly);
    if (paletteEl) {
      paletteEl.querySelectorAll('.palette-item').forEach(function (item) {
        item.disabled = readOnly;
        item.draggable = !readOnly;
      });
    }
    render();
  }

  // ---- public API --------------------------------------------------------------------------------------------
  window.KataEditor = {
    getDesign: function () { return clone(doc); },
    // Replaces the design (undoable) and saves it unless read-only; the view box refits.
    setDesign: function (next) {
      var incoming = normalise(next);
      if (JSON.stringify(incoming) === snapshot()) { fit(); return; }
      pushUndo();
      doc = incoming;
      connectFrom = null;
      pruneSelection();
      render();
      fit();
      document.dispatchEvent(new CustomEvent('kata:design-changed', { detail: clone(doc) }));
      scheduleSave();
    },
    selectNode: function (id) {
      if (id === null || id === undefined) { select(null); return true; }
      if (!findNode(id)) return false;
      select({ kind: 'node', id: id });
      return true;
    },
    setUtilization: function (map) {
      // Own keys only, read without assignment: a '__proto__' key stays a key.
      utilization = map && typeof map === 'object' ? new Map(Object.entries(map)) : null;
      render();
    },
    clearUtilization: function () { utilization = null; render(); },
    setReadOnly: setReadOnly,
    isReadOnly: function () { return readOnly; },
    undo: undo,
    redo: redo,
  };

  setReadOnly(readOnly);
  render();
  fit();
  // Fonts can change text widths after first paint; measure once more when they are ready.
  if (document.fonts && document.fonts.ready) {
    document.fonts.ready.then(function () {
      nodeEls.forEach(function (g) {
        g.querySelectorAll('text').forEach(function (t) { delete t.dataset.full; });
      });
      render();
    });
  }
  if (svg.clientWidth === 0) requestAnimationFrame(fit);
})();
