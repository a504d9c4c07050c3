// A job's page: while the job is queued or running, ask its JSON twin every 2 seconds and
// replace the progress block; stop once the job has ended (then reload, for its actions).
(function () {
  "use strict";
  var live = document.getElementById("job-live");
  if (!live || live.dataset.active !== "true") { return; }
  var url = live.dataset.url;
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (job) {
        live.innerHTML = job.progress_html;
        if (job.active) { window.setTimeout(poll, 2000); }
        else { live.dataset.active = "false"; window.location.reload(); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
