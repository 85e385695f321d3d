/* Live equipment values beside the capture button (display only; the stored capture is the record). */
(function () {
  "use strict";
  var form = document.querySelector("[data-live]");
  var out = document.getElementById("live-values");
  if (!form || !out) { return; }
  function show(values) {
    out.textContent = Object.keys(values).map(function (name) {
      var v = values[name];
      var shown = v.text !== undefined ? v.text : v.value;
      return (v.label || name) + ": " + (v.error ? v.error : shown + " " + (v.unit || "") + (v.quality !== "good" ? " (" + v.quality + ")" : ""));
    }).join(" · ");
  }
  function poll() {
    fetch(form.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : {}; }).then(show).catch(function () {});
  }
  poll();
  setInterval(poll, 3000);
})();
