// Poll a background job's progress; reload the page when it has finished.
(function () {
  var box = document.getElementById("progress");
  if (!box) { return; }
  function poll() {
    fetch(box.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (p) {
        document.getElementById("state").textContent = p.state;
        document.getElementById("stage").textContent = p.stage || "";
        var count = document.getElementById("count");
        if (count) { count.textContent = p.done + "/" + p.total; }
        var bar = document.getElementById("bar");
        bar.max = p.total || 1; bar.value = p.done;
        if (p.state !== "running") { window.location.reload(); } else { window.setTimeout(poll, 1500); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
