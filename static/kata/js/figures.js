// Draws the stored figures of a page (history, compare, review): one Plotly chart per [data-figure] element.
(function () {
  "use strict";
  var source = document.getElementById("figures-data");
  if (!source || !window.Plotly) return;
  var figures = JSON.parse(source.textContent);
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var figure = figures[el.dataset.figure];
    if (figure) Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  });
})();
