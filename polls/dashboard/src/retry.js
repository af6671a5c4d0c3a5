// When to try again after a failed call. Every viewer of a busy show is throttled at the same
// moment, so retries must spread out rather than arrive in waves: exponential backoff with
// full jitter (a uniformly random wait up to a window that doubles with each failure).
export const BACKOFF_BASE_MS = 1000; // the first window is 2 s, twice the refresh period:
export const BACKOFF_CAP_MS = 10000; // on average a throttled page never asks more often than a healthy one

// The error codes AWS answers when a caller is over a rate: DynamoDB, Cognito and the SDK.
const THROTTLING_ERRORS = new Set([
  "ThrottlingException",
  "ProvisionedThroughputExceededException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
]);

// The wait before the next attempt after `failures` (>= 1) failures in a row.
export function retryDelayMs(failures, random = Math.random) {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** failures);
}

// True when the call may well succeed as it is a little later: throttled, a server error,
// or no answer at all (the network). False when the service rejected the request itself.
export function isTransient(error) {
  if (THROTTLING_ERRORS.has(error?.name)) return true;
  const status = error?.$metadata?.httpStatusCode;
  return status === undefined || status >= 500;
}
