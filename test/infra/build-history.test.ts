/**
 * The farm's memory and voice as synthesized: the versions and builds tables
 * (keys, indexes, point-in-time recovery, encryption, kept on delete), the
 * encrypted topic and its optional subscription, the rule on the runbook's
 * final statuses and build-status's least privilege; Prepare's new grants.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { BUILDS_TABLE, FINAL_STATUSES } from '../../lib/farm/records';
import { farmApp } from '../helpers/farm';
import { list, templateReader } from '../helpers/template';

const t = Template.fromStack(farmApp().stack);
const { byPrefix, statementsOf, actions } = templateReader(t);
const actionsOf = (roleId: string): string[] => actions(statementsOf(roleId));

describe('the versions and builds tables', () => {
  it.each(['HistoryVersions', 'HistoryBuilds'])('%s is on demand, encrypted, recoverable to any point, protected and kept', (prefix) => {
    const [, table] = byPrefix('AWS::DynamoDB::Table', prefix);
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });

  it('keys the versions by line and entry, the builds by execution, indexed by line and by month', () => {
    expect(byPrefix('AWS::DynamoDB::Table', 'HistoryVersions')[1].Properties.KeySchema).toEqual([
      { AttributeName: 'line', KeyType: 'HASH' },
      { AttributeName: 'entry', KeyType: 'RANGE' },
    ]);
    const builds = byPrefix('AWS::DynamoDB::Table', 'HistoryBuilds')[1].Properties;
    expect(builds.KeySchema).toEqual([{ AttributeName: 'executionId', KeyType: 'HASH' }]);
    expect(builds.GlobalSecondaryIndexes).toEqual(
      Object.values(BUILDS_TABLE.indexes).map((i) => ({
        IndexName: i.name,
        KeySchema: [
          { AttributeName: i.partitionKey, KeyType: 'HASH' },
          { AttributeName: i.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    );
    t.hasOutput('BuildsTableName', {});
    t.hasOutput('VersionsTableName', {});
  });

  it("lets Prepare read and conditionally write the versions, and write the build's first record", () => {
    const [roleId] = byPrefix('AWS::IAM::Role', 'BuildRunbookPrepareRole');
    const [versions] = byPrefix('AWS::DynamoDB::Table', 'HistoryVersions');
    const [builds] = byPrefix('AWS::DynamoDB::Table', 'HistoryBuilds');
    const dynamo = statementsOf(roleId).filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': [versions, 'Arn'] } },
      { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: { 'Fn::GetAtt': [builds, 'Arn'] } },
    ]);
    const [, fn] = byPrefix('AWS::Lambda::Function', 'BuildRunbookPrepare');
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({ VERSIONS_TABLE: { Ref: versions }, BUILDS_TABLE: { Ref: builds }, VERSION_FORMATS: expect.any(String) });
  });
});

describe('notifications', () => {
  it('go to a topic encrypted with a rotated key, published only over TLS', () => {
    const [keyId, key] = byPrefix('AWS::KMS::Key', 'NotificationsKey');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const [topicId, topic] = byPrefix('AWS::SNS::Topic', 'NotificationsTopic');
    expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    const [, policy] = byPrefix('AWS::SNS::TopicPolicy', 'NotificationsTopicPolicy');
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    expect((policy.Properties.Topics as unknown[])[0]).toEqual({ Ref: topicId });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    t.hasOutput('NotificationTopicArn', {});
  });

  it('subscribe the configured email address', () => {
    const withEmail = Template.fromStack(farmApp({ notificationEmail: 'platform@example.com' }).stack);
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'platform@example.com' });
    expect(() => farmApp({ notificationEmail: 'platform at example' })).toThrow(/cdk context 'notificationEmail': expected an email address/);
  });

  it("follow the runbook's final statuses only, through build-status, with retries and a dead-letter queue", () => {
    const [, rule] = byPrefix('AWS::Events::Rule', 'NotificationsStatusRule');
    const [docId] = byPrefix('AWS::SSM::Document', 'BuildRunbookDocument');
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Automation Execution Status-change Notification'],
      detail: { Definition: [{ Ref: docId }], Status: [...FINAL_STATUSES] },
    });
    const [fnId] = byPrefix('AWS::Lambda::Function', 'NotificationsBuildStatus');
    const [queueId, queue] = byPrefix('AWS::SQS::Queue', 'NotificationsUndelivered');
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } } }),
    ]);
  });

  it('build-status may read executions, results and light stemcells, write records and publish, and nothing else', () => {
    const [roleId] = byPrefix('AWS::IAM::Role', 'NotificationsBuildStatusRole');
    expect(actionsOf(roleId)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'kms:Decrypt', 'kms:GenerateDataKey*', 'logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 's3:ListBucket', 'sns:Publish', 'ssm:GetAutomationExecution']);
    const statements = statementsOf(roleId);
    const s3Get = statements.find((s) => list(s.Action).includes('s3:GetObject'))!;
    expect(JSON.stringify(s3Get.Resource)).toContain('/builds/*/result.json');
    expect(JSON.stringify(s3Get.Resource)).toContain('/*/light-bosh-stemcell-*.tgz');
    expect(JSON.stringify(statements.find((s) => list(s.Action).includes('ssm:GetAutomationExecution'))!.Resource)).toContain(':automation-execution/*');
    const [topicId] = byPrefix('AWS::SNS::Topic', 'NotificationsTopic');
    expect(statements.find((s) => list(s.Action).includes('sns:Publish'))!.Resource).toEqual({ Ref: topicId });
  });
});
