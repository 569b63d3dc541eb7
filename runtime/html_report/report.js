// Sort a table by the clicked column: numbers by data-v, else by text; a second click reverses.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sort").forEach(function (th) {
    var column = th.cellIndex;
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute("data-dir") !== "up";
      th.setAttribute("data-dir", up ? "up" : "down");
      var key = function (row) {
        var cell = row.cells[column], v = cell.getAttribute("data-v");
        return v !== null ? parseFloat(v) : cell.textContent.trim().toLowerCase();
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
// Last: a page whose script failed part-way lacks it (tests/cli read it from a real browser).
document.documentElement.setAttribute("data-ready", "1");
