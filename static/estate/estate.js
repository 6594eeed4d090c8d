// Estate's only hand-written script. No inline handlers anywhere (strict CSP):
// behaviour is wired here from data- attributes.
(function () {
  "use strict";

  // Forms marked data-sync-from-url mirror the query string. htmx restores a page
  // from its history snapshot on "back", and a snapshot keeps the HTML, not what the
  // user had selected, so the filter controls are re-read from the URL.
  function syncFormsFromUrl(root, selector) {
    var params = new URLSearchParams(window.location.search);
    (root || document).querySelectorAll("form[data-sync-from-url]").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (selector && !el.matches(selector)) return;
        if (!el.name || el.type === "submit" || el.type === "button") return;
        var values = params.getAll(el.name);
        if (el.tagName === "SELECT") {
          Array.prototype.forEach.call(el.options, function (opt) {
            opt.selected = values.indexOf(opt.value) !== -1;
          });
          if (!el.multiple && values.length === 0 && el.options.length) el.options[0].selected = true;
        } else if (el.type === "checkbox" || el.type === "radio") {
          el.checked = values.indexOf(el.value) !== -1;
        } else {
          el.value = values.length ? values[0] : "";
        }
      });
    });
  }

  // Forms marked data-drop-empty leave empty fields out of the request, so the URL
  // pushed into history reads ?kind=instance&region=eu-west-1, not a list of blanks.
  document.addEventListener("htmx:configRequest", function (event) {
    var source = event.detail.elt;
    if (!source || !source.closest || !source.closest("form[data-drop-empty]")) return;
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      var values = Array.isArray(value) ? value : [value];
      if (values.every(function (v) { return v === "" || v === null || v === undefined; })) {
        delete params[key];
      }
    });
  });

  // After a sort or page link was followed, the form's hidden fields (sort) follow
  // the new URL so the next filter change keeps the order. Visible fields are left
  // alone: the user may still be typing in them.
  document.addEventListener("htmx:pushedIntoHistory", function () {
    syncFormsFromUrl(document, "input[type=hidden]");
  });
  document.addEventListener("htmx:historyRestore", function () { syncFormsFromUrl(document); });
  window.addEventListener("popstate", function () { syncFormsFromUrl(document); });
})();
