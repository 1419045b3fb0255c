/**
 * The synthesized runbook against the published JSON schema of SSM
 * Automation documents (aws-ssm-document-language-service's
 * dist/schema.json, AWS's language server). The schema predates three things
 * the runbook uses on purpose: the aws:loop action (the register and copy
 * loops), the onCancel step property (terminating the builder on cancel), and
 * aws:executeScript runtimes after python3.7 (3.6 and 3.7 are retired; the
 * runbook uses python3.11). Those, and only those, are what it reports.
 */
import Ajv from 'ajv';
import * as fs from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveIntrinsics } from '../helpers/cfn';
import { DEPLOYMENT } from '../helpers/fake-farm';
import { farmApp } from '../helpers/farm';

const schema = JSON.parse(fs.readFileSync(require.resolve('aws-ssm-document-language-service/dist/schema.json'), 'utf8'));
const template = Template.fromStack(farmApp().stack).toJSON() as { Resources: Record<string, { Type: string; Properties: { DocumentType?: string; Content?: unknown } }> };
const runbook = () => {
  const [, doc] = Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation')!;
  return resolveIntrinsics(doc.Properties.Content, template, DEPLOYMENT) as { mainSteps: { name: string; action: string; onCancel?: string }[] };
};

function errors(document: unknown): string[] {
  // The schema's patterns are written for JavaScript's non-unicode regular expressions.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  const validate = ajv.compile(schema);
  validate(document);
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : ''}`);
}

describe('the runbook against the SSM document schema', () => {
  const document = runbook();
  const loops = document.mainSteps.map((s, i) => [s, i] as const).filter(([s]) => s.action === 'aws:loop').map(([, i]) => i);
  const cancels = document.mainSteps.map((s, i) => [s, i] as const).filter(([s]) => s.onCancel !== undefined).map(([, i]) => i);
  const scripts = document.mainSteps.map((s, i) => [s, i] as const).filter(([s]) => s.action === 'aws:executeScript').map(([, i]) => i);

  it('conforms, except for aws:loop, onCancel and python3.11, which the schema does not know', () => {
    expect(loops.length).toBe(2);
    expect(cancels.length).toBe(3);
    expect(scripts.length).toBe(3);
    const runtime = (i: number): string[] => [
      `/mainSteps/${i}/inputs/Runtime must be equal to one of the allowed values`,
      `/mainSteps/${i}/inputs/Runtime must match pattern "^{{[ ]{0,1}[a-zA-Z_.]+[ ]{0,1}}}$"`,
      `/mainSteps/${i}/inputs/Runtime must match exactly one schema in oneOf`,
      `/mainSteps/${i} must match "then" schema`,
    ];
    const expected = new Set([
      ...loops.map((i) => `/mainSteps/${i}/action must be equal to one of the allowed values`),
      ...cancels.map((i) => `/mainSteps/${i} must NOT have additional properties (onCancel)`),
      ...scripts.flatMap(runtime),
    ]);
    const found = errors(document);
    expect(found.filter((e) => !expected.has(e))).toEqual([]);
    expect(new Set(found)).toEqual(expected);
  });

  it('catches a mistake (the check is live)', () => {
    const broken = JSON.parse(JSON.stringify(document));
    broken.mainSteps[0].onFailur = 'Abort';
    broken.parameters.Version.type = 'Text';
    const found = errors(broken);
    expect(found).toContain('/mainSteps/0 must NOT have additional properties (onFailur)');
    expect(found.some((e) => e.startsWith('/parameters/Version/type'))).toBe(true);
  });
});
