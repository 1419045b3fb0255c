/**
 * The hardening every stemcell OS image must carry (docs/hardening.md), as
 * named checks; the lists (modules, kernel parameters, setuid programs) come
 * from the files the stages install (policy.ts). Each check reads the image through a CheckContext and says what it
 * found, so a failure tells the operator what to fix.
 */
import * as path from 'node:path';
import { CheckContext } from './context';
import { BLACKLISTED_MODULES, SETUID_ALLOWED, SYSCTL } from './policy';

export interface Outcome {
  readonly ok: boolean;
  readonly detail: string;
}

export interface Check {
  /** Stable name, e.g. ssh.permit-root-login. */
  readonly id: string;
  readonly title: string;
  readonly run: (ctx: CheckContext) => Outcome;
}

const pass = (detail: string): Outcome => ({ ok: true, detail });
const fail = (detail: string): Outcome => ({ ok: false, detail });
const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

function sshd(keyword: string, accept: (value: string) => boolean, expected: string): Check {
  return {
    id: `ssh.${keyword.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}`,
    title: `sshd ${keyword} ${expected}`,
    run: (ctx) => {
      const value = ctx.sshd().get(keyword.toLowerCase());
      if (value === undefined) return fail(`${keyword} is not set (sshd default applies); expected ${expected}`);
      return accept(value) ? pass(`${keyword} ${value}`) : fail(`${keyword} ${value}; expected ${expected}`);
    },
  };
}
const is = (expected: string) => (v: string) => v.toLowerCase() === expected.toLowerCase();
const atMost = (max: number) => (v: string) => /^\d+$/.test(v) && Number(v) <= max && Number(v) > 0;

function algorithms(keyword: string, weak: RegExp): Check {
  return {
    id: `ssh.${keyword.toLowerCase()}`,
    title: `sshd ${keyword} restricted to strong algorithms`,
    run: (ctx) => {
      const value = ctx.sshd().get(keyword.toLowerCase());
      if (value === undefined) return fail(`${keyword} is not set, so sshd's defaults apply; list strong algorithms explicitly`);
      const bad = value.split(',').filter((a) => weak.test(a));
      return bad.length === 0 ? pass(value) : fail(`weak ${keyword}: ${bad.join(', ')}`);
    },
  };
}

function sysctl(key: string, expected: string): Check {
  return {
    id: `sysctl.${key}`,
    title: `${key} = ${expected}`,
    run: (ctx) => {
      const value = ctx.sysctl().get(key);
      if (value === undefined) return fail(`${key} is not set in /etc/sysctl.d; expected ${expected}`);
      return value === expected ? pass(`${key} = ${value}`) : fail(`${key} = ${value}; expected ${expected}`);
    },
  };
}

function fileMode(p: string, expected: number, exact = true): Check {
  return {
    id: `files.mode${p.replace(/[/.]/g, '-')}`,
    title: `${p} mode ${exact ? '' : 'at most '}${octal(expected)}`,
    run: (ctx) => {
      const entry = ctx.fs.lstat(p);
      if (!entry) return fail(`${p} is missing`);
      const ok = exact ? entry.mode === expected : (entry.mode & ~expected) === 0;
      return ok ? pass(`${p} ${octal(entry.mode)}`) : fail(`${p} is ${octal(entry.mode)}; expected ${exact ? '' : 'at most '}${octal(expected)}`);
    },
  };
}

function fileContains(id: string, title: string, p: string, pattern: RegExp): Check {
  return {
    id,
    title,
    run: (ctx) => {
      const text = ctx.fs.read(p);
      if (text === undefined) return fail(`${p} is missing`);
      const line = text.split('\n').find((l) => !l.trim().startsWith('#') && pattern.test(l));
      return line ? pass(`${p}: ${line.trim()}`) : fail(`${p} has no line matching ${pattern}`);
    },
  };
}

function unitEnabled(id: string, unit: string, why: string): Check {
  return {
    id,
    title: `${unit} enabled (${why})`,
    run: (ctx) => (ctx.unitEnabled(unit) ? pass(`${unit} is enabled`) : fail(`${unit} is not enabled at boot`)),
  };
}

function packageInstalled(id: string, pkg: string): Check {
  return { id, title: `package ${pkg} installed`, run: (ctx) => (ctx.packages().has(pkg) ? pass(`${pkg} installed`) : fail(`${pkg} is not installed`)) };
}

function memberOf(user: string, group: string): Check {
  return {
    id: `users.${user}-in-${group}`,
    title: `${user} is in ${group}`,
    run: (ctx) => {
      const g = ctx.groups().get(group);
      if (!g) return fail(`group ${group} does not exist`);
      return g.members.has(user) ? pass(`${group}: ${[...g.members].join(',')}`) : fail(`${user} is not a member of ${group}`);
    },
  };
}


function moduleBlacklisted(module: string): Check {
  return {
    id: `modules.${module}`,
    title: `kernel module ${module} cannot be loaded`,
    run: (ctx) => {
      const lines = ctx.fs.list('/etc/modprobe.d').flatMap((f) => (ctx.fs.read(`/etc/modprobe.d/${f}`) ?? '').split('\n')).map((l) => l.trim());
      const names = [module, module.replace(/-/g, '_')];
      const blacklisted = lines.some((l) => names.some((n) => l === `blacklist ${n}`));
      const disabled = lines.some((l) => names.some((n) => new RegExp(`^install\\s+${n}\\s+/(usr/)?bin/(false|true)$`).test(l)));
      if (blacklisted && disabled) return pass(`blacklist ${module}, install ${module} /bin/false`);
      return fail(`${module}: ${blacklisted ? '' : 'no blacklist line'}${!blacklisted && !disabled ? ', ' : ''}${disabled ? '' : 'no install /bin/false line'}`);
    },
  };
}

export const CHECKS: readonly Check[] = [
  // --- ssh
  {
    id: 'ssh.config-complete',
    title: 'sshd_config present without Include (drop-ins cannot weaken it)',
    run: (ctx) => {
      const text = ctx.fs.read('/etc/ssh/sshd_config');
      if (text === undefined) return fail('/etc/ssh/sshd_config is missing');
      return /^\s*Include\s/im.test(text) ? fail('sshd_config has an Include directive') : pass('no Include');
    },
  },
  sshd('PermitRootLogin', is('no'), 'no'),
  sshd('PasswordAuthentication', is('no'), 'no'),
  sshd('PermitEmptyPasswords', is('no'), 'no'),
  sshd('MaxAuthTries', atMost(3), '3 or fewer'),
  sshd('X11Forwarding', is('no'), 'no'),
  sshd('ClientAliveInterval', atMost(180), '180 or less'),
  sshd('ClientAliveCountMax', atMost(1), '1'),
  sshd('LoginGraceTime', atMost(60), '60 or less'),
  sshd('Banner', is('/etc/issue.net'), '/etc/issue.net'),
  sshd('AllowGroups', is('bosh_sshers'), 'bosh_sshers'),
  sshd('DenyUsers', (v) => v.split(/\s+/).includes('root'), 'to include root'),
  sshd('UseDNS', is('no'), 'no'),
  sshd('HostbasedAuthentication', is('no'), 'no'),
  sshd('IgnoreRhosts', is('yes'), 'yes'),
  sshd('PermitUserEnvironment', is('no'), 'no'),
  sshd('KbdInteractiveAuthentication', is('no'), 'no'),
  algorithms('Ciphers', /cbc|arcfour|3des|blowfish|cast128/i),
  algorithms('MACs', /md5|ripemd|umac-64|^hmac-sha1/i),
  algorithms('KexAlgorithms', /group1-|group14-sha1|gex-sha1/i),
  fileMode('/etc/ssh/sshd_config', 0o600, false),
  {
    id: 'ssh.no-host-keys',
    title: 'no SSH host keys baked into the image',
    run: (ctx) => {
      const keys = ctx.fs.list('/etc/ssh').filter((n) => n.startsWith('ssh_host_'));
      return keys.length === 0 ? pass('none') : fail(`found ${keys.join(', ')}; every VM would share them`);
    },
  },
  unitEnabled('ssh.host-key-regeneration', 'regenerate-ssh-host-keys.service', 'new host keys at first boot'),

  // --- sysctl
  ...SYSCTL.map(([key, value]) => sysctl(key, value)),

  // --- users, groups, sudo, su
  {
    id: 'users.vcap-uid-1000',
    title: 'vcap exists with uid 1000',
    run: (ctx) => {
      const vcap = ctx.passwd().find((a) => a.name === 'vcap');
      return vcap?.uid === 1000 ? pass('vcap uid 1000') : fail(vcap ? `vcap has uid ${vcap.uid}` : 'no vcap user');
    },
  },
  memberOf('vcap', 'admin'),
  memberOf('vcap', 'bosh_sshers'),
  memberOf('vcap', 'bosh_sudoers'),
  {
    id: 'users.only-root-uid-0',
    title: 'only root has uid 0',
    run: (ctx) => {
      const zero = ctx.passwd().filter((a) => a.uid === 0).map((a) => a.name);
      return zero.length === 1 && zero[0] === 'root' ? pass('root') : fail(`uid 0: ${zero.join(', ') || 'nobody'}`);
    },
  },
  {
    id: 'users.no-empty-passwords',
    title: 'no account has an empty password',
    run: (ctx) => {
      const empty = [...ctx.shadow()].filter(([, hash]) => hash === '').map(([user]) => user);
      return empty.length === 0 ? pass(`${ctx.shadow().size} accounts checked`) : fail(`empty password: ${empty.join(', ')}`);
    },
  },
  {
    id: 'users.root-locked',
    title: 'root password locked',
    run: (ctx) => {
      const hash = ctx.shadow().get('root');
      return hash !== undefined && /^[!*]/.test(hash) ? pass('root is locked') : fail('root has a usable password');
    },
  },
  fileContains('sudo.bosh-sudoers', '%bosh_sudoers may sudo without a password', '/etc/sudoers.d/bosh', /^%bosh_sudoers\s+ALL=\(ALL(:ALL)?\)\s+NOPASSWD:\s*ALL$/),
  fileMode('/etc/sudoers.d/bosh', 0o440),
  {
    id: 'su.restricted',
    title: 'su restricted with pam_wheel',
    run: (ctx) => {
      const line = (ctx.fs.read('/etc/pam.d/su') ?? '').split('\n').map((l) => l.trim()).find((l) => /^auth\s+required\s+pam_wheel\.so/.test(l));
      return line ? pass(line) : fail('/etc/pam.d/su has no active "auth required pam_wheel.so" line');
    },
  },
  fileContains('limits.no-core-dumps', 'hard core limit 0 for everyone', '/etc/security/limits.d/60-bosh-limits.conf', /^\*\s+hard\s+core\s+0$/),

  // --- PAM
  {
    id: 'pam.faillock',
    title: 'accounts lock after 3 failed logins (pam_faillock)',
    run: (ctx) => {
      const used = ctx.pamLines().some(({ file, line }) => file === 'common-auth' && /pam_faillock\.so\s+preauth/.test(line));
      const conf = /^\s*deny\s*=\s*(\d+)/m.exec(ctx.fs.read('/etc/security/faillock.conf') ?? '')?.[1];
      if (!used) return fail('common-auth does not use pam_faillock');
      return conf !== undefined && Number(conf) <= 3 && Number(conf) > 0 ? pass(`deny = ${conf}`) : fail(`faillock deny is ${conf ?? 'unset'}; expected 3`);
    },
  },
  {
    id: 'pam.password-min-length',
    title: 'passwords at least 14 characters (pam_pwquality)',
    run: (ctx) => {
      const used = ctx.pamLines().some(({ file, line }) => file === 'common-password' && /pam_pwquality\.so/.test(line));
      const minlen = /^\s*minlen\s*=\s*(\d+)/m.exec(ctx.fs.read('/etc/security/pwquality.conf') ?? '')?.[1];
      if (!used) return fail('common-password does not use pam_pwquality');
      return minlen !== undefined && Number(minlen) >= 14 ? pass(`minlen = ${minlen}`) : fail(`minlen is ${minlen ?? 'unset'}; expected 14 or more`);
    },
  },
  {
    id: 'pam.password-history',
    title: 'the last 24 passwords cannot be reused',
    run: (ctx) => {
      const line = ctx.pamLines().find(({ file, line }) => file === 'common-password' && /pam_(pwhistory|unix)\.so.*\bremember=(\d+)/.test(line));
      const remember = line ? Number(/remember=(\d+)/.exec(line.line)![1]) : 0;
      return remember >= 24 ? pass(line!.line) : fail(`remember=${remember || 'unset'} in common-password; expected 24`);
    },
  },
  {
    id: 'pam.no-nullok',
    title: 'no nullok in any PAM file',
    run: (ctx) => {
      const found = ctx.pamLines().filter(({ line }) => /\bnullok/.test(line));
      return found.length === 0 ? pass(`${ctx.fs.list('/etc/pam.d').length} files checked`) : fail(found.map(({ file, line }) => `${file}: ${line}`).join('; '));
    },
  },

  // --- files
  fileMode('/etc/shadow', 0o000),
  fileMode('/etc/gshadow', 0o000),
  fileMode('/etc/passwd', 0o644),
  fileMode('/etc/group', 0o644),
  fileMode('/root', 0o700, false),
  {
    id: 'files.root-directory',
    title: 'the root directory is root\'s, mode 0755',
    run: (ctx) => {
      const root = ctx.fs.lstat('/');
      if (!root) return fail('the root directory\'s owner and mode are not recorded');
      const ok = root.type === 'directory' && root.mode === 0o755 && root.uid === 0 && root.gid === 0;
      return ok ? pass('/ 0755 0:0') : fail(`/ is ${root.type} ${octal(root.mode)} ${root.uid}:${root.gid}; expected directory 0755 0:0`);
    },
  },
  {
    id: 'files.names-utf8',
    title: 'every file name is UTF-8 (others hide from the tools that read them)',
    run: (ctx) => {
      const found = [...ctx.fs.entries()].filter((e) => e.nameNotUtf8).map((e) => e.path);
      return found.length === 0 ? pass('all UTF-8') : fail(`not UTF-8: ${found.slice(0, 10).join(', ')}${found.length > 10 ? ` and ${found.length - 10} more` : ''}`);
    },
  },
  {
    id: 'files.setuid-allowlist',
    title: `setuid/setgid only on ${[...SETUID_ALLOWED].map((p) => path.posix.basename(p)).join(', ')}`,
    run: (ctx) => {
      const found = [...ctx.fs.entries()].filter((e) => e.type === 'file' && (e.mode & 0o6000) !== 0 && !SETUID_ALLOWED.has(e.path)).map((e) => `${e.path} (${octal(e.mode)})`);
      return found.length === 0 ? pass('only the allowed ones') : fail(`also on: ${found.join(', ')}`);
    },
  },
  {
    id: 'files.no-world-writable-files',
    title: 'no world-writable files',
    run: (ctx) => {
      const found = [...ctx.fs.entries()].filter((e) => e.type === 'file' && (e.mode & 0o002) !== 0).map((e) => e.path);
      return found.length === 0 ? pass('none') : fail(found.slice(0, 10).join(', ') + (found.length > 10 ? ` and ${found.length - 10} more` : ''));
    },
  },
  {
    id: 'files.world-writable-dirs-sticky',
    title: 'world-writable directories have the sticky bit',
    run: (ctx) => {
      const found = [...ctx.fs.entries()].filter((e) => e.type === 'directory' && (e.mode & 0o002) !== 0 && (e.mode & 0o1000) === 0).map((e) => e.path);
      return found.length === 0 ? pass('all sticky') : fail(`not sticky: ${found.join(', ')}`);
    },
  },
  {
    id: 'files.machine-id-empty',
    title: '/etc/machine-id is empty (a new one at first boot)',
    run: (ctx) => {
      const text = ctx.fs.read('/etc/machine-id');
      if (text === undefined) return fail('/etc/machine-id is missing; systemd then treats first boot differently');
      return text.trim() === '' ? pass('empty') : fail(`holds ${text.trim()}; every VM would share it`);
    },
  },
  {
    id: 'files.no-nvme-host-identity',
    title: 'no NVMe host identity (nvme-cli derives one per VM)',
    run: (ctx) => {
      const left = ['/etc/nvme/hostnqn', '/etc/nvme/hostid'].filter((p) => ctx.fs.lstat(p));
      return left.length === 0 ? pass('none') : fail(`${left.join(', ')}: every VM would share them`);
    },
  },
  {
    id: 'files.no-build-leftovers',
    title: 'no build-time policy-rc.d, apt proxy or build settings',
    run: (ctx) => {
      const left = ['/usr/sbin/policy-rc.d', '/etc/apt/apt.conf.d/90stemcell-build', '/etc/apt/apt.conf.d/99mmdebstrap', '/etc/dpkg/dpkg.cfg.d/99mmdebstrap', '/tmp/stemcell-customize'].filter((p) => ctx.fs.lstat(p));
      const proxies = ctx.fs.list('/etc/apt/apt.conf.d').filter((f) => /Acquire::https?::Proxy/i.test(ctx.fs.read(`/etc/apt/apt.conf.d/${f}`) ?? ''));
      const all = [...left, ...proxies.map((f) => `/etc/apt/apt.conf.d/${f} (proxy)`)];
      return all.length === 0 ? pass('none') : fail(all.join(', '));
    },
  },
  {
    id: 'files.no-host-resolv-conf',
    title: 'no resolv.conf from the build host',
    run: (ctx) => {
      const entry = ctx.fs.lstat('/etc/resolv.conf');
      return entry === undefined || entry.type === 'symlink' ? pass(entry ? `symlink to ${entry.linkTarget}` : 'absent') : fail('/etc/resolv.conf is a file left from the build');
    },
  },
  fileContains('files.banner', 'login banner in /etc/issue.net', '/etc/issue.net', /Unauthorized use is strictly prohibited/),
  {
    id: 'files.motd-empty',
    title: 'no message of the day',
    run: (ctx) => ((ctx.fs.read('/etc/motd') ?? '').trim() === '' ? pass('empty') : fail('/etc/motd is not empty')),
  },

  // --- kernel modules
  ...BLACKLISTED_MODULES.map(moduleBlacklisted),

  // --- audit, logging, time, cron, services
  packageInstalled('audit.installed', 'auditd'),
  unitEnabled('audit.enabled', 'auditd.service', 'audit trail from boot'),
  fileContains('audit.identity-rules', 'changes to /etc/shadow are audited', '/etc/audit/rules.d/60-bosh.rules', /^-w \/etc\/shadow -p wa/),
  fileContains('audit.immutable', 'audit rules immutable until reboot', '/etc/audit/rules.d/60-bosh.rules', /^-e 2$/),
  packageInstalled('rsyslog.installed', 'rsyslog'),
  unitEnabled('rsyslog.enabled', 'rsyslog.service', 'log files'),
  fileContains('rsyslog.file-mode', 'log files created 0640', '/etc/rsyslog.d/40-stemcell.conf', /^\$FileCreateMode 0640$/),
  packageInstalled('time.chrony-installed', 'chrony'),
  unitEnabled('time.chrony-enabled', 'chrony.service', 'clock kept in sync'),
  fileContains('time.makestep', 'chrony may step a wrong clock at boot', '/etc/chrony/chrony.conf', /^makestep\s/),
  unitEnabled('cron.enabled', 'cron.service', 'scheduled jobs'),
  {
    id: 'cron.allow-root-only',
    title: 'only root may use cron',
    run: (ctx) => {
      const text = ctx.fs.read('/etc/cron.allow');
      if (text === undefined) return fail('/etc/cron.allow is missing, so every user may use crontab');
      const users = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      return users.length === 1 && users[0] === 'root' ? pass('root') : fail(`cron.allow lists ${users.join(', ')}`);
    },
  },
  fileMode('/etc/crontab', 0o600),
  fileMode('/etc/cron.d', 0o700),
  packageInstalled('sysstat.installed', 'sysstat'),
  fileContains('sysstat.enabled', 'sysstat collection enabled', '/etc/default/sysstat', /^ENABLED="true"$/),
  {
    id: 'monit.binary',
    title: 'monit where the agent expects it',
    run: (ctx) => (ctx.fs.lstat('/var/vcap/bosh/bin/monit') ? pass('/var/vcap/bosh/bin/monit') : fail('/var/vcap/bosh/bin/monit is missing')),
  },
  fileMode('/var/vcap/bosh/etc/monitrc', 0o700),
  {
    id: 'systemd.ctrl-alt-del-masked',
    title: 'Ctrl-Alt-Del does not reboot',
    run: (ctx) => (ctx.unitMasked('ctrl-alt-del.target') ? pass('ctrl-alt-del.target masked') : fail('ctrl-alt-del.target is not masked')),
  },
  {
    id: 'systemd.no-core-dumps',
    title: 'systemd-coredump stores nothing',
    run: (ctx) => {
      const text = ctx.fs.list('/etc/systemd/coredump.conf.d').map((f) => ctx.fs.read(`/etc/systemd/coredump.conf.d/${f}`) ?? '').join('\n');
      return /^Storage=none$/m.test(text) ? pass('Storage=none') : fail('coredump Storage is not none');
    },
  },
  {
    id: 'systemd.no-automatic-apt',
    title: 'no unattended apt runs',
    run: (ctx) => {
      const active = ['apt-daily.timer', 'apt-daily-upgrade.timer'].filter((u) => !ctx.unitMasked(u));
      return active.length === 0 ? pass('apt timers masked') : fail(`not masked: ${active.join(', ')}`);
    },
  },
  {
    id: 'boot.grub-packages',
    title: 'grub for BIOS and EFI installed',
    run: (ctx) => {
      const missing = ['grub-pc-bin', 'grub-efi-amd64-bin'].filter((p) => !ctx.packages().has(p));
      return missing.length === 0 ? pass('grub-pc-bin, grub-efi-amd64-bin') : fail(`missing ${missing.join(', ')}`);
    },
  },
  {
    id: 'apt.security-updates',
    title: 'apt sources include the security pocket',
    run: (ctx) => {
      const files = ctx.fs.list('/etc/apt/sources.list.d').map((f) => ctx.fs.read(`/etc/apt/sources.list.d/${f}`) ?? '');
      const text = [ctx.fs.read('/etc/apt/sources.list') ?? '', ...files].join('\n');
      return /-security\b/.test(text) ? pass('security pocket configured') : fail('no -security suite in the apt sources');
    },
  },
];
