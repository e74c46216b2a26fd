// Voltvend operator UI: small progressive enhancements; every page works without them.
// No inline script anywhere (the Content-Security-Policy forbids it): behaviour hangs off data- attributes.
(function () {
  "use strict";

  // A form marked data-once is sent once: a second click (or Enter) does nothing while the first is under way.
  // The server's idempotency key already makes a repeat harmless; this keeps the cashier from waiting twice.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (form.dataset.sent) { e.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    });
  });

  // Forms that change the supply or close a shift ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); }
    });
  });

  // A button that does something weighty (importing a tariff) asks first.
  document.querySelectorAll("button[data-confirm-button]").forEach(function (button) {
    button.addEventListener("click", function (e) {
      if (!window.confirm(button.dataset.confirmButton)) { e.preventDefault(); }
    });
  });

  // The cash count by denomination adds itself up as the cashier types (the server checks it again).
  document.querySelectorAll("table[data-sum]").forEach(function (table) {
    var out = document.getElementById(table.dataset.sum);
    var update = function () {
      var cents = 0;
      table.querySelectorAll("input[data-face]").forEach(function (input) {
        var n = parseInt(input.value, 10);
        if (n > 0) { cents += Math.round(parseFloat(input.dataset.face) * 100) * n; }
      });
      if (out) { out.textContent = (cents / 100).toFixed(2); }
    };
    table.addEventListener("input", update);
    update();
  });

  // Copy buttons copy the text of the element they name (a token), spaces left out.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var el = document.getElementById(button.dataset.copy);
      if (!el) { return; }
      var text = el.textContent.replace(/\s+/g, "");
      var done = function () { button.textContent = button.dataset.copied || button.textContent; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var range = document.createRange();
        range.selectNodeContents(el);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { document.execCommand("copy"); done(); } catch (err) { /* the text stays selected */ }
      }
    });
  });

  // Live search: as the cashier types, the results are fetched from data-live and replace data-target.
  document.querySelectorAll("input[data-live]").forEach(function (input) {
    var target = document.getElementById(input.dataset.target);
    var timer = null;
    var seq = 0;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var mine = ++seq;
        var url = input.dataset.live + "?q=" + encodeURIComponent(input.value);
        fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) {
            // A lost session answers with the login page: go there (and come back here after it).
            if (r.redirected && r.url.indexOf("/ui/login") !== -1) {
              window.location.href = "/ui/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
              return null;
            }
            return r.ok ? r.text() : null;
          })
          .then(function (html) {
            if (html !== null && mine === seq && target) {
              target.innerHTML = html;
              history.replaceState(null, "", "?q=" + encodeURIComponent(input.value));
            }
          })
          .catch(function () {});
      }, 200);
    });
    // Down arrow from the box goes to the first result; Enter there opens it.
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" && target) {
        var first = target.querySelector("a.result");
        if (first) { e.preventDefault(); first.focus(); }
      }
    });
  });

  // "/" anywhere (outside a field) goes to the search box, as in most counter software.
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (e.key === "/" && tag !== "INPUT" && tag !== "TEXTAREA" && tag !== "SELECT") {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
      else { window.location.href = "/ui/counter"; }
    }
  });
})();
