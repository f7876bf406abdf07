// Fruits! dashboard: draws the Plotly figures the server embedded as JSON, and helps the upload form.
// No inline scripts (the Content-Security-Policy forbids them) and nothing loaded from another site.
(function () {
  "use strict";

  // On a phone a long legend (the map's kinds) would squeeze the plot and run over the axis title: lay it out
  // in two columns under the axis title, and make the figure taller by the rows it needs.
  function fitLegend(figure, width) {
    var layout = figure.layout || {};
    var named = (figure.data || []).filter(function (trace) { return trace.name && trace.showlegend !== false; });
    if (width >= 600 || !layout.legend || named.length <= 4) return;
    var rows = Math.ceil(named.length / 2);
    var margin = Object.assign({ t: 16, b: 44 }, layout.margin || {});
    var below = 56;  // room for the axis title under the plot
    margin.b = below + 20 * rows + 8;
    layout.height = (layout.height || 420) + 20 * rows;
    var plotHeight = layout.height - margin.t - margin.b;
    layout.margin = margin;
    layout.legend = { orientation: "h", x: 0, xanchor: "left", y: -below / plotHeight, yanchor: "top",
                      entrywidth: 0.5, entrywidthmode: "fraction", itemsizing: "constant" };
    figure.layout = layout;
  }

  function drawPlots() {
    if (typeof Plotly === "undefined") return;
    document.querySelectorAll('script[type="application/json"][data-plot]').forEach(function (node) {
      var target = document.getElementById(node.getAttribute("data-plot"));
      if (!target) return;
      var figure = JSON.parse(node.textContent);
      fitLegend(figure, target.clientWidth);
      var config = Object.assign({ responsive: true, displaylogo: false }, figure.config || {});
      // A responsive plot takes its container's size: give the container the figure's height, or the plot
      // overflows a short box and covers what follows it.
      if (figure.layout && figure.layout.height) target.style.height = figure.layout.height + "px";
      Plotly.newPlot(target, figure.data, figure.layout, config);
      // A click on a dot of the map opens that photo.
      target.on && target.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (point && typeof point.customdata === "string") window.location.href = "/images/" + point.customdata;
      });
      target.setAttribute("data-drawn", "true");
    });
  }

  function setUpUpload() {
    var form = document.querySelector("form.upload");
    if (!form) return;
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10);
    var inputs = form.querySelectorAll('input[type="file"]');
    var preview = document.getElementById("photo-preview");
    var problem = document.getElementById("upload-problem");
    inputs.forEach(function (input) {
      input.addEventListener("change", function () {
        // Only one photo is sent: clear the other input.
        inputs.forEach(function (other) { if (other !== input) other.value = ""; });
        problem.hidden = true;
        var file = input.files && input.files[0];
        if (!file) return;
        if (file.size > limit) {
          // The sentence comes from the page, in its language; only the numbers are filled in here.
          var decimal = form.getAttribute("data-decimal") || ".";
          problem.textContent = form.getAttribute("data-message-too-large")
            .replace("{size}", (file.size / 1048576).toFixed(1).replace(".", decimal))
            .replace("{limit}", (limit / 1048576).toFixed(0));
          problem.hidden = false;
          input.value = "";
          return;
        }
        // Shown from the phone's memory; nothing is uploaded until "Identify".
        preview.src = URL.createObjectURL(file);
        preview.alt = form.getAttribute("data-message-chosen");
        preview.hidden = false;
      });
    });
    form.addEventListener("submit", function (event) {
      var chosen = Array.prototype.some.call(inputs, function (i) { return i.files && i.files.length; });
      if (!chosen) {
        event.preventDefault();
        problem.textContent = form.getAttribute("data-message-none");
        problem.hidden = false;
      }
    });
  }

  // The home page's "find a fruit" box: filters the table as one types (the form still works without script).
  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function setUpKindFilter() {
    var input = document.getElementById("kind-filter");
    if (!input) return;
    var groups = document.querySelectorAll("table.counts tbody.kind");
    var empty = document.getElementById("kind-filter-empty");
    function apply() {
      // Every word typed must start a word of the row, as the server's filter (routers/home.py) does.
      var wanted = fold(input.value).split(/\s+/).filter(Boolean);
      var shown = 0;
      groups.forEach(function (group) {
        var rows = group.querySelectorAll("tr.label-row");
        var visible = 0;
        rows.forEach(function (row) {
          var words = row.getAttribute("data-search").split(/\s+/);
          var match = wanted.every(function (w) {
            return words.some(function (word) { return word.indexOf(w) === 0; });
          });
          row.hidden = !match;
          if (match) visible += 1;
        });
        group.hidden = visible === 0;
        shown += visible;
      });
      if (empty) empty.hidden = shown > 0;
    }
    input.addEventListener("input", apply);
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () { drawPlots(); setUpUpload(); setUpKindFilter(); });
})();
