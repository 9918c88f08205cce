// Execution ids made at the call (no wasm call): UUIDv7 as the core makes them
// (src/model/ids.rs): 48 bits of milliseconds, then random bits; within one millisecond
// each id counts up from the last, so ids sort in the order they were made.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const pool = new Uint8Array(4096);
let used = pool.length;
let lastMs = -1;
const last = new Uint8Array(10);

function random10(into) {
  if (used + 10 > pool.length) {
    globalThis.crypto.getRandomValues(pool);
    used = 0;
  }
  into.set(pool.subarray(used, used + 10));
  used += 10;
}

/** A new UUIDv7 for time `now` (ms). */
export function newId(now) {
  if (now <= lastMs) {
    // Count up from the last id (its bytes after the version nibble's byte).
    for (let i = 9; i >= 3; i--) {
      last[i] = (last[i] + 1) & 0xff;
      if (last[i] !== 0) break;
    }
  } else {
    lastMs = now;
    random10(last);
  }
  const ms = lastMs;
  const b = new Array(16);
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = 0x70 | (last[0] & 0x0f);
  b[7] = last[1];
  b[8] = 0x80 | (last[2] & 0x3f);
  for (let i = 3; i < 10; i++) b[i + 6] = last[i];
  return `${HEX[b[0]]}${HEX[b[1]]}${HEX[b[2]]}${HEX[b[3]]}-${HEX[b[4]]}${HEX[b[5]]}-${HEX[b[6]]}${HEX[b[7]]}-${HEX[b[8]]}${HEX[b[9]]}-${HEX[b[10]]}${HEX[b[11]]}${HEX[b[12]]}${HEX[b[13]]}${HEX[b[14]]}${HEX[b[15]]}`;
}
