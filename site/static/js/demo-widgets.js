/* Demo widgets: the three things htmx can't do on its own.
 *
 * 1. Show a range slider's value next to it while it moves.
 *    Markup: <input type="range" data-output="ID" [data-zero="off"] [data-one="off"]>
 *            <output id="ID">…</output>
 * 2. Say so in the widget when the server can't be reached or answers with an error page
 *    htmx won't swap (a 500 or a proxy's 502), instead of leaving "Running…" forever.
 * 3. After a run the learner started (a demo's button, a word to mask, a ready example),
 *    move focus to the result's status line ([data-result-status], tabindex="-1") each
 *    time a new one is swapped in (queued, running, done), or to the first field the
 *    server refused, and say the status in the page's polite live region (#live-status in
 *    base.html): the panel is replaced by the swap, so focus would otherwise fall back to
 *    the page and a screen reader would hear nothing. Focus is moved only while it is
 *    nowhere else: on the page itself or on a status line this put it on.
 *
 * Everything else is htmx (forms, partial swaps, SSE) or CSS (token tooltips, heatmap
 * hover). This file is static, so it passes the site's Content-Security-Policy
 * (script-src 'self': no inline script, no eval); it builds elements with DOM calls and
 * textContent, never innerHTML or style attributes. Its messages come translated from the
 * script tag's data-* attributes (inference/templates/inference/assets.html).
 */
(function () {
  "use strict";

  // The messages, in the page's language (the script tag's data-* attributes)
  var own = (document.currentScript && document.currentScript.dataset) || {};
  var TEXT = {
    unreachable:
      own.unreachable ||
      "The site can't be reached right now. Check your connection and try again.",
    serverError:
      own.serverError || "The server couldn't answer (error {status}). Please try again in a moment.",
    serverErrorNoStatus:
      own.serverErrorNoStatus || "The server couldn't answer. Please try again in a moment.",
  };

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
    showProblem(event, TEXT.unreachable);
  });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    // The site's htmx-config swaps these in (they carry their own message).
    if (xhr && [400, 409, 422, 429, 503].indexOf(xhr.status) !== -1) return;
    showProblem(
      event,
      xhr ? TEXT.serverError.replace("{status}", String(xhr.status)) : TEXT.serverErrorNoStatus
    );
  });
  document.addEventListener("htmx:afterRequest", clearProblem);

  // --- 3. Focus and a spoken status after a run -----------------------------------------
  var STARTERS = ".demo-form, .demo-mask-form, .demo-chip";
  var FINISHED = { done: true, error: true, missing: true, unavailable: true };
  var following = {}; // panel id -> the last status said for it, while a run is followed
  var placed = typeof WeakSet === "function" ? new WeakSet() : null;

  function say(text) {
    var region = document.getElementById("live-status");
    if (!region || !text) return;
    // A new text node each time, so the same words twice are still read twice.
    region.textContent = "";
    region.appendChild(document.createTextNode(text));
  }

  function words(node) {
    return (node.textContent || "").replace(/\s+/g, " ").trim();
  }

  function focusIsFree() {
    var active = document.activeElement;
    return !active || active === document.body || active === document.documentElement ||
      (placed !== null && placed.has(active));
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var origin = event.detail && event.detail.elt;
    if (!origin || !origin.matches || !origin.matches(STARTERS)) return;
    var panel = origin.closest(".demo-panel");
    if (panel && panel.id) following[panel.id] = "";
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var node = event.target;
    var panel = node && node.closest ? node.closest(".demo-panel") : null;
    if (!panel || !(panel.id in following)) return;
    var refused = panel.querySelector(".demo-form .form-errors, .demo-form [aria-invalid=true]");
    var status = panel.querySelector(".demo-result-region [data-result-status]");
    var target = refused || status;
    if (!target) return;
    if (!(placed && placed.has(target)) && focusIsFree()) {
      target.focus();
      if (placed) placed.add(target);
    }
    var result = panel.querySelector(".demo-result-region .demo-result");
    var state = result ? result.getAttribute("data-state") : "";
    var region = panel.querySelector(".demo-result-region");
    var title = region ? (region.getAttribute("aria-label") || "") : "";
    var text = refused
      ? title + ": not run. " + words(refused)
      : title + ": " + (result && result.classList.contains("demo-result-stored") ? "stored example shown. " : "") + words(status);
    // Errors carry role="alert" and are read out already.
    if (!refused && state !== "error" && following[panel.id] !== text) say(text);
    following[panel.id] = text;
    if (refused || !result || FINISHED[state]) delete following[panel.id];
  });
})();
