/**
 * The dashboards and alerts against the real thing: `rebalancer run` consumes the
 * project's synthetic stream (with corrupt payloads, for the dead-letter panels) from
 * the test run's Kafka broker, a real Prometheus server (Debian's package) scrapes it
 * every second and loads the alert rules, then every PromQL expression of every
 * dashboard panel and every alert rule is evaluated through Prometheus' HTTP API.
 * Each must parse; each panel query must return data with at least one finite value.
 * A query that fails names the dashboard, the panel and the expression.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { freePort } from '../../dev/local-broker.js';
import { startSyntheticProducer, type SyntheticProducer } from '../../src/cli/synthetic-producer.js';
import { createTopic, testBrokers, uniqueTopic } from '../helpers/kafka.js';
import {
  MISSING_PROMETHEUS, ROOT, RULES_FILE, loadAlertRules, loadDashboards, panelQueries, substitute, variableSelector, which,
} from './ops-files.js';

const SERVICE_DURATION_S = 150;
const DATA_DEADLINE_MS = 100_000;
const RATE = 2_000;
const CORRUPT_EVERY = 500;
const RATE_INTERVAL = '15s';
/**
 * Not the compose stack's `rebalancer`: the dashboards must work under any job name (and
 * RebalancerTargetDown, the one rule that selects on a job name, matches any containing it).
 */
const JOB = 'shop-rebalancer-ops-test';

interface Proc { child: ChildProcess; output: string[] }

function start(cmd: string, args: string[], name: string): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) output.push(`[${name}] ${line}`);
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output };
}

async function stop(p: Proc | undefined, graceMs: number): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, context: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface QueryResult { status: 'success' | 'error'; error?: string; data?: { resultType: string; result: unknown[] } }

describe('dashboards and alerts against a live Prometheus scraping the service', { timeout: 240_000 }, () => {
  const temp = mkdtempSync(join(tmpdir(), 'rebalancer-ops-'));
  let service: Proc | undefined;
  let producer: SyntheticProducer | undefined;
  let prometheus: Proc | undefined;
  let promUrl = '';
  let instance = '';
  const logs = (): string => [...(service?.output.slice(-40) ?? []), ...(prometheus?.output.slice(-10) ?? [])].join('\n');

  async function query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${promUrl}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }).toString(),
    });
    return (await res.json()) as QueryResult;
  }

  before(async () => {
    const promBin = which('prometheus');
    assert.ok(promBin && which('promtool'), MISSING_PROMETHEUS);
    const brokers = (await testBrokers()).join(',');
    const topic = uniqueTopic('ops-live');
    await createTopic(brokers.split(','), topic, 3);
    await createTopic(brokers.split(','), `${topic}.dlq`, 1);
    await createTopic(brokers.split(','), `${topic}.recs`, 1);

    // The input: the project's seeded skewed synthetic stream at a steady rate, with a
    // corrupt payload every CORRUPT_EVERY events (they must end in the dead-letter topic).
    producer = await startSyntheticProducer({ brokers: brokers.split(','), topic, rate: RATE, corruptEvery: CORRUPT_EVERY, seed: 7, log: () => {} });

    const httpPort = await freePort();
    service = start(process.execPath, [
      'bin/rebalancer.js', 'run',
      '--brokers', brokers, '--topic', topic, '--dlq-topic', `${topic}.dlq`, '--recommendations-topic', `${topic}.recs`,
      '--group-id', `${topic}-group`, '--http-host', '127.0.0.1', '--http-port', String(httpPort),
      '--checkpoint-dir', join(temp, 'checkpoints'), '--checkpoint-interval-ms', '1000',
      '--duration', String(SERVICE_DURATION_S),
    ], 'rebalancer');
    const metricsUrl = await waitFor('the service to print its metrics URL', 90_000, () => {
      if (service!.child.exitCode !== null) assert.fail(`the service exited with ${service!.child.exitCode}:\n${logs()}`);
      for (const line of service!.output) {
        const m = /metrics: (http:\/\/127\.0\.0\.1:(\d+)\/metrics)/.exec(line);
        if (m) return m[1]!;
      }
      return undefined;
    }, logs);
    instance = new URL(metricsUrl).host;

    const promPort = await freePort();
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: [RULES_FILE],
      scrape_configs: [{ job_name: JOB, metrics_path: new URL(metricsUrl).pathname, static_configs: [{ targets: [instance] }] }],
    };
    writeFileSync(join(temp, 'prometheus.yml'), YAML.stringify(config));
    prometheus = start(promBin, [
      `--config.file=${join(temp, 'prometheus.yml')}`, `--storage.tsdb.path=${join(temp, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ], 'prometheus');
    promUrl = `http://127.0.0.1:${promPort}`;
    await waitFor('Prometheus to be ready', 30_000, async () => {
      if (prometheus!.child.exitCode !== null) assert.fail(`prometheus exited with ${prometheus!.child.exitCode}:\n${logs()}`);
      try {
        return (await fetch(`${promUrl}/-/ready`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, logs);
    await waitFor('a few successful scrapes of the service', 30_000, async () => {
      const r = await query(`count_over_time(up{job="${JOB}", instance="${instance}"}[1m]) >= 3 and up{job="${JOB}", instance="${instance}"} == 1`);
      return r.data && r.data.result.length > 0 ? true : undefined;
    }, logs);
  });

  after(async () => {
    try {
      await stop(prometheus, 5_000);
      await producer?.stop();
      await stop(service, 30_000);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });

  it('every dashboard panel query parses and returns numbers; every variable finds values', async () => {
    // $job as Grafana expands a multi-value variable: a regex alternation of the selected jobs.
    const subs = { job: `(${JOB})`, instance, category: '.*', rateInterval: RATE_INTERVAL, interval: '5s' };
    const checks = [
      ...panelQueries().map((q) => ({ where: `${q.dashboard} / ${q.panel} [${q.refId}]`, expr: substitute(q.expr, subs) })),
      ...loadDashboards().flatMap(({ dashboard }) => (dashboard.templating?.list ?? []).flatMap((v) => {
        const sel = variableSelector(v);
        return sel ? [{ where: `${dashboard.title} / variable $${v.name}`, expr: substitute(sel, subs) }] : [];
      })),
    ];
    assert.ok(checks.length >= 40, `only ${checks.length} queries found`);
    // Poke the HTTP API so the http-triggered recommendation series move too.
    for (let i = 0; i < 5; i++) await fetch(`http://${instance}/recommendations/user-${i}?k=5`).then((r) => r.arrayBuffer()).catch(() => undefined);

    let empty: string[] = [];
    const deadline = Date.now() + DATA_DEADLINE_MS;
    for (;;) {
      empty = [];
      for (const c of checks) {
        const r = await query(c.expr);
        assert.equal(r.status, 'success', `${c.where}: Prometheus rejected the query: ${r.error}\n  ${c.expr}`);
        const values = (r.data?.result ?? []).map((x) => Number((x as { value: [number, string] }).value[1]));
        // NaN everywhere (0/0, a quantile of no observations) draws nothing in Grafana either.
        if (values.length === 0) empty.push(`${c.where}: no data\n    ${c.expr}`);
        else if (!values.some((v) => Number.isFinite(v))) empty.push(`${c.where}: only NaN/Inf\n    ${c.expr}`);
      }
      if (empty.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 2_000));
    }
    // The job variable offers the job the service is scraped under.
    for (const { dashboard } of loadDashboards()) {
      const job = (dashboard.templating?.list ?? []).find((v) => v.name === 'job');
      const sel = job && variableSelector(job);
      assert.ok(sel, `${dashboard.title}: no job variable`);
      const r = await query(`count by (job) (${sel})`);
      const jobs = (r.data?.result ?? []).map((x) => (x as { metric: { job?: string } }).metric.job);
      assert.ok(jobs.includes(JOB), `${dashboard.title}: the job variable offers ${JSON.stringify(jobs)}, not ${JOB}`);
    }
    assert.deepEqual(empty, [], `${empty.length} of ${checks.length} dashboard queries returned no data after ${DATA_DEADLINE_MS / 1000} s:\n${empty.join('\n')}\n--- service log ---\n${logs()}`);
  });

  it('every alert expression parses, and Prometheus evaluates every rule without error', async () => {
    for (const r of loadAlertRules()) {
      const res = await query(r.expr);
      assert.equal(res.status, 'success', `${r.alert}: ${res.error}\n  ${r.expr}`);
    }
    const res = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; state?: string }> }> };
    };
    const rules = res.data.groups.flatMap((g) => g.rules);
    assert.equal(rules.length, loadAlertRules().length, 'Prometheus loaded every rule');
    for (const r of rules) assert.notEqual(r.health, 'err', `${r.name}: ${r.lastError}`);
  });

  it('a healthy service raises none of the health alerts (consumer up, native backend, scrape target)', async () => {
    // Two evaluation cycles after the scrapes began are enough for a `for: 1m` alert to be pending.
    const healthy = ['RebalancerConsumerDown', 'RebalancerNativeBackendNotInUse', 'RebalancerTargetDown'];
    const res = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: Array<{ labels: { alertname: string }; state: string }> } };
    const raised = res.data.alerts.filter((a) => healthy.includes(a.labels.alertname)).map((a) => `${a.labels.alertname} (${a.state})`);
    assert.deepEqual(raised, [], logs());
    for (const [expr, want] of [[`rebalancer_consumer_up{instance="${instance}"}`, '1'], [`rebalancer_tf_native_backend{instance="${instance}"}`, '1']] as const) {
      const r = await query(expr);
      const got = (r.data?.result as Array<{ value: [number, string] }> | undefined)?.[0]?.value[1];
      assert.equal(got, want, `${expr} = ${got}`);
    }
  });
});
