/* Jangteo (장터) — a little vanilla JavaScript. Every page works without it; it only adds:
   - progress bars that poll a JSON endpoint (data-poll; one bar or one per data-poll-item row)
     and reload the page when the jobs end,
   - confirmation dialogs before destructive actions (data-confirm),
   - the language switch submitting on change, the phone menu toggle, "select all" checkboxes. */
(function () {
  "use strict";

  function poll(box) {
    var url = box.getAttribute("data-poll");
    var interval = parseInt(box.getAttribute("data-poll-interval") || "1500", 10);
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-poll-text]");
    var failures = 0;

    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          if (bar && typeof data.progress === "number") {
            bar.value = data.progress;
            bar.textContent = data.progress + "%";
          }
          if (text && data.label) text.textContent = data.label;
          // Several jobs in one box (a license's files): each row marked data-poll-item="<id>"
          // gets its own bar and status text from data.items.
          if (Array.isArray(data.items)) {
            data.items.forEach(function (item) {
              var row = box.querySelector('[data-poll-item="' + item.id + '"]');
              if (!row) return;
              var itemBar = row.querySelector("progress");
              if (itemBar && typeof item.progress === "number") {
                itemBar.value = item.progress;
                itemBar.textContent = item.progress + "%";
              }
              var itemText = row.querySelector("[data-poll-item-text]");
              if (itemText && item.label) itemText.textContent = item.label;
            });
          }
          if (data.done) {
            window.location.reload();
            return;
          }
          window.setTimeout(tick, interval);
        })
        .catch(function () {
          failures += 1;
          if (failures < 10) window.setTimeout(tick, interval * 2);
        });
    }
    window.setTimeout(tick, interval);
  }

  function init() {
    document.querySelectorAll("[data-poll]").forEach(poll);

    document.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) event.preventDefault();
    });

    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
      var fallback = select.form.querySelector("[data-autosubmit-fallback]");
      if (fallback) fallback.hidden = true;
    });

    var toggle = document.querySelector(".nav-toggle");
    var nav = document.getElementById("main-nav");
    if (toggle && nav) {
      nav.setAttribute("data-collapsed", "true");
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") === "true";
        toggle.setAttribute("aria-expanded", open ? "false" : "true");
        nav.setAttribute("data-collapsed", open ? "true" : "false");
      });
    }

    // Column profiles start open where there is room, folded on phones (issue 17).
    if (window.matchMedia && window.matchMedia("(min-width: 721px)").matches) {
      document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
    }

    document.querySelectorAll("[data-check-all]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var group = document.getElementById(button.getAttribute("data-check-all"));
        if (!group) return;
        var boxes = group.querySelectorAll('input[type="checkbox"]:not([disabled])');
        var allChecked = Array.prototype.every.call(boxes, function (b) { return b.checked; });
        boxes.forEach(function (b) { b.checked = !allChecked; });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
