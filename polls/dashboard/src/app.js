// The TextVote live results page. Everything poll-specific comes from config.json, written
// next to the page at publish time; this bundle is the same for every poll and deployment.
import { CognitoIdentityClient } from "@aws-sdk/client-cognito-identity";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { parseAggregate } from "./aggregate.js";
import { guestCredentials } from "./identity.js";
import { retryDelayMs } from "./retry.js";
import { listRegions, render, renderRetrying, renderState, renderUnavailable } from "./view.js";

const OPEN_REFRESH_MS = 1000;
const CLOSED_REFRESH_MS = 30000;
// Regions and the timeline change slowly and are bigger: read every DETAIL_REFRESH_MS.
const DETAIL_REFRESH_MS = 15000;
const AGE_TICK_MS = 1000;

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return response.json();
}

function votingState(config, now) {
  if (config.status === "draft") return "draft";
  if (config.status === "closed") return "closed";
  if (config.opensAt && now < Date.parse(config.opensAt)) return "not_open_yet";
  if (config.closesAt && now >= Date.parse(config.closesAt)) return "closed";
  return "open";
}

// One of the copies the tally publishes, at random: a crowd's reads spread evenly over them.
async function readReplica(dynamodb, config, replicaKeys) {
  const pk = replicaKeys[Math.floor(Math.random() * replicaKeys.length)];
  const { Item } = await dynamodb.send(new GetItemCommand({ TableName: config.table, Key: { pk: { S: pk } } }));
  return parseAggregate(Item || {});
}

// Every refresh reads the small totals item; the detail (regions, the last hour's minutes)
// only every DETAIL_REFRESH_MS, and is shown with each refresh's totals meanwhile.
function resultsReader(dynamodb, config) {
  let detail = null;
  let detailReadAt = 0;
  return async (now) => {
    const totals = await readReplica(dynamodb, config, config.viewerKeys);
    if (detail === null || now - detailReadAt >= DETAIL_REFRESH_MS) {
      detail = await readReplica(dynamodb, config, config.detailKeys);
      detailReadAt = now;
    }
    return { ...totals, minutes: detail.minutes, regions: detail.regions };
  };
}

async function main() {
  const config = await loadConfig();
  // An endpoint is only set for the embedded emulator; on AWS the SDK finds its own.
  // One attempt per call: the page retries every failure itself (retry.js), so the SDK's own
  // retries do not multiply the calls of a throttled crowd.
  const clientConfig = {
    region: config.region,
    maxAttempts: 1,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
  };
  const credentials = guestCredentials(new CognitoIdentityClient(clientConfig), config.identityPoolId);
  const dynamodb = new DynamoDBClient({ ...clientConfig, credentials });
  const readResults = resultsReader(dynamodb, config);
  let failures = 0;
  let lastGoodAt = null; // when the totals on the page were read

  // While retrying, the page keeps the last good totals and says how old they are.
  const showRetrying = () => renderRetrying(lastGoodAt === null ? null : Date.now() - lastGoodAt);
  setInterval(() => {
    if (failures > 0) showRetrying();
  }, AGE_TICK_MS);

  async function refresh() {
    const started = Date.now();
    const state = votingState(config, started);
    let delay = state === "open" ? OPEN_REFRESH_MS : CLOSED_REFRESH_MS;
    try {
      const result = await readResults(started);
      render(config, state, result);
      lastGoodAt = Date.now();
      failures = 0;
    } catch {
      failures += 1;
      delay = retryDelayMs(failures);
      renderState(config, state);
      showRetrying();
    }
    // Counted from the start of this refresh, so a slow read does not stretch the period.
    setTimeout(refresh, Math.max(0, delay - (Date.now() - started)));
  }
  refresh();
}

// Presenter mode: the whole screen for a projector or a stadium screen (style.css), with the
// timeline and the regions beside the bars unless the URL says `bars-only` (`?present&bars-only`,
// set on the screen's browser): then presenter mode shows the bars and how to vote alone.
const presentButton = document.getElementById("present");
function setPresenting(on) {
  document.body.classList.toggle("present", on);
  presentButton.setAttribute("aria-pressed", String(on));
  listRegions(); // as many as the mode has room for
}
const pageOptions = new URLSearchParams(location.search);
document.body.classList.toggle("bars-only", pageOptions.has("bars-only"));
presentButton.addEventListener("click", () => setPresenting(!document.body.classList.contains("present")));
addEventListener("resize", () => listRegions());
setPresenting(pageOptions.has("present"));

main().catch(() => renderUnavailable());
