// Compiled with `tsc --noEmit` by npm test: the shipped types describe the API as documented.
import { Tracker, Run, NodeRun, ready } from '../../pkg/index.js';
import type { Execution, HistoryPage } from '../../pkg/index.js';

export async function demo(): Promise<string | undefined> {
  await ready();
  const tracker: Tracker = await Tracker.open({ name: 'types', flushIntervalMs: 10, redact: { keys: ['pin'] } });
  tracker.on('error', (e: Error) => console.warn(e.message));
  const run: Run = tracker.start({ kind: 'workflow', workflowId: 'wf', trigger: { type: 'manual', data: {} } });
  const node: NodeRun = run.node({ id: 'n1', name: 'Fetch', type: 'http' }, { url: 'x' });
  node.succeed({ rows: 1 });
  run.output({ name: 'orders', kind: 'table', rows: 1, role: 'primary' });
  run.externalId('airflow', 'run-1');
  run.succeed();
  tracker.logQuery({ query: 'select 1', status: 'success', executionTime: 0.1 });
  tracker.log({ status: 'failed', startedAt: '2026-01-01T00:00:00Z', error: { message: 'x' } });
  await tracker.flush();
  const page: HistoryPage = await tracker.history({ workflowId: 'wf', status: 'success', limit: 10 });
  const first: Execution | null = await tracker.get(page.items[0]?.id ?? '');
  const removed: number = await tracker.clear({ workflowId: 'wf' });
  await tracker.close();
  return first?.status === 'success' && removed >= 0 ? page.nextCursor : undefined;
}
