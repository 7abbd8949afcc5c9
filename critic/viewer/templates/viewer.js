(function () {
  "use strict";
  // Everything the page shows is in the HTML already; this script only sorts,
  // filters and opens or closes the <details> (model calls, long texts).
  function setAll(open) {
    document.querySelectorAll("details").forEach(function (d) { d.open = open; });
  }
  document.querySelectorAll("[data-expand]").forEach(function (button) {
    button.addEventListener("click", function () { setAll(button.dataset.expand === "open"); });
  });
  // page.html#open-calls (or #open-all) opens every model call and text: handy for printing.
  if (location.hash === "#open-calls" || location.hash === "#open-all") { setAll(true); }

  function sortKey(row, column, numeric) {
    var cell = row.cells[column];
    var raw = cell && cell.dataset.sort !== undefined ? cell.dataset.sort : (cell ? cell.textContent.trim() : "");
    if (!numeric) { return raw.toLowerCase(); }
    var value = parseFloat(raw.replace(/,/g, ""));
    return isNaN(value) ? null : value;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, column) {
      if (!th.dataset.type) { return; }
      th.title = "sort by " + th.textContent;
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = th.dataset.type === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = sortKey(a, column, numeric), y = sortKey(b, column, numeric);
          if (x === y) { return 0; }
          if (x === null) { return 1; }   // undefined figures go last either way
          if (y === null) { return -1; }
          return (x < y ? -1 : 1) * (ascending ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });

  document.querySelectorAll(".filters[data-table]").forEach(function (bar) {
    var table = document.getElementById(bar.dataset.table);
    var count = bar.querySelector("[data-count]");
    var selects = bar.querySelectorAll("select[data-filter]");
    function apply() {
      var shown = 0, rows = table.tBodies[0].rows;
      Array.prototype.forEach.call(rows, function (row) {
        var keep = Array.prototype.every.call(selects, function (s) {
          return !s.value || row.dataset[s.dataset.filter] === s.value;
        });
        row.hidden = !keep;
        if (keep) { shown += 1; }
      });
      if (count) { count.textContent = shown + " of " + rows.length + " shown"; }
    }
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    apply();
  });
}());
