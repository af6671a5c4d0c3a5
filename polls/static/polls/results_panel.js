// Keeps a poll's results panel current: reads the panel's JSON URL every few seconds and
// redraws the rows, total, distinct voters (a poll with several votes per phone: the
// document's "voters"), split by channel and time of the last vote. Text only (textContent),
// never HTML.
"use strict";
(function () {
  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }

  function draw(panel, data) {
    const rows = data.rows.map(function (result) {
      const row = document.createElement("tr");
      [result.code, result.label, String(result.votes), result.share.toFixed(1) + "%"].forEach(
        function (text) { cell(row, text); }
      );
      if (data.voters !== undefined) cell(row, String(result.voters));
      return row;
    });
    panel.querySelector("tbody").replaceChildren(...rows);
    panel.querySelector(".results-total").textContent = String(data.total);
    const voters = panel.querySelector(".results-voters");
    if (voters && data.voters !== undefined) voters.textContent = String(data.voters);
    panel.querySelector(".results-channels").textContent = data.channels
      .map(function (split) {
        return split.channel + " " + split.votes + " (" + split.share.toFixed(1) + "%)";
      })
      .join(" · ");
    panel.querySelector(".results-updated").textContent = data.updated || "no votes yet";
  }

  function watch(panel) {
    const url = panel.dataset.resultsUrl;
    const every = 1000 * Number(panel.dataset.refreshSeconds || 2);
    const problem = panel.querySelector(".results-error");
    async function refresh() {
      try {
        const response = await fetch(url, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        const data = await response.json();
        if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
        draw(panel, data);
        problem.hidden = true;
      } catch (error) {
        problem.textContent = error.message.startsWith("Results")
          ? error.message
          : "The results could not be refreshed (" + error.message + "); retrying.";
        problem.hidden = false;
      } finally {
        window.setTimeout(refresh, every);
      }
    }
    window.setTimeout(refresh, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".results-panel[data-results-url]").forEach(watch);
  });
})();
