/**
 * `stemcell farm`: the farm from a terminal, with the caller's AWS
 * credentials. It finds the farm by its stack's outputs (--stack, in the
 * profile's region or --region), starts builds with the runbook's own
 * parameters checked by the same rules as Prepare, follows them, lists the
 * build records and fetches stemcells checked against their sha1.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient, StartAutomationExecutionCommand, StopAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { randomUUID } from 'node:crypto';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { Command, Option } from 'commander';
import { isExecutionId, isRegionName, partitionOf } from '../aws/identifiers';
import { errorCode, errorMessage, withRetries } from '../aws/retry';
import { Clock, systemClock } from '../aws/runtime';
import { EnvironmentError, FailedError, InterruptedError, StopSignal, UsageError } from '../errors';
import { ExecutionView, progressBlock, progressLines, SUCCESS_STATUSES, summary } from '../farm/executions';
import { DEFAULT_FARM_STACK, FarmOutputs, findFarm } from '../farm/farm-outputs';
import { fetchObject, keysToFetch, parseFetchTarget } from '../farm/fetch';
import { follow, readExecution, readLog, readLogTail } from '../farm/follow';
import { executionConsoleUrl } from '../farm/notification';
import { automationParameters, checkFormWithoutBuckets, ParameterName, parseBuildParameters, RUNBOOK_PARAMETERS } from '../farm/parameters';
import { BuildRecord, buildsOfLine, buildsSince, readRecord } from '../farm/records';
import { prepareOutputDirectory } from '../output';
import { deferSignals } from '../scratch';
import { operatingSystemNames } from '../stemcell/matrix';
import { awsFailure } from './aws';
import { exitCodeForSignal } from './exit-codes';
import { CliIo, say } from './main';
import { listOption } from './options';
import { jsonText, printable } from './text';

export interface FarmClients {
  readonly region: string;
  readonly cfn: CloudFormationClient;
  readonly ssm: SSMClient;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly logs: CloudWatchLogsClient;
}

/** What the command needs from its surroundings; tests give their own. */
export interface FarmDeps {
  readonly clock: Clock;
  /** Whether progress goes to a terminal (redrawn in place) or a log (a line per change). */
  readonly tty: boolean;
  readonly credentials: () => AwsCredentialIdentityProvider;
  /** The region of the profile (AWS_REGION, AWS_PROFILE's region), when --region is not given. */
  readonly defaultRegion: () => Promise<string | undefined>;
  /** Ctrl-C (or SIGTERM, SIGHUP) while following: stop following. Returns the undo. */
  readonly onInterrupt: (stop: (signal: StopSignal) => void) => () => void;
  /** The terminal's width, for lines redrawn in place. */
  readonly columns: number;
}

const defaultDeps: FarmDeps = {
  clock: systemClock,
  tty: process.stderr.isTTY === true,
  credentials: () => fromNodeProviderChain(),
  defaultRegion: async () => {
    try {
      return await new S3Client({}).config.region();
    } catch {
      return undefined;
    }
  },
  onInterrupt: (stop) => {
    const done = deferSignals();
    let stopping = false;
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
      const handler = (): void => {
        // A second signal while stopping: stop now.
        if (stopping) process.exit(exitCodeForSignal(signal));
        stopping = true;
        stop(signal);
      };
      process.on(signal, handler);
      return [signal, handler] as const;
    });
    return () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      done();
    };
  },
  columns: process.stderr.columns ?? 80,
};

interface CommonFlags {
  stack: string;
  region?: string;
  json?: boolean;
}

/** The flag of each runbook parameter: its name in kebab case, and the CLI's own words for the two every build sets. */
export const PARAMETER_FLAGS: Readonly<Record<ParameterName, string>> = Object.fromEntries(
  (Object.keys(RUNBOOK_PARAMETERS) as ParameterName[]).map((name) => [name, name === 'OperatingSystem' ? 'os' : name === 'Infrastructures' ? 'infrastructure' : name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()]),
) as Record<ParameterName, string>;

const camel = (flag: string): string => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

async function clientsFor(flags: CommonFlags, deps: FarmDeps): Promise<FarmClients> {
  if (flags.region !== undefined && !isRegionName(flags.region)) throw new UsageError(`--region ${JSON.stringify(flags.region)} is not a region name, e.g. eu-west-1`);
  const region = flags.region ?? (await deps.defaultRegion());
  if (!region) throw new EnvironmentError('no AWS region: pass --region, or set AWS_REGION or a region in your AWS profile');
  if (!isRegionName(region)) throw new EnvironmentError(`the region of your AWS profile (or AWS_REGION), ${JSON.stringify(region.slice(0, 40))}, is not a region name; pass --region`);
  const credentials = deps.credentials();
  const config = { region, credentials, maxAttempts: 1 };
  return { region, cfn: new CloudFormationClient(config), ssm: new SSMClient(config), dynamodb: new DynamoDBClient(config), s3: new S3Client(config), logs: new CloudWatchLogsClient(config) };
}

/** Run `work` with the farm found, AWS's errors made the CLI's. */
async function withFarm<T>(flags: CommonFlags, deps: FarmDeps, work: (clients: FarmClients, farm: FarmOutputs) => Promise<T>): Promise<T> {
  try {
    const clients = await clientsFor(flags, deps);
    const farm = await findFarm(clients.cfn, flags.stack, clients.region, deps.clock);
    return await work(clients, farm);
  } catch (e) {
    throw awsFailure(e, (message) => new FailedError(message));
  }
}

function common(command: Command, json = true): Command {
  command.option('--stack <name>', 'the farm stack', DEFAULT_FARM_STACK).option('--region <region>', "the farm's region (default: your AWS profile's)");
  return json ? command.option('--json', 'print JSON for scripts') : command;
}

/** A build id: the execution id Systems Manager gave it. */
function executionId(id: string): string {
  if (!isExecutionId(id)) throw new UsageError(`${JSON.stringify(id.slice(0, 80))} is not a build id: the execution id, as stemcell farm build and stemcell farm list print it`);
  return id;
}

/** A failed build ends the command with exit code 4, naming the step. */
function buildFailed(view: ExecutionView): FailedError {
  return new FailedError(`build ${view.id} ${view.status === 'Cancelled' ? 'was cancelled' : `ended ${view.status}`}${view.failedStep ? ` at ${view.failedStep}` : ''}${view.failure ? `: ${view.failure}` : ''}`);
}

function printLines(io: CliIo, lines: readonly string[]): void {
  for (const line of lines) io.out(`${printable(line)}\n`);
}

/** Follow a build, drawing its progress on stderr; returns its last view, or the signal that stopped following. */
async function followBuild(io: CliIo, clients: FarmClients, farm: FarmOutputs, id: string, deps: FarmDeps, justStarted: boolean): Promise<ExecutionView> {
  const controller = new AbortController();
  let stoppedBy: StopSignal | undefined;
  const restore = deps.onInterrupt((signal) => {
    stoppedBy = signal;
    controller.abort();
  });
  let before: ExecutionView | undefined;
  let drawn = 0;
  const tail: string[] = [];
  let view: ExecutionView | undefined;
  try {
    view = await follow(
      { ssm: clients.ssm, logs: clients.logs },
      id,
      farm.buildLogGroup,
      {
        update: (current, newLines) => {
          const now = deps.clock.now();
          if (deps.tty) {
            tail.push(...newLines);
            tail.splice(0, Math.max(0, tail.length - 8));
            // One terminal row a line, so that moving up over the block lands where it began.
            const block = progressBlock(current, now, tail).map((l) => printable(l).slice(0, Math.max(20, deps.columns - 1)));
            io.err(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${block.join('\n')}\n`);
            drawn = block.length;
          } else {
            for (const line of [...progressLines(before, current, now), ...newLines.map((l) => `  | ${l}`)]) io.err(`${printable(line)}\n`);
          }
          before = current;
        },
      },
      deps.clock,
      controller.signal,
      { justStarted },
    );
  } catch (e) {
    // No credentials or no network stay what they are; anything else ends the following, not the build.
    const mapped = awsFailure(e, (m) => new FailedError(m));
    if (mapped instanceof EnvironmentError) throw mapped;
    const why = (e as { $metadata?: unknown }).$metadata !== undefined ? errorMessage(e) : e instanceof Error ? e.message : String(e);
    throw new FailedError(`stopped following build ${id}, which goes on (stemcell farm status ${id}): ${why}`);
  } finally {
    restore();
  }
  if (stoppedBy && !view?.done) throw new InterruptedError(stoppedBy, `stopped following (${stoppedBy}); build ${id} goes on: stemcell farm status ${id}, or stemcell farm cancel ${id}`);
  if (!view) throw new FailedError(`no build ${id} in this region`);
  return view;
}

/** After a failed build: the end of its log, which says why. */
async function logTail(io: CliIo, clients: FarmClients, farm: FarmOutputs, view: ExecutionView, clock: Clock): Promise<void> {
  if (!view.commandId) return;
  let lines: string[];
  try {
    lines = await readLogTail(clients.logs, farm.buildLogGroup, view.commandId, 20, clock);
  } catch (e) {
    // The failure itself is what matters; say why its log is missing.
    io.err(`stemcell: the build's log could not be read (${printable(errorMessage(e))})\n`);
    return;
  }
  if (lines.length === 0) return;
  io.err(`stemcell: the end of the build's log (stemcell farm logs ${view.id}):\n`);
  for (const line of lines) io.err(`  | ${printable(line)}\n`);
}

/** `build --follow` and `status`: print the outcome, and fail (exit 4) for a build that did. */
async function report(io: CliIo, clients: FarmClients, farm: FarmOutputs, view: ExecutionView, flags: CommonFlags, deps: FarmDeps): Promise<void> {
  if (flags.json) io.out(jsonText(view));
  else printLines(io, summary(view, farm.stemcellBucket));
  if (view.done && !SUCCESS_STATUSES.includes(view.status)) {
    await logTail(io, clients, farm, view, deps.clock);
    throw buildFailed(view);
  }
}

function buildSubcommand(io: CliIo, deps: FarmDeps): Command {
  const command = common(new Command('build'))
    .description("Start a build in the farm with the runbook's parameters (checked here as Prepare checks them); --follow to watch it.")
    .option('--follow', 'show progress until the build ends (Ctrl-C stops following, not the build)');
  for (const [name, spec] of Object.entries(RUNBOOK_PARAMETERS) as [ParameterName, (typeof RUNBOOK_PARAMETERS)[ParameterName]][]) {
    const flag = PARAMETER_FLAGS[name];
    const option = new Option(`--${flag} <${spec.type === 'StringList' ? 'list' : spec.type === 'Boolean' ? 'true|false' : 'value'}>`, `${spec.description} (runbook parameter ${name})`);
    if (spec.type === 'StringList') option.argParser(listOption);
    command.addOption(option);
  }
  return command.action(async (flags: CommonFlags & { follow?: boolean } & Record<string, unknown>) => {
    const form: Record<string, unknown> = {};
    for (const name of Object.keys(RUNBOOK_PARAMETERS) as ParameterName[]) {
      const value = flags[camel(PARAMETER_FLAGS[name])];
      if (value !== undefined) form[name] = value;
    }
    // The runbook's words are its parameters; the CLI's are flags.
    const asFlags = (check: () => unknown): void => {
      try {
        check();
      } catch (e) {
        const name = (e as { parameter?: string }).parameter as ParameterName | undefined;
        if (name && PARAMETER_FLAGS[name]) throw new UsageError(`--${PARAMETER_FLAGS[name]}: ${(e as Error).message.replace(`${name}: `, '')}`);
        throw e;
      }
    };
    // Before any AWS call, every rule that needs no bucket name; then, with the farm's, the script's bucket too.
    asFlags(() => checkFormWithoutBuckets(form, deps.clock.now()));
    await withFarm(flags, deps, async (clients, farm) => {
      asFlags(() => parseBuildParameters(form, { osImageBucket: farm.osImageBucket, stemcellBucket: farm.stemcellBucket }, deps.clock.now()));
      // One token for every try: a retry after a lost answer starts no second build.
      const clientToken = randomUUID();
      const out = await withRetries(() => clients.ssm.send(new StartAutomationExecutionCommand({ DocumentName: farm.runbookName, Parameters: automationParameters(form), ClientToken: clientToken })), deps.clock);
      const id = out.AutomationExecutionId;
      if (!id) throw new FailedError('Systems Manager started no execution');
      const link = executionConsoleUrl(partitionOf(clients.region), clients.region, id);
      if (!flags.follow) {
        if (flags.json) io.out(jsonText({ executionId: id, console: link }));
        else printLines(io, [id, link]);
        return;
      }
      say(io)(`started build ${id}: ${link}`);
      await report(io, clients, farm, await followBuild(io, clients, farm, id, deps, true), flags, deps);
    });
  });
}

function statusSubcommand(io: CliIo, deps: FarmDeps): Command {
  return common(new Command('status'))
    .description('Show a build: its steps, outputs, and for a failed one the step and the end of its log (exit 4).')
    .argument('<id>', 'the build id (the execution id)')
    .action(async (id: string, flags: CommonFlags) => {
      executionId(id);
      await withFarm(flags, deps, async (clients, farm) => {
        const view = await readExecution(clients.ssm, id, deps.clock);
        if (!flags.json) printLines(io, progressBlock(view, deps.clock.now(), []).slice(1));
        await report(io, clients, farm, view, flags, deps);
      });
    });
}

function cancelSubcommand(io: CliIo, deps: FarmDeps): Command {
  return common(new Command('cancel'), false)
    .description('Cancel a build; its builder is terminated and its version burned.')
    .argument('<id>', 'the build id')
    .action(async (id: string, flags: CommonFlags) => {
      executionId(id);
      await withFarm(flags, deps, async (clients) => {
        const view = await readExecution(clients.ssm, id, deps.clock);
        const ended = (status: string) => new FailedError(`build ${id} has ended already (${status})`);
        if (view.done) throw ended(view.status);
        await withRetries(() => clients.ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id, Type: 'Cancel' })), deps.clock).catch((e: unknown) => {
          // It ended between the look and the cancel.
          if (errorCode(e) === 'InvalidAutomationStatusUpdateException') throw ended('just now');
          throw e;
        });
        say(io)(`cancelling build ${id}; its builder is terminated as the runbook ends`);
      });
    });
}

/** `--since`: an ISO date or time, or a number of days back (`30d`). */
function sinceOption(value: string, now: number): string {
  const days = /^(\d{1,4})d$/.exec(value);
  if (days) return new Date(now - Number(days[1]) * 86_400_000).toISOString();
  const time = /^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z)?$/.exec(value);
  // A real day (no 2026-02-31), read as UTC.
  if (time && !Number.isNaN(Date.parse(`${time[1]}T00:00:00Z`)) && new Date(`${time[1]}T00:00:00Z`).toISOString().startsWith(time[1])) return new Date(time[2] ? value : `${value}T00:00:00Z`).toISOString();
  throw new UsageError(`--since ${JSON.stringify(value.slice(0, 40))}: give a date (2026-11-01), a UTC time (2026-11-01T03:00:00Z) or days back (30d)`);
}

function listSubcommand(io: CliIo, deps: FarmDeps): Command {
  return common(new Command('list'))
    .description("List builds from the farm's build records, newest first.")
    .option('--line <line>', `one stemcell line (${operatingSystemNames().join(', ')})`)
    .option('--since <when>', 'builds started since a date, a time, or days back', '30d')
    .action(async (flags: CommonFlags & { line?: string; since: string }) => {
      const lines: readonly string[] = operatingSystemNames();
      if (flags.line !== undefined && !lines.includes(flags.line)) throw new UsageError(`--line ${JSON.stringify(flags.line)}: the lines are ${lines.join(', ')}`);
      const since = sinceOption(flags.since, deps.clock.now());
      await withFarm(flags, deps, async (clients, farm) => {
        const records = flags.line
          ? await buildsOfLine(clients.dynamodb, farm.buildsTable, flags.line, since, deps.clock)
          : await buildsSince(clients.dynamodb, farm.buildsTable, since, new Date(deps.clock.now()), deps.clock, LIST_LIMIT, farm.createdAt);
        if (flags.json) {
          io.out(jsonText(records));
          return;
        }
        if (records.length === 0) say(io)(`no builds since ${since}${flags.line ? ` of ${flags.line}` : ''}`);
        printLines(io, records.map(recordLine));
        if (records.length >= LIST_LIMIT) say(io)(`the newest ${LIST_LIMIT} builds; give a later --since for older ones`);
      });
    });
}

const LIST_LIMIT = 1000;

const recordLine = (r: BuildRecord): string =>
  [
    (r.startedAt || '?').slice(0, 16).replace('T', ' '),
    r.executionId,
    r.line.padEnd(15),
    (r.version ?? '-').padEnd(8),
    r.status.padEnd(10),
    r.durationSeconds !== undefined && Number.isFinite(r.durationSeconds) ? `${Math.round(r.durationSeconds / 60)}m` : '',
    r.failedStep ? `at ${r.failedStep}` : '',
  ]
    .join('  ')
    .trimEnd();

function logsSubcommand(io: CliIo, deps: FarmDeps): Command {
  return common(new Command('logs'), false)
    .description("Print a build's log (the builder's output); --follow until the build ends.")
    .argument('<id>', 'the build id')
    .option('--follow', 'keep printing as the build writes (Ctrl-C stops)')
    .action(async (id: string, flags: CommonFlags & { follow?: boolean }) => {
      executionId(id);
      await withFarm(flags, deps, async (clients, farm) => {
        if (!flags.follow) {
          const view = await readExecution(clients.ssm, id, deps.clock);
          if (!view.commandId) throw new FailedError(`build ${id} has no builder log yet (it is at ${view.steps.at(-1)?.name ?? 'its start'})`);
          const { lines } = await readLog(clients.logs, farm.buildLogGroup, view.commandId, undefined, deps.clock);
          printLines(io, lines);
          return;
        }
        const controller = new AbortController();
        let stoppedBy: StopSignal | undefined;
        const restore = deps.onInterrupt((signal) => {
          stoppedBy = signal;
          controller.abort();
        });
        try {
          await follow({ ssm: clients.ssm, logs: clients.logs }, id, farm.buildLogGroup, { update: (_view, lines) => printLines(io, lines) }, deps.clock, controller.signal);
        } finally {
          restore();
        }
        if (stoppedBy) throw new InterruptedError(stoppedBy, `stopped following (${stoppedBy}); build ${id} goes on`);
      });
    });
}

function fetchSubcommand(io: CliIo, deps: FarmDeps): Command {
  return common(new Command('fetch'))
    .description("Download a build's stemcells (or --light, its light stemcell), checked against their sha1.")
    .argument('<build>', 'a build id, or <line>@<version> (e.g. ubuntu-jammy@1.42)')
    .option('--light', 'the light stemcell instead of the heavy ones')
    .option('--out <dir>', 'directory to write to, created when missing', '.')
    .action(async (build: string, flags: CommonFlags & { light?: boolean; out: string }) => {
      const target = parseFetchTarget(build);
      const dir = prepareOutputDirectory(flags.out);
      await withFarm(flags, deps, async (clients, farm) => {
        let record: BuildRecord | undefined;
        if ('executionId' in target) {
          record = await readRecord(clients.dynamodb, farm.buildsTable, target.executionId, deps.clock);
        } else {
          // Newest first, until the version's successful build turns up.
          const ofVersion = (records: readonly BuildRecord[]) => records.filter((r) => r.version === target.version);
          const builds = ofVersion(await buildsOfLine(clients.dynamodb, farm.buildsTable, target.line, '', deps.clock, 100_000, (records) => ofVersion(records).some((r) => r.status === 'Success')));
          record = builds.find((r) => r.status === 'Success') ?? builds[0];
        }
        if (!record) throw new FailedError(`no build ${build} in the farm's records (stemcell farm list shows them)`);
        const fetched = [];
        for (const key of keysToFetch(record, flags.light === true)) {
          const f = await fetchObject(clients.s3, farm.stemcellBucket, key, dir, deps.clock);
          fetched.push(f);
          if (!flags.json) io.out(`${printable(f.file)}  sha1 ${f.sha1}\n`);
        }
        if (flags.json) io.out(jsonText(fetched));
      });
    });
}

export function farmCommand(io: CliIo, deps: FarmDeps = defaultDeps): Command {
  return new Command('farm')
    .description('The farm in AWS, with your credentials: start, follow, list and fetch builds.')
    .enablePositionalOptions()
    .addCommand(buildSubcommand(io, deps))
    .addCommand(statusSubcommand(io, deps))
    .addCommand(logsSubcommand(io, deps))
    .addCommand(listSubcommand(io, deps))
    .addCommand(fetchSubcommand(io, deps))
    .addCommand(cancelSubcommand(io, deps));
}


