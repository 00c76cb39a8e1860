// The report's only script besides plotly.js: sorting and filtering the leaderboard, filtering the drill-down.
// It reads text with textContent and never writes HTML, so nothing from a model's answer can run.
// Its few visible strings come from the page, in the report's language (window.HARNESS_I18N, set by the template
// from the message catalogue: harness/report/i18n.py); "{n}" in a count is replaced by the number.
(function () {
  "use strict";
  var T = window.HARNESS_I18N || {};

  function counted(template, n) {
    return String(template || "{n}").replace("{n}", String(n));
  }

  function sortValue(td, numeric) {
    var v = td.getAttribute("data-v");
    if (v === null) v = td.textContent.trim();
    if (!numeric) return v.toLowerCase();
    var n = parseFloat(v);
    return isNaN(n) ? null : n;  // missing numbers sort last either way
  }

  function sortTable(table, col, numeric, th) {
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortValue(a.cells[col], numeric), y = sortValue(b.cells[col], numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (!th.hasAttribute("data-sort")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      if (T.sort) button.title = T.sort;
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        sortTable(table, col, th.getAttribute("data-sort") === "num", th);
      });
    });
  });

  // Leaderboard filters: every <select data-filter="x"> keeps the rows whose data-x matches.
  var filters = document.querySelectorAll("select[data-filter]");
  function applyFilters() {
    var shown = 0;
    document.querySelectorAll("#leaderboard tbody tr").forEach(function (tr) {
      var keep = true;
      filters.forEach(function (f) {
        if (f.value && tr.getAttribute("data-" + f.getAttribute("data-filter")) !== f.value) keep = false;
      });
      tr.hidden = !keep;
      if (keep) shown++;
    });
    var count = document.getElementById("leaderboard-count");
    if (count) count.textContent = counted(T.rows, shown);
  }
  filters.forEach(function (f) { f.addEventListener("change", applyFilters); });
  if (filters.length) applyFilters();

  // Drill-down: per task, "only items where the rows disagree" and a text search over the item.
  document.querySelectorAll(".drill").forEach(function (section) {
    var only = section.querySelector("input.only-disagree");
    var search = section.querySelector("input.drill-search");
    function apply() {
      var q = search && search.value.trim().toLowerCase();
      var shown = 0;
      section.querySelectorAll(".item").forEach(function (item) {
        var keep = !(only && only.checked && item.getAttribute("data-disagree") !== "1");
        if (keep && q) keep = item.textContent.toLowerCase().indexOf(q) !== -1;
        item.hidden = !keep;
        if (keep) shown++;
      });
      var count = section.querySelector(".drill-count");
      if (count) count.textContent = counted(T.items, shown);
    }
    if (only) only.addEventListener("change", apply);
    if (search) search.addEventListener("input", apply);
    apply();
  });
})();
