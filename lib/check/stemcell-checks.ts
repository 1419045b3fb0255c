/**
 * Checks that only a stemcell's root carries: kernel and boot loader, the
 * agent and its configuration, the files the agent reads.
 */
import { Check, Outcome } from './checks';

const pass = (detail: string): Outcome => ({ ok: true, detail });
const fail = (detail: string): Outcome => ({ ok: false, detail });

function kernelLine(text: string | undefined): string | undefined {
  return text?.split('\n').map((l) => l.trim()).find((l) => l.startsWith('linux '));
}

export const STEMCELL_CHECKS: readonly Check[] = [
  {
    id: 'boot.kernel-installed',
    title: 'a kernel and its initramfs in /boot',
    run: (ctx) => {
      const files = ctx.fs.list('/boot');
      const kernels = files.filter((f) => f.startsWith('vmlinuz-'));
      const initrds = files.filter((f) => f.startsWith('initrd.img-'));
      return kernels.length > 0 && initrds.length > 0 ? pass(kernels.join(', ')) : fail(`/boot holds ${files.join(', ') || 'nothing'}`);
    },
  },
  {
    id: 'boot.grub-cfg-mode',
    title: 'grub.cfg readable by root only (0600)',
    run: (ctx) => {
      const e = ctx.fs.lstat('/boot/grub/grub.cfg');
      if (!e) return fail('/boot/grub/grub.cfg is missing');
      return e.mode === 0o600 ? pass('0600') : fail(`mode ${e.mode.toString(8)}`);
    },
  },
  {
    id: 'boot.grub-password',
    title: 'GRUB entries cannot be edited without a password',
    run: (ctx) => {
      const cfg = ctx.fs.read('/boot/grub/grub.cfg') ?? '';
      const ok = /^set superusers=/m.test(cfg) && /^password_pbkdf2 \S+ grub\.pbkdf2\.sha512\./m.test(cfg);
      return ok ? pass('superusers with a PBKDF2 password') : fail('grub.cfg sets no superuser password');
    },
  },
  {
    id: 'boot.kernel-args',
    title: 'kernel line with serial console and audit=1 (and the NVMe timeout on AWS)',
    run: (ctx) => {
      const line = kernelLine(ctx.fs.read('/boot/grub/grub.cfg'));
      if (!line) return fail('no linux line in grub.cfg');
      const wanted = ['console=ttyS0,115200n8', 'audit=1'];
      if ((ctx.fs.read('/var/vcap/bosh/etc/infrastructure') ?? '').trim() === 'aws') wanted.push('nvme_core.io_timeout=4294967295');
      const missing = wanted.filter((w) => !line.split(/\s+/).includes(w));
      return missing.length === 0 ? pass(line) : fail(`missing ${missing.join(' ')} in: ${line}`);
    },
  },
  {
    id: 'boot.fstab-by-uuid',
    title: 'fstab mounts the root by UUID',
    run: (ctx) => {
      const root = (ctx.fs.read('/etc/fstab') ?? '').split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[1] === '/');
      return root && /^UUID=[0-9a-f-]+$/.test(root[0]) ? pass(root.join(' ')) : fail(`root entry: ${root?.join(' ') ?? 'none'}`);
    },
  },
  {
    id: 'agent.binary',
    title: 'bosh-agent installed, executable by root',
    run: (ctx) => {
      const e = ctx.fs.lstat('/var/vcap/bosh/bin/bosh-agent');
      if (!e || e.type !== 'file') return fail('/var/vcap/bosh/bin/bosh-agent is missing');
      return (e.mode & 0o100) !== 0 && e.uid === 0 ? pass(`${e.size} bytes, mode ${e.mode.toString(8)}`) : fail(`mode ${e.mode.toString(8)}, owner ${e.uid}`);
    },
  },
  {
    id: 'agent.supervised',
    title: 'runit starts the agent at boot (-P ubuntu -C /var/vcap/bosh/agent.json)',
    run: (ctx) => {
      const run = ctx.fs.read('/var/vcap/bosh/service/agent/run') ?? '';
      if (!ctx.unitEnabled('runit.service')) return fail('runit.service is not enabled');
      return /exec \/var\/vcap\/bosh\/bin\/bosh-agent -P ubuntu -C \/var\/vcap\/bosh\/agent\.json/.test(run) ? pass('runit.service enabled, agent service linked') : fail('no agent service in /var/vcap/bosh/service');
    },
  },
  {
    id: 'agent.settings',
    title: 'agent.json names a settings source (IMDSv2 tokens on AWS)',
    run: (ctx) => {
      const text = ctx.fs.read('/var/vcap/bosh/agent.json');
      if (!text) return fail('/var/vcap/bosh/agent.json is missing');
      let sources: { Type?: string; TokenPath?: string }[];
      try {
        sources = JSON.parse(text).Infrastructure?.Settings?.Sources ?? [];
      } catch (e) {
        return fail(`agent.json is not JSON: ${(e as Error).message}`);
      }
      if (sources.length === 0) return fail('no Infrastructure.Settings.Sources');
      const aws = (ctx.fs.read('/var/vcap/bosh/etc/infrastructure') ?? '').trim() === 'aws';
      if (aws && !sources.some((s) => s.TokenPath === '/latest/api/token')) return fail('AWS settings source without TokenPath (IMDSv2)');
      return pass(sources.map((s) => s.Type).join(', '));
    },
  },
  {
    id: 'agent.system-parameters',
    title: 'infrastructure, operating_system and stemcell_version for the agent',
    run: (ctx) => {
      const values = ['infrastructure', 'operating_system', 'stemcell_version'].map((f) => [f, (ctx.fs.read(`/var/vcap/bosh/etc/${f}`) ?? '').trim()] as const);
      const missing = values.filter(([, v]) => v === '').map(([f]) => f);
      return missing.length === 0 ? pass(values.map(([f, v]) => `${f}=${v}`).join(' ')) : fail(`missing /var/vcap/bosh/etc/${missing.join(', ')}`);
    },
  },
  {
    id: 'agent.dev-tools-list',
    title: 'dev_tools_file_list for remove_dev_tools',
    run: (ctx) => {
      const lines = (ctx.fs.read('/var/vcap/bosh/etc/dev_tools_file_list') ?? '').split('\n').filter((l) => l !== '');
      return lines.length > 0 ? pass(`${lines.length} files`) : fail('/var/vcap/bosh/etc/dev_tools_file_list is missing or empty');
    },
  },
];
