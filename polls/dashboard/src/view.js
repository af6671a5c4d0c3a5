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

// A poll with several votes per phone also shows its distinct voters: under each choice those
// who gave it votes, under the total all of them (the viewer item's "voters" and "v:" counts).
const severalVotes = (config) => (config.votesPerPhone || 1) > 1;
const counted = (n, what) => `${n.toLocaleString()} ${what}${n === 1 ? "" : "s"}`;
const fromVoters = (voters) => `from ${counted(voters, "voter")}`;

function votersLine(id) {
  const line = document.createElement("div");
  line.className = "voters";
  if (id) line.id = id;
  return line;
}

// One row per category, made once: later renders change its numbers, so the bars' widths
// animate between updates (style.css) instead of being drawn afresh.
function resultRows(config) {
  const body = $("results-body");
  if (body.rows.length === config.categories.length) return [...body.rows];
  body.replaceChildren();
  document.body.style.setProperty("--rows", String(config.categories.length));
  const withVoters = severalVotes(config);
  document.body.classList.toggle("several-votes", withVoters);
  if (withVoters && !$("voters")) $("results").tFoot.rows[0].cells[0].append(votersLine("voters"));
  for (const category of config.categories) {
    const row = body.insertRow();
    const label = row.insertCell();
    label.className = "label";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = category.colour;
    swatch.setAttribute("aria-hidden", "true");
    const code = document.createElement("strong");
    code.className = "token";
    code.textContent = category.code;
    const text = document.createElement("span");
    text.className = "label-text";
    text.textContent = ` ${category.label}`;
    const leader = document.createElement("span");
    leader.className = "leader";
    const line = document.createElement("div");
    line.className = "label-line";
    line.append(swatch, code, text, " ", leader);
    label.append(line);
    if (withVoters) label.append(votersLine());
    const bar = row.insertCell();
    bar.className = "bar-cell";
    const fill = document.createElement("span");
    fill.className = "bar";
    fill.style.background = category.colour;
    fill.setAttribute("aria-hidden", "true");
    bar.append(fill);
    cell(row, "", "number votes");
    cell(row, "", "number share");
    const vote = row.insertCell();
    vote.className = "vote-cell";
    const link = document.createElement("a");
    link.href = category.smsUri;
    link.className = "tap-to-vote";
    link.textContent = "Tap to vote";
    link.setAttribute("aria-label", `Tap to vote for ${category.label}: texts ${category.text} to ${config.numberDisplay}`);
    vote.append(link);
  }
  return [...body.rows];
}

function renderResults(config, state, result) {
  const rows = resultRows(config);
  const votesOf = (category) => result.counts[category.code] || 0;
  const most = Math.max(...config.categories.map(votesOf));
  config.categories.forEach((category, i) => {
    const row = rows[i];
    const votes = votesOf(category);
    const percent = share(votes, result.total);
    row.querySelector(".bar").style.width = `${percent}%`;
    row.querySelector(".votes").textContent = votes.toLocaleString();
    row.querySelector(".share").textContent = `${percent}%`;
    // The leader in words, not only by the longest bar: "Winner" once voting has closed.
    const leads = votes > 0 && votes === most;
    row.classList.toggle("leading", leads);
    row.querySelector(".leader").textContent = leads ? (state === "closed" ? "Winner" : "Leading") : "";
    if (severalVotes(config)) {
      row.querySelector(".voters").textContent = fromVoters(result.votersOf[category.code] || 0);
    }
  });
  $("total").textContent = result.total.toLocaleString();
  if (severalVotes(config)) $("voters").textContent = fromVoters(result.voters);
  const voided = result.voided || 0;
  $("voided").textContent = `${voided.toLocaleString()} vote${voided === 1 ? "" : "s"} voided`;
  $("voided").hidden = voided === 0;
}

// What a screen reader hears of the totals (the aria-live region #announcer): at most once
// every ANNOUNCE_EVERY_MS, and only when they changed, so updates every second do not drown
// out everything else.
const ANNOUNCE_EVERY_MS = 10000;
let announcedAt = -Infinity;

export function totalsSentence(config, result) {
  const withVoters = severalVotes(config);
  const parts = config.categories.map((c) => {
    const votes = result.counts[c.code] || 0;
    const given = withVoters
      ? `${counted(votes, "vote")} ${fromVoters(result.votersOf[c.code] || 0)}`
      : votes.toLocaleString();
    return `${c.label}: ${given} (${share(votes, result.total)}%)`;
  });
  const total = withVoters
    ? `${counted(result.total, "vote")} ${fromVoters(result.voters)}`
    : `${result.total.toLocaleString()} votes`;
  return `${total}. ${parts.join(", ")}.`;
}

function announce(config, result, now) {
  const announcer = $("announcer");
  const sentence = totalsSentence(config, result);
  if (sentence === announcer.textContent || now - announcedAt < ANNOUNCE_EVERY_MS) return;
  announcer.textContent = sentence;
  announcedAt = now;
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

const clock = (minute) =>
  new Date(`${minute}:00Z`).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function renderTimeline(result) {
  const slots = timelineSlots(result.minutes);
  const chart = $("timeline-chart");
  chart.replaceChildren();
  const peak = Math.max(1, ...slots.map(([, n]) => n));
  for (const [minute, votes] of slots) {
    const column = document.createElement("li");
    column.style.setProperty("--height", `${(votes / peak) * 100}%`);
    column.title = `${clock(minute)}: ${votes}`;
    column.setAttribute("aria-label", `${clock(minute)}: ${votes} votes`);
    chart.append(column);
  }
  // Time labels under the chart: its first, middle and last minute, in the viewer's time.
  const axis = $("timeline-axis");
  axis.replaceChildren();
  if (slots.length) {
    for (const i of [0, Math.floor(slots.length / 2), slots.length - 1]) {
      const label = document.createElement("span");
      label.textContent = clock(slots[i][0]);
      axis.append(label);
    }
  }
  $("timeline-peak").textContent = `Most in a minute: ${peak.toLocaleString()}`;
  $("timeline").hidden = slots.length === 0;
}

const COUNTRY_NAMES = new Intl.DisplayNames(["en"], { type: "region" });

// "US-CA" -> "United States (CA)", "GB" -> "United Kingdom", "" -> "Unknown" (the region the
// tally counts: lambdas/shared/attributes.py, region_attribute).
export function regionName(region) {
  const [country, state] = region.split("-");
  if (!country) return "Unknown";
  let name = country;
  try {
    name = COUNTRY_NAMES.of(country) || country;
  } catch {
    // not a country code: shown as it is
  }
  return state ? `${name} (${state})` : name;
}

// The regions of the last render, largest first, and the total votes their shares are of.
let regionsShown = { regions: [], total: 0 };
// How many regions a normal page lists; presenter mode lists as many as fit (listRegions).
const REGIONS_LISTED = 10;

function renderRegions(result) {
  const regions = Object.entries(result.regions).filter(([, n]) => n > 0).sort(([, a], [, b]) => b - a);
  regionsShown = { regions, total: result.total };
  $("regions").hidden = regions.length === 0;
  listRegions();
}

function regionRow(body, region, votes, largest, total) {
  const row = body.insertRow();
  cell(row, regionName(region), "region-name");
  const bar = row.insertCell();
  bar.className = "bar-cell";
  const fill = document.createElement("span");
  fill.className = "bar region-bar";
  fill.style.width = `${share(votes, largest)}%`; // the largest region fills the cell
  fill.setAttribute("aria-hidden", "true");
  bar.append(fill);
  cell(row, votes.toLocaleString(), "number");
  cell(row, `${share(votes, total)}%`, "number");
}

// Lists the largest regions of the last render: REGIONS_LISTED on a normal page; in presenter
// mode as many as fit in the regions' part of the screen (style.css), dropping the smallest
// until the section no longer overflows. "+N more" counts the regions left out. Called again
// when the page enters or leaves presenter mode or the window changes size.
export function listRegions() {
  const { regions, total } = regionsShown;
  const body = $("regions-body");
  const more = $("regions-more");
  const section = $("regions");
  const presenting = document.body.classList.contains("present");
  let listed = presenting ? regions.length : Math.min(regions.length, REGIONS_LISTED);
  const sayLeftOut = () => {
    more.textContent = `+${regions.length - listed} more`;
    more.hidden = listed === regions.length;
  };
  body.replaceChildren();
  for (const [region, votes] of regions.slice(0, listed)) {
    regionRow(body, region, votes, regions[0][1], total);
  }
  sayLeftOut();
  while (presenting && listed > 0 && section.scrollHeight > section.clientHeight) {
    body.deleteRow(-1);
    listed -= 1;
    sayLeftOut();
  }
}

function token(text) {
  const element = document.createElement("kbd");
  element.className = "token";
  element.textContent = text;
  return element;
}

// What config.json alone says: how to vote (the codes as large tokens, the number as its
// country writes it, formatted at publish time) and whether voting is open.
export function renderState(config, state) {
  const instructions = $("instructions");
  instructions.replaceChildren();
  if (state === "open") {
    instructions.append("Text ");
    config.categories.forEach((c, i) => instructions.append(...(i ? [", "] : []), token(c.text)));
    const number = document.createElement("strong");
    number.className = "phone-number";
    number.textContent = config.numberDisplay;
    instructions.append(" to ", number);
  }
  $("how-to-vote").hidden = state !== "open";
  $("status").textContent = STATE_TEXT[state] || "";
  $("status").dataset.state = state;
  document.body.dataset.state = state;
}

export function render(config, state, result) {
  renderState(config, state);
  renderResults(config, state, result);
  announce(config, result, Date.now());
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
