// The page's Cognito guest credentials, with its identity id kept in localStorage so a reload
// (and every later visit) makes no GetId call: GetId has the smallest quota of the calls a
// viewer makes (docs/PERFORMANCE.md), and a crowd opening the page at once would exhaust it.
import { fromCognitoIdentityPool } from "@aws-sdk/credential-provider-cognito-identity";
import { isTransient } from "./retry.js";

// The SDK's provider asks its cache to forget the identity id whenever getting credentials
// fails, throttling included: a throttled crowd would then all call GetId on their next load.
// This cache holds that request until the error is known, and forgets the id only when
// Cognito rejected it (a deleted or disabled identity), never for a transient failure.
// A browser that refuses storage (blocked cookies, a full quota) only loses the caching.
class IdentityCache {
  #forgetRequested = null;

  getItem(key) {
    try {
      return window.localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  setItem(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      // Not cached: the next load asks GetId again.
    }
  }

  removeItem(key) {
    this.#forgetRequested = key;
  }

  settle(forget) {
    if (forget && this.#forgetRequested) {
      try {
        window.localStorage.removeItem(this.#forgetRequested);
      } catch {
        // Nothing was stored.
      }
    }
    this.#forgetRequested = null;
  }
}

export function guestCredentials(client, identityPoolId) {
  const cache = new IdentityCache();
  const newProvider = () => fromCognitoIdentityPool({ client, identityPoolId, cache });
  let provider = newProvider();
  return async (properties) => {
    try {
      const credentials = await provider(properties);
      cache.settle(false);
      return credentials;
    } catch (error) {
      const rejected = !isTransient(error);
      cache.settle(rejected);
      // The SDK's provider keeps a rejected id for its next call; start again from GetId.
      if (rejected) provider = newProvider();
      throw error;
    }
  };
}
