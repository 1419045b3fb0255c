/**
 * `stemcell boot-test`: boot the stemcell's disk under QEMU (software
 * emulation) and watch its serial console until the system reaches a login
 * prompt and runit has started the agent, or something goes wrong.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureHostPackages } from '../builder/host';
import { EnvironmentError } from '../errors';
import { onExit, withScratch } from '../scratch';
import { DiskFormat, unpackDisk } from './disk';

export interface BootTestOptions {
  readonly tarball: string;
  /** @default 300 */
  readonly timeoutSeconds?: number;
  /** @default 1024 */
  readonly memoryMiB?: number;
  /** Scratch space for the unpacked disk (sparse, up to the disk size). @default /var/tmp */
  readonly scratchRoot?: string;
  /** apt-get install missing host packages (QEMU, OVMF). @default false */
  readonly installHostPackages?: boolean;
  readonly say?: (line: string) => void;
}

export interface BootTestResult {
  readonly ok: boolean;
  readonly firmware: 'bios' | 'efi';
  readonly format: DiskFormat;
  readonly seconds: number;
  readonly reachedLogin: boolean;
  readonly agentStarted: boolean;
  /** The stand-in agent of the tests announces itself; the real agent does not. */
  readonly standInAgentStarted: boolean;
  readonly reason?: string;
  readonly lastLines: readonly string[];
}

const LOGIN = /^\S+ login: ?$/m;
const AGENT = /^bosh-agent: starting \(runit\)/m;
const STAND_IN = /^stand-in bosh-agent started with: -P ubuntu -C \/var\/vcap\/bosh\/agent\.json/m;
const FATAL = /Kernel panic|You are in emergency mode|Give root password for maintenance|ALERT! .* does not exist|Dropping to a shell|No bootable device|Failed to mount \/(\s|$)|error: no such device|error: file .* not found|you need to load the kernel first/;

export const OVMF_FIRMWARE = ['/usr/share/ovmf/OVMF.fd', '/usr/share/qemu/OVMF.fd'];
/** A console that says more than this is read from its end. */
const MAX_CONSOLE_BYTES = 1024 * 1024;

function qemuArgs(disk: string, format: string, firmware: 'bios' | 'efi', memory: number, console: string): string[] {
  const args = ['-accel', 'tcg', '-m', String(memory), '-smp', '2', '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-serial', `file:${console}`,
    '-drive', `file=${disk},format=${format},if=virtio,snapshot=on`,
    '-nic', 'user,model=virtio-net-pci'];
  if (firmware === 'efi') {
    const ovmf = OVMF_FIRMWARE.find((f) => fs.existsSync(f));
    if (!ovmf) throw new EnvironmentError(`EFI boot needs OVMF (${OVMF_FIRMWARE.join(' or ')}); apt-get install ovmf`);
    args.push('-bios', ovmf);
  }
  return args;
}

export async function bootTest(options: BootTestOptions): Promise<BootTestResult> {
  const say = options.say ?? (() => undefined);
  ensureHostPackages(['boot-test'], options.installHostPackages ?? false, say);
  return withScratch(
    'boot',
    async (scratch) => {
      const disk = await unpackDisk(options.tarball, scratch, ['raw', 'qcow2']);
      const console = path.join(scratch, 'console.log');
      fs.writeFileSync(console, '');
      say(`booting ${disk.contents.manifest.name} ${disk.contents.manifest.version} (${disk.format}, ${disk.firmware}) under QEMU without KVM`);
      const started = Date.now();
      // snapshot=on keeps QEMU's writes in a temporary file of TMPDIR: in the scratch space, it goes with it.
      const qemu = spawn('qemu-system-x86_64', qemuArgs(disk.file, disk.format, disk.firmware, options.memoryMiB ?? 1024, console), {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, TMPDIR: scratch },
      });
      let exited = false;
      let spawnError: Error | undefined;
      // 'exit' does not come when QEMU cannot start at all; 'error' does.
      const exit = new Promise<void>((resolve) => {
        qemu.on('exit', () => resolve());
        qemu.on('error', (e) => {
          spawnError = e;
          resolve();
        });
      });
      void exit.then(() => (exited = true));
      // QEMU goes with us, whatever ends the command.
      const stop = onExit(`QEMU (pid ${qemu.pid})`, () => {
        if (!exited) qemu.kill('SIGKILL');
      });
      try {
        let qemuError = '';
        qemu.stderr!.on('data', (d) => (qemuError += d));
        const deadline = started + (options.timeoutSeconds ?? 300) * 1000;
        let text = '';
        let reason: string | undefined;
        for (;;) {
          text = readConsole(console);
          if (LOGIN.test(text) && AGENT.test(text)) break;
          const fatal = FATAL.exec(text);
          if (fatal) {
            reason = `the console shows: ${fatal[0]}`;
            break;
          }
          if (spawnError) throw new EnvironmentError(`QEMU could not start (${spawnError.message}); see stemcell doctor boot-test`);
          if (exited) {
            reason = `QEMU exited before the login prompt${qemuError ? `: ${qemuError.trim()}` : ''}`;
            break;
          }
          if (Date.now() > deadline) {
            reason = `no ${LOGIN.test(text) ? 'agent start' : 'login prompt'} within ${options.timeoutSeconds ?? 300} s`;
            break;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
        const seconds = (Date.now() - started) / 1000;
        return {
          ok: reason === undefined,
          firmware: disk.firmware,
          format: disk.format,
          seconds,
          reachedLogin: LOGIN.test(text),
          agentStarted: AGENT.test(text),
          standInAgentStarted: STAND_IN.test(text),
          reason,
          lastLines: text.trimEnd().split('\n').slice(-30),
        };
      } finally {
        stop();
        await exit;
      }
    },
    options.scratchRoot,
  );
}

/** What the guest wrote to its serial console, at most the last MiB, without terminal escapes. */
function readConsole(file: string): string {
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r');
  try {
    const length = Math.min(size, MAX_CONSOLE_BYTES);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
  } finally {
    fs.closeSync(fd);
  }
}
