// Chart tooltips: the value of a point (and, for a converted point, the lab's original
// value and unit) shown beside it on hover or keyboard focus. The same text is in the
// SVG <title> of each point and in the table under the chart.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("figure.chart")) {
    const tip = figure.querySelector(".chart-tip");
    if (!tip) continue;
    const show = (event) => {
      const point = event.currentTarget;
      tip.textContent = point.dataset.tip;
      tip.hidden = false;
      const box = point.getBoundingClientRect();
      const frame = figure.getBoundingClientRect();
      tip.style.left = `${Math.max(0, box.left - frame.left + box.width / 2 - tip.offsetWidth / 2)}px`;
      tip.style.top = `${box.top - frame.top - tip.offsetHeight - 8}px`;
    };
    const hide = () => { tip.hidden = true; };
    for (const point of figure.querySelectorAll(".point[data-tip]")) {
      point.addEventListener("mouseenter", show);
      point.addEventListener("focus", show);
      point.addEventListener("mouseleave", hide);
      point.addEventListener("blur", hide);
    }
  }
});
