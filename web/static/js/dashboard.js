// The dashboard's charts (Chart.js, vendored). The numbers come from the JSON element
// #dashboard-data; every chart's numbers are also on the page as a table or text, so the
// page says the same without JavaScript.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var lang = document.documentElement.lang || "en";
  var palette = ["#0b5cad", "#1a7f37", "#9a6700", "#cf222e", "#8250df", "#1b7c83",
                 "#bf3989", "#57606a", "#953800", "#0550ae", "#afb8c1"];

  function bytes(value) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    var i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
    return new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(value) + " " + units[i];
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false,
                                     animation: reduced ? false : {} }, config.options || {});
    new window.Chart(canvas, config);
  }

  if (data.months.labels.length) {
    draw("chart-months", {
      type: "line",
      data: { labels: data.months.labels,
              datasets: [{ label: data.months.label, data: data.months.total,
                           borderColor: palette[0], backgroundColor: "rgba(11, 92, 173, 0.15)",
                           fill: true, pointRadius: 2 }] },
      options: { plugins: { legend: { display: false },
                            tooltip: { callbacks: { label: function (c) { return bytes(c.parsed.y); } } } },
                 scales: { y: { ticks: { callback: function (v) { return bytes(v); } } } } }
    });
  }
  if (data.formats.labels.length) {
    draw("chart-formats", {
      type: "doughnut",
      data: { labels: data.formats.labels,
              datasets: [{ label: data.formats.label, data: data.formats.files,
                           backgroundColor: palette.slice(0, data.formats.labels.length) }] },
      // below the chart, where a long format name has the whole width (on the right it was cut)
      options: { plugins: { legend: { position: "bottom" } } }
    });
  }
  if (data.coverage.values[0] + data.coverage.values[1] > 0) {
    draw("chart-coverage", {
      type: "doughnut",
      data: { labels: data.coverage.labels,
              datasets: [{ data: data.coverage.values, backgroundColor: [palette[1], palette[3]] }] },
      options: { plugins: { legend: { position: "bottom" } } }
    });
  }
})();
