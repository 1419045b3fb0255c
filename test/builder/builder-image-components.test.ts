/**
 * The builder image's Image Builder component documents: they parse, have the
 * phases and steps Image Builder runs, declare and use their parameters; and
 * their steps, run here as Image Builder would run them (with this checkout's
 * code asset and this host, as CI prepares it), install and check the host.
 * Also install-host.sh's guards: a Node.js tarball that is not the pinned one
 * is never unpacked, and a foreign Node.js is never used.
 */
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { STAGE_SCRIPTS } from '../../lib/builder/host';
import { BUILDER_HOST_COMPONENT } from '../../lib/constructs/builder-image';
import { writeBuilderCode } from '../../lib/constructs/builder-code';

interface Step {
  name: string;
  action: string;
  inputs: unknown;
  [key: string]: unknown;
}
interface ComponentDocument {
  name: string;
  description: string;
  schemaVersion: unknown;
  parameters?: Record<string, { type: string; description?: string; default?: string }>[];
  phases: { name: string; steps: Step[] }[];
}

const COMPONENTS_DIR = path.dirname(BUILDER_HOST_COMPONENT);
const INSTALL_HOST = path.join(STAGE_SCRIPTS, 'builder', 'install-host.sh');
const NODE_VERSION = /^NODE_VERSION=(.+)$/m.exec(fs.readFileSync(path.join(STAGE_SCRIPTS, 'data', 'node.env'), 'utf8'))![1];
/** Phases Image Builder runs: build and validate on the build instance, test on an instance of the new image. */
const PHASES = ['build', 'validate', 'test'];
/** Keys AWSTOE knows on a step. */
const STEP_KEYS = ['name', 'action', 'inputs', 'timeoutSeconds', 'onFailure', 'maxAttempts', 'if', 'loop'];
/** The action modules these documents use, and the shape of their inputs. */
const ACTIONS: Record<string, (inputs: unknown) => void> = {
  ExecuteBash: (inputs) => {
    expect(Object.keys(inputs as object)).toEqual(['commands']);
    const { commands } = inputs as { commands: unknown[] };
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) expect(typeof command).toBe('string');
    // AWSTOE does not stop at a failing line on its own.
    expect(commands[0]).toBe('set -euo pipefail');
  },
  S3Download: (inputs) => {
    expect(Array.isArray(inputs)).toBe(true);
    for (const input of inputs as Record<string, unknown>[]) {
      expect(Object.keys(input).sort()).toEqual(['destination', 'source']);
      expect(input.source).toMatch(/^(s3:\/\/|\{\{)/);
      expect(input.destination).toMatch(/^(\/|\{\{)/);
    }
  },
};
const REFERENCE = /\{\{\s*([^{}\s]+)\s*\}\}/g;

const documents = fs
  .readdirSync(COMPONENTS_DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => ({ file: f, text: fs.readFileSync(path.join(COMPONENTS_DIR, f), 'utf8') }));

const declaredParameters = (doc: ComponentDocument): string[] => (doc.parameters ?? []).flatMap((p) => Object.keys(p));
const stepsOf = (doc: ComponentDocument, phase: string): Step[] => doc.phases.find((p) => p.name === phase)?.steps ?? [];
/** Every string a step hands to its action, where parameters are substituted. */
const inputStrings = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap(inputStrings) : value && typeof value === 'object' ? Object.values(value).flatMap(inputStrings) : [];

describe.each(documents)('component document $file', ({ file, text }) => {
  const doc = parse(text) as ComponentDocument;

  it('is a schema 1.0 document with a name and a description', () => {
    expect(Number(doc.schemaVersion)).toBe(1);
    expect(doc.name).toMatch(/^[-_A-Za-z0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z0-9]$/);
    expect(doc.description.length).toBeGreaterThan(0);
    // CloudFormation's limit on a component's inline data.
    expect(text.length).toBeLessThanOrEqual(16000);
  });

  it('has the phases Image Builder runs, each with uniquely named steps of known actions', () => {
    expect(doc.phases.map((p) => p.name)).toEqual(PHASES);
    for (const phase of doc.phases) {
      expect(phase.steps.length).toBeGreaterThan(0);
      const names = phase.steps.map((s) => s.name);
      expect(new Set(names).size).toBe(names.length);
      for (const step of phase.steps) {
        expect([file, phase.name, step.name, Object.keys(step).filter((k) => !STEP_KEYS.includes(k))]).toEqual([file, phase.name, step.name, []]);
        expect(Object.keys(ACTIONS)).toContain(step.action);
        ACTIONS[step.action](step.inputs);
      }
    }
  });

  it('declares string parameters (3 to 128 of [A-Za-z0-9_-]), uses each, and references no other', () => {
    const declared = declaredParameters(doc);
    for (const parameter of doc.parameters ?? []) {
      const [[name, spec]] = Object.entries(parameter);
      expect(name).toMatch(/^[A-Za-z0-9_-]{3,128}$/);
      expect(spec.type).toBe('string');
      expect(spec.description).toEqual(expect.any(String));
    }
    const used = new Set(doc.phases.flatMap((p) => p.steps.flatMap((s) => inputStrings(s.inputs).flatMap((v) => [...v.matchAll(REFERENCE)].map((m) => m[1])))));
    expect([...used].sort()).toEqual([...declared].sort());
  });
});

/** A step's inputs with its parameters substituted, as AWSTOE does before it runs the step. */
function render(value: string, parameters: Record<string, string>): string {
  return value.replace(REFERENCE, (_, name: string) => {
    if (!(name in parameters)) throw new Error(`no parameter ${name}`);
    return parameters[name];
  });
}

/** S3 as the build instance sees it: the objects the test put there. */
type Objects = Record<string, string>;

/** One phase of a component document, step by step, as AWSTOE runs it; the first failing step ends it. */
function runPhase(doc: ComponentDocument, phase: string, parameters: Record<string, string>, objects: Objects, env: NodeJS.ProcessEnv, scratch: string): Record<string, SpawnSyncReturns<string>> {
  const results: Record<string, SpawnSyncReturns<string>> = {};
  for (const step of stepsOf(doc, phase)) {
    if (step.action === 'S3Download') {
      for (const input of step.inputs as { source: string; destination: string }[]) {
        const source = objects[render(input.source, parameters)];
        if (source === undefined) throw new Error(`${phase}.${step.name}: no object ${render(input.source, parameters)}`);
        fs.copyFileSync(source, render(input.destination, parameters));
      }
      continue;
    }
    const script = path.join(scratch, `${phase}-${step.name}.sh`);
    fs.writeFileSync(script, (step.inputs as { commands: string[] }).commands.map((c) => render(c, parameters)).join('\n') + '\n');
    const result = spawnSync('bash', [script], { env, encoding: 'utf8', cwd: scratch });
    results[step.name] = result;
    if (result.status !== 0) return results;
  }
  return results;
}

/** A Node.js that answers the pinned version (nodejs.org is out of reach here) and runs as this test's node. */
function standInNode(dir: string): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const node = path.join(dir, 'bin', 'node');
  fs.writeFileSync(node, `#!/bin/sh\nif [ "$1" = --version ]; then echo v${NODE_VERSION}; exit 0; fi\nexec "${process.execPath}" "$@"\n`, { mode: 0o755 });
  return dir;
}

const asRoot = process.getuid?.() === 0 ? describe : describe.skip;

asRoot('the builder host component, run here as root as on a build instance (skipped unless root: doctor --install may apt-get install)', () => {
  const doc = parse(fs.readFileSync(BUILDER_HOST_COMPONENT, 'utf8')) as ComponentDocument;
  let scratch: string;
  let parameters: Record<string, string>;
  let objects: Objects;
  let env: NodeJS.ProcessEnv;
  let nodeDir: string;

  beforeAll(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'builder-host-'));
    // The code asset as CDK uploads it: the bundled CLI and the stage scripts, zipped with their modes.
    const code = path.join(scratch, 'asset');
    writeBuilderCode(code);
    const zip = spawnSync('python3', ['-c', 'import shutil, sys; shutil.make_archive(sys.argv[1], "zip", sys.argv[2])', path.join(scratch, 'asset'), code], { encoding: 'utf8' });
    if (zip.status !== 0) throw new Error(zip.stderr);
    const hash = 'f'.repeat(64);
    parameters = { CodeUri: `s3://cdk-assets-bucket/${hash}.zip`, CodeDir: path.join(scratch, 'opt', 'stemcell-farm', 'code', hash) };
    objects = { [parameters.CodeUri]: path.join(scratch, 'asset.zip') };
    nodeDir = standInNode(path.join(scratch, 'node'));
    env = { ...process.env, STEMCELL_FARM_NODE_DIR: nodeDir };
  }, 120_000);

  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('build: fetches and unpacks the code asset (modes kept, archive removed), then installs the host through the CLI', () => {
    const results = runPhase(doc, 'build', parameters, objects, env, scratch);
    const install = results.InstallHost;
    expect([install?.status, install?.stderr]).toEqual([0, expect.any(String)]);
    expect(install.stdout).toBe(`${nodeDir}/bin\n`);
    for (const group of ['build-os-image', 'build', 'check']) expect(install.stderr).toMatch(new RegExp(`^${group}\\s+ok$`, 'm'));
    expect(fs.existsSync(path.join(parameters.CodeDir, 'lib', 'cli', 'stemcell.cjs'))).toBe(true);
    expect(fs.statSync(path.join(parameters.CodeDir, 'stage-scripts', 'builder', 'install-host.sh')).mode & 0o777).toBe(fs.statSync(INSTALL_HOST).mode & 0o777);
    expect(fs.existsSync(`${parameters.CodeDir}.zip`)).toBe(false);
  });

  it('validate and test: the host check passes on what the build installed', () => {
    for (const phase of ['validate', 'test']) {
      const results = Object.values(runPhase(doc, phase, parameters, objects, env, scratch));
      expect(results.map((r) => [phase, r.status, r.stdout])).toEqual(results.map(() => [phase, 0, `${nodeDir}/bin\n`]));
    }
  });

  it('build again: finds everything in place and changes nothing', () => {
    const before = fs.readdirSync(parameters.CodeDir);
    const results = runPhase(doc, 'build', parameters, objects, env, scratch);
    expect(results.InstallHost.status).toBe(0);
    expect(results.InstallHost.stderr).not.toMatch(/installing|fetching/);
    expect(fs.readdirSync(parameters.CodeDir)).toEqual(before);
  });

  it('test: fails on an instance without the pinned Node.js', () => {
    const results = runPhase(doc, 'test', parameters, objects, { ...env, STEMCELL_FARM_NODE_DIR: path.join(scratch, 'no-node') }, scratch);
    expect(results.CheckHost.status).toBe(1);
    expect(results.CheckHost.stderr).toContain(`Node.js ${NODE_VERSION} is not installed in ${path.join(scratch, 'no-node')}`);
    expect(fs.existsSync(path.join(scratch, 'no-node'))).toBe(false);
  });
});

describe('install-host.sh', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'install-host-'));
  });
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const run = (args: string[], env: Record<string, string>) => spawnSync('bash', [INSTALL_HOST, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });

  it('refuses a Node.js tarball whose sha256 is not the pinned one, and leaves nothing behind', () => {
    // Shaped like the real one, so only the checksum tells them apart.
    const top = `node-v${NODE_VERSION}-linux-x64`;
    standInNode(path.join(scratch, 'src', top));
    const tarball = path.join(scratch, `${top}.tar.xz`);
    expect(spawnSync('tar', ['-cJf', tarball, '-C', path.join(scratch, 'src'), top]).status).toBe(0);
    const nodes = path.join(scratch, 'nodes');
    const r = run([], { STEMCELL_FARM_NODE_URL: `file://${tarball}`, STEMCELL_FARM_NODE_DIR: path.join(nodes, `node-${NODE_VERSION}`) });
    expect([r.status, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toContain(`file://${tarball} is not Node.js ${NODE_VERSION}: its sha256 is not the one stage-scripts/data/node.env pins`);
    // Neither the install nor its partial directory.
    expect(fs.readdirSync(nodes)).toEqual([]);
  });

  it('refuses a Node.js directory holding another version, and leaves it as it is', () => {
    const nodeDir = path.join(scratch, 'node');
    const other = 'v1.2.3';
    fs.mkdirSync(path.join(nodeDir, 'bin'), { recursive: true });
    const node = path.join(nodeDir, 'bin', 'node');
    fs.writeFileSync(node, `#!/bin/sh\necho ${other}\n`, { mode: 0o755 });
    for (const args of [[], ['--check']]) {
      const r = run(args, { STEMCELL_FARM_NODE_DIR: nodeDir });
      expect([r.status, r.stdout]).toEqual([1, '']);
      expect(r.stderr).toContain(`${nodeDir} holds ${other}, not Node.js v${NODE_VERSION}; remove it and run again`);
    }
    expect(fs.readFileSync(node, 'utf8')).toBe(`#!/bin/sh\necho ${other}\n`);
  });

  it('takes no arguments but --check', () => {
    const r = run(['--install'], { STEMCELL_FARM_NODE_DIR: path.join(scratch, 'node') });
    expect([r.status, r.stderr.trim()]).toEqual([2, 'usage: install-host.sh [--check]']);
    expect(fs.existsSync(path.join(scratch, 'node'))).toBe(false);
  });
});
