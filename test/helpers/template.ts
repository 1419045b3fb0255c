/** Reading a synthesized template in the infra tests: resources by logical id prefix, and the statements of a role's policies. */
import { Template } from 'aws-cdk-lib/assertions';

export type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, unknown> };
export type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: unknown; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

export const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

export function templateReader(t: Template) {
  const json = t.toJSON() as { Resources: Resources; Outputs: Record<string, unknown> };
  /** The one resource of `type` whose logical id starts with `prefix`. */
  const byPrefix = (type: string, prefix: string): [string, Resources[string]] => {
    const found = Object.entries(json.Resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
    if (found.length !== 1) throw new Error(`${found.length} ${type} named ${prefix}*`);
    return found[0];
  };
  const statementsOf = (roleId: string): Statement[] =>
    Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleId))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  const actions = (statements: Statement[]): string[] => [...new Set(statements.flatMap((s) => list(s.Action)))].sort();
  const withAction = (statements: Statement[], action: string): Statement[] => statements.filter((s) => list(s.Action).includes(action));
  return { json, byPrefix, statementsOf, actions, withAction };
}
