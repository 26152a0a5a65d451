/* Draws every <div class="chart" data-figure="{plotly figure JSON}"> on the page with plotly.js
   (/ui/vendor/plotly.min.js, loaded before this file). The figure's layout is laid over readable
   defaults: the page's font, compact margins, a unified hover, no mode bar logo. Works under the
   admin UI's CSP (default-src 'self'): no inline code, and no stylesheet is injected by this file. */
(function () {
  "use strict";

  var DEFAULT_LAYOUT = {
    font: {
      family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      size: 13,
      color: "#1f2430"
    },
    title: { x: 0.02, xanchor: "left", font: { size: 15 } },
    margin: { l: 64, r: 24, t: 48, b: 56 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    hovermode: "x unified",
    hoverlabel: { bgcolor: "#ffffff", bordercolor: "#d9dde5", font: { size: 12 } },
    xaxis: { gridcolor: "#eef0f4", linecolor: "#d9dde5", automargin: true },
    yaxis: { gridcolor: "#eef0f4", linecolor: "#d9dde5", automargin: true, separatethousands: true },
    separators: ".,",
    autosize: true
  };

  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  /* A deep copy of `base` with `over` laid on top (objects merged, everything else replaced). */
  function merge(base, over) {
    var out = {};
    var key;
    for (key in base) {
      if (Object.prototype.hasOwnProperty.call(base, key)) {
        out[key] = isObject(base[key]) ? merge(base[key], {}) : base[key];
      }
    }
    for (key in over) {
      if (Object.prototype.hasOwnProperty.call(over, key)) {
        out[key] = isObject(over[key]) && isObject(out[key]) ? merge(out[key], over[key]) : over[key];
      }
    }
    return out;
  }

  function fail(el, message) {
    el.textContent = message;
    el.classList.add("chart-failed");
  }

  function draw(el) {
    var figure;
    try {
      figure = JSON.parse(el.getAttribute("data-figure"));
    } catch (error) {
      fail(el, "This chart could not be read.");
      return;
    }
    if (typeof window.Plotly === "undefined") {
      fail(el, "Charts are unavailable: plotly.js did not load.");
      return;
    }
    var layout = merge(DEFAULT_LAYOUT, figure.layout || {});
    if (layout.hovermode === "x unified" && (figure.data || []).some(function (trace) {
      return trace.orientation === "h";
    })) {
      layout.hovermode = "closest";
    }
    window.Plotly.newPlot(el, figure.data || [], layout, CONFIG);
  }

  function drawAll() {
    var charts = document.querySelectorAll("div.chart[data-figure]");
    for (var i = 0; i < charts.length; i += 1) {
      draw(charts[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
