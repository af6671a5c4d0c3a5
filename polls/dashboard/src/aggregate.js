// Reading the items the tally publishes for the page (lambdas/shared/keys.py: viewer_key,
// detail_key; lambdas/shared/attributes.py names their attributes).
const prefixed = (item, prefix) => {
  const values = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(prefix) && value.N !== undefined) values[name.slice(prefix.length)] = Number(value.N);
  }
  return values;
};

export function parseAggregate(item) {
  return {
    counts: prefixed(item, "n:"),
    minutes: prefixed(item, "m:"),
    regions: prefixed(item, "r:"),
    total: item.total ? Number(item.total.N) : 0,
    updatedAt: item.updated_at ? item.updated_at.S : null,
  };
}
