/* Estate metric charts: draws every [data-metrics-src] grid with uPlot from the JSON its
 * URL returns (metrics.views.data). No inline script anywhere: this file is loaded from
 * 'self' and finds its work through data- attributes, on page load and after every
 * HTMX swap (the range switch). */
(function () {
  "use strict";
  if (window.EstateMetrics) {
    return;
  }
  var COLORS = ["#2f6fdf", "#e07b00", "#2e9d5b", "#9b4dca", "#c2185b", "#00838f", "#6d4c41", "#5c6bc0"];
  var GIB = 1024 * 1024 * 1024;

  function fmt(v, unit) {
    if (v === null || v === undefined || isNaN(v)) {
      return "–";
    }
    if (unit === "bytes") {
      return Math.abs(v) >= GIB ? (v / GIB).toFixed(1) + " GiB" : (v / 1048576).toFixed(0) + " MiB";
    }
    if (unit === "s") {
      return Math.abs(v) < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(1) + " s";
    }
    if (unit === "%") {
      return v.toFixed(1) + " %";
    }
    if (unit === "count") {
      return Math.round(v).toLocaleString();
    }
    return v.toFixed(1) + " " + unit;
  }

  function showEmpty(fig, text) {
    var plot = fig.querySelector(".metric-plot");
    var empty = fig.querySelector(".metric-empty");
    if (plot) {
      plot.hidden = true;
    }
    if (empty) {
      empty.hidden = false;
      empty.textContent = text;
    }
  }

  /* A line arrives as base64 of little-endian float32 values; NaN = no point (uPlot
   * wants null for a gap). */
  function decode(text) {
    var bin = atob(text);
    var view = new DataView(new ArrayBuffer(bin.length));
    for (var i = 0; i < bin.length; i++) {
      view.setUint8(i, bin.charCodeAt(i));
    }
    var out = new Array(bin.length / 4);
    for (var j = 0; j < out.length; j++) {
      var v = view.getFloat32(j * 4, true);
      out[j] = isNaN(v) ? null : v;
    }
    return out;
  }

  function constant(xs, value) {
    return xs.map(function () { return value; });
  }

  function renderChart(grid, chart, xs) {
    var fig = null;
    grid.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.getAttribute("data-chart") === chart.key) {
        fig = el;
      }
    });
    if (!fig) {
      return;
    }
    var plot = fig.querySelector(".metric-plot");
    if (!plot) {
      return; // the server already said why there is no chart
    }
    if (chart.empty) {
      showEmpty(fig, chart.empty);
      return;
    }
    var data = [xs].concat(chart.data.map(decode));
    var valueOf = function (u, v) { return fmt(v, chart.unit); };
    var series = [{}];
    chart.series.forEach(function (name, i) {
      series.push({ label: name, stroke: COLORS[i % COLORS.length], width: 1.5, value: valueOf });
    });
    if (chart.threshold !== null) {
      series.push({ label: "threshold", stroke: "#c62828", dash: [6, 4], width: 1, value: valueOf });
      data.push(constant(xs, chart.threshold));
    }
    if (chart.band) {
      series.push({ label: "min ACU", stroke: "#888", dash: [3, 3], width: 1, value: valueOf });
      data.push(constant(xs, chart.band[0]));
      series.push({ label: "max ACU", stroke: "#888", dash: [3, 3], width: 1, value: valueOf });
      data.push(constant(xs, chart.band[1]));
    }
    // Axis text follows the page's colour, so charts read in light and dark schemes.
    var ink = getComputedStyle(fig).color || "#333";
    var faint = "rgba(127, 127, 127, 0.25)";
    var opts = {
      width: Math.max(plot.clientWidth || fig.clientWidth || 420, 280),
      height: 180,
      series: series,
      scales: { x: { time: true } },
      axes: [
        { stroke: ink, grid: { stroke: faint }, ticks: { stroke: faint } },
        {
          stroke: ink,
          grid: { stroke: faint },
          ticks: { stroke: faint },
          size: 72,
          values: function (u, vals) { return vals.map(function (v) { return fmt(v, chart.unit); }); }
        }
      ],
      legend: { live: true }
    };
    plot.textContent = "";
    /* global uPlot */
    plots.push({ chart: new uPlot(opts, data, plot), box: plot });
  }

  var plots = [];
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      plots = plots.filter(function (p) { return document.body.contains(p.box); });
      plots.forEach(function (p) {
        p.chart.setSize({ width: Math.max(p.box.parentNode.clientWidth - 16, 280), height: 180 });
      });
    }, 150);
  });

  function draw(grid) {
    var src = grid.getAttribute("data-metrics-src");
    if (!src || grid.getAttribute("data-metrics-drawn") === src) {
      return;
    }
    grid.setAttribute("data-metrics-drawn", src);
    if (typeof window.uPlot === "undefined") {
      grid.querySelectorAll("[data-chart]").forEach(function (fig) {
        showEmpty(fig, "The chart library did not load.");
      });
      return;
    }
    // The server usually inlines the data (data-metrics); the JSON endpoint is the
    // fallback for markup that only names it.
    var inline = grid.getAttribute("data-metrics");
    var loading = inline
      ? new Promise(function (resolve) { resolve(JSON.parse(inline)); })
      : fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        });
    loading
      .then(function (payload) {
        var xs = [];
        for (var i = 0; i < payload.points; i++) {
          xs.push(payload.start + i * payload.step);
        }
        payload.charts.forEach(function (chart) { renderChart(grid, chart, xs); });
      })
      .catch(function (err) {
        grid.querySelectorAll("[data-chart]").forEach(function (fig) {
          if (fig.querySelector(".metric-plot")) {
            showEmpty(fig, "Could not load the chart data (" + err.message + ").");
          }
        });
      });
  }

  function scan(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-metrics-src]")) {
      draw(scope);
    }
    scope.querySelectorAll("[data-metrics-src]").forEach(draw);
  }

  window.EstateMetrics = { scan: scan, format: fmt };
  document.addEventListener("htmx:load", function (event) { scan(event.detail && event.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})();
