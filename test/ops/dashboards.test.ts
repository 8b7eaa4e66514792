import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { DATASOURCE_FILE, ROOT, allPanels, loadAlertRules, loadDashboards, panelQueries, substitute, type Dashboard } from './ops-files.js';

const provisioned = YAML.parse(readFileSync(DATASOURCE_FILE, 'utf8')) as { datasources: Array<{ uid: string; type: string; url: string }> };
const DS_UID = provisioned.datasources[0]!.uid;

/** Every datasource reference anywhere in a dashboard (panels, targets, variables, annotations). */
function datasourceRefs(node: unknown, path: string, out: Array<{ path: string; ref: unknown }>): void {
  if (Array.isArray(node)) {
    node.forEach((n, i) => datasourceRefs(n, `${path}[${i}]`, out));
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource') out.push({ path: `${path}.${k}`, ref: v });
      datasourceRefs(v, `${path}.${k}`, out);
    }
  }
}

/** Metric names the service defines (string literals in src/metrics). */
function definedMetrics(): Set<string> {
  const dir = join(ROOT, 'src', 'metrics');
  const names = new Set<string>();
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/'(rebalancer_[a-z0-9_]+)'/g)) names.add(m[1]!);
  }
  return names;
}

function referencedMetrics(expr: string): string[] {
  return [...expr.matchAll(/\b(rebalancer_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
}

describe('Grafana provisioning and dashboards', () => {
  const dashboards = loadDashboards();

  it('provisions one Prometheus datasource with a fixed uid and a dashboard provider', () => {
    assert.equal(provisioned.datasources.length, 1);
    assert.equal(provisioned.datasources[0]!.type, 'prometheus');
    assert.match(DS_UID, /^[a-z0-9-]+$/);
    const providers = YAML.parse(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/dashboards.yml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    assert.equal(providers.providers[0]!.type, 'file');
    assert.equal(providers.providers[0]!.options.path, '/var/lib/grafana/dashboards');
  });

  it('has the Imbalance, Model and Pipeline dashboards with unique uids', () => {
    const uids = dashboards.map((d) => d.dashboard.uid).sort();
    assert.deepEqual(uids, ['rebalancer-imbalance', 'rebalancer-model', 'rebalancer-pipeline']);
  });

  for (const { file, dashboard } of dashboards) {
    describe(file, () => {
      const panels = allPanels(dashboard);

      it('panel ids are unique', () => {
        const ids = panels.map((p) => p.id);
        assert.ok(ids.every((id) => Number.isInteger(id)), 'every panel has an integer id');
        assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
      });

      it('has a Prometheus data-source variable (default: the provisioned uid) and every panel, target and variable reads from it', () => {
        const variables = dashboard.templating?.list ?? [];
        const ds = variables.find((v) => v.name === 'datasource');
        assert.ok(ds, 'a datasource variable');
        assert.equal(ds.type, 'datasource');
        assert.equal(ds.query, 'prometheus');
        assert.equal(ds.current?.value, DS_UID, 'defaults to the data source the compose stack provisions');
        const refs: Array<{ path: string; ref: unknown }> = [];
        datasourceRefs(dashboard.panels, 'panels', refs);
        datasourceRefs(dashboard.templating, 'templating', refs);
        assert.ok(refs.length > allPanels(dashboard).length, `only ${refs.length} datasource references`);
        for (const { path, ref } of refs) {
          assert.deepEqual(ref, { type: 'prometheus', uid: '${datasource}' }, `${path} does not read from the datasource variable`);
        }
        // Every panel that queries says where from (a panel without one would use Grafana's default data source).
        for (const p of allPanels(dashboard)) if (p.type !== 'row') assert.ok(p.datasource, `panel ${p.id} (${p.title}) has no datasource`);
        // The provisioned uid appears only as that default: the dashboard works with any data source.
        const rest = { ...dashboard, templating: { list: variables.filter((v) => v !== ds) } };
        assert.ok(!JSON.stringify(rest).includes(DS_UID), `the dashboard names the provisioned uid ${DS_UID} outside the variable's default`);
      });

      it('every panel has a title, a unit, a description and (except rows) a query', () => {
        for (const p of panels) {
          const name = `${file} panel ${p.id} (${p.title ?? 'untitled'})`;
          assert.ok((p.title ?? '').trim().length > 0, `${name}: title`);
          if (p.type === 'row') continue;
          assert.ok((p.fieldConfig?.defaults?.unit ?? '').length > 0, `${name}: fieldConfig.defaults.unit`);
          assert.ok((p.description ?? '').length >= 60, `${name}: description saying what to do when it looks wrong`);
          assert.ok((p.fieldConfig?.defaults?.thresholds?.steps ?? []).length > 0, `${name}: thresholds`);
          assert.ok((p.targets ?? []).length > 0 && p.targets!.every((t) => (t.expr ?? '').length > 0), `${name}: PromQL targets`);
          assert.equal(new Set(p.targets!.map((t) => t.refId)).size, p.targets!.length, `${name}: unique refIds`);
        }
      });

      it('has the job and instance variables (and category where categories are shown), used by every query; no job name is hard-coded', () => {
        const variables = dashboard.templating?.list ?? [];
        const vars = variables.map((v) => v.name);
        assert.ok(vars.includes('instance'), 'instance variable');
        const job = variables.find((v) => v.name === 'job');
        assert.ok(job, 'job variable');
        assert.equal(job.type, 'query');
        assert.match(job.definition ?? '', /^label_values\(rebalancer_[a-z_]+, job\)$/, 'the jobs that export rebalancer metrics');
        assert.equal(job.includeAll, true, 'all jobs selectable at once');
        assert.ok(vars.indexOf('job') < vars.indexOf('instance'), 'job comes before instance (instance depends on it)');
        const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
        assert.ok(exprs.length > 0);
        for (const e of exprs) {
          assert.ok(e.includes('instance=~"$instance"'), `query does not filter on $instance: ${e}`);
          // Every selector of the query, not just one of them.
          const selectors = [...e.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)];
          assert.ok(selectors.length > 0, e);
          for (const s of selectors) assert.ok(s[2]!.includes('job=~"$job"'), `selector ${s[0]} does not filter on $job`);
        }
        for (const v of variables.filter((x) => x.name !== 'job' && x.type === 'query')) {
          assert.ok((v.definition ?? '').includes('job=~"$job"'), `variable ${v.name} does not filter on $job: ${v.definition}`);
        }
        assert.doesNotMatch(JSON.stringify(dashboard), /job=\\"/, 'a selector names a job (job="...")');
        if (exprs.some((e) => e.includes('$category'))) assert.ok(vars.includes('category'), 'category variable');
        if (dashboard.uid !== 'rebalancer-pipeline') assert.ok(vars.includes('category'), 'category variable');
      });

      it('heatmaps draw cells whose value is exactly 0 (Grafana hides values <= 1e-9 unless told otherwise)', () => {
        for (const p of panels.filter((x) => x.type === 'heatmap')) {
          const le = p.options?.filterValues?.le;
          assert.ok(typeof le === 'number' && le < 0, `panel ${p.id} (${p.title}): options.filterValues.le is ${le}; it must be below 0 or zero cells are hidden`);
          assert.equal(p.options?.filterValues?.ge, undefined, `panel ${p.id}: no upper cut either`);
        }
      });

      it('queries use only known template variables', () => {
        for (const p of panels) {
          for (const t of p.targets ?? []) {
            assert.doesNotThrow(() => substitute(t.expr ?? '', { job: '.*', instance: '.*', category: '.*', rateInterval: '30s', interval: '5s' }), `${p.title}: ${t.expr}`);
          }
        }
      });
    });
  }

  it('the Imbalance dashboard shows what the issue asks for', () => {
    expectMetrics(dashboards.find((d) => d.dashboard.uid === 'rebalancer-imbalance')!.dashboard, [
      'rebalancer_category_window_share', 'rebalancer_imbalance_ratio', 'rebalancer_category_entropy_normalized', 'rebalancer_category_gini',
      'rebalancer_class_weight', 'rebalancer_reservoir_fill_ratio', 'rebalancer_batch_samples_total', 'rebalancer_events_late_total']);
    const share = allPanels(dashboards.find((d) => d.dashboard.uid === 'rebalancer-imbalance')!.dashboard)
      .find((p) => (p.targets ?? []).some((t) => t.expr?.includes('rebalancer_category_window_share'))) as { fieldConfig: { defaults: { custom: { stacking: { mode: string } } } } };
    assert.equal(share.fieldConfig.defaults.custom.stacking.mode, 'normal', 'category shares are stacked');
  });

  it('the Model dashboard shows what the issue asks for', () => {
    const d = dashboards.find((x) => x.dashboard.uid === 'rebalancer-model')!.dashboard;
    expectMetrics(d, ['rebalancer_train_loss', 'rebalancer_train_step_duration_seconds', 'rebalancer_prequential_hit_rate_average',
      'rebalancer_prequential_hit_rate', 'rebalancer_recommendation_tail_share', 'rebalancer_interaction_tail_share', 'rebalancer_recommendation_duration_seconds']);
    assert.ok(allPanels(d).some((p) => p.type === 'heatmap' && (p.targets ?? []).some((t) => /rebalancer_prequential_hit_rate\{/.test(t.expr ?? ''))), 'per-category hit-rate heatmap');
  });

  it('the Pipeline dashboard shows what the issue asks for', () => {
    expectMetrics(dashboards.find((d) => d.dashboard.uid === 'rebalancer-pipeline')!.dashboard, ['rebalancer_events_consumed_total',
      'rebalancer_dlq_messages_total', 'rebalancer_consumer_lag_messages', 'rebalancer_checkpoint_age_seconds', 'rebalancer_tf_native_backend',
      'process_resident_memory_bytes']);
  });

  it('every rebalancer_* metric in dashboards and alerts is defined in src/metrics', () => {
    const defined = definedMetrics();
    assert.ok(defined.size >= 30, `src/metrics defines only ${defined.size} metrics`);
    const used = [
      ...panelQueries().map((q) => ({ where: `${q.dashboard} / ${q.panel}`, expr: q.expr })),
      ...loadAlertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    const missing = used.flatMap(({ where, expr }) => referencedMetrics(expr).filter((m) => !defined.has(m)).map((m) => `${where}: ${m}`));
    assert.deepEqual(missing, []);
  });
});

function expectMetrics(d: Dashboard, metrics: string[]): void {
  const exprs = allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
  for (const m of metrics) assert.match(exprs, new RegExp(`\\b${m}(_bucket)?\\{`), `${d.title} has no panel on ${m}`);
}

describe('docker-compose.yml and Dockerfile', () => {
  const compose = YAML.parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, {
      image?: string; build?: { context: string; dockerfile?: string }; command?: string[] | string; entrypoint?: string[];
      environment?: Record<string, string | number>; volumes?: string[]; depends_on?: Record<string, { condition: string }>;
      healthcheck?: { test: string[] }; ports?: string[]; deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } }; restart?: string;
    }>;
    volumes?: Record<string, unknown>;
  };
  const services = compose.services;

  it('parses and has the seven services', () => {
    assert.deepEqual(Object.keys(services).sort(), ['grafana', 'kafka', 'kafka-init', 'producer', 'prometheus', 'rebalancer', 'schema-registry']);
  });

  it('the schema registry is Apicurio 3.3.3 (as the project\'s scripts run) with in-memory storage, on loopback, probed on the Confluent API', () => {
    const r = services['schema-registry']!;
    assert.equal(r.image, 'apicurio/apicurio-registry:3.3.3');
    assert.equal(r.environment!.APICURIO_STORAGE_SQL_KIND, 'h2');
    assert.match(String(r.environment!.APICURIO_DATASOURCE_URL), /^jdbc:h2:mem:/, 'in-memory storage');
    assert.deepEqual(r.ports, ['127.0.0.1:8081:8080']);
    assert.match(r.healthcheck!.test.join(' '), /http:\/\/localhost:8080\/apis\/ccompat\/v7\/subjects/);
    assert.ok(r.deploy?.resources?.limits?.memory && r.deploy.resources.limits.cpus, 'resource limits');
  });

  it('every referenced local file exists: build context, Dockerfile, bind mounts', () => {
    let checked = 0;
    for (const [name, s] of Object.entries(services)) {
      if (s.build) {
        const ctx = resolve(ROOT, s.build.context);
        assert.ok(existsSync(ctx) && statSync(ctx).isDirectory(), `${name}: build context ${s.build.context}`);
        assert.ok(existsSync(join(ctx, s.build.dockerfile ?? 'Dockerfile')), `${name}: Dockerfile`);
        checked++;
      }
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) {
          assert.ok(existsSync(resolve(ROOT, source)), `${name}: volume source ${source} does not exist`);
          checked++;
        } else {
          assert.ok(compose.volumes && source in compose.volumes, `${name}: named volume ${source} is not declared`);
        }
      }
    }
    assert.ok(checked >= 4, `only ${checked} local paths referenced`);
    // Files the mounted directories must contain for Prometheus and Grafana to start.
    for (const f of ['prometheus/prometheus.yml', 'prometheus/rules/rebalancer.rules.yml', 'grafana/provisioning/datasources/prometheus.yml',
      'grafana/provisioning/dashboards/dashboards.yml', 'grafana/dashboards/rebalancer-imbalance.json']) {
      assert.ok(existsSync(join(ROOT, f)), f);
    }
    const home = services.grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string;
    assert.ok(existsSync(join(ROOT, 'grafana/dashboards', home.replace('/var/lib/grafana/dashboards/', ''))), `home dashboard ${home}`);
  });

  it('depends_on names existing services; long-running services have healthchecks and resource limits', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) assert.ok(dep in services, `${name} depends on unknown ${dep}`);
      assert.ok(s.deploy?.resources?.limits?.memory && s.deploy.resources.limits.cpus, `${name}: cpu and memory limits`);
      // A server (it publishes ports, or another service waits for it to be healthy) needs a
      // healthcheck; a client such as the producer has nothing to probe.
      const awaited = Object.values(services).some((o) => o.depends_on?.[name]?.condition === 'service_healthy');
      if (s.restart !== 'no' && (awaited || (s.ports ?? []).length > 0)) assert.ok(s.healthcheck?.test?.length, `${name}: healthcheck`);
    }
    assert.equal(services['kafka-init']!.depends_on!.kafka!.condition, 'service_healthy');
    assert.equal(services.rebalancer!.depends_on!['kafka-init']!.condition, 'service_completed_successfully');
  });

  it('Kafka is a single KRaft node from the official image with replication factor 1 for internal topics', () => {
    const k = services.kafka!;
    assert.match(k.image ?? '', /^apache\/kafka:\d/);
    const env = k.environment!;
    assert.equal(env.KAFKA_PROCESS_ROLES, 'broker,controller');
    for (const key of ['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']) {
      assert.equal(env[key], 1, key);
    }
    assert.match(String(env.CLUSTER_ID), /^[A-Za-z0-9_-]{22}$/, 'CLUSTER_ID is a base64url UUID');
    const init = [services['kafka-init']!.command].flat().join('\n');
    for (const t of ['interactions', 'interactions.dlq', 'recommendations']) assert.match(init, new RegExp(`create ${t.replace('.', '\\.')} \\d`));
  });

  it('the rebalancer and producer run the CLI against kafka:9092; Prometheus and Grafana get their files', () => {
    const run = services.rebalancer!.command as string[];
    assert.deepEqual(run.slice(0, 3), ['node', 'bin/rebalancer.js', 'run']);
    assert.equal(run[run.indexOf('--brokers') + 1], 'kafka:9092');
    assert.equal(run[run.indexOf('--http-host') + 1], '0.0.0.0', 'listens beyond loopback inside its container');
    const port = run[run.indexOf('--http-port') + 1];
    const scrape = readFileSync(join(ROOT, 'prometheus/prometheus.yml'), 'utf8');
    assert.ok(scrape.includes(`rebalancer:${port}`), `prometheus.yml scrapes rebalancer:${port}`);
    const gen = services.producer!.command as string[];
    assert.deepEqual(gen.slice(0, 3), ['node', 'bin/rebalancer.js', 'generate']);
    assert.equal(gen[gen.indexOf('--brokers') + 1], 'kafka:9092');
    assert.equal(services.producer!.image, services.rebalancer!.image, 'the producer reuses the built image');
    assert.ok((services.prometheus!.volumes ?? []).includes('./prometheus:/etc/prometheus:ro'));
    assert.ok((services.grafana!.volumes ?? []).includes('./grafana/provisioning:/etc/grafana/provisioning:ro'));
    const ds = YAML.parse(readFileSync(DATASOURCE_FILE, 'utf8')) as { datasources: Array<{ url: string }> };
    assert.equal(ds.datasources[0]!.url, 'http://prometheus:9090');
  });

  it('every flag the compose commands pass is one the CLI verb knows (from its --help)', () => {
    for (const name of ['rebalancer', 'producer']) {
      const cmd = services[name]!.command as string[];
      const verb = cmd[2]!;
      const help = spawnSync(process.execPath, ['bin/rebalancer.js', verb, '--help'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(help.status, 0, `${verb} --help: ${help.stderr}`);
      for (const flag of cmd.filter((a) => a.startsWith('--'))) {
        assert.match(help.stdout, new RegExp(`\\s${flag}[\\s,]`), `${name}: \`${verb}\` has no option ${flag}`);
      }
    }
  });

  it('the Dockerfile builds on node:20-bookworm with npm ci, the project TensorFlow set-up and the build, and copies only what exists', () => {
    const df = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(df, /^FROM node:20-bookworm AS build$/m);
    assert.match(df, /npm ci/);
    // TensorFlow comes from the project's own set-up script (PyPI wheel), never from tfjs-node's download host.
    assert.match(df, /RUN bash scripts\/setup-tensorflow\.sh/);
    assert.match(df, /npx tsc -p tsconfig\.build\.json/);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const m of df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) {
        assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} does not exist`);
        assert.ok(!ignored.includes(src), `COPY source ${src} is excluded by .dockerignore`);
      }
    }
  });
});
