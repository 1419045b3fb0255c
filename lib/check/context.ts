/**
 * Parsed views of a root file system that the checks share: sshd's effective
 * settings, sysctl values, users and groups, installed packages, enabled units.
 */
import * as path from 'node:path';
import { DPKG_STATUS, parseDpkgStatus } from '../stemcell/dpkg';
import { FsView } from './fs-view';

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

function lines(text: string | undefined): string[] {
  return (text ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

function memo<T>(compute: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: compute() }).v;
}

export class CheckContext {
  constructor(readonly fs: FsView) {}

  /** sshd keeps the first value it reads for a keyword; Include pulls files in at its place. */
  readonly sshd = memo(() => {
    const settings = new Map<string, string>();
    const readConfig = (file: string, depth: number): void => {
      for (const line of lines(this.fs.read(file))) {
        const [keyword, ...rest] = line.split(/\s+/);
        const key = keyword.toLowerCase();
        const value = rest.join(' ');
        if (key === 'match') return; // settings after Match apply conditionally; the checks want the global ones
        if (key === 'include' && depth < 4) {
          for (const pattern of rest) {
            const abs = pattern.startsWith('/') ? pattern : path.posix.join('/etc/ssh', pattern);
            const dir = path.posix.dirname(abs);
            const re = new RegExp(`^${path.posix.basename(abs).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
            for (const name of this.fs.list(dir).filter((n) => re.test(n))) readConfig(path.posix.join(dir, name), depth + 1);
          }
          continue;
        }
        if (!settings.has(key)) settings.set(key, value);
      }
    };
    readConfig('/etc/ssh/sshd_config', 0);
    return settings;
  });

  /** Effective sysctl values as systemd-sysctl applies them at boot. */
  readonly sysctl = memo(() => {
    const byName = new Map<string, string>();
    for (const dir of ['/usr/lib/sysctl.d', '/lib/sysctl.d', '/run/sysctl.d', '/etc/sysctl.d']) {
      for (const name of this.fs.list(dir).filter((n) => n.endsWith('.conf'))) byName.set(name, path.posix.join(dir, name));
    }
    const files = [...byName.keys()].sort().map((n) => byName.get(n)!);
    if (!byName.has('99-sysctl.conf')) files.push('/etc/sysctl.conf');
    const values = new Map<string, string>();
    for (const file of files) {
      for (const line of lines(this.fs.read(file))) {
        if (line.startsWith(';')) continue;
        const eq = line.indexOf('=');
        if (eq < 0) continue;
        values.set(line.slice(0, eq).trim().replace(/^-/, '').replace(/\//g, '.'), line.slice(eq + 1).trim());
      }
    }
    return values;
  });

  readonly passwd = memo((): Account[] =>
    lines(this.fs.read('/etc/passwd')).map((l) => {
      const f = l.split(':');
      return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
    }),
  );

  /** group name -> members (explicit members plus users whose primary group it is). */
  readonly groups = memo(() => {
    const groups = new Map<string, { gid: number; members: Set<string> }>();
    for (const l of lines(this.fs.read('/etc/group'))) {
      const f = l.split(':');
      groups.set(f[0], { gid: Number(f[2]), members: new Set((f[3] ?? '').split(',').filter((m) => m !== '')) });
    }
    for (const account of this.passwd()) {
      for (const g of groups.values()) if (g.gid === account.gid) g.members.add(account.name);
    }
    return groups;
  });

  /** user name -> password field of /etc/shadow. */
  readonly shadow = memo(() => new Map(lines(this.fs.read('/etc/shadow')).map((l) => [l.split(':')[0], l.split(':')[1] ?? ''] as const)));

  /** Names of the installed packages; none when the image has no dpkg database. */
  readonly packages = memo(() => new Set(parseDpkgStatus(this.fs.read(DPKG_STATUS) ?? '').map((p) => p.name)));

  /** Whether a systemd unit is enabled for boot (a wants/ link) and not masked. */
  unitEnabled(unit: string): boolean {
    if (this.unitMasked(unit)) return false;
    const etc = '/etc/systemd/system';
    return this.fs.list(etc).filter((d) => d.endsWith('.wants')).some((d) => this.fs.lstat(`${etc}/${d}/${unit}`) !== undefined);
  }

  unitMasked(unit: string): boolean {
    return this.fs.lstat(`/etc/systemd/system/${unit}`)?.linkTarget === '/dev/null';
  }

  /** Uncommented lines of every file in /etc/pam.d, with their file. */
  readonly pamLines = memo(() => this.fs.list('/etc/pam.d').flatMap((name) => lines(this.fs.read(`/etc/pam.d/${name}`)).map((line) => ({ file: name, line }))));
}
