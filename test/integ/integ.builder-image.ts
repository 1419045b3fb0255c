/**
 * What only a real AWS account proves about the builder image: CloudFormation
 * accepts the Image Builder resources; the pipeline run the deploy starts
 * (a new recipe) builds from Canonical's Ubuntu 24.04 parameter, downloads the code
 * asset with the instance role's grants, runs install-host.sh (Node.js from
 * nodejs.org, verified, and the host packages through `stemcell doctor
 * --install`), passes its validate and test phases (`install-host.sh
 * --check` on the build instance and on an instance of the new image), and
 * writes the AMI id into the farm's builder image parameter, which Prepare
 * then reads. The unit tests check the template and run the component's
 * steps on this machine; they cannot run Image Builder.
 *
 * Run (deploys into the caller's account, then destroys; about 50 minutes):
 *   npx integ-runner --directory test/integ --language typescript \
 *     --app 'npx tsx {filePath}' --parallel-regions eu-west-1 --update-on-failed
 * Costs about US$0.15: build and test instances for some 30 minutes, one AMI
 * and its snapshot (deregistered at the end; the snapshot and the parameter
 * stay, as Image Builder's own, with the stack's kept buckets and tables:
 * delete them by hand).
 */
import { App, Duration } from 'aws-cdk-lib';
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { farmPropsFromContext } from '../../lib/config';
import { StemcellFarmStack } from '../../lib/stacks/stemcell-farm-stack';

const app = new App();
// No schedules: nothing but the pipeline run under test starts in the account.
const stack = new StemcellFarmStack(app, 'StemcellFarmBuilderImageInteg', { ...farmPropsFromContext(app.node), stemcellLines: [] });
const integ = new IntegTest(app, 'BuilderImage', { testCases: [stack], regions: ['eu-west-1'], diffAssets: false });

// The run the deploy started: the farm's first recipe is new.
const imageArn = stack.builderImage.bake!.getResponseField('imageBuildVersionArn');

const built = integ.assertions.awsApiCall('Imagebuilder', 'getImage', { imageBuildVersionArn: imageArn });
built.expect(ExpectedResult.objectLike({ image: { state: { status: 'AVAILABLE' } } })).waitForAssertions({ totalTimeout: Duration.minutes(90), interval: Duration.minutes(3) });
const ami = built.getAttString('image.outputResources.amis.0.image');

// The distribution wrote the parameter Prepare reads, with the new AMI.
const parameter = integ.assertions.awsApiCall('SSM', 'getParameter', { Name: stack.builderImage.parameterName });
parameter.expect(ExpectedResult.objectLike({ Parameter: { DataType: 'aws:ec2:image', Value: Match.stringLikeRegexp('^ami-') } }));

const remove = integ.assertions.awsApiCall('EC2', 'deregisterImage', { ImageId: ami });
built.next(parameter).next(remove);
app.synth();
