// The overview's live throughput charts: every 2 s it reads the broker's totals from
// /overview/throughput.json and plots the rates between two reads with uPlot (vendored,
// served from /static/). Without script the overview still shows its facts.
(function () {
  "use strict";
  var root = document.getElementById("charts");
  if (!root || typeof uPlot === "undefined") return;
  var KEEP = 150, PERIOD_MS = 2000, HEIGHT = 200;
  var t = [], bytesIn = [], bytesOut = [], records = [], requests = [];
  var last = null;
  function width() { return Math.max(260, root.clientWidth - 8); }
  function options(title, series) {
    return {
      title: title, width: width(), height: HEIGHT,
      series: [{}].concat(series),
      axes: [{}, { size: 60 }],
      // The last five minutes, however few points there are yet.
      scales: { x: { time: true, range: function (u, min, max) { return [max - 300, max]; } } },
      legend: { live: false },
    };
  }
  var bytes = new uPlot(options("Record bytes per second", [
    { label: "produced", stroke: "#0b5fa5", width: 2 },
    { label: "fetched", stroke: "#1e7b34", width: 2 },
  ]), [t, bytesIn, bytesOut], root.querySelector(".bytes"));
  var counts = new uPlot(options("Per second", [
    { label: "records produced", stroke: "#b3261e", width: 2 },
    { label: "requests", stroke: "#7a4fb5", width: 2 },
  ]), [t, records, requests], root.querySelector(".counts"));
  var shown = document.getElementById("rates");

  function poll() {
    fetch("/overview/throughput.json", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (now) {
        var seconds = last ? (now.time_ms - last.time_ms) / 1000 : 0;
        if (seconds > 0) {
          var rate = function (name) { return (now[name] - last[name]) / seconds; };
          t.push(now.time_ms / 1000);
          bytesIn.push(rate("produce_bytes"));
          bytesOut.push(rate("fetch_bytes"));
          records.push(rate("produce_records"));
          requests.push(rate("requests"));
          if (t.length > KEEP) [t, bytesIn, bytesOut, records, requests].forEach(function (a) { a.shift(); });
          bytes.setData([t, bytesIn, bytesOut]);
          counts.setData([t, records, requests]);
        }
        last = now;
        shown.dataset.points = String(t.length);
        shown.dataset.produceRecords = String(now.produce_records);
        shown.textContent = "Since the start: " + now.produce_records + " records and " + now.produce_bytes +
          " bytes produced, " + now.fetch_bytes + " bytes fetched, " + now.requests + " requests.";
      })
      .catch(function () { /* the broker stopped or restarts: try again */ })
      .then(function () { setTimeout(poll, PERIOD_MS); });
  }
  window.addEventListener("resize", function () {
    bytes.setSize({ width: width(), height: HEIGHT });
    counts.setSize({ width: width(), height: HEIGHT });
  });
  poll();
})();
