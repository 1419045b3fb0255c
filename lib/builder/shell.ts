/** Shell single-quoting: the value comes back byte for byte when the shell reads it. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
