// The TextVote live results page. Everything poll-specific comes from config.json, written
// next to the page at publish time; this bundle is the same for every poll and deployment.
import { CognitoIdentityClient } from "@aws-sdk/client-cognito-identity";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { fromCognitoIdentityPool } from "@aws-sdk/credential-provider-cognito-identity";
import { parseAggregate } from "./aggregate.js";
import { render, renderStale } from "./view.js";

const OPEN_REFRESH_MS = 1000;
const CLOSED_REFRESH_MS = 30000;
const MAX_BACKOFF_MS = 30000;

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

async function main() {
  const config = await loadConfig();
  // An endpoint is only set for the embedded emulator; on AWS the SDK finds its own.
  const clientConfig = { region: config.region, ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  const credentials = fromCognitoIdentityPool({
    client: new CognitoIdentityClient(clientConfig),
    identityPoolId: config.identityPoolId,
  });
  const dynamodb = new DynamoDBClient({ ...clientConfig, credentials });
  const read = new GetItemCommand({ TableName: config.table, Key: { pk: { S: config.pollId } } });
  let failures = 0;

  async function refresh() {
    const started = Date.now();
    const state = votingState(config, started);
    let delay = state === "open" ? OPEN_REFRESH_MS : CLOSED_REFRESH_MS;
    try {
      const { Item } = await dynamodb.send(read);
      render(config, state, parseAggregate(Item || {}));
      failures = 0;
    } catch (error) {
      failures += 1;
      delay = Math.min(MAX_BACKOFF_MS, OPEN_REFRESH_MS * 2 ** failures);
      renderStale(delay);
    }
    // Counted from the start of this refresh, so a slow read does not stretch the period.
    setTimeout(refresh, Math.max(0, delay - (Date.now() - started)));
  }
  refresh();
}

document.getElementById("present").addEventListener("click", () => {
  document.body.classList.toggle("present");
});
if (new URLSearchParams(location.search).has("present")) document.body.classList.add("present");

main().catch(() => renderStale(null));
