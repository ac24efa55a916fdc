// One trace's page: the waterfall (a stored figure), and its hops tied to the diagram — pointing at a hop's row or
// bar picks its part out on the diagram.
const source = document.getElementById("figures-data");
const chart = document.querySelector('[data-figure="waterfall"]');
const rows = [...document.querySelectorAll("[data-testid=trace-hops] tbody tr")];

function focus(node) {
  document.querySelectorAll(".diagram__node--focus").forEach((el) => el.classList.remove("diagram__node--focus"));
  rows.forEach((row) => row.classList.toggle("trace__hop--focus", node !== null && row.dataset.node === node));
  if (node === null) return;
  document.querySelectorAll(`.trace__diagram [data-node="${CSS.escape(node)}"]`)
    .forEach((el) => el.classList.add("diagram__node--focus"));
}

rows.forEach((row) => {
  row.addEventListener("mouseenter", () => focus(row.dataset.node));
  row.addEventListener("mouseleave", () => focus(null));
});

if (source && chart && window.Plotly) {
  const figure = JSON.parse(source.textContent).waterfall;
  window.Plotly.newPlot(chart, figure.data, figure.layout, { displayModeBar: false, responsive: true }).then(() => {
    chart.on("plotly_hover", (event) => {
      const label = String(event.points[0].y);  // "3. Queue · try 1": its hop's number first
      const row = rows[parseInt(label, 10) - 1];
      focus(row ? row.dataset.node : null);
    });
    chart.on("plotly_unhover", () => focus(null));
  });
}
