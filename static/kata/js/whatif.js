// The workspace's "What if…" panel: traffic changes and incidents, posted as a what-if run (saved, never graded).
const dataEl = document.getElementById("what-if-data");
const list = document.getElementById("what-if-incidents");
const problemsEl = document.getElementById("what-if-problems");
const KINDS = { brownout: "brown-out", outage: "outage", instances_lost: "instances lost", surge: "traffic surge" };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
}

function options(items, selected) {
  return items.map(function (it) {
    return "<option value=\"" + escapeHtml(it.value) + "\"" + (it.value === selected ? " selected" : "") + ">" + escapeHtml(it.label) + "</option>";
  }).join("");
}

// One incident's row; the fields shown follow its kind.
function addRow(data, incident) {
  var inc = incident || { kind: "brownout", part: (data.parts[0] || {}).key, start: 0, end: 120, latency_factor: 2, error: 0 };
  var li = document.createElement("li");
  li.className = "whatif__incident";
  li.dataset.testid = "incident-row";
  li.innerHTML =
    "<label>kind <select name=\"kind\">" + options(Object.keys(KINDS).map(function (k) { return { value: k, label: KINDS[k] }; }), inc.kind) + "</select></label> " +
    "<label>part <select name=\"part\"></select></label> " +
    "<label>from <input type=\"number\" name=\"start\" step=\"any\" min=\"0\" value=\"" + escapeHtml(inc.start) + "\"> s</label> " +
    "<label>to <input type=\"number\" name=\"end\" step=\"any\" min=\"0\" value=\"" + escapeHtml(inc.end) + "\"> s</label> " +
    "<label data-for=\"brownout\">latency × <input type=\"number\" name=\"latency_factor\" step=\"any\" min=\"1\" value=\"" + escapeHtml(inc.latency_factor != null ? inc.latency_factor : 2) + "\"></label> " +
    "<label data-for=\"brownout\">errors % <input type=\"number\" name=\"error_pct\" step=\"any\" min=\"0\" max=\"100\" value=\"" + escapeHtml(inc.error != null ? Math.round(inc.error * 10000) / 100 : 0) + "\"></label> " +
    "<label data-for=\"instances_lost\">instances <input type=\"number\" name=\"instances\" step=\"1\" min=\"1\" value=\"" + escapeHtml(inc.instances || 1) + "\"></label> " +
    "<label data-for=\"surge\">rate × <input type=\"number\" name=\"factor\" step=\"any\" min=\"0.1\" value=\"" + escapeHtml(inc.factor || 2) + "\"></label> " +
    "<button type=\"button\" class=\"button button--secondary\" data-remove>Remove</button>";
  list.appendChild(li);
  var kind = li.querySelector("[name=kind]");
  function sync() {
    var k = kind.value;
    var parts = k === "surge" ? data.traffic.map(function (t) { return { value: t.part, label: t.name }; })
      : data.parts.filter(function (p) { return k !== "instances_lost" || p.instances; }).map(function (p) { return { value: p.key, label: p.name }; });
    var partEl = li.querySelector("[name=part]");
    var keep = partEl.value || inc.part;
    partEl.innerHTML = options(parts, keep);
    li.querySelectorAll("[data-for]").forEach(function (el) { el.hidden = el.dataset.for !== k; });
  }
  kind.addEventListener("change", sync);
  li.querySelector("[data-remove]").addEventListener("click", function () { li.remove(); });
  sync();
}

function readIncident(li) {
  var get = function (name) { return li.querySelector("[name=" + name + "]").value; };
  var inc = { kind: get("kind"), part: get("part"), start: get("start"), end: get("end") };
  if (inc.kind === "brownout") { inc.latency_factor = get("latency_factor"); inc.error = String(Number(get("error_pct")) / 100); }
  if (inc.kind === "instances_lost") inc.instances = get("instances");
  if (inc.kind === "surge") inc.factor = get("factor");
  return inc;
}

function readWhatIf(practice) {
  var traffic = {};
  document.querySelectorAll("[data-traffic]").forEach(function (row) {
    var changes = {};
    row.querySelectorAll("input").forEach(function (input) { if (input.value !== "") changes[input.name] = input.value; });
    if (Object.keys(changes).length) traffic[row.dataset.traffic] = changes;
  });
  var incidents = Array.prototype.map.call(list.querySelectorAll("li"), readIncident);
  return { traffic: traffic, incidents: incidents, practice: practice || null };
}

function showProblems(message, problems) {
  var items = (problems || []).map(function (p) { return "<li>" + escapeHtml(p.text || p.message) + "</li>"; }).join("");
  problemsEl.innerHTML = message ? "<strong>" + escapeHtml(message) + "</strong>" + (items ? "<ul>" + items + "</ul>" : "") : "";
}

if (dataEl && list) {
  const data = JSON.parse(dataEl.textContent);
  var practice = null;
  document.getElementById("what-if-add").addEventListener("click", function () { practice = null; addRow(data); });
  document.querySelectorAll("[data-practice]").forEach(function (button) {
    button.addEventListener("click", function () {
      var scenario = data.practice.find(function (s) { return String(s.order) === button.dataset.practice; });
      list.innerHTML = "";
      scenario.incidents.forEach(function (inc) { addRow(data, inc); });
      practice = scenario.order;
      window.KataRun.runWhatIf(readWhatIf(practice), showProblems);
    });
  });
  document.getElementById("what-if-run").addEventListener("click", function () {
    window.KataRun.runWhatIf(readWhatIf(practice), showProblems);
  });
}
