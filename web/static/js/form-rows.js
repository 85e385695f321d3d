/* Task forms in the browser (forms/templates/form.html): rows of a repeating group added and
   removed, a row's equipment value captured, the exception comment opened when a value is
   outside its limits, and a warning when a text is longer than its field takes.
   Only a convenience: the server parses, checks and decides everything again. */
(function () {
  "use strict";

  function form(el) { return el.closest(".gmp-form") || document.querySelector(".gmp-form"); }
  function msg(el, name, values) {
    var root = el.closest("[data-msg-" + name + "]") || form(el);
    var text = (root && root.getAttribute("data-msg-" + name)) || "";
    Object.keys(values || {}).forEach(function (key) { text = text.split("%(" + key + ")s").join(values[key]); });
    return text;
  }

  function visibleRows(group) {
    return Array.prototype.filter.call(group.querySelector(".gmp-row-list").children,
      function (li) { return li.classList.contains("gmp-row"); });
  }

  /* Visible numbers follow the order on screen; the names keep their index (the server renumbers). */
  function renumber(group) {
    var rows = visibleRows(group);
    var min = parseInt(group.getAttribute("data-min-rows") || "0", 10);
    var max = parseInt(group.getAttribute("data-max-rows") || "200", 10);
    rows.forEach(function (li, i) {
      var title = msg(group, "row", { number: String(i + 1) });
      var legend = li.querySelector(".gmp-row-title");
      if (legend && legend.closest(".gmp-row") === li) { legend.textContent = title; }
      var remove = li.querySelector("[data-remove-row]");
      if (remove && remove.closest(".gmp-row") === li) {
        remove.textContent = msg(group, "remove", { row: title });
        remove.disabled = rows.length <= Math.max(min, 1);
      }
    });
    var add = group.querySelector("[data-add-row]");
    if (add) { add.disabled = rows.length >= max; }
  }

  function addRow(group) {
    var template = group.querySelector("template.gmp-row-template");
    if (!template) { return; }
    var rows = visibleRows(group);
    var max = parseInt(group.getAttribute("data-max-rows") || "200", 10);
    if (rows.length >= max) { status(group, msg(group, "max-rows", { count: String(max) })); return; }
    var index = parseInt(group.getAttribute("data-next-index") || String(rows.length), 10);
    group.setAttribute("data-next-index", String(index + 1));
    var html = template.innerHTML.split("__INDEX__").join(String(index))
      .split("__NUMBER__").join(String(rows.length + 1));
    var holder = document.createElement("ol");
    holder.innerHTML = html;
    var li = holder.firstElementChild;
    group.querySelector(".gmp-row-list").appendChild(li);
    renumber(group);
    recalculate(form(group));
    var first = li.querySelector("input:not([type=hidden]):not([readonly]), select, textarea");
    if (first) { first.focus(); }
    status(group, msg(group, "added", { row: msg(group, "row", { number: String(visibleRows(group).length) }) }));
  }

  function removeRow(button) {
    var li = button.closest(".gmp-row");
    var group = li.closest(".gmp-rows");
    var title = li.querySelector(".gmp-row-title").textContent;
    li.parentNode.removeChild(li);
    renumber(group);
    recalculate(form(group));
    status(group, msg(group, "removed", { row: title }));
    var add = group.querySelector("[data-add-row]");
    if (add) { add.focus(); }
  }

  function status(group, text) {
    var out = group.querySelector(".gmp-row-status");
    if (out) { out.textContent = text; }
  }

  function capture(button) {
    var page = document.querySelector("[data-capture-url]");
    if (!page) { return; }
    var field = button.closest(".gmp-field");
    var token = document.querySelector("input[name=csrf_token]");
    button.disabled = true;
    fetch(page.getAttribute("data-capture-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRF-Token": token ? token.value : "" },
      body: JSON.stringify({ field: button.getAttribute("data-capture") })
    }).then(function (r) { return r.json(); }).then(function (answer) {
      var error = field.querySelector(".gmp-error");
      if (answer.ok) {
        field.querySelector("input[readonly]").value = answer.text;
        field.querySelector("input.gmp-reading").value = String(answer.reading_id);
        var source = field.querySelector(".gmp-badge-equipment");
        if (source) { source.textContent = answer.source; }
        if (error) { error.hidden = true; error.textContent = ""; }
      } else if (error) {
        error.hidden = false;
        error.textContent = answer.error;
      }
    }).catch(function () {}).then(function () { button.disabled = false; });
  }

  function checkLimits(input) {
    var low = input.getAttribute("data-low"), high = input.getAttribute("data-high");
    if (!low && !high) { return; }
    var field = input.closest(".gmp-field");
    var details = field && field.querySelector("details.gmp-exception");
    if (!details) { return; }
    var text = input.value.trim();
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) { return; }
    var value = parseFloat(text);
    var outside = (low !== "" && low !== null && value < parseFloat(low)) ||
                  (high !== "" && high !== null && value > parseFloat(high));
    if (outside) { details.open = true; }
    field.classList.toggle("gmp-field-outside", outside);
  }

  function checkLength(input) {
    var max = parseInt(input.getAttribute("data-max-length") || "0", 10);
    if (!max) { return; }
    var note = input.parentNode.querySelector(".gmp-length");
    var length = input.value.length;
    if (length > max) {
      if (!note) {
        note = document.createElement("p");
        note.className = "gmp-length gmp-error";
        note.setAttribute("aria-live", "polite");
        input.parentNode.appendChild(note);
      }
      note.textContent = msg(input, "too-long", { length: String(length), count: String(max) });
    } else if (note) {
      note.parentNode.removeChild(note);
    }
  }

  /* A preview of calculations and calculated limits while typing, with the grammar of
     forms/expressions.py (numbers, names, + - * /, parentheses, min, max, abs, round).
     In binary floating point, rounded for display: the server computes the record in decimals. */
  function parse(source) {
    var tokens = source.match(/\d+\.?\d*|\.\d+|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?|[-+*\/(),]/g) || [];
    var pos = 0;
    function peek() { return tokens[pos]; }
    function next() { return tokens[pos++]; }
    function primary() {
      var token = next();
      if (token === "(") { var inner = sum(); next(); return inner; }
      if (token === "-") { var negated = primary(); return function (env) { return -negated(env); }; }
      if (token === "+") { return primary(); }
      if (/^[\d.]/.test(token)) { var number = parseFloat(token); return function () { return number; }; }
      if (peek() === "(") {
        next();
        var args = [];
        while (peek() !== ")" && pos < tokens.length) { args.push(sum()); if (peek() === ",") { next(); } }
        next();
        return function (env) {
          var values = args.map(function (a) { return a(env); });
          if (token === "sum") { return values[0].reduce(function (t, v) { return t + v; }, 0); }
          if (token === "count") { return values[0].length; }
          if (token === "min") { return Math.min.apply(null, values); }
          if (token === "max") { return Math.max.apply(null, values); }
          if (token === "abs") { return Math.abs(values[0]); }
          var factor = Math.pow(10, values.length > 1 ? values[1] : 0);
          return Math.sign(values[0]) * Math.round(Math.abs(values[0]) * factor + 1e-9) / factor;
        };
      }
      return function (env) { return env(token); };
    }
    function binary(op, l, r) {
      return function (env) {
        var a = l(env), b = r(env);
        return op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : a / b;
      };
    }
    function product() {
      var left = primary();
      while (peek() === "*" || peek() === "/") { left = binary(next(), left, primary()); }
      return left;
    }
    function sum() {
      var left = product();
      while (peek() === "+" || peek() === "-") { left = binary(next(), left, product()); }
      return left;
    }
    return sum();
  }

  function evaluate(source, namesJson) {
    var names = JSON.parse(namesJson || "{}");
    try {
      var value = parse(source)(function (name) {
        var target = names[name];
        if (target && typeof target === "object") { return rowValues(target); }
        return number(document.getElementById(target));
      });
      return isFinite(value) ? value : null;
    } catch (e) { return null; }
  }

  function number(el) {
    var text = el ? (el.tagName === "OUTPUT" ? el.textContent : el.value).trim() : "";
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) { throw new Error("no value"); }
    return parseFloat(text);
  }

  /* sum(rows.column): the column's values, one per row shown; count(rows): the rows themselves */
  function rowValues(target) {
    var group = document.getElementById(target.rows);
    if (!group) { throw new Error("no rows"); }
    return visibleRows(group).map(function (li) {
      if (!target.column) { return li; }
      var cell = Array.prototype.filter.call(li.querySelectorAll(".gmp-field[data-field]"), function (field) {
        var path = field.getAttribute("data-field");
        return field.closest(".gmp-row") === li && path.slice(path.lastIndexOf(".") + 1) === target.column;
      })[0];
      return number(cell && cell.querySelector("input, output"));
    });
  }

  function shown(value, decimals) {
    if (decimals !== null && decimals !== "") { return value.toFixed(parseInt(decimals, 10)); }
    return String(Number(value.toPrecision(12)));
  }

  function recalculate(root) {
    for (var pass = 0; pass < 3; pass++) {  /* calculations may use other calculations */
      Array.prototype.forEach.call(root.querySelectorAll("output[data-expression]"), function (out) {
        if (!out.getAttribute("data-expression") || out.id.indexOf("__INDEX__") >= 0) { return; }
        var value = evaluate(out.getAttribute("data-expression"), out.getAttribute("data-names"));
        out.textContent = value === null ? "—" : shown(value, out.getAttribute("data-decimals"));
      });
    }
    Array.prototype.forEach.call(root.querySelectorAll("input[data-low-expression]"), function (input) {
      if (input.id.indexOf("__INDEX__") >= 0) { return; }
      var names = input.getAttribute("data-names");
      var lowSource = input.getAttribute("data-low-expression"), highSource = input.getAttribute("data-high-expression");
      var low = lowSource ? evaluate(lowSource, names) : null, high = highSource ? evaluate(highSource, names) : null;
      var text = input.closest(".gmp-field").querySelector(".gmp-limits-text");
      if ((lowSource && low === null) || (highSource && high === null)) { return; }
      input.setAttribute("data-low", low === null ? "" : String(Number(low.toPrecision(12))));
      input.setAttribute("data-high", high === null ? "" : String(Number(high.toPrecision(12))));
      if (text) {
        var unit = text.getAttribute("data-unit");
        var range = low !== null && high !== null ? input.getAttribute("data-low") + " – " + input.getAttribute("data-high")
          : (low !== null ? "≥ " + input.getAttribute("data-low") : "≤ " + input.getAttribute("data-high"));
        text.textContent = range + (unit ? " " + unit : "");
      }
      checkLimits(input);
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-add-row], [data-remove-row], [data-capture]");
    if (!target) { return; }
    event.preventDefault();
    if (target.hasAttribute("data-add-row")) { addRow(target.closest(".gmp-rows")); }
    else if (target.hasAttribute("data-remove-row")) { removeRow(target); }
    else { capture(target); }
  });
  document.addEventListener("input", function (event) {
    var el = event.target;
    var root = el.closest && el.closest(".gmp-form");
    if (root) { recalculate(root); }
    if (el.hasAttribute && (el.hasAttribute("data-low") || el.hasAttribute("data-low-expression"))) { checkLimits(el); }
    if (el.hasAttribute && el.hasAttribute("data-max-length")) { checkLength(el); }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".gmp-rows"), renumber);
  Array.prototype.forEach.call(document.querySelectorAll(".gmp-form"), recalculate);
  Array.prototype.forEach.call(document.querySelectorAll("[data-max-length]"), checkLength);
})();
