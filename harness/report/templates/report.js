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

  function compare(x, y, asc) {
    if (x === null && y === null) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
  }

  function sortButton(th, onClick) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    if (T.sort) button.title = T.sort;
    while (th.firstChild) button.appendChild(th.firstChild);
    th.appendChild(button);
    button.addEventListener("click", onClick);
  }

  function setSorted(table, th) {
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    return asc;
  }

  // Side tables drawn by the server (break-even, forgetting, ...): sorted in place.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (!th.hasAttribute("data-sort")) return;
      sortButton(th, function () {
        var asc = setSorted(table, th), numeric = th.getAttribute("data-sort") === "num";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          return compare(sortValue(a.cells[col], numeric), sortValue(b.cells[col], numeric), asc);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // The leaderboard: its rows are data (harness/report/compact.py), drawn a page at a time, so a report of
  // 10,000 rows opens as fast as one of ten. Sorting and filtering work on the data, not on the drawn rows.
  var PAGE = 100, PRINT_MAX = 1000;
  var printing = /[?&]print\b/.test(window.location.search);
  var dataEl = document.getElementById("leaderboard-data");
  var board = document.getElementById("leaderboard");
  if (dataEl && board) {
    var data = JSON.parse(dataEl.textContent);
    var heads = board.tHead.rows[0].cells;
    var more = Array.prototype.map.call(heads, function (th) { return th.classList.contains("more"); });
    var numericCol = Array.prototype.map.call(heads, function (th) { return th.getAttribute("data-sort") === "num"; });
    var order = data.rows.map(function (_, i) { return i; });
    var shownMax = printing ? PRINT_MAX : PAGE;
    var filters = document.querySelectorAll("select[data-filter]");
    var pager = document.getElementById("leaderboard-pager");
    var count = document.getElementById("leaderboard-count");

    // a cell is its text, or [text, sort value, note numbers, CSS class, tooltip] (compact.py: cell)
    var text = function (c) { return typeof c === "string" ? c : c[0]; };
    var value = function (c, numeric) {
      var v = typeof c === "string" ? null : c[1];
      if (v === null || v === undefined) {
        if (!numeric) return text(c).toLowerCase();
        var n = parseFloat(text(c));
        return isNaN(n) ? null : n;
      }
      return numeric ? v : String(v).toLowerCase();
    };

    function drawCell(c, isMore, col) {
      var td = document.createElement("td");
      td.textContent = text(c);
      var cls = isMore ? ["more"] : [];
      if (numericCol[col]) cls.push("num");
      if (data.classes[col]) cls.push(data.classes[col]);
      if (typeof c !== "string") {
        if (c[1] !== null && c[1] !== undefined) td.setAttribute("data-v", c[1]);
        if (c[4]) td.title = c[4];
        if (c[3]) cls.push(c[3]);
        (c[2] || []).forEach(function (n) {
          var sup = document.createElement("sup"), a = document.createElement("a");
          a.href = "#note-" + n;
          a.textContent = String(n);
          sup.appendChild(a);
          td.appendChild(sup);
        });
      }
      if (cls.length) td.className = cls.join(" ");
      return td;
    }

    function matching() {
      var wanted = Array.prototype.map.call(filters, function (f) {
        return [data.filters.indexOf(f.getAttribute("data-filter")), f.value];
      }).filter(function (w) { return w[1] && w[0] >= 0; });
      return order.filter(function (i) {
        var f = data.rows[i].f;
        return wanted.every(function (w) { return f[w[0]] === w[1]; });
      });
    }

    function draw() {
      var rows = matching(), body = board.tBodies[0], frag = document.createDocumentFragment();
      rows.slice(0, shownMax).forEach(function (i) {
        var r = data.rows[i], tr = document.createElement("tr");
        data.filters.forEach(function (k, j) { tr.setAttribute("data-" + k, r.f[j]); });
        r.c.forEach(function (c, j) { tr.appendChild(drawCell(c, more[j], j)); });
        frag.appendChild(tr);
      });
      body.textContent = "";
      body.appendChild(frag);
      var n = Math.min(rows.length, shownMax);
      if (count) count.textContent = n < rows.length ? counted(T.page, n).replace("{total}", String(rows.length))
                                                     : counted(T.rows, n);
      if (pager) {
        pager.textContent = "";
        if (n < rows.length) {
          var b = document.createElement("button");
          b.type = "button";
          b.textContent = counted(T.more, Math.min(PAGE, rows.length - n));
          b.addEventListener("click", function () { shownMax += PAGE; draw(); });
          pager.appendChild(b);
        }
      }
    }

    Array.prototype.forEach.call(heads, function (th, col) {
      sortButton(th, function () {
        var asc = setSorted(board, th), numeric = th.getAttribute("data-sort") === "num";
        var keys = {};
        order.forEach(function (i) { keys[i] = value(data.rows[i].c[col], numeric); });
        order.sort(function (a, b) { return compare(keys[a], keys[b], asc) || a - b; });
        firstPage();
        draw();
      });
    });
    var firstPage = function () { shownMax = printing ? PRINT_MAX : PAGE; };
    filters.forEach(function (f) { f.addEventListener("change", function () { firstPage(); draw(); }); });
    var switchMore = document.getElementById("more-columns");
    if (switchMore) {
      var showMore = function () { board.classList.toggle("show-more", switchMore.checked); };
      switchMore.addEventListener("change", showMore);
      showMore();  // a browser may restore the box ticked on reload
    }
    draw();
  }

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
  // Charts: each is its figure's JSON beside an empty box, drawn once it nears the screen (plotly.js comes last in
  // the page, which calls this once it is parsed). To print, every chart is drawn first; `harness report --pdf`
  // opens the page with ?print, and there each chart becomes a static image, so the PDF holds pictures.
  // plotly.js runs from its text when the first chart nears the screen (at once to print), then charts are drawn:
  // a reader of the decision panel and the table never waits for 4.6 MB of chart library to compile
  window.harnessLoadCharts = function () {
    var source = document.getElementById("plotly-source");
    var boxes = document.querySelectorAll("div.chart");
    if (!source || !boxes.length) {
      if (printing) document.documentElement.setAttribute("data-printed", "1");
      return;
    }
    var done = false;
    var run = function () {
      if (done) return;
      done = true;
      var script = document.createElement("script");
      script.textContent = source.textContent;
      document.head.appendChild(script);
      window.harnessCharts();
    };
    window.addEventListener("beforeprint", run);
    if (printing || !("IntersectionObserver" in window)) { setTimeout(run, 0); return; }
    var near = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { near.disconnect(); run(); }
    }, {rootMargin: "600px"});
    Array.prototype.forEach.call(boxes, function (el) { near.observe(el); });
  };

  var printingNow = false;  // plotly.js loaded by a reader's Ctrl+P: draw every chart at once
  window.addEventListener("beforeprint", function () { printingNow = true; });

  window.harnessCharts = function () {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("div.chart"));
    var config = {displaylogo: false, responsive: true, staticPlot: printing};
    function draw(el) {
      if (el.getAttribute("data-drawn")) return Promise.resolve(el);
      el.setAttribute("data-drawn", "1");
      var source = document.querySelector('script.chart-data[data-for="' + el.id + '"]');
      var fig = JSON.parse(source.textContent);
      return Promise.resolve(window.Plotly.newPlot(el, fig.data, fig.layout, config)).then(function () { return el; });
    }
    function asImage(el) {
      return window.Plotly.toImage(el, {format: "png", width: 1000, height: 520}).then(function (url) {
        var img = document.createElement("img");
        img.src = url;
        img.className = "chart-image";
        img.alt = el.getAttribute("aria-label") || "";
        el.parentNode.insertBefore(img, el);
        el.style.display = "none";
      });
    }
    if (printing) {
      var printed = function () { document.documentElement.setAttribute("data-printed", "1"); };
      Promise.all(boxes.map(function (el) { return draw(el).then(asImage); })).then(printed, printed);
      return;
    }
    window.addEventListener("beforeprint", function () { boxes.forEach(draw); });
    if (printingNow) { boxes.forEach(draw); return; }
    if (!("IntersectionObserver" in window)) { boxes.forEach(draw); return; }
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); }
      });
    }, {rootMargin: "400px"});
    boxes.forEach(function (el) { seen.observe(el); });
  };
})();
