/* Keyboard use of the dashboard's clickable non-buttons (gallery tiles, panel E's rows, F1's maps, the
   benchmark view's rows: ↑/↓ in the focused table step through them):
   elements with class "kbd" and role="button" are Tab stops (tabindex="0" in the layout); Enter or
   Space on one acts as a click.  Escape (or a click outside it) closes the enlarged saliency view, whose
   ← → step through the candidates; Escape closes the map's point card.  Real <button>s need
   nothing: the browser already does this for them.

   A click re-renders what was clicked (a tile marked as ideal, the selected row): the new element has
   the same id, and the focus is put back on it, so the keyboard user stays where they were. */
(function () {
    var pending = null;  // {id, until}: the element to keep focused while its panel re-renders

    function keep(el) {
        if (el && el.id) { pending = {id: el.id, until: Date.now() + 4000}; }
    }

    function restore() {
        if (!pending) { return; }
        if (Date.now() > pending.until) { pending = null; return; }
        var now = document.activeElement;
        if (now && now !== document.body && now.id !== pending.id) {
            if (document.contains(now)) { pending = null; return; }  // the user moved on
        }
        var el = document.getElementById(pending.id);
        if (el && el !== document.activeElement) { el.focus({preventScroll: true}); }
    }

    document.addEventListener('keydown', function (e) {
        var el = e.target;
        if ((e.key === 'Enter' || e.key === ' ' || e.key === 'Spacebar') && el && el.classList &&
                el.classList.contains('kbd') && el.getAttribute('role') === 'button' && el.tagName !== 'BUTTON') {
            e.preventDefault();  // Space would scroll the page
            if (!e.repeat) {
                keep(el);
                el.click();
            }
            return;
        }
        if (e.key === 'Tab') { pending = null; }
        // the benchmark view's table (focused): ↑/↓ load the previous / next query as a click does
        var bench = document.getElementById('bench-table');
        if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && bench && el && bench.contains(el)) {
            var rows = Array.prototype.slice.call(bench.querySelectorAll('tr.bench-row'));
            if (rows.length) {
                e.preventDefault();  // the arrows would scroll the table
                var at = rows.findIndex(function (r) { return r.classList.contains('selected'); });
                var next = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)));
                if (next !== at) {
                    rows[next].scrollIntoView({block: 'nearest'});
                    rows[next].click();
                }
            }
            return;
        }
        var modal = document.getElementById('explain-zoom');
        var zoomOpen = modal && modal.style.display !== 'none';
        if (e.key === 'Escape') {
            var close = document.getElementById('explain-zoom-close');
            var card = document.getElementById('map-card');
            if (zoomOpen && close) {
                e.preventDefault();
                close.click();
            } else if (card && card.style.display !== 'none') {
                e.preventDefault();
                document.getElementById('map-card-close').click();
            }
        }
        if (zoomOpen && (e.key === 'ArrowRight' || e.key === 'ArrowLeft')) {
            var step = document.getElementById(e.key === 'ArrowRight' ? 'explain-next' : 'explain-prev');
            if (step && !step.disabled) {
                e.preventDefault();
                step.click();
            }
        }
    });
    // a click on the dimmed page around the enlarged view (not on the view itself) closes it
    document.addEventListener('click', function (e) {
        if (e.target && e.target.id === 'explain-zoom') {
            var close = document.getElementById('explain-zoom-close');
            if (close) { close.click(); }
        }
    });
    document.addEventListener('mousedown', function () { pending = null; });
    new MutationObserver(restore).observe(document.documentElement, {childList: true, subtree: true});
})();
