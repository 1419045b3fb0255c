/**
 * Debian package versions ordered as dpkg orders them (deb-version(7);
 * dpkg's lib/dpkg/version.c): `[epoch:]upstream[-revision]`, compared epoch
 * first, then upstream, then revision, each by alternating runs of non-digits
 * (letters before other characters, `~` before everything, even the end) and
 * of digits (compared as numbers). `stemcell diff` says whether a package was
 * upgraded or downgraded with it.
 *
 * Versions come from input, so nothing here throws: a malformed version
 * (dpkg would refuse it) still gets a consistent place in the order.
 */

interface Parts {
  readonly epoch: string;
  readonly upstream: string;
  readonly revision: string;
}

/** The epoch is the digits before the first colon; the revision follows the last hyphen. */
function parts(version: string): Parts {
  const text = version.trim();
  const colon = text.indexOf(':');
  const hasEpoch = colon > 0 && /^[0-9]+$/.test(text.slice(0, colon));
  const rest = hasEpoch ? text.slice(colon + 1) : text;
  const hyphen = rest.lastIndexOf('-');
  return {
    epoch: hasEpoch ? text.slice(0, colon) : '0',
    upstream: hyphen < 0 ? rest : rest.slice(0, hyphen),
    revision: hyphen < 0 ? '' : rest.slice(hyphen + 1),
  };
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string): boolean => /^[A-Za-z]$/.test(c);

/** dpkg's order() of one character of a non-digit run; the end of the string is 0. */
function weight(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (isLetter(c)) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp(): negative, zero or positive as `a` sorts before, with or after `b`. */
function compareRuns(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const diff = weight(a[i]) - weight(b[j]);
      if (diff !== 0) return diff;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    // Digit runs compare as numbers of any length: the longer run is larger, else the first differing digit decides.
    let firstDiff = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/** -1, 0 or 1 as version `a` is older than, the same as or newer than `b`, in dpkg's order. */
export function compareDebianVersions(a: string, b: string): -1 | 0 | 1 {
  const x = parts(a);
  const y = parts(b);
  const result = compareRuns(x.epoch, y.epoch) || compareRuns(x.upstream, y.upstream) || compareRuns(x.revision, y.revision);
  return result < 0 ? -1 : result > 0 ? 1 : 0;
}
