// A set-point write still requested: look again at its status page until it is confirmed or failed.
(function () {
  var box = document.querySelector("[data-setpoint-poll]");
  if (!box || box.dataset.state !== "requested") { return; }
  window.setTimeout(function () { window.location.replace(box.dataset.setpointPoll); }, 1500);
})();
