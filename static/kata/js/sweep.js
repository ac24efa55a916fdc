// Draws a finished sweep's figures; its progress partial swaps itself in while it runs (htmx), so the figures are
// drawn again after each swap.
function draw() {
  const source = document.getElementById("figures-data");
  if (!source || !window.Plotly) return;
  const figures = JSON.parse(source.textContent);
  document.querySelectorAll("#sweep [data-figure]").forEach((el) => {
    const figure = figures[el.dataset.figure];
    if (figure && !el.dataset.drawn) {
      window.Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
      el.dataset.drawn = "true";
    }
  });
  const sweep = document.getElementById("sweep");
  if (sweep && sweep.dataset.status !== "queued" && sweep.dataset.status !== "running") sweep.dataset.drawn = "true";
}
draw();
document.body.addEventListener("htmx:afterSettle", draw);
