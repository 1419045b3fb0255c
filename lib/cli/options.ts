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

/** Repeatable, one value each time (for paths, which may hold commas). */
export function repeatableOption(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
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

/** A stemcell or OS image to read: an existing, readable, regular file. */
export function inputTarball(file: string, what = 'stemcell'): string {
  return requireFile(file, what, `give the path of a ${what} .tgz`);
}
