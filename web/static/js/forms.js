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
}());
