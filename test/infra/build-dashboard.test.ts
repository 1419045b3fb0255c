/**
 * The builds dashboard as synthesized: its widgets read the very metrics and
 * log fields build-status writes (lib/farm/build-metrics.ts), per line; the
 * Logs Insights table reads build-status's log group; cdk-nag finds nothing.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BuildDashboard, BuildDashboardProps } from '../../lib/constructs/build-dashboard';
import { FarmFunction } from '../../lib/constructs/farm-function';
import { BUILD_METRICS, LINE_DIMENSION, METRICS_NAMESPACE, NEWEST_LIGHT_STEMCELL_QUERY } from '../../lib/farm/build-metrics';
import { operatingSystemNames } from '../../lib/stemcell/matrix';

const LINES = ['ubuntu-jammy', 'ubuntu-noble', 'debian-bookworm'];

type Widget = { type: string; width: number; height: number; properties: Record<string, unknown> };
type MetricRow = unknown[];

function build(props: Partial<BuildDashboardProps> = {}) {
  // No bundling: the template is the same, and esbuild costs seconds.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Farm');
  const logGroup = new logs.LogGroup(stack, 'BuildStatusLogs', { retention: logs.RetentionDays.THREE_MONTHS });
  const dashboard = new BuildDashboard(stack, 'Dashboard', { lines: LINES, buildStatusLogGroup: logGroup, ...props });
  return { app, stack, logGroup, dashboard };
}

/** A CloudFormation value inside the body, as a placeholder that keeps the JSON a string. */
function placeholder(part: unknown): string {
  const p = part as Record<string, unknown>;
  if (typeof p.Ref === 'string') return `<${p.Ref}>`;
  if (Array.isArray(p['Fn::GetAtt'])) return `<${(p['Fn::GetAtt'] as string[]).join('.')}>`;
  throw new Error(`unexpected value in the dashboard body: ${JSON.stringify(part)}`);
}

/** The dashboard's name and body (its Fn::Join resolved with placeholders, parsed). */
function dashboardOf(stack: Stack): { name: unknown; widgets: Widget[]; body: Record<string, unknown> } {
  const resources = Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard');
  expect(Object.keys(resources)).toHaveLength(1);
  const props = Object.values(resources)[0].Properties as { DashboardName: unknown; DashboardBody: unknown };
  const raw = props.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text = typeof raw === 'string' ? raw : raw['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : placeholder(part))).join(raw['Fn::Join'][0]);
  const body = JSON.parse(text) as Record<string, unknown> & { widgets: Widget[] };
  return { name: props.DashboardName, widgets: body.widgets, body };
}

const logicalId = (stack: Stack, c: { node: { defaultChild?: unknown } }): string => stack.resolve((c.node.defaultChild as logs.CfnLogGroup).logicalId) as string;
const metricWidgets = (widgets: Widget[]) => widgets.filter((w) => w.type === 'metric');
const byTitle = (widgets: Widget[], start: string): Widget => {
  const found = widgets.filter((w) => String(w.properties.title ?? '').startsWith(start));
  expect(found).toHaveLength(1);
  return found[0];
};
/** A dashboard metric row: [namespace, name, dimension key, value, ..., options]. */
const rowOptions = (row: MetricRow): Record<string, unknown> => (typeof row[row.length - 1] === 'object' ? (row[row.length - 1] as Record<string, unknown>) : {});
const metricPart = (row: MetricRow): unknown[] => (typeof row[row.length - 1] === 'object' ? row.slice(0, -1) : row);

describe('the builds dashboard', () => {
  const built = build();
  const { widgets, name, body } = dashboardOf(built.stack);

  it('is named after the stack, opens on four weeks and keeps each graph’s period', () => {
    expect(name).toBe('Farm-builds');
    expect(body).toMatchObject({ start: '-P28D', periodOverride: 'inherit' });
  });

  it('charts the builds of each line, summed per day, from the metrics build-status writes', () => {
    const w = byTitle(widgets, 'Builds per line');
    const rows = (w.properties.metrics as MetricRow[]).map(metricPart);
    expect(rows).toEqual(LINES.map((line) => [METRICS_NAMESPACE, BUILD_METRICS.builds.name, LINE_DIMENSION, line]));
    expect(rows).toEqual(LINES.map((line) => ['StemcellFarm', 'Builds', 'Line', line]));
    for (const row of w.properties.metrics as MetricRow[]) expect(rowOptions(row)).toMatchObject({ stat: 'Sum', period: 86400 });
  });

  it('charts the success rate of each line as 100 * Succeeded / Builds', () => {
    const w = byTitle(widgets, 'Success rate per line');
    const rows = w.properties.metrics as MetricRow[];
    const expressions = rows.filter((r) => typeof (r[0] as { expression?: string }).expression === 'string').map((r) => r[0] as { expression: string; label: string });
    expect(expressions).toHaveLength(LINES.length);
    const used = rows.filter((r) => typeof r[0] === 'string');
    LINES.forEach((line, i) => {
      const e = expressions[i];
      expect(e.label).toBe(line);
      const [, succeededId, buildsId] = /^100 \* (\w+) \/ (\w+)$/.exec(e.expression)!;
      const find = (id: string) => used.find((r) => rowOptions(r).id === id)!;
      expect(metricPart(find(buildsId))).toEqual(['StemcellFarm', 'Builds', 'Line', line]);
      expect(metricPart(find(succeededId))).toEqual(['StemcellFarm', 'Succeeded', 'Line', line]);
      for (const id of [buildsId, succeededId]) expect(rowOptions(find(id))).toMatchObject({ stat: 'Sum', period: 86400, visible: false });
    });
    expect(w.properties.yAxis).toMatchObject({ left: { min: 0, max: 100 } });
  });

  it('charts the average and the longest build duration of each line', () => {
    const w = byTitle(widgets, 'Build duration per line');
    const rows = w.properties.metrics as MetricRow[];
    // Average is the dashboard's default statistic, left out of the body.
    expect(rows.map((r) => [...metricPart(r), rowOptions(r).stat ?? 'Average'])).toEqual(
      LINES.flatMap((line) => [
        ['StemcellFarm', BUILD_METRICS.duration.name, 'Line', line, 'Average'],
        ['StemcellFarm', 'DurationSeconds', 'Line', line, 'Maximum'],
      ]),
    );
  });

  it('sums builds and success over the whole time range', () => {
    const w = byTitle(widgets, 'In the time range');
    expect(w.properties).toMatchObject({ setPeriodToTimeRange: true, view: 'singleValue' });
    const rows = w.properties.metrics as MetricRow[];
    expect(rows.filter((r) => typeof r[0] === 'object').map((r) => (r[0] as { expression: string }).expression)).toHaveLength(LINES.length);
    expect(rows.filter((r) => typeof r[0] === 'string' && rowOptions(r).visible !== false).map(metricPart)).toEqual(LINES.map((line) => ['StemcellFarm', 'Builds', 'Line', line]));
  });

  it('every metric it charts is in the namespace, names and dimension build-status writes', () => {
    const names = new Set<string>(Object.values(BUILD_METRICS).map((m) => m.name));
    const rows = metricWidgets(widgets).flatMap((w) => w.properties.metrics as MetricRow[]).filter((r) => typeof r[0] === 'string');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const [namespace, metricName, dimension, line, ...rest] = metricPart(row) as string[];
      expect(namespace).toBe(METRICS_NAMESPACE);
      expect(names.has(metricName)).toBe(true);
      expect(dimension).toBe(LINE_DIMENSION);
      expect(LINES).toContain(line);
      expect(rest).toEqual([]);
    }
  });

  it('shows the newest light stemcell of each line from build-status’s log group, with Logs Insights', () => {
    const logWidgets = widgets.filter((w) => w.type === 'log');
    expect(logWidgets).toHaveLength(1);
    const { properties } = logWidgets[0];
    const group = logicalId(built.stack, built.logGroup);
    expect(properties).toMatchObject({ view: 'table', title: 'Newest light stemcell per line', region: '<AWS::Region>' });
    expect(properties.query).toBe(`SOURCE '<${group}>' | ${NEWEST_LIGHT_STEMCELL_QUERY.join('\n| ')}`);
    expect(properties.query).toBe(
      `SOURCE '<${group}>' | filter event = "build-end" and status = "Success" and ispresent(lightKey)\n| fields Line, version, lightKey as lightStemcell, endedAt, executionId\n| sort endedAt desc\n| dedup Line`,
    );
  });

  it('says what it shows and where the records are', () => {
    const text = widgets.filter((w) => w.type === 'text');
    expect(text).toHaveLength(1);
    expect(text[0].properties.markdown).toMatch(/builds table, named by the stack output BuildsTableName/);
    expect(text[0].properties.markdown).toMatch(/ByLine/);
  });

  it('lays the widgets out in a 24-column grid', () => {
    for (const w of widgets) expect((w as unknown as { x: number }).x + w.width).toBeLessThanOrEqual(24);
  });

  it('has no cdk-nag AwsSolutions findings', () => {
    const violations = new AwsSolutionsChecks(built.app).validateScope(built.app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`));
    expect(violations.filter((v) => v.includes('Farm/Dashboard'))).toEqual([]);
    expect(violations).toEqual([]);
  });
});

describe('options', () => {
  it('takes a name, a period, a time range and the builds table’s name', () => {
    const { stack } = build({ dashboardName: 'builds', period: Duration.hours(6), timeRange: Duration.days(90), buildsTableName: 'farm-builds' });
    const { name, widgets, body } = dashboardOf(stack);
    expect(name).toBe('builds');
    expect(body).toMatchObject({ start: '-P90D' });
    for (const title of ['Builds per line', 'Success rate per line', 'Build duration per line']) {
      const rows = byTitle(widgets, title).properties.metrics as MetricRow[];
      for (const row of rows) expect(rowOptions(row).period ?? (row[0] as { period?: number }).period).toBe(21600);
    }
    expect(byTitle(widgets, 'Builds per line').properties.title).toBe('Builds per line (per 6 hours)');
    expect(widgets.find((w) => w.type === 'text')!.properties.markdown).toMatch(/builds table, farm-builds:/);
  });

  it('charts every operating system the farm builds', () => {
    const { stack } = build({ lines: operatingSystemNames() });
    const rows = (byTitle(dashboardOf(stack).widgets, 'Builds per line').properties.metrics as MetricRow[]).map((r) => metricPart(r)[3]);
    expect(rows).toEqual(operatingSystemNames());
  });

  it.each<[string, string[]]>([
    ['no line', []],
    ['a line twice', ['ubuntu-jammy', 'ubuntu-jammy']],
    ['a name that is no dimension value', ['Ubuntu Jammy']],
  ])('refuses %s', (_what, lines) => {
    expect(() => build({ lines })).toThrow(/BuildDashboard: /);
  });
});

describe("build-status's log group", () => {
  it('is the FarmFunction’s own log group, as its logGroup property gives it (no LogRetention resource)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Farm');
    const fn = new FarmFunction(stack, 'BuildStatus', { folder: 'build-status', description: 'test', timeout: Duration.seconds(60), statements: [], logRetention: logs.RetentionDays.THREE_MONTHS });
    const own = stack.node.findChild('BuildStatusLogs') as logs.LogGroup;
    expect(fn.logGroup).toBe(own);
    new BuildDashboard(stack, 'Dashboard', { lines: LINES, buildStatusLogGroup: fn.logGroup });
    const t = Template.fromStack(stack);
    expect(Object.keys(t.findResources('Custom::LogRetention'))).toEqual([]);
    const query = dashboardOf(stack).widgets.find((w) => w.type === 'log')!.properties.query as string;
    expect(query.startsWith(`SOURCE '<${logicalId(stack, own)}>' | `)).toBe(true);
  });
});
