// deadman status pages: auto-refresh (keeps the filter and the scroll
// position: only the content is swapped) and copy buttons. Everything else
// works without JavaScript.
(function () {
  "use strict";
  function wireCopyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) { return; }
        var text = target.textContent;
        var done = function () { button.textContent = "Copied"; button.setAttribute("data-copied", "true"); };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
        } else { fallback(text); done(); }
      });
    });
  }
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    document.body.removeChild(area);
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
          var x = window.scrollX, y = window.scrollY;
          content.innerHTML = next.innerHTML;
          window.scrollTo(x, y);
          wireCopyButtons(content);
          if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
        })
        .catch(function (e) { if (status) { status.textContent = "Refresh failed (" + e.message + "); retrying"; } });
    }, every * 1000);
  }
  document.addEventListener("DOMContentLoaded", function () { wireCopyButtons(document); refresh(); });
})();
