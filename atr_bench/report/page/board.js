// The leaderboard page: draws one board from the JSON beside this script (sortable columns,
// filters, marks, per-row provenance and validation curves, the rows under each metric
// definition, the quoted rows). Text from the data only ever goes into the page as text
// nodes, never as markup.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("board-data").textContent);
  var page = document.getElementById("page");

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function svgEl(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    return node;
  }

  function cellNode(tag, cell, numeric) {
    var node = el(tag, null, numeric ? "numeric" : "");
    if (cell.bold) node.appendChild(el("strong", cell.text));
    else node.textContent = cell.text;
    return node;
  }

  // ---- the head of the page: what the board is and how it was made
  function drawHead() {
    page.appendChild(el("p", data.header, "header"));
    page.appendChild(el("p", "Test set: " + data.test_set, "test-set"));
    if (data.smoke) {
      page.appendChild(el("p", "Smoke-sized runs: not comparable with full-sized runs.", "smoke"));
    }
    data.notes.forEach(function (note) { page.appendChild(el("p", note, "note")); });
  }

  // ---- filters: one select per field, "all" or one of the rows' values
  var filters = {};
  var shownCount = el("span", "", "shown");

  function drawFilters(entries) {
    var form = el("form", null, "filters");
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    data.filters.forEach(function (field) {
      var label = el("label", field);
      var select = el("select");
      select.name = field;
      select.id = "filter-" + field;
      select.appendChild(el("option", "all"));
      select.options[0].value = "";
      var values = [];
      entries.forEach(function (entry) {
        var value = entry.row.filters[field];
        if (values.indexOf(value) < 0) values.push(value);
      });
      values.sort().forEach(function (value) {
        var option = el("option", value);
        option.value = value;
        select.appendChild(option);
      });
      select.addEventListener("change", function () { applyFilters(entries); });
      filters[field] = select;
      label.appendChild(select);
      form.appendChild(label);
    });
    form.appendChild(shownCount);
    page.appendChild(form);
  }

  function applyFilters(entries) {
    var shown = 0;
    entries.forEach(function (entry) {
      var visible = data.filters.every(function (field) {
        var wanted = filters[field].value;
        return wanted === "" || entry.row.filters[field] === wanted;
      });
      entry.tr.hidden = !visible;
      entry.details.hidden = !visible || !entry.open;
      entry.twins.forEach(function (tr) { tr.hidden = !visible; });
      if (visible) shown += 1;
    });
    shownCount.textContent = "showing " + shown + " of " + entries.length + " rows";
  }

  // ---- sorting: a click on a header sorts by it, a second click the other way
  var sorted = { column: -1, descending: false };

  function compareCells(a, b, numeric) {
    if (numeric) {
      if (a.sort === null || b.sort === null) return 0;
      return a.sort - b.sort;
    }
    return a.text.localeCompare(b.text);
  }

  function sortBy(index, entries, tbody, heads) {
    var column = data.columns[index];
    var descending = sorted.column === index
      ? !sorted.descending
      : column.numeric && !column.lower;
    entries.sort(function (a, b) {
      var x = a.row.cells[index];
      var y = b.row.cells[index];
      var missing = (column.numeric && x.sort === null) - (column.numeric && y.sort === null);
      if (missing !== 0) return missing; // no value: last either way
      var order = compareCells(x, y, column.numeric);
      if (descending) order = -order;
      return order !== 0 ? order : a.order - b.order;
    });
    entries.forEach(function (entry) {
      tbody.appendChild(entry.tr);
      tbody.appendChild(entry.details);
    });
    heads.forEach(function (th, i) {
      var state = i === index ? (descending ? "descending" : "ascending") : "none";
      th.setAttribute("aria-sort", state);
    });
    sorted = { column: index, descending: descending };
  }

  // ---- a row's details: provenance, runs, configuration and validation curves
  function provenance(row) {
    var box = el("div", null, "provenance-box");
    box.appendChild(el("h3", "Provenance: " + row.name));
    var list = el("dl", null, "provenance");
    row.provenance.forEach(function (pair) {
      list.appendChild(el("dt", pair[0]));
      list.appendChild(el("dd", pair[1]));
    });
    box.appendChild(list);
    if (row.runs.length) {
      var table = el("table", null, "runs");
      var head = el("tr");
      ["seed", "run id", "created", "device"].forEach(function (label) {
        head.appendChild(el("th", label));
      });
      table.appendChild(el("thead")).appendChild(head);
      var body = table.appendChild(el("tbody"));
      row.runs.forEach(function (run) {
        var tr = body.appendChild(el("tr"));
        [run.seed, run.run_id, run.created, run.device].forEach(function (text) {
          tr.appendChild(el("td", text));
        });
      });
      box.appendChild(el("h3", "Runs"));
      box.appendChild(table);
    }
    if (row.configuration) {
      var more = el("details");
      more.appendChild(el("summary", "resolved configuration"));
      more.appendChild(el("pre", row.configuration, "configuration"));
      box.appendChild(more);
    }
    return box;
  }

  function scale(lo, hi, from, to) {
    if (hi === lo) { lo -= 1; hi += 1; }
    return function (v) { return from + (v - lo) / (hi - lo) * (to - from); };
  }

  function curvePanel(curve) {
    var width = 320, height = 200, left = 46, right = 12, top = 22, bottom = 30;
    var low = curve.mean.map(function (m, i) { return m - curve.std[i]; });
    var high = curve.mean.map(function (m, i) { return m + curve.std[i]; });
    var yMin = Math.min.apply(null, low), yMax = Math.max.apply(null, high);
    var xMin = curve.epochs[0], xMax = curve.epochs[curve.epochs.length - 1];
    var x = scale(xMin, xMax, left, width - right);
    var y = scale(yMin, yMax, height - bottom, top);
    var svg = svgEl("svg", { "class": "curve", width: width, height: height,
      viewBox: "0 0 " + width + " " + height, role: "img" });
    var seeds = curve.seeds + " seed" + (curve.seeds === 1 ? "" : "s");
    var title = curve.title + ", mean ± std over " + seeds;
    svg.appendChild(svgEl("title", {})).textContent = title;
    var band = high.map(function (v, i) { return x(curve.epochs[i]) + "," + y(v); });
    low.slice().reverse().forEach(function (v, j) {
      band.push(x(curve.epochs[curve.epochs.length - 1 - j]) + "," + y(v));
    });
    svg.appendChild(svgEl("polygon", { "class": "band", points: band.join(" ") }));
    var line = curve.mean.map(function (v, i) { return x(curve.epochs[i]) + "," + y(v); });
    svg.appendChild(svgEl("polyline", { "class": "mean", points: line.join(" ") }));
    curve.mean.forEach(function (v, i) {
      var dot = svgEl("circle", { "class": "point", cx: x(curve.epochs[i]), cy: y(v), r: 2.5 });
      dot.appendChild(svgEl("title", {})).textContent =
        "epoch " + curve.epochs[i] + ": " + v.toFixed(2) + " ± " + curve.std[i].toFixed(2);
      svg.appendChild(dot);
    });
    svg.appendChild(svgEl("line", { "class": "axis", x1: left, y1: height - bottom,
      x2: width - right, y2: height - bottom }));
    svg.appendChild(svgEl("line", { "class": "axis", x1: left, y1: top, x2: left,
      y2: height - bottom }));
    var labels = [
      [left - 4, y(yMax) + 4, yMax.toFixed(1), "end"],
      [left - 4, y(yMin) + 4, yMin.toFixed(1), "end"],
      [x(xMin), height - bottom + 14, String(xMin), "middle"],
      [x(xMax), height - bottom + 14, String(xMax), "middle"],
      [(left + width - right) / 2, height - 4, "epoch", "middle"],
    ];
    labels.forEach(function (label) {
      svg.appendChild(svgEl("text", { x: label[0], y: label[1], "text-anchor": label[3] }))
        .textContent = label[2];
    });
    svg.appendChild(svgEl("text", { "class": "title", x: left, y: 14 })).textContent =
      curve.title + ", " + seeds;
    return svg;
  }

  function details(row) {
    var box = el("div", null, "details-box");
    box.appendChild(provenance(row));
    box.appendChild(el("h3", "Validation curves"));
    if (!row.curves.length) box.appendChild(el("p", "No validation curve in the records."));
    var curves = box.appendChild(el("div", null, "curves"));
    row.curves.forEach(function (curve) { curves.appendChild(curvePanel(curve)); });
    return box;
  }

  // ---- the measured table; a row's entry also holds its lines in the other tables (twins),
  // which its filters hide with it
  var entries = data.rows.map(function (row, order) {
    return { row: row, order: order, twins: [] };
  });
  var inBoardOrder = entries.slice();

  function drawBoard() {
    if (!data.rows.length) {
      page.appendChild(el("p", "No usable run records for this dataset."));
      return;
    }
    drawFilters(entries);
    var wrap = page.appendChild(el("div", null, "table-wrap"));
    var table = wrap.appendChild(el("table", null, "board"));
    table.id = "board";
    var headRow = table.appendChild(el("thead")).appendChild(el("tr"));
    headRow.appendChild(el("th", "details"));
    var tbody = table.appendChild(el("tbody"));
    var heads = data.columns.map(function (column, index) {
      var th = headRow.appendChild(el("th"));
      th.setAttribute("aria-sort", "none");
      var button = th.appendChild(el("button", column.label));
      button.type = "button";
      button.addEventListener("click", function () { sortBy(index, entries, tbody, heads); });
      return th;
    });
    entries.forEach(function (entry, index) { drawRow(entry, index, tbody); });
    applyFilters(entries);
  }

  function drawRow(entry, index, tbody) {
    var row = entry.row;
    var tr = tbody.appendChild(el("tr", null, "row"));
    if (row.marks.single_seed) tr.classList.add("single-seed");
    if (row.marks.unsound) tr.classList.add("unsound");
    if (row.marks.zero_shot) tr.classList.add("zero-shot");
    var toggle = tr.appendChild(el("td")).appendChild(el("button", "+", "toggle"));
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", "details-" + index);
    toggle.title = "provenance and validation curves of " + row.name;
    row.cells.forEach(function (cell, i) {
      tr.appendChild(cellNode("td", cell, data.columns[i].numeric));
    });
    var more = tbody.appendChild(el("tr", null, "details"));
    more.id = "details-" + index;
    more.hidden = true;
    var holder = more.appendChild(el("td"));
    holder.colSpan = row.cells.length + 1;
    entry.tr = tr;
    entry.details = more;
    entry.open = false;
    toggle.addEventListener("click", function () {
      if (!holder.firstChild) holder.appendChild(details(row));
      entry.open = !entry.open;
      more.hidden = !entry.open;
      toggle.textContent = entry.open ? "−" : "+";
      toggle.setAttribute("aria-expanded", String(entry.open));
    });
  }

  // ---- what the marks mean, and chance levels
  function drawNotes() {
    var notes = page.appendChild(el("div", null, "notes"));
    data.notes_below.forEach(function (note) { notes.appendChild(el("p", note, "note")); });
  }

  // a table drawn as it is (not sortable) into parent; returns its body's rows in order
  function drawTable(parent, spec, className, id) {
    var wrap = parent.appendChild(el("div", null, "table-wrap"));
    var table = wrap.appendChild(el("table", null, className));
    table.id = id;
    var head = table.appendChild(el("thead")).appendChild(el("tr"));
    spec.columns.forEach(function (column) { head.appendChild(el("th", column.label)); });
    var body = table.appendChild(el("tbody"));
    return spec.rows.map(function (cells) {
      var tr = body.appendChild(el("tr"));
      cells.forEach(function (cell, i) {
        tr.appendChild(cellNode("td", cell, spec.columns[i].numeric));
      });
      return tr;
    });
  }

  // ---- the board's rows under each metric definition, one table per direction
  function drawDefinitions() {
    var definitions = data.definitions;
    if (!definitions) return;
    var section = page.appendChild(el("section", null, "definitions"));
    section.id = "definitions";
    section.appendChild(el("h2", definitions.title));
    var notes = section.appendChild(el("div", null, "notes"));
    definitions.notes.forEach(function (note) { notes.appendChild(el("p", note, "note")); });
    definitions.tables.forEach(function (spec) {
      section.appendChild(el("h3", spec.direction));
      var trs = drawTable(section, spec, "definitions", "definitions-" + spec.direction);
      trs.forEach(function (tr, order) { inBoardOrder[order].twins.push(tr); });
    });
  }

  // ---- the quoted rows and their sources
  function drawReference() {
    var ref = data.reference;
    if (!ref) return;
    page.appendChild(el("h2", ref.title));
    page.appendChild(el("p", ref.preface, "preface"));
    drawTable(page, ref, "reference", "reference");
    var list = page.appendChild(el("ul", null, "sources"));
    ref.sources.forEach(function (source) {
      var item = list.appendChild(el("li", "[" + source.number + "] " + source.source + ", "));
      var link = item.appendChild(el("a", source.url));
      if (/^https:\/\//.test(source.url)) link.href = source.url;
      item.appendChild(document.createTextNode(". " + source.note));
    });
  }

  drawHead();
  drawBoard();
  drawNotes();
  drawDefinitions();
  drawReference();
})();
