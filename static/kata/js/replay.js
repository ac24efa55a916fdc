// A saved run replayed: scrub or play its points at 1×/4×/16×, the charts drawn up to the moment shown and the
// diagram (the read-only editor, window.KataEditor) coloured by each part's utilization then.
const root = document.getElementById('replay');
const SIMULATED_SECONDS_PER_SECOND = 30;  // 1×
const TICK_MS = 100;
const REDRAW_MS = 250;  // six plots redrawn at most four times a second, whatever the speed

function valueAt(point, path) {
  let v = point;
  for (const key of path) { if (v === null || v === undefined) return null; v = v[key]; }
  return v === undefined ? null : v;
}

class Replay {
  constructor(el, figures, points) {
    Object.assign(this, { el, figures, points, index: 0, playing: false, timer: null, drawnAt: 0, drawTimer: null });
    this.play = document.getElementById('replay-play');
    this.speed = document.getElementById('replay-speed');
    this.scrub = document.getElementById('replay-scrub');
    this.clock = document.getElementById('replay-clock');
    // Every trace's whole series, once: a moment is then a slice of each.
    this.series = {};
    for (const [name, figure] of Object.entries(figures)) {
      this.series[name] = figure.data.map((trace) => ({
        x: points.map((p) => p.t),
        y: points.map((p) => {
          // A series saved before per-source points has the mixed figure where `fallback` says.
          const v = valueAt(p, trace.meta.fallback && !p.src ? trace.meta.fallback : trace.meta.path);
          return v === null ? null : v * trace.meta.scale;
        }),
      }));
    }
    this.scrub.max = String(Math.max(0, points.length - 1));
    this.scrub.disabled = points.length === 0;
    this.play.disabled = points.length === 0;
    this.scrub.addEventListener('input', () => { this.pause(); this.show(Number(this.scrub.value)); });
    this.play.addEventListener('click', () => (this.playing ? this.pause() : this.start()));
    document.querySelectorAll('#charts [data-chart]').forEach((chart) => {
      const figure = figures[chart.dataset.chart];
      if (figure) window.Plotly.newPlot(chart, JSON.parse(JSON.stringify(figure.data)), figure.layout,
        { displayModeBar: false, responsive: true });
    });
    this.show(0);
  }

  show(index) {
    this.index = Math.max(0, Math.min(index, this.points.length - 1));
    const point = this.points[this.index];
    if (!point) return;
    this.scrub.value = String(this.index);
    const last = this.points[this.points.length - 1].t;
    this.clock.textContent = `t = ${Math.round(point.t)} s of ${Math.round(last)} s simulated`;
    this.el.dataset.index = String(this.index);
    this.el.dataset.t = String(point.t);
    if (window.KataEditor && window.KataEditor.setUtilization) window.KataEditor.setUtilization(point.u);
    this.redraw();
  }

  redraw() {
    const wait = REDRAW_MS - (performance.now() - this.drawnAt);
    if (wait > 0) { if (!this.drawTimer) this.drawTimer = setTimeout(() => { this.drawTimer = null; this.redraw(); }, wait); return; }
    this.drawnAt = performance.now();
    const upTo = this.index + 1;
    for (const [name, traces] of Object.entries(this.series)) {
      const chart = document.getElementById(`chart-${name}`);
      if (!chart || !chart.data) continue;
      window.Plotly.restyle(chart, { x: traces.map((s) => s.x.slice(0, upTo)), y: traces.map((s) => s.y.slice(0, upTo)) });
    }
    this.el.dataset.drawn = String(this.index);
  }

  start() {
    if (this.index >= this.points.length - 1) this.show(0);
    this.playing = true;
    this.el.dataset.state = 'playing';
    this.play.textContent = 'Pause';
    let target = this.points[this.index].t;
    this.timer = setInterval(() => {
      target += Number(this.speed.value) * SIMULATED_SECONDS_PER_SECOND * TICK_MS / 1000;
      let next = this.index;
      while (next < this.points.length - 1 && this.points[next + 1].t <= target) next += 1;
      if (next !== this.index) this.show(next);
      if (this.index >= this.points.length - 1) this.pause();
    }, TICK_MS);
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.playing = false;
    this.el.dataset.state = 'paused';
    this.play.textContent = 'Play';
  }
}

async function load() {
  const figures = JSON.parse(document.getElementById('replay-figures').textContent);
  try {
    const response = await fetch(root.dataset.pointsUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const body = await response.json();
    window.KataReplay = new Replay(root, figures, body.points);
    root.dataset.state = 'ready';
    root.dataset.points = String(body.points.length);
  } catch (error) {
    root.dataset.state = 'failed';
    document.getElementById('replay-clock').textContent = `The frames could not be loaded (${error.message}); reload the page.`;
  }
}

if (root && window.Plotly) load();
