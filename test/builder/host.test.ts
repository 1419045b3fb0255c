/**
 * The one list of host packages (stage-scripts/data/host-packages.txt): it
 * parses, and it names every tool the stage scripts and the CLI run on the
 * host, so a fresh machine that installs it has everything.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureHostPackages, hostPackageGroups, hostPackagesFor, missingHostPackages } from '../../lib/builder/host';
import { EnvironmentError } from '../../lib/errors';

const ROOT = path.join(__dirname, '..', '..');
const SCRIPTS = [
  'stage-scripts/run.sh',
  'stage-scripts/lib/common.sh',
  ...fs.readdirSync(path.join(ROOT, 'stage-scripts', 'stages')).map((s) => `stage-scripts/stages/${s}/apply.sh`),
];

/** Commands that need no package: shell builtins and keywords. */
function isBuiltin(command: string): boolean {
  return spawnSync('bash', ['-c', `type -t ${command}`], { encoding: 'utf8' }).stdout.trim().match(/^(builtin|keyword)$/) !== null;
}

interface ShNode {
  Type?: string;
  Name?: { Value: string };
  Args?: { Parts?: { Type: string; Value?: string }[] }[];
  [key: string]: unknown;
}

/**
 * The commands a script runs on the host, from shfmt's syntax tree: the first
 * word of every simple command, looking through host_run, setsid and exec;
 * not what runs inside the chroot (chroot_run and the apt helpers), not the
 * script's own functions.
 */
function hostCommands(script: string): { commands: Set<string>; functions: Set<string> } {
  const r = spawnSync('shfmt', ['--tojson'], { input: fs.readFileSync(path.join(ROOT, script)), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`shfmt could not parse ${script}: ${r.stderr}`);
  const commands = new Set<string>();
  const functions = new Set<string>();
  const literal = (word: NonNullable<ShNode['Args']>[number]): string | undefined => (word.Parts?.length === 1 && word.Parts[0].Type === 'Lit' ? word.Parts[0].Value : undefined);
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const n = node as ShNode;
    if (n.Type === 'FuncDecl' && n.Name) functions.add(n.Name.Value);
    if (n.Type === 'CallExpr' && n.Args) {
      const words = n.Args.map(literal);
      while (words.length > 0 && ['host_run', 'setsid', 'exec', 'command'].includes(words[0] ?? '')) {
        words.shift();
        // The prefix's own options (setsid --wait) come before the command.
        while ((words[0] ?? '').startsWith('-')) words.shift();
      }
      const command = words[0];
      if (command && !['chroot_run', 'apt_get', 'apt_install'].includes(command)) commands.add(command);
    }
    Object.values(n).forEach(walk);
  };
  walk(JSON.parse(r.stdout));
  return { commands, functions };
}

/** Commands the TypeScript code spawns by name (spawn('x', ...), spawnSync, run, execFileSync), by file. */
function spawnedCommands(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const visit = (dir: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (fs.statSync(file).isDirectory()) visit(file);
      else if (file.endsWith('.ts')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/\b(?:spawn|spawnSync|run|execFileSync)\('([a-z0-9._-]+)'/g)) {
          const rel = path.relative(ROOT, file);
          found.set(rel, (found.get(rel) ?? new Set()).add(m[1]));
        }
      }
    }
  };
  visit(path.join(ROOT, 'lib'));
  return found;
}

/**
 * The commands whose host packages a file's tools must be in: the code of
 * boot-test also serves check (the disk), the builders run under their
 * commands, scratch clean-up under check.
 */
const USED_BY: [RegExp, string[]][] = [
  [/^lib\/boot\/boot-test\.ts$/, ['boot-test']],
  [/^lib\/boot\//, ['boot-test', 'check']],
  [/^lib\/check\//, ['check']],
  [/^lib\/builder\//, ['build-os-image', 'build']],
  [/^lib\/tarball\//, ['build']],
  [/^lib\/scratch\.ts$/, ['check']],
];

describe('the host package list', () => {
  const groups = hostPackageGroups();
  const proofs = new Set(hostPackagesFor([...groups.keys()]).flatMap((p) => p.proofs));

  it('has a group for each command that needs host tools, and the test group covers them all', () => {
    expect([...groups.keys()].sort()).toEqual(['boot-test', 'build', 'build-os-image', 'check', 'runner', 'test']);
    const all = new Set(hostPackagesFor(['test']).map((p) => p.name));
    for (const group of groups.keys()) for (const p of hostPackagesFor([group])) expect(all).toContain(p.name);
  });

  it('names the package behind grub-install --target=i386-pc by the file it needs, not only the command', () => {
    const build = new Map(hostPackagesFor(['build']).map((p) => [p.name, p.proofs]));
    expect(build.get('grub-pc-bin')).toEqual(['/usr/lib/grub/i386-pc/modinfo.sh']);
    expect(build.get('grub-efi-amd64-bin')).toEqual(['/usr/lib/grub/x86_64-efi/modinfo.sh']);
    expect(build.get('curl')).toEqual(['curl']);
  });

  it.each(SCRIPTS)('covers every host command of %s', (script) => {
    const { commands, functions } = hostCommands(script);
    const common = hostCommands('stage-scripts/lib/common.sh').functions;
    const needed = [...commands].filter((c) => !functions.has(c) && !common.has(c) && !isBuiltin(c));
    expect(needed.filter((c) => !proofs.has(c))).toEqual([]);
  });

  it('covers what the stages call beyond coreutils, by name', () => {
    const all = new Set(SCRIPTS.flatMap((s) => [...hostCommands(s).commands]));
    for (const tool of ['mmdebstrap', 'debootstrap', 'sfdisk', 'mkfs.ext4', 'mkfs.vfat', 'mcopy', 'grub-install', 'grub-mkimage', 'qemu-img', 'curl', 'pigz', 'losetup', 'flock', 'awk']) {
      expect(all).toContain(tool);
      expect(proofs).toContain(tool);
    }
  });

  it('covers every command the TypeScript code runs, in the group of each command that runs it', () => {
    const spawned = spawnedCommands();
    const all = new Set([...spawned.values()].flatMap((c) => [...c]));
    expect([...all]).toEqual(expect.arrayContaining(['qemu-system-x86_64', 'qemu-img', 'sfdisk', 'losetup', 'mount', 'umount', 'flock', 'pigz']));
    const missing: string[] = [];
    for (const [file, commands] of spawned) {
      const groupsOfFile = USED_BY.find(([pattern]) => pattern.test(file))?.[1];
      for (const command of commands) {
        if (['bash', 'sh', 'apt-get', 'node'].includes(command)) continue;
        if (!groupsOfFile) {
          missing.push(`${file}: ${command} (no group says who runs this file)`);
          continue;
        }
        for (const group of groupsOfFile) {
          if (!hostPackagesFor([group]).some((p) => p.proofs.includes(command))) missing.push(`${file}: ${command} not in [${group}]`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('says exactly what is missing, and how to install it', () => {
    const fake = hostPackageGroups('[x]\nno-such-package  no-such-command /no/such/file\ncoreutils chroot\n');
    const packages = hostPackagesFor(['x'], fake);
    expect(missingHostPackages(packages).map((p) => p.name)).toEqual(['no-such-package']);
  });

  it('refuses a malformed list with the line number', () => {
    expect(() => hostPackageGroups('pkg cmd\n')).toThrow(/line 1: 'pkg cmd' comes before any \[group\]/);
    expect(() => hostPackageGroups('[a]\nuses: b\n')).toThrow(/\[a\] uses \[b\], which does not exist/);
    expect(() => hostPackageGroups('[a]\nlonely\n')).toThrow(/line 2: expected 'package proof\.\.\.'/);
  });

  it('passes when everything of a group is installed (as on the CI machine)', () => {
    expect(() => ensureHostPackages(['test'], false)).not.toThrow();
  });

  it('throws an environment error naming the missing packages and how to install them', () => {
    const fake = hostPackageGroups('[x]\nno-such-package  no-such-command\ncoreutils chroot\n');
    const attempt = (): void => ensureHostPackages(['x'], false, () => undefined, fake);
    expect(attempt).toThrow(EnvironmentError);
    expect(attempt).toThrow('missing host packages: no-such-package. Install them with: apt-get install -y no-such-package (or pass --install-host-packages)');
  });
});
