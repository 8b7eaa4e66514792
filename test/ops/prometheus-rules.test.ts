import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { MISSING_PROMETHEUS, PROMETHEUS_CONFIG, ROOT, RULES_FILE, RULES_TEST_FILE, loadAlertRules, which } from './ops-files.js';

/** The anchors GitHub gives the headings of a Markdown file (lower case, punctuation dropped, spaces → -, repeats numbered). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    let anchor = base;
    for (let i = 1; anchors.has(anchor); i++) anchor = `${base}-${i}`;
    anchors.add(anchor);
  }
  return anchors;
}

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

  it('every alert has a severity and its annotations: summary, description, runbook_url, dashboard', () => {
    const rules = loadAlertRules();
    assert.ok(rules.length >= 7, `expected at least 7 alerts, found ${rules.length}`);
    for (const r of rules) {
      assert.match(r.alert, /^Rebalancer[A-Z]\w+$/, `alert name ${r.alert}`);
      assert.ok(['warning', 'critical'].includes(r.labels?.severity ?? ''), `${r.alert}: severity label warning|critical`);
      for (const key of ['summary', 'description', 'runbook_url', 'dashboard']) {
        assert.ok((r.annotations?.[key] ?? '').trim().length > 0, `${r.alert}: annotation ${key} is missing`);
      }
      assert.match(r.annotations!.dashboard!, /^rebalancer-(imbalance|model|pipeline)$/, `${r.alert}: dashboard uid`);
    }
  });

  it('every alert links its section of docs/operations.md by runbook_url (one base, documented in the rules file); no free-text runbook', () => {
    const anchors = headingAnchors(readFileSync(`${ROOT}/docs/operations.md`, 'utf8'));
    const header = readFileSync(RULES_FILE, 'utf8').split('\ngroups:')[0]!;
    const bases = new Set<string>();
    for (const r of loadAlertRules()) {
      assert.equal(r.annotations?.runbook, undefined, `${r.alert}: the steps belong in docs/operations.md, linked by runbook_url`);
      const m = /^(https:\/\/[^\s#]+\/)docs\/operations\.md#([a-z0-9-]+)$/.exec(r.annotations?.runbook_url ?? '');
      assert.ok(m, `${r.alert}: runbook_url ${r.annotations?.runbook_url} is not <https base>/docs/operations.md#<anchor>`);
      bases.add(m[1]!);
      assert.equal(m[2], r.alert.toLowerCase(), `${r.alert}: the anchor is the alert's own section`);
      assert.ok(anchors.has(m[2]!), `${r.alert}: docs/operations.md has no heading with anchor #${m[2]}`);
    }
    assert.equal(bases.size, 1, `one base for every runbook_url, got ${[...bases].join(', ')}`);
    assert.ok(header.includes([...bases][0]!), 'the header comment of the rules file names the base, so that it can be replaced');
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
