// Draws the stored figures of a page (history, compare, review): one Plotly chart per [data-figure] element.
const source = document.getElementById("figures-data");
if (source && window.Plotly) {
  const figures = JSON.parse(source.textContent);
  document.querySelectorAll("[data-figure]").forEach((el) => {
    const figure = figures[el.dataset.figure];
    if (figure) window.Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  });
}
