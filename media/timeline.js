// Draws the session timeline from the view model src/report/timeline.ts builds.
// Runs in two places: the editor's webview (the view arrives by postMessage;
// clicks ask the extension to open the source line) and the standalone HTML
// file of `txlens report --html` (the view sits in a JSON data block; source
// places are shown as text and vscode:// links).
// Every text from the trace reaches the page through textContent or an
// attribute value, never as markup.
(function () {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var LABEL_W = 230;
  var AXIS_H = 26;
  var PROC_H = 22;
  var ROW_H = 42;
  var BAR_H = 12;
  var RIGHT_PAD = 64;
  /** Pixels between two shown test windows when the chart shows several side by side. */
  var SEGMENT_GAP = 16;
  /** The picker's value for "the tests that failed or have a finding". */
  var FOCUS = '@focus';

  var vscodeApi = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
  var root = document.getElementById('txlens-timeline');
  if (!root) return;

  var view;
  var state = { test: '', selected: undefined };
  var elements = {};

  // ---- small DOM helpers ---------------------------------------------------------------------

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG_NS, tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many || one + 's');
  }
  function ms(ns) {
    if (ns === undefined || ns === null) return '';
    var v = ns / 1e6;
    if (v < 1) return v.toFixed(2) + ' ms';
    if (v < 10) return v.toFixed(1) + ' ms';
    if (v < 1000) return Math.round(v) + ' ms';
    return (v / 1000).toFixed(2) + ' s';
  }
  var measureCtx;
  /** Width of a tick label as the browser will draw it (9.5px in the page's font). */
  function labelWidth(text) {
    if (measureCtx === undefined) {
      var canvas = document.createElement('canvas');
      measureCtx = canvas.getContext && canvas.getContext('2d');
      if (measureCtx) measureCtx.font = '9.5px ' + getComputedStyle(document.body).fontFamily;
    }
    return measureCtx ? Math.ceil(measureCtx.measureText(text).width) + 1 : text.length * 6;
  }
  /**
   * Cuts `text` to about `px` pixels at `charPx` per character, keeping its start and
   * its end: a test's name and its parameters both tell which test it is.
   */
  function fitMiddle(text, px, charPx) {
    var max = Math.floor(px / (charPx || 6));
    if (text.length <= max) return text;
    if (max < 5) return '';
    var tail = Math.floor((max - 1) / 2);
    return text.slice(0, max - 1 - tail) + '…' + text.slice(text.length - tail);
  }
  /** Cuts `text` to about `px` pixels at `charPx` per character. */
  function fit(text, px, charPx) {
    var max = Math.floor(px / (charPx || 6));
    if (max <= 1) return '';
    return text.length <= max ? text : text.slice(0, max - 1) + '…';
  }

  // ---- source places ---------------------------------------------------------------------------

  function openSource(place) {
    if (!place || !vscodeApi) return;
    vscodeApi.postMessage({ type: 'open', file: place.file, line: place.line });
  }
  function vscodeLink(place) {
    // vscode://file/<absolute path>:<line>; each path segment encoded, separators kept.
    var path = place.file.replace(/\\/g, '/');
    if (path.charAt(0) !== '/') path = '/' + path;
    return 'vscode://file' + path.split('/').map(encodeURIComponent).join('/') + ':' + place.line;
  }
  function sourceNode(place) {
    var text = place.path + ':' + place.line;
    if (vscodeApi) {
      var b = el('button', { type: 'button', class: 'tl-link', title: 'Open ' + text }, text);
      b.addEventListener('click', function () {
        openSource(place);
      });
      return b;
    }
    var span = el('span');
    span.appendChild(el('span', { class: 'tl-src-plain' }, text));
    span.appendChild(document.createTextNode(' '));
    span.appendChild(el('a', { class: 'tl-src', href: vscodeLink(place), title: 'Open in VS Code' }, '(open in VS Code)'));
    return span;
  }

  // ---- details panel ---------------------------------------------------------------------------

  function details() {
    return elements.details;
  }
  function dlist(rows) {
    var dl = el('dl');
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === null || r[1] === '') return;
      dl.appendChild(el('dt', null, r[0]));
      var dd = el('dd');
      if (typeof r[1] === 'object') dd.appendChild(r[1]);
      else dd.textContent = String(r[1]);
      dl.appendChild(dd);
    });
    return dl;
  }
  function chip(text, cls) {
    return el('span', { class: 'tl-chip ' + cls }, text);
  }
  function outcomeClass(bar) {
    return bar.quiet ? 'quiet' : bar.outcome;
  }
  function laneName(i) {
    var lane = view.lanes[i];
    return lane ? lane.id + ' · ' + lane.detail : '';
  }
  function barName(i) {
    var b = view.bars[i];
    return b ? b.id + ' · ' + b.outcomeText : '';
  }

  function showTick(i) {
    var t = view.ticks[i];
    var d = details();
    clear(d);
    var h = el('h2', null, t.verb + (t.tables.length ? ' ' + t.tables.join(', ') : ''));
    if (t.kind === 'identity') h.appendChild(chip('identity map, no SQL', 'info'));
    if (t.error) h.appendChild(chip('failed', 'error'));
    d.appendChild(h);
    var bar = t.bar !== undefined ? view.bars[t.bar] : undefined;
    d.appendChild(
      dlist([
        ['Source', t.at ? sourceNode(t.at) : '(no user frame)'],
        ['Lane', laneName(t.lane)],
        ['Transaction', bar ? barName(t.bar) : t.kind === 'identity' ? '' : '(none seen)'],
        ['Test', t.test],
        ['At', '+' + ms(t.time)],
        ['Took', t.dur !== undefined ? ms(t.dur) : undefined],
        ['Rows', t.rows],
        ['Error', t.error],
      ]),
    );
    if (t.count > 1) {
      d.appendChild(el('p', null, t.count + ' statements ran too close together to draw apart:'));
      if (t.sql) d.appendChild(el('pre', null, t.sql));
      var ul = el('ul');
      (t.items || []).forEach(function (it) {
        var li = el('li', null, it.verb + (it.tables.length ? ' ' + it.tables.join(', ') : '') + (it.at ? ' at ' : ''));
        if (it.at) li.appendChild(sourceNode(it.at));
        ul.appendChild(li);
      });
      if (t.count > (t.items || []).length) ul.appendChild(el('li', null, '… ' + (t.count - (t.items || []).length) + ' more'));
      d.appendChild(ul);
    } else if (t.sql) {
      d.appendChild(el('pre', { class: 'tl-sql' }, t.sql));
    }
    arrowsOf(i).forEach(function (a) {
      d.appendChild(el('p', null, view.arrows[a].text));
    });
  }
  function arrowsOf(tick) {
    var out = [];
    view.arrows.forEach(function (a, i) {
      if (a.from === tick || a.to === tick) out.push(i);
    });
    return out;
  }
  function showBar(i) {
    var b = view.bars[i];
    var d = details();
    clear(d);
    var h = el('h2', null, b.id + ' ');
    h.appendChild(chip(b.outcomeText, outcomeClass(b)));
    d.appendChild(h);
    d.appendChild(
      dlist([
        ['Lane', laneName(b.lane)],
        ['Connection', b.connection],
        ['Database', b.database],
        ['Isolation', b.isolation],
        ['Test', b.test],
        ['Began', '+' + ms(b.start)],
        ['Began at', b.begin ? sourceNode(b.begin) : undefined],
        ['Ended', b.end !== undefined ? '+' + ms(b.end) : 'never'],
        ['Ended at', b.endAt ? sourceNode(b.endAt) : undefined],
        ['Statements', b.statements + (b.writes ? ' (' + plural(b.writes, 'write') + ')' : '')],
      ]),
    );
    var ul = el('ul');
    var shown = 0;
    view.ticks.forEach(function (t, ti) {
      if (t.bar !== i || shown >= 30) return;
      shown++;
      var li = el('li');
      var b2 = el('button', { type: 'button', class: 'tl-link' }, t.verb + (t.tables.length ? ' ' + t.tables.join(', ') : ''));
      b2.addEventListener('click', function () {
        select('tick', ti);
      });
      li.appendChild(b2);
      if (t.at) li.appendChild(document.createTextNode(' · ' + t.at.path + ':' + t.at.line));
      ul.appendChild(li);
    });
    if (shown) d.appendChild(ul);
  }
  function showLane(i) {
    var l = view.lanes[i];
    var d = details();
    clear(d);
    d.appendChild(el('h2', null, l.id + ' · ' + l.detail));
    var bars = view.bars.filter(function (b) {
      return b.lane === i;
    });
    var commits = bars.filter(function (b) {
      return b.outcome === 'commit';
    }).length;
    d.appendChild(
      dlist([
        ['Kind', l.kind === 'session' ? 'ORM session' : 'connection (work outside any session)'],
        ['Process', view.processes[l.process].label],
        ['Opened at', l.at ? sourceNode(l.at) : undefined],
        ['Test', l.test],
        ['Transactions', bars.length + ' (' + plural(commits, 'commit') + ')'],
      ]),
    );
  }
  function showArrow(i) {
    var a = view.arrows[i];
    var d = details();
    clear(d);
    d.appendChild(el('h2', null, a.kind === 'stale' ? 'Stale read' : 'Read before commit'));
    d.appendChild(el('p', null, a.text));
    var w = view.ticks[a.from];
    var r = view.ticks[a.to];
    d.appendChild(
      dlist([
        ['Write', w.at ? sourceNode(w.at) : w.verb],
        ['Read', r.at ? sourceNode(r.at) : r.verb],
      ]),
    );
    if (a.finding !== undefined) d.appendChild(findingBlock(a.finding, false));
  }
  function findingBlock(i, heading) {
    var f = view.findings[i];
    var box = el('div');
    if (heading) {
      var h = el('h2', null, '#' + (i + 1) + ' ' + f.rule);
      h.appendChild(chip(f.severity, f.severity));
      box.appendChild(h);
    } else {
      box.appendChild(el('p', null, 'Finding #' + (i + 1) + ' (' + f.rule + ', ' + f.severity + ')'));
    }
    box.appendChild(el('p', null, f.message));
    box.appendChild(dlist([['Where', sourceNode(f.at)], ['Test', f.test]]));
    if (f.related.length) {
      var ul = el('ul');
      f.related.forEach(function (r) {
        var li = el('li');
        li.appendChild(sourceNode(r));
        li.appendChild(document.createTextNode(' ' + r.message));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    return box;
  }
  function showFinding(i) {
    var d = details();
    clear(d);
    d.appendChild(findingBlock(i, true));
  }

  function select(kind, index) {
    var prev = root.querySelectorAll('.tl-selected');
    for (var i = 0; i < prev.length; i++) prev[i].classList.remove('tl-selected');
    state.selected = { kind: kind, index: index };
    var node = root.querySelector('[data-kind="' + kind + '"][data-index="' + index + '"]');
    if (node) node.classList.add('tl-selected');
    if (kind === 'tick') showTick(index);
    else if (kind === 'bar') showBar(index);
    else if (kind === 'lane') showLane(index);
    else if (kind === 'arrow') showArrow(index);
    else if (kind === 'finding') showFinding(index);
  }
  function placeOf(kind, index) {
    if (kind === 'tick') return view.ticks[index].at;
    if (kind === 'bar') return view.bars[index].endAt || view.bars[index].begin;
    if (kind === 'lane') return view.lanes[index].at;
    if (kind === 'finding') return view.findings[index].at;
    if (kind === 'arrow') return view.ticks[view.arrows[index].to].at;
    return undefined;
  }

  // ---- the chart -----------------------------------------------------------------------------

  function padded(t) {
    var pad = Math.max((t.x1 - t.x0) * 0.02, 0.0005);
    return { x0: Math.max(0, t.x0 - pad), x1: Math.min(1, t.x1 + pad) };
  }

  /** Test ids the chart is limited to: one test, the focus tests, or none (the whole run). */
  function shownTests() {
    if (!state.test) return undefined;
    var ids = {};
    if (state.test === FOCUS) (view.focus || []).forEach(function (id) {
      ids[id] = true;
    });
    else ids[state.test] = true;
    return ids;
  }

  /** The stretches of the axis on screen, side by side: the whole run, one test, or each focus test. */
  function visibleSegments() {
    var ids = shownTests();
    if (!ids) return [{ x0: 0, x1: 1 }];
    var wins = view.tests
      .filter(function (t) {
        return ids[t.id];
      })
      .map(padded)
      .sort(function (a, b) {
        return a.x0 - b.x0;
      });
    if (!wins.length) return [{ x0: 0, x1: 1 }];
    var out = [wins[0]];
    for (var i = 1; i < wins.length; i++) {
      var last = out[out.length - 1];
      if (wins[i].x0 <= last.x1) last.x1 = Math.max(last.x1, wins[i].x1);
      else out.push({ x0: wins[i].x0, x1: wins[i].x1 });
    }
    return out;
  }

  /**
   * A monotone map from the axis to pixels over `segments`, each given an equal share of
   * the width (a failing test is as readable as the longest one); positions between two
   * segments fall in the gap between them.
   */
  function segmentScale(segments, plotW) {
    var gaps = (segments.length - 1) * SEGMENT_GAP;
    var each = (plotW - gaps) / segments.length;
    var offs = segments.map(function (sg, i) {
      return LABEL_W + i * (each + SEGMENT_GAP);
    });
    var sx = function (x) {
      for (var i = 0; i < segments.length; i++) {
        var sg = segments[i];
        if (x < sg.x0) return i === 0 ? offs[0] + ((x - sg.x0) / (sg.x1 - sg.x0)) * each : offs[i] - SEGMENT_GAP / 2;
        if (x <= sg.x1) return offs[i] + ((x - sg.x0) / (sg.x1 - sg.x0)) * each;
      }
      var lastSeg = segments[segments.length - 1];
      var lastOff = offs[offs.length - 1];
      return lastOff + ((x - lastSeg.x0) / (lastSeg.x1 - lastSeg.x0)) * each;
    };
    var inRange = function (a, b) {
      for (var i = 0; i < segments.length; i++) if (b >= segments[i].x0 && a <= segments[i].x1) return true;
      return false;
    };
    return { sx: sx, inRange: inRange, offs: offs, each: each };
  }

  function drawChart() {
    var host = elements.chart;
    clear(host);
    var segments = visibleSegments();
    var available = Math.max(host.clientWidth || 0, 640);
    var plotW = Math.max(available - LABEL_W - RIGHT_PAD - 2, 360, segments.length * 120);
    var scale = segmentScale(segments, plotW);
    var sx = scale.sx;
    var inRange = scale.inRange;
    var shownIds = shownTests();

    // Lanes with something in range, grouped by process as the view orders them.
    var laneHas = view.lanes.map(function (l) {
      return inRange(l.x0, l.x1);
    });
    if (shownIds) {
      laneHas = view.lanes.map(function () {
        return false;
      });
      view.bars.forEach(function (b) {
        if (inRange(b.x0, b.x1) && shownIds[b.test]) laneHas[b.lane] = true;
      });
      view.ticks.forEach(function (t) {
        if (inRange(t.x, t.x) && shownIds[t.test]) laneHas[t.lane] = true;
      });
    }
    var rows = [];
    var laneY = {};
    var y = AXIS_H;
    var procTop = {};
    var lastProc = -1;
    view.lanes.forEach(function (l, i) {
      if (!laneHas[i]) return;
      if (l.process !== lastProc) {
        rows.push({ proc: l.process, y: y });
        procTop[l.process] = y;
        y += PROC_H;
        lastProc = l.process;
      }
      laneY[i] = y;
      rows.push({ lane: i, y: y });
      y += ROW_H;
    });
    var height = y + 8;
    var width = LABEL_W + plotW + RIGHT_PAD;
    var s = svg('svg', { class: 'tl-svg', width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': view.title });
    var defs = svg('defs');
    ['uncommitted', 'stale'].forEach(function (k) {
      var m = svg('marker', { id: 'tl-head-' + k, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      m.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'tl-arrowhead ' + k }));
      defs.appendChild(m);
    });
    var clip = svg('clipPath', { id: 'tl-plot-clip' });
    clip.appendChild(svg('rect', { x: LABEL_W - 2, y: 0, width: plotW + RIGHT_PAD, height: height }));
    defs.appendChild(clip);
    s.appendChild(defs);

    var back = svg('g');
    var front = svg('g', { 'clip-path': 'url(#tl-plot-clip)' });
    var plot = svg('g', { 'clip-path': 'url(#tl-plot-clip)' });
    s.appendChild(back);
    s.appendChild(plot);

    // Axis: real times at evenly spaced positions of the warped axis.
    back.appendChild(svg('line', { class: 'tl-axis-line', x1: LABEL_W, x2: LABEL_W + plotW, y1: AXIS_H - 4, y2: AXIS_H - 4 }));
    back.appendChild(svg('text', { class: 'tl-axis-label', x: 8, y: AXIS_H - 9 }, 'time since start (long gaps shortened)'));
    var axis = [];
    segments.forEach(function (sg, i) {
      axis = axis.concat(axisMarks(sg, segments.length > 1 ? 3 : 8));
      if (i > 0) back.appendChild(svg('line', { class: 'tl-segment-gap', x1: scale.offs[i] - SEGMENT_GAP / 2, x2: scale.offs[i] - SEGMENT_GAP / 2, y1: 4, y2: height - 4 }));
    });
    var lastLabelEnd = -Infinity;
    var lastLabel = '';
    axis.forEach(function (m) {
      var x = sx(m.x);
      back.appendChild(svg('line', { class: 'tl-grid', x1: x, x2: x, y1: AXIS_H - 4, y2: height - 4 }));
      var w = m.label.length * 5.6;
      // Where the axis is stretched, neighbouring marks round to the same time: say it once.
      if (m.label !== lastLabel && x - w / 2 > lastLabelEnd + 8 && x + w / 2 < width) {
        lastLabel = m.label;
        back.appendChild(svg('text', { class: 'tl-axis-label', x: x, y: AXIS_H - 9, 'text-anchor': 'middle' }, m.label));
        lastLabelEnd = x + w / 2;
      }
    });

    // Process rows and the test windows behind each process's lanes.
    var procBottom = {};
    rows.forEach(function (r) {
      if (r.lane !== undefined) procBottom[view.lanes[r.lane].process] = r.y + ROW_H;
    });
    rows.forEach(function (r) {
      if (r.proc === undefined) return;
      var p = view.processes[r.proc];
      back.appendChild(svg('rect', { class: 'tl-proc-row', x: 0, y: r.y, width: width, height: PROC_H }));
      var label = p.label + ' · ' + plural(p.lanes, 'lane');
      back.appendChild(svg('text', { class: 'tl-proc-label', x: 8, y: r.y + 15 }, fit(label, LABEL_W - 14, 6.2)));
      var bottom = procBottom[r.proc];
      var n = 0;
      var mine = view.tests.filter(function (t) {
        return t.process === p.testsFrom && inRange(t.x0, t.x1) && (!shownIds || shownIds[t.id]);
      });
      // Hundreds of tests side by side are stripes, not information: then only the tests that
      // failed or have a finding get a band.
      var dense = mine.length > plotW / 12;
      var drawn = mine.filter(function (t) {
        return !dense || t.attention;
      });
      var prevEnd = LABEL_W;
      drawn.forEach(function (t, k) {
        var x0 = Math.max(sx(t.x0), LABEL_W);
        var x1 = Math.min(sx(t.x1), LABEL_W + plotW);
        var failed = t.outcome === 'failed' || t.outcome === 'error';
        var cls = 'tl-band' + (failed ? ' tl-failed' : n % 2 ? ' tl-alt' : '');
        n++;
        var band = svg('rect', { class: cls, x: x0, y: r.y, width: Math.max(x1 - x0, 1), height: bottom - r.y });
        band.appendChild(svg('title', null, testTitle(t)));
        plot.appendChild(band);
        plot.appendChild(svg('line', { class: 'tl-band-edge', x1: x0, x2: x0, y1: r.y, y2: bottom }));
        // A name is only useful whole: it may run past a narrow band, rightwards up to the next
        // band or leftwards back to the previous name, whichever holds more of it.
        var next = drawn[k + 1];
        var full = (failed ? '✗ ' : t.attention ? '! ' : '') + (t.label || t.name);
        var rightRoom = (next ? Math.max(sx(next.x0), LABEL_W) : LABEL_W + plotW + RIGHT_PAD) - x0 - 8;
        var leftEdge = Math.max(x1, x0 + 4);
        var leftRoom = leftEdge - Math.max(prevEnd, LABEL_W) - 8;
        var toLeft = full.length * 6.2 > rightRoom && leftRoom > rightRoom;
        var name = fitMiddle(full, toLeft ? leftRoom : rightRoom, 6.2);
        if (name) {
          // The title (the full id, outcome and findings) shows on hover over the name.
          var named = svg('g', { 'data-test': t.id });
          named.appendChild(svg('title', null, testTitle(t)));
          var at = toLeft ? { x: leftEdge - 4, 'text-anchor': 'end' } : { x: x0 + 4 };
          named.appendChild(svg('text', { class: 'tl-test-label' + (failed ? ' tl-failed' : ''), x: at.x, 'text-anchor': at['text-anchor'], y: r.y + 15 }, name));
          front.appendChild(named);
          prevEnd = toLeft ? leftEdge : x0 + 4 + name.length * 6.2;
        }
      });
    });

    // Lanes: label column, lifetime line, separators.
    var lanesG = svg('g');
    rows.forEach(function (r) {
      if (r.lane === undefined) return;
      var l = view.lanes[r.lane];
      var g = svg('g', { class: 'tl-lane', 'data-lane': l.id, 'data-lane-kind': l.kind, 'data-kind': 'lane', 'data-index': r.lane, tabindex: 0 });
      g.appendChild(svg('rect', { class: 'tl-lane-bg', x: 0, y: r.y, width: LABEL_W - 4, height: ROW_H }));
      g.appendChild(svg('text', { class: 'tl-lane-id', x: 10, y: r.y + 16 }, l.id));
      g.appendChild(svg('text', { class: 'tl-lane-detail', x: 10 + l.id.length * 8 + 6, y: r.y + 16 }, fit(l.detail, LABEL_W - l.id.length * 8 - 30, 5.8)));
      if (l.at) g.appendChild(svg('text', { class: 'tl-lane-detail', x: 10, y: r.y + 30 }, fit(l.at.path + ':' + l.at.line, LABEL_W - 20, 5.8)));
      var title = svg('title', null, l.id + ' · ' + l.detail + (l.at ? '\nopened at ' + l.at.path + ':' + l.at.line : '') + (l.test ? '\n' + l.test : ''));
      g.appendChild(title);
      lanesG.appendChild(g);
      back.appendChild(svg('line', { class: 'tl-lane-sep', x1: 0, x2: width, y1: r.y + ROW_H, y2: r.y + ROW_H }));
      if (inRange(l.x0, l.x1)) {
        var mid = r.y + ROW_H / 2 + 4;
        plot.appendChild(svg('line', { class: 'tl-life', x1: Math.max(sx(l.x0), LABEL_W), x2: Math.min(sx(l.x1), LABEL_W + plotW), y1: mid, y2: mid }));
      }
    });
    s.appendChild(lanesG);

    // Transaction bars.
    var counts = { lanes: 0, bars: 0, ticks: 0, arrows: 0, markers: 0 };
    counts.lanes = Object.keys(laneY).length;
    view.bars.forEach(function (b, i) {
      if (laneY[b.lane] === undefined || !inRange(b.x0, b.x1)) return;
      var top = laneY[b.lane] + ROW_H / 2 + 4 - BAR_H / 2;
      var x0 = sx(b.x0);
      var w = Math.max(sx(b.x1) - x0, 3);
      var rect = svg('rect', {
        class: 'tl-bar ' + outcomeClass(b),
        x: x0,
        y: top,
        width: w,
        height: BAR_H,
        rx: 3,
        'data-kind': 'bar',
        'data-index': i,
        'data-tx': b.id,
        'data-outcome': b.outcome,
        tabindex: 0,
      });
      rect.appendChild(svg('title', null, b.id + ': ' + b.outcomeText + (b.test ? '\n' + b.test : '')));
      plot.appendChild(rect);
      if (b.outcome === 'rollback' && !b.quiet) plot.appendChild(svg('line', { class: 'tl-bar-end rollback', x1: x0 + w, x2: x0 + w, y1: top - 3, y2: top + BAR_H + 3 }));
      if (w > b.id.length * 5.5 + 4) plot.appendChild(svg('text', { class: 'tl-bar-label', x: x0 + w, y: top + BAR_H + 10, 'text-anchor': 'end' }, b.id));
      counts.bars++;
    });

    // Statement ticks.
    var markerAt = {};
    var occupied = {};
    var occupy = function (lane, a, b) {
      (occupied[lane] = occupied[lane] || []).push([a, b]);
    };
    var free = function (lane, a, b) {
      var list = occupied[lane] || [];
      for (var k = 0; k < list.length; k++) if (a < list[k][1] + 3 && b > list[k][0] - 3) return false;
      return true;
    };
    view.findings.forEach(function (f, i) {
      if (f.tick !== undefined) markerAt[f.tick] = i;
      if (f.lane !== undefined && laneY[f.lane] !== undefined && inRange(f.x, f.x)) {
        var mx = sx(f.x) + (f.tick !== undefined ? 12 : 0);
        occupy(f.lane, mx - 8, mx + 8);
      }
    });
    var tickPos = {};
    var labelled = [];
    view.ticks.forEach(function (t, i) {
      var ly = laneY[t.lane];
      if (ly === undefined || !inRange(t.x, t.x)) return;
      var x = sx(t.x);
      var mid = ly + ROW_H / 2 + 4;
      tickPos[i] = { x: x, y: mid };
      var cls = 'tl-tick ' + t.kind + (t.error ? ' failed' : '') + (t.count > 1 ? ' merged' : '');
      var g = svg('g', { class: cls, 'data-kind': 'tick', 'data-index': i, 'data-verb': t.verb, tabindex: 0 });
      if (t.kind === 'identity') {
        g.appendChild(svg('circle', { class: 'tl-mark', cx: x, cy: mid, r: 4 }));
      } else {
        g.appendChild(svg('line', { class: 'tl-mark', x1: x, x2: x, y1: mid - 8, y2: mid + 8 }));
      }
      g.appendChild(svg('rect', { class: 'tl-hit', x: x - 5, y: mid - 10, width: 10, height: 20 }));
      var tip = t.verb + (t.tables.length ? ' ' + t.tables.join(', ') : '') + (t.at ? '\n' + t.at.path + ':' + t.at.line : '');
      g.appendChild(svg('title', null, tip));
      plot.appendChild(g);
      counts.ticks++;
      if (t.kind !== 'tx') labelled.push(i);
    });
    // Verb labels above the ticks where there is room: writes first, they tell the story.
    var weight = { write: 5, ddl: 4, identity: 3, read: 2, other: 1, tx: 0 };
    labelled.sort(function (a, b) {
      return weight[view.ticks[b].kind] - weight[view.ticks[a].kind] || view.ticks[a].x - view.ticks[b].x;
    });
    var maxX = LABEL_W + plotW + RIGHT_PAD - 2;
    labelled.slice(0, 4000).forEach(function (i) {
      var t = view.ticks[i];
      var x = tickPos[i].x;
      var text = t.count > 1 ? '×' + t.count : t.verb + (t.tables.length ? ' ' + t.tables[0] : '');
      var tw = labelWidth(text);
      var candidates = markerAt[i] !== undefined ? [x + 24, x - tw - 6] : [x - tw / 2, x + 5, x - tw - 6];
      for (var k = 0; k < candidates.length; k++) {
        var lx = Math.min(Math.max(candidates[k], LABEL_W + 2), maxX - tw);
        if (!free(t.lane, lx, lx + tw)) continue;
        occupy(t.lane, lx, lx + tw);
        front.appendChild(svg('text', { class: 'tl-tick-label ' + t.kind, x: lx, y: laneY[t.lane] + 11 }, text));
        break;
      }
    });

    // Arrows from a write to the reads that could not see it.
    view.arrows.forEach(function (a, i) {
      var from = tickPos[a.from];
      var to = tickPos[a.to];
      if (!from || !to) return;
      var dy = to.y - from.y;
      var bend = Math.max(Math.abs(dy) * 0.5, 18);
      var x1 = from.x;
      var y1 = from.y + (dy >= 0 ? 8 : -8);
      var x2 = to.x;
      var y2 = to.y + (dy >= 0 ? -9 : 9);
      if (dy === 0) {
        y1 = from.y - 9;
        y2 = to.y - 9;
      }
      var c1y = dy === 0 ? y1 - bend : y1 + Math.sign(dy) * bend;
      var c2y = dy === 0 ? y2 - bend : y2 - Math.sign(dy) * bend;
      var d = 'M' + x1 + ',' + y1 + ' C' + x1 + ',' + c1y + ' ' + x2 + ',' + c2y + ' ' + x2 + ',' + y2;
      var cls = 'tl-arrow ' + a.kind + (a.finding === undefined ? ' weak' : '');
      plot.appendChild(svg('path', { class: cls, d: d, 'marker-end': 'url(#tl-head-' + a.kind + ')' }));
      var hit = svg('path', { class: 'tl-arrow-hit', d: d, 'data-kind': 'arrow', 'data-index': i, 'data-arrow': a.kind });
      hit.appendChild(svg('title', null, a.text));
      plot.appendChild(hit);
      counts.arrows++;
    });

    // Finding markers, numbered as in the list below the chart.
    view.findings.forEach(function (f, i) {
      if (f.lane === undefined || laneY[f.lane] === undefined || !inRange(f.x, f.x)) return;
      var x = sx(f.x) + (f.tick !== undefined ? 12 : 0);
      var cy = laneY[f.lane] + 8;
      var g = svg('g', { class: 'tl-marker ' + f.severity, 'data-kind': 'finding', 'data-index': i, 'data-rule': f.rule, tabindex: 0 });
      g.appendChild(svg('circle', { cx: x, cy: cy, r: 7.5 }));
      g.appendChild(svg('text', { x: x, y: cy + 3.5 }, String(i + 1)));
      g.appendChild(svg('title', null, '#' + (i + 1) + ' ' + f.rule + ': ' + f.message));
      plot.appendChild(g);
      counts.markers++;
    });
    s.appendChild(front);

    host.appendChild(s);
    if (state.selected) {
      var node = root.querySelector('[data-kind="' + state.selected.kind + '"][data-index="' + state.selected.index + '"]');
      if (node) node.classList.add('tl-selected');
    }
    return counts;
  }

  /** 'tests/test_a.py::test_b (failed) · 2 findings': a band's and a name's tooltip. */
  function testTitle(t) {
    var parts = [t.id + (t.outcome ? ' (' + t.outcome + ')' : '')];
    if (t.findings) parts.push(plural(t.findings, 'finding'));
    return parts.join(' · ');
  }

  function axisMarks(range, steps) {
    // The view carries marks on the whole axis; zoomed in, interpolate between them.
    var marks = view.axis;
    if (range.x0 === 0 && range.x1 === 1) return marks;
    var out = [];
    for (var k = 0; k <= steps; k++) {
      var x = range.x0 + ((range.x1 - range.x0) * k) / steps;
      var j = 0;
      while (j < marks.length - 2 && marks[j + 1].x < x) j++;
      var a = marks[j];
      var b = marks[j + 1] || a;
      var f = b.x > a.x ? (x - a.x) / (b.x - a.x) : 0;
      var time = a.time + (b.time - a.time) * f;
      out.push({ x: x, time: time, label: '+' + ms(time) });
    }
    return out;
  }

  // ---- page ----------------------------------------------------------------------------------

  function legendItem(box, cls, text) {
    var wrap = el('span');
    var s = svg('svg', { width: 22, height: 12, class: 'tl-svg', 'aria-hidden': 'true' });
    if (cls.indexOf('tl-bar') === 0) s.appendChild(svg('rect', { class: cls, x: 1, y: 1, width: 20, height: 10, rx: 2 }));
    else if (cls.indexOf('tl-tick') === 0) {
      var g = svg('g', { class: cls });
      if (cls.indexOf('identity') >= 0) g.appendChild(svg('circle', { class: 'tl-mark', cx: 11, cy: 6, r: 4 }));
      else g.appendChild(svg('line', { class: 'tl-mark', x1: 11, x2: 11, y1: 1, y2: 11 }));
      s.appendChild(g);
    } else if (cls.indexOf('tl-arrow') === 0) s.appendChild(svg('path', { class: cls, d: 'M1,9 C6,0 16,0 21,9' }));
    else if (cls.indexOf('tl-marker') === 0) {
      var m = svg('g', { class: cls });
      m.appendChild(svg('circle', { cx: 11, cy: 6, r: 5.5 }));
      s.appendChild(m);
    }
    wrap.appendChild(s);
    wrap.appendChild(document.createTextNode(text));
    box.appendChild(wrap);
  }

  function build() {
    clear(root);
    var head = el('div', { class: 'tl-head' });
    var titles = el('div', { class: 'tl-titles' });
    titles.appendChild(el('h1', null, view.title));
    titles.appendChild(el('p', { class: 'tl-sub' }, view.subtitle));
    var c = view.counts;
    titles.appendChild(
      el(
        'div',
        { class: 'tl-counts' },
        [
          plural(c.tests, 'test'),
          plural(c.processes, 'process', 'processes'),
          plural(c.sessions, 'session'),
          plural(c.transactions, 'transaction') + ' (' + plural(c.commits, 'commit') + ', ' + plural(c.rollbacks, 'rollback') + ')',
          plural(c.statements, 'statement'),
          plural(view.findings.length, 'finding'),
        ].join(' · '),
      ),
    );
    head.appendChild(titles);
    var controls = el('div', { class: 'tl-controls' });
    var label = el('label', { for: 'tl-test-select' }, 'Show');
    var picker = el('select', { id: 'tl-test-select' });
    var focus = view.focus || [];
    if (focus.length) {
      var which = focus.length === 1 ? 'the test that failed or has findings' : 'the ' + focus.length + ' tests that failed or have findings';
      picker.appendChild(el('option', { value: FOCUS }, which));
    }
    picker.appendChild(el('option', { value: '' }, 'the whole run'));
    // The tests that need attention first, then the others; each labelled by name, with its file.
    var groups = [el('optgroup', { label: 'Failed or with findings' }), el('optgroup', { label: 'Other tests' })];
    var seen = {};
    view.tests.forEach(function (t) {
      if (seen[t.id]) return;
      seen[t.id] = true;
      var failed = t.outcome === 'failed' || t.outcome === 'error';
      var text = (failed ? '✗ ' : t.attention ? '! ' : '') + (t.label || t.name) + (t.path ? ' — ' + t.path : '');
      groups[t.attention ? 0 : 1].appendChild(el('option', { value: t.id, title: testTitle(t) }, text));
    });
    groups.forEach(function (g) {
      if (g.firstChild) picker.appendChild(g);
    });
    picker.value = state.test;
    picker.addEventListener('change', function () {
      state.test = picker.value;
      render();
    });
    controls.appendChild(label);
    controls.appendChild(picker);
    head.appendChild(controls);
    root.appendChild(head);

    var legend = el('div', { class: 'tl-legend' });
    legendItem(legend, 'tl-bar commit', 'committed');
    legendItem(legend, 'tl-bar rollback', 'rolled back (writes lost)');
    legendItem(legend, 'tl-bar quiet', 'ended, nothing to commit');
    legendItem(legend, 'tl-bar open', 'never ended');
    legendItem(legend, 'tl-tick write', 'write');
    legendItem(legend, 'tl-tick read', 'read');
    legendItem(legend, 'tl-tick identity', 'identity-map hit');
    legendItem(legend, 'tl-arrow uncommitted', 'read could not see the write');
    legendItem(legend, 'tl-arrow stale', 'read an older state');
    legendItem(legend, 'tl-marker error', 'finding');
    root.appendChild(legend);

    var body = el('div', { class: 'tl-body' });
    elements.chart = el('div', { class: 'tl-chart' });
    elements.details = el('aside', { class: 'tl-details', 'aria-live': 'polite' });
    elements.details.appendChild(el('h2', null, 'Details'));
    elements.details.appendChild(
      el('p', { class: 'tl-hint' }, 'Click a transaction bar, a statement tick, an arrow or a numbered finding to see its SQL, source line, session and outcome.'),
    );
    body.appendChild(elements.chart);
    body.appendChild(elements.details);
    root.appendChild(body);

    if (view.findings.length) {
      var sec = el('section', { class: 'tl-findings' });
      sec.appendChild(el('h2', null, 'Findings'));
      var ol = el('ol');
      view.findings.forEach(function (f, i) {
        var li = el('li', { class: f.severity, 'data-finding': i });
        li.appendChild(el('span', { class: 'tl-sev' }, f.severity + ' '));
        var b = el('button', { type: 'button', class: 'tl-link tl-rule' }, f.rule);
        b.addEventListener('click', function () {
          select('finding', i);
          if (vscodeApi) openSource(f.at);
        });
        li.appendChild(b);
        li.appendChild(document.createTextNode(' ' + f.at.path + ':' + f.at.line + ' — ' + f.message));
        ol.appendChild(li);
      });
      sec.appendChild(ol);
      root.appendChild(sec);
    }
    if (view.notes.length) {
      var notes = el('div', { class: 'tl-notes' });
      view.notes.forEach(function (n) {
        notes.appendChild(el('p', null, 'Note: ' + n));
      });
      root.appendChild(notes);
    }

    elements.chart.addEventListener('click', function (e) {
      var n = e.target;
      while (n && n !== elements.chart && !(n.getAttribute && n.getAttribute('data-kind'))) n = n.parentNode;
      if (!n || n === elements.chart) return;
      var kind = n.getAttribute('data-kind');
      var index = Number(n.getAttribute('data-index'));
      select(kind, index);
      if (vscodeApi) openSource(placeOf(kind, index));
    });
    elements.chart.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      var n = e.target;
      if (!n.getAttribute || !n.getAttribute('data-kind')) return;
      e.preventDefault();
      var kind = n.getAttribute('data-kind');
      var index = Number(n.getAttribute('data-index'));
      select(kind, index);
      if (vscodeApi) openSource(placeOf(kind, index));
    });
  }

  function render() {
    var counts = drawChart();
    root.setAttribute('data-lanes', String(counts.lanes));
    root.setAttribute('data-bars', String(counts.bars));
    root.setAttribute('data-ticks', String(counts.ticks));
    root.setAttribute('data-arrows', String(counts.arrows));
    root.setAttribute('data-markers', String(counts.markers));
    root.setAttribute('data-showing', state.test === FOCUS ? 'focus' : state.test ? 'test' : 'run');
    document.body.classList.add('tl-rendered');
    if (vscodeApi) vscodeApi.postMessage({ type: 'rendered', counts: counts, laneIds: laneIds() });
    return counts;
  }
  function laneIds() {
    var out = [];
    var nodes = root.querySelectorAll('[data-lane]');
    for (var i = 0; i < nodes.length; i++) out.push(nodes[i].getAttribute('data-lane'));
    return out;
  }

  function show(v) {
    view = v;
    // A suite too long to read whole opens on the tests that failed or have findings.
    state = { test: v.opensOn === 'focus' && (v.focus || []).length ? FOCUS : '', selected: undefined };
    build();
    render();
  }

  var resizeTimer;
  window.addEventListener('resize', function () {
    if (!view) return;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 120);
  });

  if (vscodeApi) {
    window.addEventListener('message', function (e) {
      var msg = e.data;
      if (msg && msg.type === 'view' && msg.view) show(msg.view);
    });
    vscodeApi.postMessage({ type: 'ready' });
  } else {
    var data = document.getElementById('txlens-timeline-data');
    if (data) show(JSON.parse(data.textContent || 'null'));
  }
})();
