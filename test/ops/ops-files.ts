/**
 * Shared by the ops suites: the dashboards, alert rules and their PromQL, and the
 * template-variable substitution used to evaluate panel queries outside Grafana.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DASHBOARD_DIR = join(ROOT, 'grafana', 'dashboards');
export const RULES_FILE = join(ROOT, 'prometheus', 'rules', 'rebalancer.rules.yml');
export const RULES_TEST_FILE = join(ROOT, 'prometheus', 'rules', 'rebalancer.rules.test.yml');
export const PROMETHEUS_CONFIG = join(ROOT, 'prometheus', 'prometheus.yml');
export const DATASOURCE_FILE = join(ROOT, 'grafana', 'provisioning', 'datasources', 'prometheus.yml');

export interface Target { refId?: string; expr?: string; datasource?: unknown; legendFormat?: string }
export interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: unknown;
  fieldConfig?: { defaults?: { unit?: string; thresholds?: { steps?: unknown[] } } };
  options?: { filterValues?: { le?: number; ge?: number } };
  targets?: Target[];
  panels?: Panel[];
}
export interface TemplateVar {
  name: string;
  type: string;
  query?: unknown;
  datasource?: unknown;
  definition?: string;
  current?: { value?: unknown };
  includeAll?: boolean;
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list?: TemplateVar[] };
}

export function loadDashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as Dashboard }));
}

/** Every panel, including those nested in collapsed rows. */
export function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

export interface PanelQuery { dashboard: string; panel: string; refId: string; expr: string }

export function panelQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const { dashboard } of loadDashboards()) {
    for (const p of allPanels(dashboard)) {
      for (const t of p.targets ?? []) {
        if (t.expr) out.push({ dashboard: dashboard.title, panel: p.title ?? `#${p.id}`, refId: t.refId ?? '?', expr: t.expr });
      }
    }
  }
  return out;
}

export interface AlertRule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

export function loadAlertRules(): AlertRule[] {
  const doc = YAML.parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ name: string; rules: AlertRule[] }> };
  return doc.groups.flatMap((g) => g.rules).filter((r) => typeof r.alert === 'string');
}

export interface Substitutions { job: string; instance: string; category: string; rateInterval: string; interval: string }

/** Replaces Grafana's template variables in a query with concrete values. */
export function substitute(expr: string, s: Substitutions): string {
  const vars: Record<string, string> = {
    job: s.job,
    instance: s.instance,
    category: s.category,
    __rate_interval: s.rateInterval,
    __interval: s.interval,
    __range: '1h',
  };
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole: string, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? '';
    const v = vars[name];
    if (v === undefined) throw new Error(`unknown template variable ${whole} in ${expr}`);
    return v;
  });
}

/** `label_values(selector, label)` of a query variable → the selector. */
export function variableSelector(v: TemplateVar): string | undefined {
  const def = v.definition ?? (typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query);
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(def ?? '');
  return m ? m[1] : undefined;
}

/** Absolute path of a tool on PATH, or undefined. */
export function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const MISSING_PROMETHEUS = 'prometheus/promtool are not installed: run `bash scripts/setup-prometheus.sh` (npm test runs it through scripts/setup.sh --test)';
