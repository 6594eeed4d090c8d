/* Drill charts: every [data-drill-chart] figure is drawn with uPlot from the JSON at its
 * URL ({x, series:[{label, values, points_only}], events:[{t, label}], unit}). Events are
 * drawn as dashed vertical lines. No inline script (strict CSP): found by attribute on
 * load and after every HTMX swap. */
(function () {
  "use strict";
  var COLORS = ["#2f6fdf", "#c62828", "#e07b00", "#8e24aa", "#2e9d5b", "#00838f"];

  function eventsPlugin(events) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.setLineDash([4, 4]);
          ctx.strokeStyle = "#888";
          ctx.fillStyle = "#555";
          ctx.font = "11px sans-serif";
          events.forEach(function (e, i) {
            var x = Math.round(u.valToPos(e.t, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) {
              return;
            }
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillText(e.label.slice(0, 40), x + 3, u.bbox.top + 12 + (i % 4) * 12);
          });
          ctx.restore();
        }]
      }
    };
  }

  function draw(fig) {
    if (fig.getAttribute("data-drawn") === "1" || !window.uPlot) {
      return;
    }
    fig.setAttribute("data-drawn", "1");
    var plot = fig.querySelector(".drill-plot");
    fetch(fig.getAttribute("data-drill-chart"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data.x.length) {
          plot.textContent = "No samples.";
          return;
        }
        var series = [{}];
        var rows = [data.x];
        data.series.forEach(function (s, i) {
          var color = COLORS[i % COLORS.length];
          series.push(s.points_only
            ? { label: s.label, stroke: "#c62828", width: 0, points: { show: true, size: 6, fill: "#c62828" } }
            : { label: s.label, stroke: color, width: 1.5, spanGaps: false });
          rows.push(s.values);
        });
        var width = Math.max(320, plot.clientWidth || fig.clientWidth || 800);
        /* global uPlot */
        new uPlot({
          width: width,
          height: 280,
          series: series,
          scales: { x: { time: true } },
          axes: [{}, { label: data.unit }],
          plugins: [eventsPlugin(data.events || [])]
        }, rows, plot);
      })
      .catch(function () { plot.textContent = "The chart data could not be loaded."; });
  }

  function scan(root) {
    (root || document).querySelectorAll("[data-drill-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function (e) { scan(e.target); });
})();
