// The job page's live log: follow the build through server-sent events, append each line as it
// comes, and show status changes without a reload. Lines are added as text, never as markup.
"use strict";
(function () {
  var log = document.getElementById("job-log");
  if (!log || log.dataset.live !== "true" || !window.EventSource) return;
  var status = document.getElementById("job-status");
  var reason = document.getElementById("job-reason");
  var source = new EventSource("/ui/jobs/" + encodeURIComponent(log.dataset.job) + "/events?log_after=" + encodeURIComponent(log.dataset.after));

  source.addEventListener("log", function (event) {
    var line = JSON.parse(event.data);
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    var span = document.createElement("span");
    span.className = "line " + line.stream;
    span.textContent = line.text + "\n";
    log.appendChild(span);
    log.dataset.after = String(line.id);
    if (atBottom) log.scrollTop = log.scrollHeight;
  });

  source.addEventListener("status", function (event) {
    var state = JSON.parse(event.data);
    var badge = document.createElement("span");
    badge.className = "badge badge-" + state.status.replace(/[^a-z-]/g, "");
    badge.textContent = state.status.replace(/_/g, " ");
    status.replaceChildren(badge);
    reason.textContent = state.reason;
    status.dataset.status = state.status;
    // A final status ends the stream: stop EventSource from opening it again.
    if (state.status !== "queued" && state.status !== "leased") source.close();
  });
})();
