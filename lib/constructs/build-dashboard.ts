import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BUILD_METRICS, LINE_DIMENSION, lineDimensionValue, METRICS_NAMESPACE, NEWEST_LIGHT_STEMCELL_QUERY } from '../farm/build-metrics';

export interface BuildDashboardProps {
  /** The stemcell lines to chart, e.g. every operating system the farm builds. */
  readonly lines: readonly string[];
  /** build-status's log group: its build-end lines hold the light stemcells. */
  readonly buildStatusLogGroup: logs.ILogGroup;
  /**
   * The builds table's name, for the dashboard's text.
   * @default - the text points at the stack's BuildsTableName output
   */
  readonly buildsTableName?: string;
  /** @default `${stackName}-builds` */
  readonly dashboardName?: string;
  /**
   * The period of the graphs: builds are counted, and durations averaged, per period.
   * @default Duration.days(1)
   */
  readonly period?: Duration;
  /**
   * The time range the dashboard opens with.
   * @default Duration.days(28)
   */
  readonly timeRange?: Duration;
}

/**
 * The farm's builds at a glance: per stemcell line, how many builds ended,
 * how many of them succeeded, how long they took, and the newest light
 * stemcell. The metrics are those build-status writes when it announces a
 * build's end (lib/farm/build-metrics.ts); the light stemcells come from the
 * same lines in its log group, through Logs Insights.
 */
export class BuildDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: BuildDashboardProps) {
    super(scope, id);
    if (props.lines.length === 0) throw new Error('BuildDashboard: lines is empty; name the stemcell lines to chart');
    if (new Set(props.lines).size !== props.lines.length) throw new Error(`BuildDashboard: lines ${JSON.stringify(props.lines)} name a line twice`);
    for (const line of props.lines) {
      if (lineDimensionValue(line) !== line) throw new Error(`BuildDashboard: ${JSON.stringify(line)} is not a stemcell line name; its builds are counted as 'unknown'`);
    }
    const period = props.period ?? Duration.days(1);
    const per = period.toSeconds() === Duration.days(1).toSeconds() ? 'day' : period.toHumanString();
    const lines = props.lines;
    const tableName = props.buildsTableName ?? 'named by the stack output BuildsTableName';

    const metric = (m: { readonly name: string }, line: string, statistic: string, label: string): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: m.name, dimensionsMap: { [LINE_DIMENSION]: line }, statistic, period, label });
    /** Succeeded / Builds of the line, in percent; `i` keeps the expression's ids apart from other lines'. */
    const successRate = (line: string, i: number, label: string): cloudwatch.MathExpression =>
      new cloudwatch.MathExpression({
        expression: `100 * succeeded${i} / builds${i}`,
        usingMetrics: { [`builds${i}`]: metric(BUILD_METRICS.builds, line, 'Sum', `${line} builds`), [`succeeded${i}`]: metric(BUILD_METRICS.succeeded, line, 'Sum', `${line} succeeded`) },
        label,
        period,
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${Stack.of(this).stackName}-builds`,
      defaultInterval: props.timeRange ?? Duration.days(28),
      // Each graph keeps its period: builds per day stay per day over any range.
      periodOverride: cloudwatch.PeriodOverride.INHERIT,
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        width: 24,
        height: 3,
        markdown: [
          '## Stemcell Farm builds',
          `Per stemcell line, each build's end as build-status announced it (once per build): builds per ${per}, the share that succeeded, how long they took (start to end of the execution) and the newest light stemcell, from build-status's log (as far back as the time range and the log's retention reach).`,
          `Every build's full record (failed step and why, stemcell and light stemcell keys, AMIs per region, checks, stage times) is in the builds table, ${tableName}: query its ByLine index by line, newest first.`,
        ].join('\n\n'),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `Builds per line (per ${per})`,
        width: 8,
        height: 6,
        left: lines.map((line) => metric(BUILD_METRICS.builds, line, 'Sum', line)),
        leftYAxis: { min: 0, label: 'builds', showUnits: false },
      }),
      new cloudwatch.GraphWidget({
        title: `Success rate per line, % (per ${per})`,
        width: 8,
        height: 6,
        left: lines.map((line, i) => successRate(line, i, line)),
        leftYAxis: { min: 0, max: 100, label: '%', showUnits: false },
      }),
      new cloudwatch.GraphWidget({
        title: `Build duration per line, seconds (per ${per})`,
        width: 8,
        height: 6,
        left: lines.flatMap((line) => [metric(BUILD_METRICS.duration, line, 'Average', `${line} average`), metric(BUILD_METRICS.duration, line, 'Maximum', `${line} longest`)]),
        leftYAxis: { min: 0, label: 'seconds', showUnits: false },
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.SingleValueWidget({
        title: 'In the time range: builds, and the share that succeeded (%)',
        width: 24,
        height: 4,
        setPeriodToTimeRange: true,
        metrics: lines.flatMap((line, i) => [metric(BUILD_METRICS.builds, line, 'Sum', `${line} builds`), successRate(line, i, `${line} succeeded %`)]),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.LogQueryWidget({
        title: 'Newest light stemcell per line',
        width: 24,
        height: 6,
        logGroupNames: [props.buildStatusLogGroup.logGroupName],
        view: cloudwatch.LogQueryVisualizationType.TABLE,
        queryLines: [...NEWEST_LIGHT_STEMCELL_QUERY],
      }),
    );
  }
}
