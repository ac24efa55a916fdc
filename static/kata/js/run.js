// The workspace's live side: instant estimate as the design changes, Run, streamed frames, charts, grade.
import { postJson } from "./http.js";

const root = document.getElementById("workspace");
var runButton = document.getElementById("run");
var cancelButton = document.getElementById("cancel");
var panel = document.getElementById("run-panel");
var statusEl = document.getElementById("run-status");
var progressEl = document.getElementById("run-progress");
var clockEl = document.getElementById("run-clock");
var problemsEl = document.getElementById("problems");
var staleEl = document.getElementById("results-stale");
var FINISHED = { succeeded: true, failed: true, cancelled: true };
var CLOSE = { UNAUTHENTICATED: 4401, NOT_FOUND: 4404, REPLACED: 4409, TOO_MANY: 4429 };
var CHART_REDRAW_MS = 300;

function design() { return window.KataEditor ? window.KataEditor.getDesign() : JSON.parse(document.getElementById("design-data").textContent); }
function escapeHtml(text) {
  var div = document.createElement("div"); div.textContent = text; return div.innerHTML;
}

// ---- instant estimate -------------------------------------------------------------------------------
var estimateTimer = null, estimateSeq = 0;
function refreshEstimate() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(function () {
    var mine = ++estimateSeq;
    postJson(root.dataset.estimateUrl, design()).then(function (r) { return r.text(); }).then(function (html) {
      if (mine === estimateSeq) document.getElementById("estimate").innerHTML = html;  // drop stale answers
    }).catch(function () {});
  }, 300);
}

// ---- a run ------------------------------------------------------------------------------------------
var current = null;

function setStatus(text) { statusEl.textContent = text; }

function valueAt(point, path) {
  var v = point;
  for (var i = 0; i < path.length; i++) { if (v == null) return null; v = v[path[i]]; }
  return v == null ? null : v;
}

function drawCharts(blank) {
  // Plotly extends the traces it was given in place: draw from a copy, so the blank figures stay blank.
  var figures = JSON.parse(JSON.stringify(blank));
  document.querySelectorAll("#charts [data-chart]").forEach(function (el) {
    var figure = figures[el.dataset.chart];
    if (figure) Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  });
}

function extendCharts(figures, points) {
  Object.keys(figures).forEach(function (name) {
    var el = document.getElementById("chart-" + name);
    if (!el || !el.data) return;
    var xs = [], ys = [], indices = [];
    figures[name].data.forEach(function (trace, i) {
      indices.push(i);
      xs.push(points.map(function (p) { return p.t; }));
      ys.push(points.map(function (p) {
        // A frame saved before per-source points has the mixed figure where `fallback` says.
        var path = trace.meta.fallback && !p.src ? trace.meta.fallback : trace.meta.path;
        var v = valueAt(p, path);
        return v == null ? null : v * trace.meta.scale;
      }));
    });
    Plotly.extendTraces(el, { x: xs, y: ys }, indices);
  });
}

function onFrame(run, frame) {
  if (frame.seq <= run.lastSeq) return;  // replayed after a reconnect: already drawn
  run.lastSeq = frame.seq;
  if (frame.execution !== run.execution) {
    // The run started again (its worker stopped): its charts start again too.
    if (run.execution && run.chartsReady) { run.pending = []; drawCharts(run.figures); }
    run.execution = frame.execution;
  }
  run.frames += 1;
  panel.dataset.frames = String(run.frames);
  panel.dataset.lastSeq = String(frame.seq);
  progressEl.value = frame.progress;
  clockEl.textContent = "t = " + Math.round(frame.t) + " s simulated";
  // Charts are redrawn a few times a second, however fast frames come in: redrawing six plots is the browser's
  // costliest work, and it shares the machine with the simulation.
  run.pending = run.pending.concat(frame.points);
  if (!run.drawScheduled) {
    run.drawScheduled = true;
    setTimeout(function () { requestAnimationFrame(function () { drawPending(run); }); }, CHART_REDRAW_MS);
  }
}

function drawPending(run) {
  run.drawScheduled = false;
  if (!run.chartsReady || !run.pending.length) return;
  var points = run.pending;
  run.pending = [];
  extendCharts(run.figures, points);
  var last = points[points.length - 1];
  if (last) { run.lastU = last.u || {}; run.lastQ = last.q || {}; showLoad(run); }
}

// ---- results next to a changed design ---------------------------------------------------------------
// What a part's results depend on: its part, its parameters and its connections (not where it sits).
function partKeys(doc) {
  var keys = {};
  (doc.nodes || []).forEach(function (n) {
    var into = (doc.edges || []).filter(function (e) { return e.target === n.id; }).map(function (e) { return e.source; }).sort();
    var out = (doc.edges || []).filter(function (e) { return e.source === n.id; }).map(function (e) { return e.target; }).sort();
    keys[n.id] = JSON.stringify([n.part, n.params || {}, into, out]);
  });
  return keys;
}

function changedParts(run) {
  var now = partKeys(design()), then = run.partKeys, changed = {};
  Object.keys(then).forEach(function (id) { if (now[id] !== then[id]) changed[id] = true; });
  Object.keys(now).forEach(function (id) { if (now[id] !== then[id]) changed[id] = true; });
  return changed;
}

function without(map, changed) {
  var out = {};
  Object.keys(map || {}).forEach(function (id) { if (!changed[id]) out[id] = map[id]; });
  return out;
}

// The badges on the canvas: every part's while the design is the run's; only unchanged parts' after an edit.
function showLoad(run) {
  if (!window.KataEditor || !window.KataEditor.setUtilization || !run.lastU) return;
  var changed = run.finished ? changedParts(run) : {};
  window.KataEditor.setUtilization(without(run.lastU, changed), without(run.lastQ, changed));
}

function markStale(run) {
  var changed = changedParts(run);
  var stale = Object.keys(changed).length > 0;
  staleEl.hidden = !stale;
  if (stale) staleEl.textContent = "These results are from the design as it was at " + run.startedAt +
    ". Run again to see how the changed design does.";
  panel.classList.toggle("is-stale", stale);
  document.getElementById("grade").classList.toggle("is-stale", stale);
  panel.dataset.stale = stale ? "true" : "false";
  showLoad(run);
}

function onDesignChanged() {
  refreshEstimate();
  if (current && current.finished && current.partKeys) markStale(current);
}

function finish(run, status, message) {
  run.finished = true;
  drawPending(run);
  if (window.KataEditor) window.KataEditor.setReadOnly(false);
  cancelButton.hidden = true;
  runButton.hidden = false;
  runButton.disabled = false;
  panel.dataset.status = status;
  setStatus(message || status);
  htmx.ajax("GET", run.payload.grade_url, { target: "#grade", swap: "innerHTML" });
  // A selected part's panel gets its figures of this run.
  if (status === "succeeded" && window.KataEditor && window.KataEditor.reloadInspector) window.KataEditor.reloadInspector();
}

// The page stops following the run (its socket will not come back): say why, and let the learner act.
function stopFollowing(run, message, logIn) {
  run.finished = true;
  panel.dataset.status = "disconnected";
  cancelButton.hidden = true;
  runButton.hidden = false;
  if (logIn) {
    statusEl.textContent = message + " ";
    var link = document.createElement("a");
    link.href = root.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname);
    link.textContent = "Log in";
    statusEl.appendChild(link);
  } else {
    setStatus(message);
  }
}

function connect(run) {
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + location.host + run.payload.socket);
  run.socket = socket;
  socket.onopen = function () { run.retries = 0; };
  socket.onmessage = function (event) {
    var message = JSON.parse(event.data);
    if (message.type === "frame") {
      onFrame(run, message);
      // The server keeps a bounded window of frames ahead of the last acknowledged one.
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ack", seq: message.seq }));
    }
    else if (message.type === "status") {
      if (FINISHED[message.status]) finish(run, message.status, message.message);
      else setStatus(message.message || message.status);
    } else if (message.type === "grade") {
      setStatus(run.payload.what_if ? "What-if run, not graded: " + message.passed + "/" + message.total + " scenarios would pass."
                                    : message.passed + "/" + message.total + " scenarios passed.");
    } else if (message.type === "error") setStatus(message.message);
  };
  socket.onclose = function (event) {
    if (run.finished || current !== run) return;
    // Close codes of kata/messages.py: the first three mean that reconnecting cannot help.
    if (event.code === CLOSE.UNAUTHENTICATED) { stopFollowing(run, "Your session has ended. Log in again to follow this run.", true); return; }
    if (event.code === CLOSE.NOT_FOUND) { stopFollowing(run, "This run is not yours to follow."); return; }
    if (event.code === CLOSE.REPLACED) { stopFollowing(run, "This run is open in another window or tab; reload to follow it here."); return; }
    // Dropped: come back and let the server replay what was missed; slowly when told there were too many.
    run.retries += 1;
    var delay = event.code === CLOSE.TOO_MANY ? 15000 : Math.min(5000, 250 * Math.pow(2, run.retries));
    setStatus(event.code === CLOSE.TOO_MANY ? "Too many connections; reconnecting in a moment…" : "Connection lost; reconnecting…");
    setTimeout(function () { if (!run.finished && current === run) connect(run); }, delay);
  };
}

function start(payload) {
  if (current && current.socket) { current.finished = true; current.socket.close(); }
  var run = { payload: payload, figures: payload.figures, lastSeq: 0, execution: 0, frames: 0, finished: false, retries: 0,
              pending: [], chartsReady: false, drawScheduled: false, partKeys: partKeys(design()),
              startedAt: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) };
  current = run;
  staleEl.hidden = true;
  panel.classList.remove("is-stale");
  document.getElementById("grade").classList.remove("is-stale");
  panel.dataset.stale = "false";
  panel.hidden = false;
  panel.dataset.run = String(payload.run);
  panel.dataset.frames = "0";
  panel.dataset.status = "running";
  panel.dataset.whatIf = payload.what_if ? "true" : "false";
  document.getElementById("run-not-graded").hidden = !payload.what_if;
  document.getElementById("grade").innerHTML = "";
  progressEl.value = 0;
  // Cancel takes Run's place while the run goes (the toolbar keeps its width).
  runButton.disabled = true;
  runButton.hidden = true;
  cancelButton.hidden = false;
  // The design being simulated is the one on the canvas: freeze it until the run ends.
  if (window.KataEditor) window.KataEditor.setReadOnly(true, "A run is going: the design is frozen until it ends, so parameters cannot change now.");
  setStatus("Starting…");
  // Connect first: the socket's handshake and the first frames overlap with drawing the empty charts.
  connect(run);
  requestAnimationFrame(function () {
    drawCharts(run.figures);
    run.chartsReady = true;
    drawPending(run);
  });
}

function showProblems(message, problems) {
  var items = (problems || []).map(function (p) { return "<li>" + escapeHtml(p.text || p.message) + "</li>"; }).join("");
  problemsEl.innerHTML = "<strong>" + escapeHtml(message) + "</strong>" + (items ? "<ul>" + items + "</ul>" : "");
}

// A what-if run posts {design, what_if}; its problems are shown where `onProblems` says (the what-if panel's).
function onRun(whatIf, onProblems) {
  var show = onProblems || showProblems;
  runButton.disabled = true;
  postJson(root.dataset.runUrl, whatIf ? { design: design(), what_if: whatIf } : design()).then(function (response) {
    return response.json().then(function (body) { return { ok: response.ok, body: body }; });
  }).then(function (result) {
    if (!result.ok) { runButton.disabled = false; show(result.body.error || "The run could not start.", result.body.problems); return; }
    problemsEl.innerHTML = "";
    if (onProblems) onProblems("", []);
    start(result.body);
  }).catch(function () { runButton.disabled = false; show("The server could not be reached. Your design is kept; try again."); });
}

function onCancel() {
  if (current && current.socket && current.socket.readyState === WebSocket.OPEN) {
    current.socket.send(JSON.stringify({ type: "cancel" }));
    setStatus("Cancelling…");
  }
}

// The editor asks which run's figures a part's panel may show: the last succeeded run, while the part is unchanged.
window.KataRun = {
  runWhatIf: function (whatIf, onProblems) { if (!runButton.disabled) onRun(whatIf, onProblems); },
  figuresRun: function (nodeId) {
    if (!current || !current.finished || panel.dataset.status !== "succeeded") return null;
    return changedParts(current)[nodeId] ? null : current.payload.run;
  },
};

if (root) {
  document.addEventListener("kata:design-changed", onDesignChanged);
  runButton.addEventListener("click", function () { onRun(null); });
  cancelButton.addEventListener("click", onCancel);
  var active = JSON.parse(document.getElementById("active-run").textContent);
  if (active) start(active);
  refreshEstimate();
}
