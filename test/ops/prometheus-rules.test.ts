import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { MISSING_PROMETHEUS, PROMETHEUS_CONFIG, ROOT, RULES_FILE, RULES_TEST_FILE, loadAlertRules, which } from './ops-files.js';

function promtool(args: string[], cwd = ROOT): { status: number | null; output: string } {
  const bin = which('promtool');
  assert.ok(bin, MISSING_PROMETHEUS);
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

describe('Prometheus configuration and alert rules', () => {
  it('promtool check rules accepts the rules file', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  it('promtool check config accepts prometheus.yml and the rule files it loads', () => {
    const r = promtool(['check', 'config', PROMETHEUS_CONFIG]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: 1 rule files found/);
  });

  it('promtool test rules: every unit test of the alerts passes', () => {
    const r = promtool(['test', 'rules', RULES_TEST_FILE], dirname(RULES_TEST_FILE));
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('every alert has a severity and runbook-style annotations', () => {
    const rules = loadAlertRules();
    assert.ok(rules.length >= 7, `expected at least 7 alerts, found ${rules.length}`);
    for (const r of rules) {
      assert.match(r.alert, /^Rebalancer[A-Z]\w+$/, `alert name ${r.alert}`);
      assert.ok(['warning', 'critical'].includes(r.labels?.severity ?? ''), `${r.alert}: severity label warning|critical`);
      for (const key of ['summary', 'description', 'runbook', 'dashboard']) {
        assert.ok((r.annotations?.[key] ?? '').trim().length > 0, `${r.alert}: annotation ${key} is missing`);
      }
      assert.match(r.annotations!.runbook!, /^1\. .+\n2\. /, `${r.alert}: the runbook is a numbered list of steps`);
      assert.match(r.annotations!.dashboard!, /^rebalancer-(imbalance|model|pipeline)$/, `${r.alert}: dashboard uid`);
    }
  });

  it('the alerts the operations guide promises exist', () => {
    const names = new Set(loadAlertRules().map((r) => r.alert));
    for (const a of ['RebalancerImbalanceHigh', 'RebalancerTailHitRateCollapse', 'RebalancerDLQSpike', 'RebalancerConsumerLagGrowing',
      'RebalancerCheckpointStale', 'RebalancerNativeBackendNotInUse', 'RebalancerConsumerDown', 'RebalancerTargetDown']) {
      assert.ok(names.has(a), `alert ${a} is missing`);
    }
    const guide = readFileSync(`${ROOT}/docs/operations.md`, 'utf8');
    for (const a of names) assert.ok(guide.includes(a), `docs/operations.md does not explain ${a}`);
  });

  it('every alert has a unit test in which it fires', () => {
    const tests = (YAML.parse(readFileSync(RULES_TEST_FILE, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    }).tests;
    const firing = new Set<string>();
    for (const t of tests) for (const c of t.alert_rule_test ?? []) if ((c.exp_alerts ?? []).length > 0) firing.add(c.alertname);
    for (const r of loadAlertRules()) assert.ok(firing.has(r.alert), `${r.alert} has no promtool test case in which it fires`);
  });
});
