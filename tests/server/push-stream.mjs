// A reader of the server's push stream (Server-Sent Events) for the tests: it collects the
// events as they arrive and can wait, with a bounded loop, for one that a test expects.
import assert from 'node:assert/strict';

/** Subscribes to `url`; `init` is fetch's (headers for a key). */
export async function subscribe(url, init = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  const events = [];
  let ended = false;
  if (response.ok) {
    (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk, { stream: true });
          let cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event) events.push({ event, data: data && JSON.parse(data) });
          }
        }
      } catch { /* aborted */ }
      ended = true;
    })();
  }
  const waitFor = async (predicate, what) => {
    for (let i = 0; i < 200; i++) {
      if (predicate()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
  };
  return { status: response.status, events, waitFor, ended: () => ended, stop: () => controller.abort() };
}
