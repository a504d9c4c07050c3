// Search and filter forms (method="get"): leave out the fields left empty, so the address
// to bookmark or share holds only what was asked ("/packages?q=liege", not a dozen "x=&").
// Progressive enhancement: without JavaScript every field is sent and the server reads
// an empty field as not given.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "get") {
      return;
    }
    var emptied = [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && !field.disabled && "value" in field && field.value === "" &&
          field.type !== "submit" && field.type !== "button") {
        field.disabled = true; // a disabled field is not sent
        field.dataset.emptyLeftOut = "1";
        emptied.push(field);
      }
    });
    // enabled again once the request has gone (and when the page comes back from history)
    window.setTimeout(function () {
      emptied.forEach(function (field) {
        field.disabled = false;
        delete field.dataset.emptyLeftOut;
      });
    }, 0);
  });
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-empty-left-out]"),
      function (field) {
        field.disabled = false;
        delete field.dataset.emptyLeftOut;
      });
  });

  // "Back to the form" on the page of an expired form: back in history, where the browser
  // keeps what was typed (the link itself goes to the form without the typed values)
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a.js-back") : null;
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  // A page shown again from history carries the security token of the session it was made
  // in; after a sign-out and sign-in that token no longer works. Fetch the page's address
  // again for the current token and put it in every form, so a send from here works.
  function refreshTokens() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (!meta || !document.querySelector('input[name="csrf_token"]') || !window.fetch) {
      return;
    }
    window.fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        var found = /<meta name="csrf-token" content="([^"]+)">/.exec(html);
        if (!found) { return; }
        meta.setAttribute("content", found[1]);
        Array.prototype.forEach.call(document.querySelectorAll('input[name="csrf_token"]'),
          function (input) { input.value = found[1]; });
      })
      .catch(function () { /* the send will say the form expired, as without JavaScript */ });
  }
  window.addEventListener("pageshow", function (event) {
    var navigation = window.performance && performance.getEntriesByType ?
      performance.getEntriesByType("navigation")[0] : null;
    if (event.persisted || (navigation && navigation.type === "back_forward")) {
      refreshTokens();
    }
  });
}());
