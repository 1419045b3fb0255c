/**
 * A configuration value that cannot be used, naming its context key. In a
 * module of its own so that the parsers lib/config.ts calls (which throw it)
 * need not import lib/config.ts back.
 */
export class ConfigError extends Error {
  /**
   * @param key the context key, or the path to a value inside one
   * (`stemcellLines.ubuntu-noble.schedule`); `-c` sets only whole keys.
   */
  constructor(key: string, problem: string) {
    super(`cdk context '${key}': ${problem}. Set it in cdk.json under "context" or with -c ${key.split('.')[0]}=...`);
    this.name = 'ConfigError';
  }
}
