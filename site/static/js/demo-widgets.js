/* Demo widgets: the two things htmx can't do on its own.
 *
 * 1. Show a range slider's value next to it while it moves.
 *    Markup: <input type="range" data-output="ID" [data-zero="off"] [data-one="off"]>
 *            <output id="ID">…</output>
 * 2. Say so in the widget when the server can't be reached or answers with an error page
 *    htmx won't swap (a 500 or a proxy's 502), instead of leaving "Running…" forever.
 *
 * Everything else is htmx (forms, partial swaps, SSE) or CSS (token tooltips, heatmap
 * hover). This file is static, so it passes the site's Content-Security-Policy
 * (script-src 'self': no inline script, no eval); it builds elements with DOM calls and
 * textContent, never innerHTML or style attributes.
 */
(function () {
  "use strict";

  function label(input) {
    var value = input.value;
    if (input.dataset.zero && Number(value) === 0) return input.dataset.zero;
    if (input.dataset.one && Number(value) === 1) return input.dataset.one;
    return value;
  }

  function sync(input) {
    var output = document.getElementById(input.dataset.output);
    if (output) output.textContent = label(input);
  }

  function syncAll(root) {
    var inputs = (root || document).querySelectorAll("input[type=range][data-output]");
    for (var i = 0; i < inputs.length; i++) sync(inputs[i]);
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.type === "range" && target.dataset.output) {
      sync(target);
    }
  });
  // Values restored by the browser (back/forward) and sliders swapped in by htmx.
  document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { syncAll(event.target); });

  function showProblem(event, message) {
    var origin = event.detail && event.detail.elt;
    var panel = origin && origin.closest && origin.closest(".demo-panel");
    if (!panel) return;
    var note = panel.querySelector(".demo-net-error");
    if (!note) {
      note = document.createElement("div");
      note.className = "demo-error demo-net-error";
      note.setAttribute("role", "alert");
      var region = panel.querySelector(".demo-result-region");
      panel.insertBefore(note, region);
    }
    note.textContent = message;
  }

  function clearProblem(event) {
    var origin = event.detail && event.detail.elt;
    var panel = origin && origin.closest && origin.closest(".demo-panel");
    var note = panel && panel.querySelector(".demo-net-error");
    if (note && event.detail.successful) note.remove();
  }

  document.addEventListener("htmx:sendError", function (event) {
    showProblem(event, "The site can't be reached right now. Check your connection and try again.");
  });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    // The site's htmx-config swaps these in (they carry their own message).
    if (xhr && [400, 409, 422, 429, 503].indexOf(xhr.status) !== -1) return;
    var status = xhr ? " (error " + xhr.status + ")" : "";
    showProblem(event, "The server couldn't answer" + status + ". Please try again in a moment.");
  });
  document.addEventListener("htmx:afterRequest", clearProblem);
})();
