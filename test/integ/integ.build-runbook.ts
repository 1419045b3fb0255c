/**
 * What only a real AWS account proves about the build runbook: the farm
 * stack deploys; the runbook, started as an operator starts it, launches a
 * builder from Canonical's Ubuntu 24.04 AMI that installs Node.js and the host
 * packages, fetches the code asset through the S3 endpoint and builds a
 * debian-bookworm AWS stemcell; the snapshot goes up through the EBS direct
 * APIs under the builder role's conditions; the AMI is registered, copied to
 * a second region and named in a light stemcell; the builder is terminated;
 * the status event reaches build-status through EventBridge, which completes
 * the build's record (version 1.1 from the line's counter).
 * The unit tests run the same document against simulated AWS; this checks
 * Automation's own behaviour (Payload strings, executeScript selectors, loops,
 * onCancel), the IAM conditions and the agent's download, none of which a
 * simulation can.
 *
 * Run (deploys into the caller's account, then destroys; about 45 minutes):
 *   npx integ-runner --directory test/integ --language typescript \
 *     --app 'npx tsx {filePath}' --parallel-regions eu-west-1 --update-on-failed
 * Costs about US$0.25: an m6i.xlarge for some 30 minutes, a 40 GiB gp3 volume,
 * a snapshot and two AMIs for some minutes. The farm's buckets are kept when
 * the stack is destroyed (as a real farm's are), and so are its versions and
 * builds tables (deletion protection on); delete them by hand.
 */
import { App, Duration } from 'aws-cdk-lib';
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { farmPropsFromContext } from '../../lib/config';
import { StemcellFarmStack } from '../../lib/stacks/stemcell-farm-stack';
import { AMI_TAG } from '../../lib/stemcell/ami';
import { teardownFunction } from './teardown';

const COPY_REGION = 'eu-central-1';

const app = new App();
const stack = new StemcellFarmStack(app, 'StemcellFarmBuildRunbookInteg', farmPropsFromContext(app.node));

// Test harness only: removes the AMIs and snapshots of the build, in both regions, by its build id.
const teardown = teardownFunction(stack);

const integ = new IntegTest(app, 'BuildRunbook', { testCases: [stack], regions: ['eu-west-1'], diffAssets: false });

// As an operator starts it: the form's values, lists as lists.
const start = integ.assertions.awsApiCall('SSM', 'startAutomationExecution', {
  DocumentName: stack.runbook.document.ref,
  Parameters: { OperatingSystem: ['debian-bookworm'], Infrastructures: ['aws'], Regions: [COPY_REGION] },
});
const executionId = start.getAttString('AutomationExecutionId');

const finished = integ.assertions.awsApiCall('SSM', 'getAutomationExecution', { AutomationExecutionId: executionId });
finished.expect(ExpectedResult.objectLike({ AutomationExecution: { AutomationExecutionStatus: 'Success' } })).waitForAssertions({ totalTimeout: Duration.minutes(55), interval: Duration.minutes(2) });

// The builder is gone.
const builders = integ.assertions.awsApiCall('EC2', 'describeInstances', { Filters: [{ Name: `tag:${AMI_TAG.buildId}`, Values: [executionId] }] });
builders.expect(ExpectedResult.objectLike({ Reservations: [{ Instances: [{ State: { Name: 'terminated' } }] }] })).waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.minutes(1) });

// The light stemcell names the AMIs of both regions (Automation's outputs list it).
const outputs = integ.assertions.awsApiCall('SSM', 'getAutomationExecution', { AutomationExecutionId: executionId });
outputs.expect(ExpectedResult.objectLike({ AutomationExecution: { Outputs: { 'Published.LightStemcellKey': [Match.stringLikeRegexp('^debian-bookworm/.*/light-bosh-stemcell-.*-aws-xen-hvm-debian-bookworm-go_agent\\.tgz$')] } } }));

// EventBridge delivered the final status: the record is complete (the AMIs come from the light stemcell).
const record = integ.assertions.awsApiCall('DynamoDB', 'getItem', { TableName: stack.history.buildsTable.tableName, Key: { executionId: { S: executionId } }, ConsistentRead: true });
record
  .expect(ExpectedResult.objectLike({ Item: { status: { S: 'Success' }, line: { S: 'debian-bookworm' }, version: { S: '1.1' }, amis: { M: { [COPY_REGION]: { S: Match.stringLikeRegexp('^ami-') } } } } }))
  .waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.minutes(1) });

const remove = integ.assertions.invokeFunction({ functionName: teardown.functionName, payload: JSON.stringify({ buildId: executionId, regions: [stack.region, COPY_REGION] }) });
start.next(finished).next(builders).next(outputs).next(record).next(remove);
app.synth();
