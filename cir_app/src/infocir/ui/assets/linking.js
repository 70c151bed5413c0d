/* Gallery → map: pointing at a gallery tile (or focusing it with Tab) rings its point on the map.

   The ring is the map's "hovered" trace (figures.MAP_OVERLAYS), moved here with Plotly.restyle: no
   request, no figure sent.  The tile carries its index row (data-row); the point's position is read
   from the map's own traces, whose customdata are index rows.  A map update from the server (a Patch)
   empties the ring again, which is what it should show once the pointer has left. */
(function () {
    var cache = {data: null, pos: null};

    function plot() { return document.querySelector('#map-graph .js-plotly-plot'); }

    function positions(gd) {
        if (cache.data === gd.data && cache.pos) { return cache.pos; }
        var pos = new Map();
        (gd.data || []).forEach(function (t) {
            if (!t || t.name === 'hovered' || !t.customdata || !t.x) { return; }
            for (var i = 0; i < t.customdata.length; i++) {
                var r = t.customdata[i];
                if (typeof r === 'number' && !pos.has(r)) { pos.set(r, [t.x[i], t.y[i]]); }
            }
        });
        cache = {data: gd.data, pos: pos};
        return pos;
    }

    function ring(row) {
        var gd = plot();
        if (!gd || !gd.data || !window.Plotly) { return; }
        var at = gd.data.findIndex(function (t) { return t.name === 'hovered'; });
        if (at < 0) { return; }
        var p = row === null ? null : positions(gd).get(row);
        var t = gd.data[at];
        var same = p ? (t.x && t.x.length === 1 && t.x[0] === p[0] && t.y[0] === p[1]) : !(t.x && t.x.length);
        if (same) { return; }
        window.Plotly.restyle(gd, {x: [p ? [p[0]] : []], y: [p ? [p[1]] : []]}, [at]);
    }

    function tileRow(el) {
        var tile = el && el.closest ? el.closest('#results-gallery .tile[data-row]') : null;
        if (!tile || tile.dataset.row === '') { return null; }
        return parseInt(tile.dataset.row, 10);
    }

    document.addEventListener('mouseover', function (e) {
        var row = tileRow(e.target);
        if (row !== null) { ring(row); }
    });
    document.addEventListener('mouseout', function (e) {
        if (tileRow(e.target) !== null && tileRow(e.relatedTarget) === null) { ring(null); }
    });
    document.addEventListener('focusin', function (e) {
        var row = tileRow(e.target);
        if (row !== null) { ring(row); }
    });
    document.addEventListener('focusout', function (e) {
        if (tileRow(e.target) !== null && tileRow(e.relatedTarget) === null) { ring(null); }
    });
})();
