/* Every page: tell scroll boxes apart from boxes that merely could scroll.
 *
 * A table wider than its .table-scroll box gets data-overflow="start", "middle" or "end"
 * (how far it is scrolled), and site.css shows a "Scroll sideways" line for it; a table
 * that fits gets nothing. A code block (<pre>) too wide for the page becomes focusable
 * (tabindex="0"), so it can be scrolled from the keyboard too. Boxes that htmx swaps in
 * are measured after they settle. Static file, so it passes the site's
 * Content-Security-Policy (no inline script).
 */
(function () {
  "use strict";

  var BOXES = ".table-scroll, pre";

  function measure(box) {
    var extra = box.scrollWidth - box.clientWidth;
    if (box.tagName === "PRE") {
      if (extra > 1 && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollFocus = "1";
      } else if (extra <= 1 && box.dataset.scrollFocus) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
      return;
    }
    if (extra <= 1) {
      box.removeAttribute("data-overflow");
      return;
    }
    var left = box.scrollLeft;
    var where = left <= 1 ? "start" : left >= extra - 1 ? "end" : "middle";
    if (box.getAttribute("data-overflow") !== where) box.setAttribute("data-overflow", where);
  }

  var resized = typeof ResizeObserver === "function"
    ? new ResizeObserver(function (entries) {
        for (var i = 0; i < entries.length; i++) measure(entries[i].target);
      })
    : null;

  function watch(root) {
    var boxes = (root || document).querySelectorAll(BOXES);
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.dataset.scrollWatched) {
        measure(box);
        continue;
      }
      box.dataset.scrollWatched = "1";
      box.addEventListener("scroll", function (event) { measure(event.currentTarget); }, { passive: true });
      if (resized) resized.observe(box);
      measure(box);
    }
  }

  document.addEventListener("DOMContentLoaded", function () { watch(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.target;
    if (target && target.querySelectorAll) {
      watch(target.parentNode && target.parentNode.querySelectorAll ? target.parentNode : target);
    }
  });
  // Closed <details> hold boxes of no width; measure them when they open.
  document.addEventListener("toggle", function (event) {
    if (event.target && event.target.open) watch(event.target);
  }, true);
  window.addEventListener("resize", function () {
    if (!resized) watch(document);
  });
})();
