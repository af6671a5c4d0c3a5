// Reading the tally's aggregate item (lambdas/shared/keys.py describes its attributes).
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
