/* costcalc HTML report (issue 14): the layer graph (laid out by dagre), the layer details with
   their formulas, the sortable and filterable layer table, the totals, and the compare view.
   Every number comes from the JSON that costcalc.html embeds (costcalc.analysis.summarize):
   this script formats, sorts, filters and draws them, and computes no count itself. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("costcalc-data").textContent);
  var INITIAL_NODES = 300;   // a bigger graph starts with its blocks collapsed
  var MAX_NODES = 1200;      // at most this many nodes are laid out at once (dagre's limits)
  var QUANTITIES = [
    ["macs", "MACs"], ["params", "params"], ["flops", "FLOPs"], ["other", "other ops"],
    ["acts", "activations (elements)"], ["bytes", "activation memory (float32 bytes)"]
  ];
  var LAYER_W = 176, LAYER_H = 36, BLOCK_W = 196, BLOCK_H = 44, INPUT_W = 120, INPUT_H = 28;
  var COLORS = [[255, 245, 204], [254, 210, 110], [253, 150, 70], [240, 80, 40], [200, 20, 40]];
  var FRAME_LABEL = 13, FRAME_PAD = 5;   // a block frame's label row and its side padding

  var costcalc = window.costcalc = { timings: [], views: {}, errors: [] };

  // ------------------------------------------------------------------ helpers
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }
  function fmt(v) {                      // exact digits with thousands separators
    var s = String(v), neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    if (!/^\d+$/.test(s)) return (neg ? "-" : "") + s;
    return (neg ? "-" : "") + s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function num(v) { return typeof v === "number" ? v : Number(v); }   // for sorting, scales
  function shape(s) { return s.join("x"); }
  function el(tag, cls, html) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (html !== undefined) e.innerHTML = html;
    return e;
  }
  function short(s, n) { return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }
  function color(t) {                   // t in [0, 1] -> a yellow-orange-red ramp
    if (!(t > 0)) return "rgb(238,238,238)";
    var x = Math.min(1, t) * (COLORS.length - 1), k = Math.min(COLORS.length - 2, Math.floor(x));
    var f = x - k, a = COLORS[k], b = COLORS[k + 1];
    return "rgb(" + [0, 1, 2].map(function (j) { return Math.round(a[j] + (b[j] - a[j]) * f); })
      .join(",") + ")";
  }
  // a description: its first sentence, the rest behind "more"
  function about(text) {
    if (!text) return "";
    var m = /^([\s\S]{40,300}?[.:;])\s/.exec(text);
    if (!m || m[1].length >= text.length - 20) return "<p class=\"desc\">" + esc(text) + "</p>";
    return "<details class=\"desc\"><summary>" + esc(m[1]) + " <span class=\"small\">(more)" +
      "</span></summary><p>" + esc(text.slice(m[1].length).trim()) + "</p></details>";
  }
  function now() { return (window.performance && performance.now) ? performance.now() : Date.now(); }

  var tip = el("div", "tip");
  tip.setAttribute("role", "tooltip");
  document.body.appendChild(tip);
  function showTip(html, ev) {
    tip.innerHTML = html;
    tip.style.display = "block";
    moveTip(ev);
  }
  function moveTip(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = ev.clientX - w - 14;
    if (y + h > window.innerHeight - 4) y = ev.clientY - h - 14;
    tip.style.left = Math.max(2, x) + "px";
    tip.style.top = Math.max(2, y) + "px";
  }
  function hideTip() { tip.style.display = "none"; }

  // ------------------------------------------------------------------ one spec's view
  function SpecView(root, d) {
    var self = this;
    this.d = d;
    this.root = root;
    var cols = d.layers.columns;
    var L = d.layers.rows.map(function (r, i) {
      var o = { i: i };
      cols.forEach(function (c, k) { o[c] = r[k]; });
      return o;
    });
    var B = d.blocks;
    this.L = L;
    this.B = B;
    // chains root -> leaf of block indices, for layers and for blocks
    B.forEach(function (b, k) {
      b.i = k;
      b.chain = b.parent >= 0 ? B[b.parent].chain.concat([k]) : [k];
      b.children = 0;
    });
    B.forEach(function (b) { if (b.parent >= 0) B[b.parent].children++; });
    L.forEach(function (l) { l.chain = l.block >= 0 ? B[l.block].chain : []; });
    this.maxDepth = B.reduce(function (m, b) { return Math.max(m, b.depth + 1); }, 0);
    this.quantity = "macs";
    this.zoom = 1;
    this.cache = {};
    this.sortKey = null;
    this.sortDir = 0;
    this.selected = null;
    this.built = false;
    this.uid = "arrow" + (SpecView.count = (SpecView.count || 0) + 1);

    root.innerHTML = "";
    root.classList.add("specview");
    root.setAttribute("data-spec", d.spec);
    var head = el("header", "spec-head");
    var params = Object.keys(d.params_set || {}).map(function (k) {
      return esc(k) + "=" + esc(d.params_set[k]);
    }).join(", ");
    var t = d.totals;
    head.innerHTML =
      "<h1>" + esc(d.spec) + ": " + esc(d.title || "") + "</h1>" +
      about(d.description) +
      "<p class=\"line\">input " + esc(shape(d.input_shape)) + " \u2192 output " +
      esc(shape(d.output_shape)) + " \u00b7 <b>" + fmt(t.layers) + "</b> layers \u00b7 <b>" +
      fmt(t.params) + "</b> params \u00b7 <b class=\"total-macs\">" + fmt(t.macs) +
      "</b> MACs \u00b7 " + fmt(t.flops) + " FLOPs" + (d.batch !== 1 ? " (batch " + d.batch +
      ")" : "") + "</p>" +
      (params ? "<p class=\"line small\">parameters: " + params + "</p>" : "") +
      (d.source ? "<p class=\"line small source-line\">source: " + esc(short(d.source, 240)) +
        (d.source.length > 240 ? " <a href=\"#\" class=\"more\">more</a>" : "") + "</p>" : "") +
      (d.file ? "<p class=\"line small\">spec: <code>" + esc(d.file) + "</code> \u00b7 " +
        "reproduce with <code>costcalc summary " + esc(d.spec) + "</code></p>" : "");
    root.appendChild(head);
    var more = head.querySelector(".source-line .more");
    if (more) more.addEventListener("click", function (e) {
      e.preventDefault();
      head.querySelector(".source-line").textContent = "source: " + d.source;
    });

    // toolbar
    var bar = el("div", "toolbar");
    var sel = "<label>colour and size by <select class=\"q-select\">" +
      QUANTITIES.map(function (q) {
        return "<option value=\"" + q[0] + "\">" + esc(q[1]) + "</option>";
      }).join("") + "</select></label>";
    bar.innerHTML = sel +
      "<button type=\"button\" class=\"expand-all\">expand all</button>" +
      "<button type=\"button\" class=\"collapse-all\">collapse all</button>" +
      "<span class=\"sep\"></span>" +
      "<button type=\"button\" class=\"zoom-out\" title=\"zoom out\">\u2212</button>" +
      "<button type=\"button\" class=\"zoom-in\" title=\"zoom in\">+</button>" +
      "<button type=\"button\" class=\"zoom-fit\" title=\"fit the width\">fit</button>" +
      "<span class=\"status\" aria-live=\"polite\"></span>";
    root.appendChild(bar);
    if (!B.length) {
      bar.querySelector(".expand-all").disabled = true;
      bar.querySelector(".collapse-all").disabled = true;
    }

    var main = el("div", "main");
    this.graphWrap = el("div", "graph-wrap");
    this.graphWrap.setAttribute("tabindex", "0");
    this.side = el("aside", "details");
    this.side.innerHTML = "<p class=\"hint\">Click a layer for its formula, its spec line and " +
      "source; click a block (\u25b8) to expand it, its frame's label (\u25be) to collapse " +
      "it. Hover for the shape and counts.</p>";
    main.appendChild(this.graphWrap);
    main.appendChild(this.side);
    root.appendChild(main);

    // totals, by op, conventions
    var tot = el("section", "totals");
    tot.innerHTML = "<h2>Totals</h2><table class=\"kv totals-table\"><tbody>" +
      d.totals_rows.map(function (r) {
        return "<tr><th>" + esc(r[0]) + "</th><td class=\"num\">" + esc(r[1]) + "</td></tr>";
      }).join("") + "</tbody></table>" +
      "<h3>By op</h3><table class=\"grid by-op\"><thead><tr><th>op</th><th>layers</th>" +
      "<th>params</th><th>params %</th><th>MACs</th><th>MACs %</th><th>FLOPs</th></tr></thead>" +
      "<tbody>" + d.by_op.map(function (r) {
        return "<tr><td>" + esc(r[0]) + "</td><td class=\"num\">" + fmt(r[1]) +
          "</td><td class=\"num\">" + fmt(r[2]) + "</td><td class=\"num\">" + esc(r[3]) +
          "</td><td class=\"num\">" + fmt(r[4]) + "</td><td class=\"num\">" + esc(r[5]) +
          "</td><td class=\"num\">" + fmt(r[6]) + "</td></tr>";
      }).join("") + "</tbody></table>" +
      "<details class=\"conv\"><summary>Counting conventions</summary><pre>" +
      esc(d.conventions) + "</pre></details>";
    root.appendChild(tot);

    // the layer table
    var tab = el("section", "layers");
    var ops = {};
    L.forEach(function (l) { ops[l.op] = (ops[l.op] || 0) + 1; });
    this.columns = [
      ["i", "#", "num"], ["name", "layer", ""], ["op", "op", ""], ["block", "block", ""],
      ["shape", "output", "num"], ["params", "params", "num"], ["macs", "MACs", "num"],
      ["flops", "FLOPs", "num"], ["other", "other ops", "num"], ["acts", "activations", "num"],
      ["line", "line", "num"]
    ];
    tab.innerHTML = "<h2>Layers</h2><div class=\"filters\"><input type=\"search\" " +
      "class=\"filter\" placeholder=\"filter: name, op or block (space: all words)\" " +
      "aria-label=\"filter the layers\"><select class=\"op-filter\" aria-label=\"op\">" +
      "<option value=\"\">every op</option>" + Object.keys(ops).sort().map(function (o) {
        return "<option value=\"" + esc(o) + "\">" + esc(o) + " (" + ops[o] + ")</option>";
      }).join("") + "</select><span class=\"count\"></span></div>" +
      "<div class=\"table-wrap\"><table class=\"grid layer-table\"><thead><tr>" +
      this.columns.map(function (c) {
        return "<th data-key=\"" + c[0] + "\" class=\"" + c[2] + "\" title=\"sort\">" +
          esc(c[1]) + "</th>";
      }).join("") + "</tr></thead><tbody></tbody></table></div>";
    root.appendChild(tab);

    // the spec's source
    if (d.text) {
      var src = el("section", "source");
      src.innerHTML = "<details class=\"spec-source\"><summary>Spec source: <code>" +
        esc(d.file) + "</code></summary><pre class=\"src\"></pre></details>";
      root.appendChild(src);
      var det = src.querySelector("details");
      det.addEventListener("toggle", function () {
        if (det.open) self.renderSource();
      });
    }
    this.srcLines = d.text ? d.text.split("\n") : [];

    // events
    bar.querySelector(".q-select").addEventListener("change", function (e) {
      self.quantity = e.target.value;
      self.paint();
    });
    bar.querySelector(".expand-all").addEventListener("click", function () { self.expandAll(); });
    bar.querySelector(".collapse-all").addEventListener("click", function () {
      self.setExpanded(new Set(), "collapsed every block");
    });
    bar.querySelector(".zoom-in").addEventListener("click", function () { self.setZoom(self.zoom * 1.25); });
    bar.querySelector(".zoom-out").addEventListener("click", function () { self.setZoom(self.zoom / 1.25); });
    bar.querySelector(".zoom-fit").addEventListener("click", function () { self.fit(); });
    this.graphWrap.addEventListener("mouseover", function (e) {
      var n = e.target.closest ? e.target.closest(".node") : null;
      if (n) showTip(self.tipHtml(n), e);
    });
    this.graphWrap.addEventListener("mousemove", function (e) {
      if (tip.style.display === "block") moveTip(e);
    });
    this.graphWrap.addEventListener("mouseout", function (e) {
      var n = e.target.closest ? e.target.closest(".node") : null;
      if (n && !(e.relatedTarget && n.contains(e.relatedTarget))) hideTip();
    });
    this.graphWrap.addEventListener("click", function (e) {
      var t = e.target.closest ? e.target : null;
      if (!t) return;
      var lab = t.closest(".box-label");
      if (lab) { self.collapse(+lab.getAttribute("data-b")); return; }
      var n = t.closest(".node");
      if (!n) return;
      if (n.classList.contains("layer")) self.select(+n.getAttribute("data-i"), false);
      else if (n.classList.contains("block")) self.expand(+n.getAttribute("data-b"));
    });
    this.side.addEventListener("click", function (e) {
      var a = e.target.closest ? e.target.closest("[data-goto],[data-collapse],[data-expand]") : null;
      if (!a) return;
      e.preventDefault();
      if (a.hasAttribute("data-goto")) self.reveal(+a.getAttribute("data-goto"));
      else if (a.hasAttribute("data-collapse")) self.collapse(+a.getAttribute("data-collapse"));
      else self.expand(+a.getAttribute("data-expand"));
    });
    var filter = tab.querySelector(".filter"), opf = tab.querySelector(".op-filter");
    filter.addEventListener("input", function () { self.renderTable(); });
    opf.addEventListener("change", function () { self.renderTable(); });
    tab.querySelector("thead").addEventListener("click", function (e) {
      var th = e.target.closest("th");
      if (!th) return;
      var k = th.getAttribute("data-key");
      if (self.sortKey === k) self.sortDir = -self.sortDir;
      else {
        self.sortKey = k;
        var c = self.columns.filter(function (c) { return c[0] === k; })[0];
        self.sortDir = (c[2] === "num" && k !== "i" && k !== "line") ? -1 : 1;
      }
      self.renderTable();
    });
    tab.querySelector("tbody").addEventListener("click", function (e) {
      var tr = e.target.closest("tr");
      if (tr && tr.hasAttribute("data-i")) self.reveal(+tr.getAttribute("data-i"));
    });
    this.table = tab;
    this.bar = bar;
  }

  SpecView.prototype.start = function () {
    if (this.built) return;
    this.built = true;
    this.renderTable();
    var initial = this.levelSet(INITIAL_NODES);
    var self = this;
    this.status("laying out\u2026");
    // lay out after the page has painted (the table and totals show at once)
    window.setTimeout(function () {
      self.setExpanded(initial.set, initial.note);
      if (self.d.kind === "module" || self.last.width * self.zoom > self.graphWrap.clientWidth) self.fit(true);
    }, 0);
  };

  SpecView.prototype.status = function (text) {
    this.bar.querySelector(".status").textContent = text;
  };

  // the node that stands for layer i: the outermost collapsed block around it, or the layer
  SpecView.prototype.rep = function (i, expanded) {
    var ch = i < 0 ? [] : this.L[i].chain;
    for (var k = 0; k < ch.length; k++) if (!expanded.has(ch[k])) return "b" + ch[k];
    return i < 0 ? "in" : "l" + i;
  };
  SpecView.prototype.countVisible = function (expanded) {
    var seen = new Set();
    for (var i = 0; i < this.L.length; i++) seen.add(this.rep(i, expanded));
    return seen.size + 1;
  };
  // the deepest level of blocks to expand with at most `limit` nodes
  SpecView.prototype.levelSet = function (limit) {
    var best = new Set(), n = this.countVisible(best), level = 0;
    for (var depth = 1; depth <= this.maxDepth; depth++) {
      var s = new Set();
      this.B.forEach(function (b) { if (b.depth < depth) s.add(b.i); });
      var c = this.countVisible(s);
      if (c > limit) break;
      best = s; n = c; level = depth;
    }
    var note = "";
    if (level < this.maxDepth) {
      note = fmt(this.L.length) + " layers: blocks " + (level ? "below level " + level + " " : "") +
        "collapsed (click \u25b8 to expand)";
    }
    return { set: best, nodes: n, note: note };
  };

  SpecView.prototype.expandAll = function () {
    var r = this.levelSet(MAX_NODES);
    var note = r.note ? r.note + "; at most " + fmt(MAX_NODES) + " nodes are laid out at once" :
      "every block expanded";
    this.setExpanded(r.set, note);
  };
  SpecView.prototype.expand = function (b) {
    var s = new Set(this.expanded);
    this.B[b].chain.forEach(function (k) { s.add(k); });
    var note = "expanded " + this.B[b].name;
    if (this.countVisible(s) > MAX_NODES) {
      s = new Set(this.B[b].chain);
      note = "expanded " + this.B[b].name + " and collapsed the others (at most " +
        fmt(MAX_NODES) + " nodes are laid out at once)";
    }
    this.setExpanded(s, note, "b" + b);
    this.showBlock(b);
  };
  SpecView.prototype.collapse = function (b) {
    var s = new Set(this.expanded), B = this.B;
    s.forEach(function (k) { if (B[k].chain.indexOf(b) >= 0) s.delete(k); });
    this.setExpanded(s, "collapsed " + B[b].name, "b" + b);
    this.showBlock(b);
  };

  SpecView.prototype.setExpanded = function (set, note, focus) {
    var prev = this.expanded;
    this.expanded = set;
    try {
      this.last = this.layout(set);
    } catch (err) {
      // dagre recurses along long paths; a graph too deep for the browser's stack
      this.expanded = prev || new Set();
      if (prev && this.last) {
        this.status("could not lay out " + fmt(this.countVisible(set)) + " nodes (" +
          err.message + "); kept the previous view");
        return;
      }
      if (set.size === 0) throw err;
      this.setExpanded(new Set(), "could not lay out " + fmt(this.countVisible(set)) +
        " nodes (" + err.message + "); every block collapsed");
      return;
    }
    this.render();
    var info = fmt(this.last.nodes.length) + " nodes \u00b7 layout " +
      Math.round(this.last.ms) + " ms" + (this.last.cached ? " (cached)" : "");
    this.status(info + (note ? " \u00b7 " + note : ""));
    this.scrollTo(focus || "in");
  };

  // how many nested levels of expanded blocks are drawn as frames
  SpecView.prototype.frameLevels = function (expanded) {
    var B = this.B, depths = {};
    expanded.forEach(function (b) {
      if (B[b].chain.every(function (k) { return expanded.has(k); })) depths[B[b].depth] = true;
    });
    return Object.keys(depths).length;
  };

  // ------------------------------------------------------------------ layout (dagre)
  SpecView.prototype.layout = function (expanded) {
    var key = Array.from(expanded).sort(function (a, b) { return a - b; }).join(",");
    if (this.cache[key]) { this.cache[key].cached = true; return this.cache[key]; }
    var t0 = now(), L = this.L, B = this.B, self = this;
    var g = new dagre.graphlib.Graph();
    var nodes = [], ids = {};
    function add(id, kind, idx, w, h) {
      if (ids[id]) return;
      ids[id] = true;
      nodes.push({ id: id, kind: kind, idx: idx, w: w, h: h });
    }
    add("in", "input", -1, INPUT_W, INPUT_H);
    var reps = L.map(function (l) {
      var r = self.rep(l.i, expanded);
      if (r.charAt(0) === "l") add(r, "layer", l.i, LAYER_W, LAYER_H);
      else add(r, "block", +r.slice(1), BLOCK_W, BLOCK_H);
      return r;
    });
    var big = nodes.length > 400, levels = this.frameLevels(expanded);
    // room between ranks for the frames of the expanded blocks (see render)
    var ranksep = Math.max(30, 16 + FRAME_LABEL * levels + FRAME_PAD * Math.max(0, levels - 1));
    g.setGraph({ rankdir: "TB", nodesep: 14, ranksep: ranksep, edgesep: 8,
                 marginx: 24 + FRAME_PAD * levels, marginy: 24 + FRAME_LABEL * levels,
                 ranker: big ? "tight-tree" : "network-simplex" });
    g.setDefaultEdgeLabel(function () { return {}; });
    nodes.forEach(function (n) { g.setNode(n.id, { width: n.w, height: n.h }); });
    var edges = {};
    L.forEach(function (l, i) {
      var v = reps[i];
      l.inputs.forEach(function (j) {
        var u = j < 0 ? "in" : reps[j];
        if (u !== v && !edges[u + ">" + v]) { edges[u + ">" + v] = true; g.setEdge(u, v); }
      });
    });
    dagre.layout(g);
    var out = { nodes: [], edges: [], width: g.graph().width || 0, height: g.graph().height || 0 };
    nodes.forEach(function (n) {
      var p = g.node(n.id);
      out.nodes.push({ id: n.id, kind: n.kind, idx: n.idx, x: p.x, y: p.y, w: n.w, h: n.h });
    });
    g.edges().forEach(function (e) { out.edges.push(g.edge(e).points); });
    out.ms = now() - t0;
    out.cached = false;
    out.key = key;
    costcalc.timings.push({ spec: this.d.spec, nodes: out.nodes.length, edges: out.edges.length,
                            ms: Math.round(out.ms) });
    this.cache[key] = out;
    return out;
  };

  // ------------------------------------------------------------------ drawing
  SpecView.prototype.render = function () {
    var lay = this.last, B = this.B, self = this, exp = this.expanded;
    var parts = [];
    // frames of the expanded blocks: the box around their visible nodes
    var boxes = {};
    lay.nodes.forEach(function (n) {
      var ch = n.kind === "layer" ? self.L[n.idx].chain : n.kind === "block" ? B[n.idx].chain.slice(0, -1) : [];
      ch.forEach(function (b) {
        if (!exp.has(b)) return;
        var r = boxes[b] || (boxes[b] = { x0: 1e18, y0: 1e18, x1: -1e18, y1: -1e18 });
        r.x0 = Math.min(r.x0, n.x - n.w / 2); r.x1 = Math.max(r.x1, n.x + n.w / 2);
        r.y0 = Math.min(r.y0, n.y - n.h / 2); r.y1 = Math.max(r.y1, n.y + n.h / 2);
      });
    });
    // nested frames: an outer frame is wider by FRAME_PAD a side and has its label a row higher
    var deepest = -1;
    Object.keys(boxes).forEach(function (b) { deepest = Math.max(deepest, B[b].depth); });
    Object.keys(boxes).map(Number).sort(function (a, b) { return B[a].depth - B[b].depth; })
      .forEach(function (b) {
        var r = boxes[b], k = deepest - B[b].depth, pad = 3 + FRAME_PAD * k;
        var top = r.y0 - 3 - FRAME_LABEL * (k + 1), bottom = r.y1 + pad;
        parts.push("<g class=\"box depth" + (B[b].depth % 4) + "\"><rect x=\"" + (r.x0 - pad) +
          "\" y=\"" + top + "\" width=\"" + (r.x1 - r.x0 + 2 * pad) + "\" height=\"" +
          (bottom - top) + "\" rx=\"6\"/>" +
          "<text class=\"box-label\" data-b=\"" + b + "\" x=\"" + (r.x0 - pad + 4) + "\" y=\"" +
          (top + FRAME_LABEL - 3) + "\">\u25be " + esc(short(B[b].name, 40)) + "<title>collapse " +
          esc(B[b].key) + "</title></text></g>");
      });
    lay.edges.forEach(function (pts) {
      parts.push("<path class=\"edge\" d=\"M" + pts.map(function (p) {
        return p.x.toFixed(1) + "," + p.y.toFixed(1);
      }).join("L") + "\" marker-end=\"url(#" + self.uid + ")\"/>");
    });
    lay.nodes.forEach(function (n) {
      var x = n.x - n.w / 2, y = n.y - n.h / 2, attrs, l1, l2;
      if (n.kind === "input") {
        attrs = "class=\"node input\"";
        l1 = "input"; l2 = shape(self.d.input_shape);
      } else if (n.kind === "layer") {
        var l = self.L[n.idx];
        attrs = "class=\"node layer\" data-i=\"" + n.idx + "\" data-layer=\"" + esc(l.name) + "\"";
        l1 = short(l.name, 26); l2 = l.op + " \u00b7 " + shape(l.shape);
      } else {
        var b = B[n.idx];
        attrs = "class=\"node block\" data-b=\"" + n.idx + "\" data-layers=\"" + b.n +
          "\" data-block=\"" + esc(b.key) + "\"";
        l1 = "\u25b8 " + short(b.name, 24); l2 = fmt(b.n) + " layers \u00b7 " + shape(b.shape);
      }
      parts.push("<g " + attrs + " transform=\"translate(" + x.toFixed(1) + "," + y.toFixed(1) +
        ")\"><rect class=\"slot\" width=\"" + n.w + "\" height=\"" + n.h + "\" rx=\"5\"/>" +
        (n.kind === "input" ? "" : "<rect class=\"bar\" width=\"0\" height=\"" + n.h + "\" rx=\"5\"/>") +
        "<text class=\"t1\" x=\"7\" y=\"" + (n.h / 2 - 2) + "\">" + esc(l1) + "</text>" +
        "<text class=\"t2\" x=\"7\" y=\"" + (n.h / 2 + 11) + "\">" + esc(l2) + "</text></g>");
    });
    var w = Math.ceil(lay.width), h = Math.ceil(lay.height);
    this.graphWrap.innerHTML = "<svg class=\"graph\" " +
      "viewBox=\"0 0 " + w + " " + h + "\" width=\"" + Math.ceil(w * this.zoom) + "\" height=\"" +
      Math.ceil(h * this.zoom) + "\"><defs><marker id=\"" + this.uid + "\" viewBox=\"0 0 10 10\" refX=\"9\" " +
      "refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path " +
      "d=\"M0,0L10,5L0,10z\" class=\"arrowhead\"/></marker></defs>" + parts.join("") + "</svg>";
    this.svg = this.graphWrap.firstChild;
    this.paint();
    if (this.selected !== null) this.mark(this.selected);
  };

  // colour and size the nodes by the chosen quantity (no new layout)
  SpecView.prototype.paint = function () {
    if (!this.svg) return;
    var q = this.quantity, self = this, max = 0;
    var nodes = this.svg.querySelectorAll(".node.layer,.node.block");
    var vals = [];
    nodes.forEach(function (g) {
      var v = g.classList.contains("layer") ? num(self.L[+g.getAttribute("data-i")][q])
        : num(self.B[+g.getAttribute("data-b")][q]);
      vals.push(v);
      if (v > max) max = v;
    });
    nodes.forEach(function (g, k) {
      var t = max > 0 ? Math.sqrt(vals[k] / max) : 0;
      var bar = g.querySelector(".bar"), w = +g.querySelector(".slot").getAttribute("width");
      bar.setAttribute("width", vals[k] > 0 ? Math.max(4, w * (0.15 + 0.85 * t)).toFixed(1) : "0");
      bar.setAttribute("fill", color(t));
      g.setAttribute("data-value", String(vals[k]));
    });
  };

  SpecView.prototype.setZoom = function (z) {
    this.zoom = Math.max(0.05, Math.min(4, z));
    if (!this.svg) return;
    this.svg.setAttribute("width", Math.ceil(this.last.width * this.zoom));
    this.svg.setAttribute("height", Math.ceil(this.last.height * this.zoom));
  };
  SpecView.prototype.fit = function (onlyShrink) {
    if (!this.last) return;
    var z = (this.graphWrap.clientWidth - 8) / Math.max(1, this.last.width);
    this.setZoom(onlyShrink ? Math.min(1, z) : z);
  };
  SpecView.prototype.scrollTo = function (id) {
    var n = this.last.nodes.filter(function (n) { return n.id === id; })[0];
    if (!n) return;
    var w = this.graphWrap;
    w.scrollTop = id === "in" ? 0 : Math.max(0, n.y * this.zoom - w.clientHeight / 2);
    w.scrollLeft = Math.max(0, n.x * this.zoom - w.clientWidth / 2);
  };

  SpecView.prototype.tipHtml = function (g) {
    var rows, title;
    if (g.classList.contains("input")) {
      return "<b>input</b><br>" + esc(shape(this.d.input_shape));
    }
    var o = g.classList.contains("layer") ? this.L[+g.getAttribute("data-i")] : this.B[+g.getAttribute("data-b")];
    if (g.classList.contains("layer")) {
      title = "<b>" + esc(o.name) + "</b> <span class=\"op\">" + esc(o.op) + "</span>";
    } else {
      title = "<b>" + esc(o.key) + "</b> <span class=\"op\">block, " + fmt(o.n) + " layers</span>";
    }
    rows = [["output", shape(o.shape)], ["params", fmt(o.params)], ["MACs", fmt(o.macs)],
            ["FLOPs", fmt(o.flops)], ["other ops", fmt(o.other)], ["activations", fmt(o.acts)]];
    return title + "<table>" + rows.map(function (r) {
      return "<tr><th>" + r[0] + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("") + "</table>";
  };

  // ------------------------------------------------------------------ details
  SpecView.prototype.mark = function (i) {
    if (!this.svg) return;
    var old = this.svg.querySelectorAll(".node.sel");
    old.forEach(function (n) { n.classList.remove("sel"); });
    var n = this.svg.querySelector(".node.layer[data-i=\"" + i + "\"]");
    if (n) n.classList.add("sel");
  };
  SpecView.prototype.counts = function (o) {
    var rows = [["output", "shape", shape(o.shape)], ["params", "params", fmt(o.params) +
      (String(o.trainable) !== String(o.params) ? " (" + fmt(o.trainable) + " trainable)" : "")],
      ["MACs", "macs", fmt(o.macs)], ["FLOPs = 2 x MACs + other ops", "flops", fmt(o.flops)],
      ["other ops", "other", fmt(o.other)], ["activations", "acts", fmt(o.acts)],
      ["activation memory", "bytes", fmt(o.bytes) + " bytes (float32)"]];
    return "<table class=\"kv\">" + rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td class=\"num\" data-field=\"" + r[1] + "\">" +
        esc(r[2]) + "</td></tr>";
    }).join("") + "</table>";
  };
  SpecView.prototype.crumbs = function (chain) {
    var B = this.B;
    if (!chain.length) return "";
    return "<p class=\"crumbs\">in " + chain.map(function (b) {
      return "<a href=\"#\" data-collapse=\"" + b + "\" title=\"collapse this block\">" +
        esc(B[b].name) + "</a>";
    }).join(" \u203a ") + "</p>";
  };
  SpecView.prototype.excerpt = function (line) {
    if (!line || !this.srcLines.length) return "";
    var lo = Math.max(1, line - 3), hi = Math.min(this.srcLines.length, line + 5), out = [];
    for (var k = lo; k <= hi; k++) {
      out.push("<span class=\"" + (k === line ? "hl" : "") + "\"><i>" + k + "</i>" +
        esc(this.srcLines[k - 1]) + "</span>");
    }
    return "<pre class=\"excerpt\">" + out.join("") + "</pre>";
  };

  SpecView.prototype.select = function (i, scroll) {
    var l = this.L[i], d = this.d, L = this.L, op = d.ops[l.op] || { formulas: {} };
    this.selected = i;
    this.mark(i);
    var f = l.formula || {};
    var inputs = l.inputs.map(function (j) {
      return j < 0 ? "input" : "<a href=\"#\" data-goto=\"" + j + "\">" + esc(L[j].name) + "</a>";
    }).join(", ");
    var h = "<h3 class=\"layer-name\">" + esc(l.name) + "</h3>" +
      "<p class=\"op-line\"><b>" + esc(l.op) + "</b>" + (op.summary ? ": " + esc(op.summary) : "") +
      "</p>" + this.crumbs(l.chain) +
      "<p>inputs: " + inputs + "</p>" + this.counts(l);
    h += "<h4>How it is counted</h4>";
    if (f.macs_values) {
      h += "<pre class=\"formula\" data-formula=\"" + esc(f.macs_values) + "\">MACs = " +
        esc(f.macs_rule) + "\n     = " + esc(f.macs_values) + "\n     = " + fmt(f.macs) + "</pre>";
    } else if (f.macs_rule) {
      h += "<pre class=\"formula\">MACs = " + esc(f.macs_rule) + " = " + fmt(f.macs) + "</pre>";
    } else {
      h += "<pre class=\"formula\">MACs = 0 (only convolutions and dense layers multiply-" +
        "accumulate)</pre>";
    }
    h += "<pre class=\"formula other\">other ops = " + esc(f.other_rule || "0") + "\n          = " +
      fmt(f.other) + "</pre>";
    if (f.params_rule) {
      h += "<pre class=\"formula params\">params = " + esc(f.params_rule) + "\n       = " +
        fmt(l.params) + "</pre>";
    }
    h += "<h4>Spec</h4><p class=\"where\"><code>" + esc(d.file || d.spec) +
      (l.line ? ":" + l.line : "") + "</code></p>" + this.excerpt(l.line);
    if (d.source) h += "<p class=\"small\">source: " + esc(d.source) + "</p>";
    this.side.innerHTML = h;
    this.side.scrollTop = 0;
    var rows = this.table.querySelectorAll("tbody tr.sel");
    rows.forEach(function (r) { r.classList.remove("sel"); });
    var tr = this.table.querySelector("tbody tr[data-i=\"" + i + "\"]");
    if (tr) tr.classList.add("sel");
    if (scroll) this.scrollTo("l" + i);
  };

  SpecView.prototype.showBlock = function (b) {
    var o = this.B[b], exp = this.expanded.has(b);
    this.selected = null;
    this.mark(-1);
    this.side.innerHTML = "<h3 class=\"block-name\">" + esc(o.key) + "</h3>" +
      "<p class=\"op-line\"><b>block</b>" + (o.def ? " (" + esc(o.def) + ")" : "") + ": " +
      fmt(o.n) + " layers, " + esc(this.L[o.first].name) + " \u2026 " + esc(this.L[o.last].name) +
      "</p>" + this.crumbs(o.chain.slice(0, -1)) + this.counts(o) +
      "<p><a href=\"#\" " + (exp ? "data-collapse" : "data-expand") + "=\"" + b + "\">" +
      (exp ? "collapse" : "expand") + " this block</a> \u00b7 first layer: <a href=\"#\" " +
      "data-goto=\"" + o.first + "\">" + esc(this.L[o.first].name) + "</a></p>" +
      "<p class=\"small\">The sums over the block's layers, from costcalc.</p>";
  };

  // show layer i in the graph (expanding its blocks) and its details
  SpecView.prototype.reveal = function (i) {
    var ch = this.L[i].chain, exp = this.expanded, missing = ch.filter(function (b) { return !exp.has(b); });
    if (missing.length) {
      var s = new Set(exp);
      ch.forEach(function (b) { s.add(b); });
      var note = "expanded the blocks of " + this.L[i].name;
      if (this.countVisible(s) > MAX_NODES) {
        s = new Set(ch);
        note += " and collapsed the others";
      }
      this.setExpanded(s, note);
    }
    this.select(i, true);
  };

  // ------------------------------------------------------------------ the table
  SpecView.prototype.rows = function () {
    var text = this.table.querySelector(".filter").value.trim().toLowerCase();
    var op = this.table.querySelector(".op-filter").value;
    var words = text ? text.split(/\s+/) : [], B = this.B;
    var out = this.L.filter(function (l) {
      if (op && l.op !== op) return false;
      if (!words.length) return true;
      var hay = (l.name + " " + l.op + " " + (l.block >= 0 ? B[l.block].key : "")).toLowerCase();
      return words.every(function (w) { return hay.indexOf(w) >= 0; });
    });
    var k = this.sortKey, dir = this.sortDir;
    if (k) {
      var val = function (l) {
        if (k === "block") return l.block >= 0 ? B[l.block].key : "";
        if (k === "shape") return num(l.shape[0]) * num(l.shape[1]) * num(l.shape[2]);
        return l[k];
      };
      out = out.slice().sort(function (a, b) {
        var x = val(a), y = val(b), c;
        if (typeof x === "string" && typeof y === "string" && !/^\d+$/.test(x + y)) c = x < y ? -1 : x > y ? 1 : 0;
        else c = num(x) - num(y);
        return c * dir || a.i - b.i;
      });
    }
    return out;
  };
  SpecView.prototype.renderTable = function () {
    var rows = this.rows(), B = this.B, sel = this.selected;
    var html = rows.map(function (l) {
      return "<tr data-i=\"" + l.i + "\"" + (l.i === sel ? " class=\"sel\"" : "") + "><td class=\"num\">" +
        (l.i + 1) + "</td><td class=\"name\">" + esc(l.name) + "</td><td>" + esc(l.op) +
        "</td><td class=\"blk\">" + (l.block >= 0 ? esc(B[l.block].key) : "") + "</td><td class=\"num\">" +
        shape(l.shape) + "</td><td class=\"num\" data-v=\"params\">" + fmt(l.params) +
        "</td><td class=\"num\" data-v=\"macs\">" + fmt(l.macs) + "</td><td class=\"num\">" +
        fmt(l.flops) + "</td><td class=\"num\">" + fmt(l.other) + "</td><td class=\"num\">" +
        fmt(l.acts) + "</td><td class=\"num\">" + (l.line || "") + "</td></tr>";
    }).join("");
    this.table.querySelector("tbody").innerHTML = html;
    this.table.querySelector(".count").textContent = rows.length === this.L.length ?
      fmt(rows.length) + " layers" : fmt(rows.length) + " of " + fmt(this.L.length) + " layers";
    var k = this.sortKey, dir = this.sortDir;
    this.table.querySelectorAll("th").forEach(function (th) {
      var on = th.getAttribute("data-key") === k;
      th.classList.toggle("sorted", on);
      th.setAttribute("aria-sort", on ? (dir > 0 ? "ascending" : "descending") : "none");
    });
  };

  SpecView.prototype.renderSource = function () {
    var pre = this.root.querySelector("pre.src");
    if (!pre || pre.childNodes.length) return;
    pre.innerHTML = this.srcLines.map(function (s, k) {
      return "<span><i>" + (k + 1) + "</i>" + esc(s) + "</span>";
    }).join("");
  };

  // ------------------------------------------------------------------ the compare section
  function compareSection(c) {
    var sec = el("section", "compare");
    var n = c.ids.length;
    var head = "<tr><th>quantity</th>" + c.ids.map(function (id, k) {
      return "<th>" + esc(id) + "<br><span class=\"small\">" + esc(c.inputs[k]) + "</span></th>";
    }).join("") + "</tr>";
    var body = c.totals.map(function (r) {
      return "<tr data-q=\"" + r.key + "\"><th>" + esc(r.label) + "</th>" + r.text.map(function (t, k) {
        return "<td class=\"num\">" + esc(t) + (k ? "<br><span class=\"small\">" +
          esc(r.ratios[k]) + "</span>" : "") + "</td>";
      }).join("") + "</tr>";
    }).join("");
    // bars: each spec's MACs and params relative to the largest (presentation only)
    var bars = ["macs", "params"].map(function (key) {
      var r = c.totals.filter(function (x) { return x.key === key; })[0];
      var max = Math.max.apply(null, r.values.map(num));
      return "<div class=\"bars\"><h4>" + esc(r.label) + "</h4>" + r.values.map(function (v, k) {
        var w = max > 0 ? 100 * num(v) / max : 0;
        return "<div class=\"bar-row\"><span class=\"bar-label\">" + esc(c.ids[k]) +
          "</span><span class=\"bar-track\"><span class=\"bar-fill\" style=\"width:" + w.toFixed(2) +
          "%\"></span></span><span class=\"bar-value\">" + esc(r.text[k]) + "</span></div>";
      }).join("") + "</div>";
    }).join("");
    var bd = "<tr><th>block (first part of the layer names)</th>" + c.ids.map(function (id) {
      return "<th>" + esc(id) + " MACs</th>";
    }).join("") + c.ids.map(function (id) {
      return "<th>" + esc(id) + " params</th>";
    }).join("") + "</tr>";
    var bdRows = c.breakdown.map(function (r) {
      return "<tr><td>" + esc(r[0]) + "</td>" + r[1].map(function (v, k) {
        return "<td class=\"num\">" + (r[3][k] ? fmt(v) : "\u2013") + "</td>";
      }).join("") + r[2].map(function (v, k) {
        return "<td class=\"num\">" + (r[3][k] ? fmt(v) : "\u2013") + "</td>";
      }).join("") + "</tr>";
    }).join("");
    sec.innerHTML = "<h1>Compare: " + c.ids.map(esc).join(" vs ") + "</h1>" +
      "<p class=\"line small\">" + c.ids.map(function (id, k) {
        return "<b>" + esc(id) + "</b>: " + esc(c.titles[k] || "");
      }).join(" \u00b7 ") + "</p>" +
      "<table class=\"grid compare-table\"><thead>" + head + "</thead><tbody>" + body +
      "</tbody></table><p class=\"small\">Ratios are to the first spec (" + esc(c.ids[0]) +
      ").</p>" + bars +
      "<details class=\"breakdown\"><summary>MACs and params by block (" + fmt(c.breakdown.length) +
      " rows)</summary><div class=\"table-wrap\"><table class=\"grid\"><thead>" + bd +
      "</thead><tbody>" + bdRows + "</tbody></table></div></details>" +
      (n ? "<h2>Each network</h2>" : "");
    return sec;
  }

  // ------------------------------------------------------------------ the page
  function boot() {
    var app = document.getElementById("app");
    if (DATA.index) {
      var nav = el("nav", "top", "<a href=\"" + esc(DATA.index) + "\">\u2190 all reports</a>");
      app.appendChild(nav);
    }
    if (DATA.kind === "compare") {
      app.appendChild(compareSection(DATA.compare));
      var tabs = el("div", "tabs");
      tabs.setAttribute("role", "tablist");
      app.appendChild(tabs);
      var holders = [];
      DATA.specs.forEach(function (d, k) {
        var b = el("button", "tab", esc(d.spec));
        b.type = "button";
        b.setAttribute("data-spec", d.spec);
        tabs.appendChild(b);
        var h = el("div", "holder");
        h.hidden = true;
        app.appendChild(h);
        holders.push(h);
        b.addEventListener("click", function () { show(k); });
      });
      var show = function (k) {
        holders.forEach(function (h, j) { h.hidden = j !== k; });
        tabs.querySelectorAll(".tab").forEach(function (b, j) { b.classList.toggle("on", j === k); });
        var d = DATA.specs[k];
        var v = costcalc.views[d.spec];
        if (!v) v = costcalc.views[d.spec] = new SpecView(holders[k], d);
        v.start();                 // laid out only when first shown
      };
      show(0);
    } else {
      var holder = el("div", "holder");
      app.appendChild(holder);
      var d = DATA.specs[0];
      var v = costcalc.views[d.spec] = new SpecView(holder, d);
      v.start();
    }
    costcalc.data = DATA;
    costcalc.SpecView = SpecView;
  }
  window.addEventListener("error", function (e) { costcalc.errors.push(String(e.message)); });
  boot();
})();
