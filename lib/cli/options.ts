/**
 * The CLI's one vocabulary for option values: lists, numbers and input files
 * are parsed and refused the same way, with the same words, in every command.
 */
import { InvalidArgumentError } from 'commander';
import { requireFile } from '../builder/host';

/** `--x a,b --x c` gives [a, b, c]: comma-separated and repeatable, blanks dropped. */
export function listOption(value: string, previous: readonly string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

/** A whole number from `min` to `max`. */
export function integerOption(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** A path: anything but an empty string (which would mean the current directory). */
export function pathOption(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected a path, not an empty string');
  return value;
}

/** A repeatable path option. */
export function repeatablePathOption(value: string, previous: readonly string[] = []): string[] {
  return [...previous, pathOption(value)];
}

/** A stemcell or OS image to read: an existing, readable, regular file. */
export function inputTarball(file: string, what = 'stemcell'): string {
  return requireFile(file, what, `give the path of a ${what} .tgz`);
}
