// deadman status pages: auto-refresh (keeps the filter and the scroll
// position: only the content is swapped; never while the filter form is
// being edited, and open <details> stay open) and copy buttons. Everything
// else works without JavaScript.
(function () {
  "use strict";
  function wireCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) { return; }
        var text = target.textContent;
        var done = function (copied) {
          button.textContent = copied ? "Copied" : "Copy failed: select the text and copy it";
          button.setAttribute("data-copied", copied ? "true" : "false");
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(text)); });
        } else { done(fallback(text)); }
      });
    });
  }
  // The old copy path, for pages served over plain HTTP (no Clipboard
  // API there); true when the browser says it copied.
  function fallback(text) {
    var area = document.createElement("textarea");
    var copied = false;
    area.value = text; document.body.appendChild(area); area.select();
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    document.body.removeChild(area);
    return copied;
  }
  // Whether swapping `content` would lose what the user is doing: a form
  // control in it has focus, or holds a value not yet submitted.
  function editing(content) {
    var active = document.activeElement;
    if (active && content.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) { return true; }
    return Array.prototype.some.call(content.querySelectorAll("input, textarea"), function (field) {
      return field.value !== field.defaultValue;
    }) || Array.prototype.some.call(content.querySelectorAll("select"), function (select) {
      // With no option marked `selected`, the first one is the default.
      var initial = Array.prototype.findIndex.call(select.options, function (o) { return o.defaultSelected; });
      return select.selectedIndex !== Math.max(initial, 0);
    });
  }
  // Open <details>, by their summary's text: the rows may move.
  function openDetails(root) {
    var open = {};
    root.querySelectorAll("details[open] > summary").forEach(function (summary) { open[summary.textContent] = true; });
    return open;
  }
  function refresh() {
    var content = document.getElementById("content");
    var every = Number(document.body.getAttribute("data-refresh") || 0);
    if (!content || !every) { return; }
    var status = document.getElementById("refresh-status");
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(location.href, { headers: { "X-Deadman-Refresh": "1" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
        .then(function (html) {
          var next = new DOMParser().parseFromString(html, "text/html").getElementById("content");
          if (!next) { return; }
          if (editing(content)) {
            if (status) { status.textContent = "Refresh paused while you edit the filter"; }
            return;
          }
          var x = window.scrollX, y = window.scrollY, open = openDetails(content);
          content.innerHTML = next.innerHTML;
          content.querySelectorAll("details > summary").forEach(function (summary) {
            if (open[summary.textContent]) { summary.parentNode.open = true; }
          });
          window.scrollTo(x, y);
          wireCopyButtons(content);
          if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
        })
        .catch(function (e) { if (status) { status.textContent = "Refresh failed (" + e.message + "); retrying"; } });
    }, every * 1000);
  }
  document.addEventListener("DOMContentLoaded", function () { wireCopyButtons(document); refresh(); });
})();
