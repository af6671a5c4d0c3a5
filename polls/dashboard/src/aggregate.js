// Reading the items the tally publishes for the page (lambdas/shared/keys.py: viewer_key,
// detail_key; lambdas/shared/attributes.py names their attributes). A counter is a number, or
// on the viewer item a fixed-width string of digits (attributes.published_number).
const counterValue = (value) => Number(value.N ?? value.S);

const prefixed = (item, prefix) => {
  const values = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(prefix)) values[name.slice(prefix.length)] = counterValue(value);
  }
  return values;
};

export function parseAggregate(item) {
  return {
    counts: prefixed(item, "n:"),
    minutes: prefixed(item, "m:"),
    regions: prefixed(item, "r:"),
    total: item.total ? counterValue(item.total) : 0,
    // Votes an organiser voided: in none of the counts above (lambdas/shared/counting.py).
    voided: item.voided ? counterValue(item.voided) : 0,
    // Distinct voters, of a poll with several votes per phone only (config.votesPerPhone > 1):
    // in all, and per category those who gave it votes.
    voters: item.voters ? counterValue(item.voters) : 0,
    votersOf: prefixed(item, "v:"),
    updatedAt: item.updated_at ? item.updated_at.S : null,
  };
}
