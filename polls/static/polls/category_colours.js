// Gives each category row "Add another category" makes the next of the colours the portal
// suggests (CategoryFormSet: the next unused palette colours, on the template row's colour
// field as data-upcoming), in turn, so new categories do not all share one colour.
"use strict";
(function () {
  let added = 0;
  document.addEventListener("formset:added", function (event) {
    if (event.detail.formsetName !== "categories") return;
    const colour = event.target.querySelector("input[type=color][data-upcoming]");
    if (!colour) return;
    const upcoming = colour.dataset.upcoming.split(" ");
    colour.value = upcoming[added % upcoming.length];
    added += 1;
  });
})();
