// Secrets never stored or sent in clear (issue 14): every kind of secret recorded from Node
// into the durable file store, synced to the real server binary; neither the log file on
// disk nor what the server answers holds any of them. And the server redacts by itself
// what a client did not (a client with redaction turned off, or not this library).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../../pkg/node.js';
import { sqlite, startServer } from '../server/engines.mjs';

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJKV1RTVUIwMSJ9.JWTSIGNATURE09';

/** Each secret, by name; the value is what must never appear. */
const SECRETS = {
  urlPassword: 'URLPASS01',
  queryPassword: 'QPASS02',
  queryApiKey: 'QKEY03',
  queryToken: 'QTOKEN04',
  bearer: 'BEARER05',
  odbc: 'ODBCPWD06',
  jdbc: 'JDBCPWD07',
  jwt: JWT,
  pwd: 'KEYPWD10',
  passphrase: 'KEYPASS11',
  sid: 'KEYSID12',
  aws: 'AKIAQWERTYUIOP123456',
  stack: 'STACKTOKEN13',
  pin: 'USERPIN14',
  password: 'PASSWORD15',
  queryText: 'QUERYPWD16',
  message: 'MSGPASS17',
};

/** Records one workflow run and one query carrying every secret above; returns their ids. */
function recordSecrets(tracker) {
  const run = tracker.start({
    workflowId: 'secrets', userId: 'u1',
    trigger: { type: 'http', data: { note: `signed with ${JWT}` } },
  });
  run.node({ id: 'fetch' }, {
    url: `https://api.example.com/v1/orders?user=ann&password=${SECRETS.queryPassword}&api_key=${SECRETS.queryApiKey}&token=${SECRETS.queryToken}`,
    dsn: `postgres://app:${SECRETS.urlPassword}@db:5432/prod`,
    headers: `Accept: json\nAuthorization: Bearer ${SECRETS.bearer}`,
    pwd: SECRETS.pwd, passphrase: SECRETS.passphrase, sid: SECRETS.sid,
    pin: SECRETS.pin, password: SECRETS.password,
  }).succeed({ odbc: `Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=${SECRETS.odbc};Encrypt=yes` });
  const failure = new Error(`login to https://svc/?password=${SECRETS.message} failed for key ${SECRETS.aws}`);
  failure.stack = `Error: request failed token=${SECRETS.stack}\n    at load (file:///app/load.js:10:5)`;
  run.node({ id: 'load' }, { rows: 3 }).fail(failure);
  run.fail(failure);
  const query = tracker.logQuery({
    query: `select 1 /* via jdbc:mysql://db/x?user=u&password=${SECRETS.queryText} */`,
    databaseType: 'mssql', status: 'failed', executionTime: 0.1, userId: 'u1',
    errorMessage: `jdbc:sqlserver://db:1433;databaseName=prod;user=sa;password=${SECRETS.jdbc}`,
    connection: { url: `jdbc:sqlserver://db:1433;user=sa;password=${SECRETS.jdbc}` },
  });
  return [run.id, query];
}

function assertClean(text, where, { marked = true } = {}) {
  for (const [kind, secret] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(secret), `${where}: the ${kind} secret is stored in clear`);
  }
  if (marked) assert.match(text, /\[REDACTED\]/, `${where}: nothing was marked redacted`);
}

test('every kind of secret is gone from the stored record and from what reaches the server', async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url, '--api-key', 'k']);
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-secrets-')), 'store');
  try {
    // `keys` adds `pin` to the default keys; `password` stays hidden.
    const tracker = await Tracker.open({ path, endpoint: server.base, apiKey: 'k', retention: false, redact: { keys: ['pin'] } });
    const ids = recordSecrets(tracker);
    await tracker.flush();
    // The bytes on disk: the log (and anything beside it).
    assert.ok(readdirSync(path).includes('runledger.log'));
    for (const file of readdirSync(path)) {
      assertClean(readFileSync(join(path, file), 'latin1'), `stored file ${file}`, { marked: file.endsWith('.log') });
    }
    for (const id of ids) assertClean(JSON.stringify(await tracker.get(id)), `tracker.get(${id})`);
    const state = await tracker.sync();
    assert.equal(state.pending, 0);
    await tracker.close();
    let all = '';
    for (const id of ids) {
      const r = await fetch(`${server.base}/api/v1/execution/${id}`, { headers: { authorization: 'Bearer k' } });
      assert.equal(r.status, 200);
      const text = await r.text();
      assertClean(text, `the server's copy of ${id}`);
      all += text;
    }
    // What is not secret is kept.
    for (const kept of ['user=ann', 'Uid=sa', 'postgres://app:[REDACTED]@db', 'databaseName=prod', 'file:///app/load.js:10:5']) {
      assert.ok(all.includes(kept), `${kept} was lost`);
    }
  } finally {
    await server.stop();
    await db.stop();
  }
});

test('the server redacts what it ingests, whatever the client did', async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url, '--api-key', 'k']);
  try {
    // A client that turned redaction off: its records hold every secret in clear.
    const careless = await Tracker.open({ storage: 'memory', redact: false });
    const ids = recordSecrets(careless);
    await careless.flush();
    const records = await Promise.all(ids.map((id) => careless.get(id)));
    await careless.close();
    assert.ok(JSON.stringify(records).includes(SECRETS.password), 'redact: false keeps values as given');
    const r = await fetch(`${server.base}/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: JSON.stringify({ batch_id: 'raw-1', client: { id: 'careless', sdk: 'hand-made' }, records }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.deepEqual((await r.json()).accepted.sort(), [...ids].sort());
    for (const id of ids) {
      const back = await fetch(`${server.base}/api/v1/execution/${id}`, { headers: { authorization: 'Bearer k' } });
      // `pin` is not a default key: only this client's setting hid it.
      const text = (await back.text()).replaceAll(SECRETS.pin, '');
      assertClean(text, `the server's copy of ${id}`);
    }
  } finally {
    await server.stop();
    await db.stop();
  }
});
