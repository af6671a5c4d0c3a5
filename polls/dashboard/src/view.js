// Rendering results into the page. Text carries every number, so nothing relies on colour.
const $ = (id) => document.getElementById(id);
const STATE_TEXT = {
  open: "Voting is open",
  not_open_yet: "Voting opens soon",
  draft: "Voting has not started",
  closed: "Voting closed — final results",
};
const TIMELINE_MINUTES = 30;

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function share(votes, total) {
  return total ? Math.round((votes / total) * 1000) / 10 : 0;
}

function renderResults(config, result) {
  const body = $("results-body");
  body.replaceChildren();
  for (const category of config.categories) {
    const votes = result.counts[category.code] || 0;
    const percent = share(votes, result.total);
    const row = body.insertRow();
    const label = row.insertCell();
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = category.colour;
    swatch.setAttribute("aria-hidden", "true");
    const code = document.createElement("strong");
    code.textContent = category.code;
    label.append(swatch, code, ` ${category.label}`);
    const bar = row.insertCell();
    bar.className = "bar-cell";
    const fill = document.createElement("span");
    fill.className = "bar";
    fill.style.width = `${percent}%`;
    fill.style.background = category.colour;
    fill.setAttribute("aria-hidden", "true");
    bar.append(fill);
    cell(row, votes.toLocaleString(), "number votes");
    cell(row, `${percent}%`, "number share");
  }
  $("total").textContent = result.total.toLocaleString();
}

// The last TIMELINE_MINUTES minutes up to the latest one with votes, quiet minutes as zero.
function timelineSlots(minutes) {
  const latest = Object.keys(minutes).sort().pop();
  if (!latest) return [];
  const end = Date.parse(`${latest}:00Z`);
  const slots = [];
  for (let i = TIMELINE_MINUTES - 1; i >= 0; i -= 1) {
    const minute = new Date(end - i * 60000).toISOString().slice(0, 16);
    slots.push([minute, minutes[minute] || 0]);
  }
  return slots;
}

function renderTimeline(result) {
  const slots = timelineSlots(result.minutes);
  const chart = $("timeline-chart");
  chart.replaceChildren();
  const peak = Math.max(1, ...slots.map(([, n]) => n));
  for (const [minute, votes] of slots) {
    const column = document.createElement("li");
    column.style.setProperty("--height", `${(votes / peak) * 100}%`);
    column.title = `${minute.slice(11)} UTC: ${votes}`;
    column.setAttribute("aria-label", `${minute.slice(11)} UTC: ${votes} votes`);
    chart.append(column);
  }
  $("timeline").hidden = slots.length === 0;
}

function renderRegions(result) {
  const regions = Object.entries(result.regions).filter(([, n]) => n > 0).sort(([, a], [, b]) => b - a);
  const body = $("regions-body");
  body.replaceChildren();
  for (const [region, votes] of regions.slice(0, 10)) {
    const row = body.insertRow();
    cell(row, region || "Unknown");
    cell(row, votes.toLocaleString(), "number");
    cell(row, `${share(votes, result.total)}%`, "number");
  }
  $("regions").hidden = regions.length === 0;
}

// What config.json alone says: how to vote and whether voting is open.
export function renderState(config, state) {
  const keyword = config.keyword ? `${config.keyword.toUpperCase()} ` : "";
  const codes = config.categories.map((c) => keyword + c.code).join(", ");
  $("instructions").textContent = state === "open" ? `Text ${codes} to ${config.number}` : "";
  $("status").textContent = STATE_TEXT[state] || "";
  $("status").dataset.state = state;
}

export function render(config, state, result) {
  renderState(config, state);
  renderResults(config, result);
  renderTimeline(result);
  renderRegions(result);
  $("updated").textContent = result.updatedAt
    ? `Last update ${new Date(result.updatedAt).toLocaleTimeString()}`
    : "No votes yet";
  $("stale").hidden = true;
}

function describeAge(ageMs) {
  const seconds = Math.floor(ageMs / 1000);
  return seconds < 60 ? `${seconds} s ago` : `${Math.floor(seconds / 60)} min ago`;
}

// A read failed and another is scheduled: the totals on the page (if any) stay, with their age.
export function renderRetrying(ageMs) {
  const stale = $("stale");
  stale.hidden = false;
  stale.textContent =
    ageMs === null
      ? "Retrying — results not loaded yet"
      : `Retrying — showing results from ${describeAge(ageMs)}`;
}

export function renderUnavailable() {
  const stale = $("stale");
  stale.hidden = false;
  stale.textContent = "Results unavailable";
}
