/* JSON Schema / UI-schema editor: the preview is rendered by the server (forms/) on every change. */
(function () {
  "use strict";
  var root = document.getElementById("form-editor");
  if (!root) { return; }
  var schema = document.getElementById("schema-text");
  var ui = document.getElementById("ui-text");
  var preview = document.getElementById("preview");
  var error = document.getElementById("preview-error");
  var warnings = document.getElementById("preview-warnings");
  var language = document.getElementById("preview-language");
  var token = document.querySelector("input[name=csrf_token]").value;
  var timer = null;

  function refresh() {
    fetch(root.getAttribute("data-preview"), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token, "Accept": "application/json" },
      body: JSON.stringify({ schema: schema.value, ui_schema: ui ? ui.value : "{}",
                             language: language ? language.value : "" })
    }).then(function (r) { return r.json(); }).then(function (answer) {
      error.hidden = answer.ok;
      error.textContent = answer.ok ? "" : answer.error;
      if (answer.ok) {
        preview.innerHTML = answer.html;
        var list = warnings.querySelector("ul");
        list.innerHTML = "";
        (answer.warnings || []).forEach(function (text) {
          var li = document.createElement("li");
          li.textContent = text;
          list.appendChild(li);
        });
        warnings.hidden = !(answer.warnings || []).length;
      }
    });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  schema.addEventListener("input", later);
  if (ui) { ui.addEventListener("input", later); }
  if (language) { language.addEventListener("change", refresh); }
  refresh();

  document.getElementById("form-save").addEventListener("submit", function () {
    document.getElementById("form-content").value = schema.value;
    var uiField = document.getElementById("form-ui-content");
    if (uiField && ui) { uiField.value = ui.value; }
  });
})();
