import { spawnSync } from 'node:child_process';
/**
 * The builder image pipeline as synthesized, in a stack of the farm's own
 * network, access, buckets and builder: every resource and its properties, the
 * two roles' exact statements, versions that follow content (and only content),
 * and cdk-nag.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parse } from 'yaml';
import { BuilderAccess } from '../../lib/constructs/builder-access';
import { BUILDER_HOST_COMPONENT, BuilderImage, BuilderImageProps, contentVersion } from '../../lib/constructs/builder-image';
import { UBUNTU_BUILDER_IMAGE_PARAMETER } from '../../lib/constructs/build-runbook';
import { FarmBuckets } from '../../lib/constructs/farm-buckets';
import { BUILDER_ROOT_DEVICE, FarmBuilder, SSM_AGENT_ACTIONS } from '../../lib/constructs/farm-builder';
import { FarmNetwork } from '../../lib/constructs/farm-network';
import { volumeSizeGiB } from '../../lib/farm/prepare';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, unknown> };
type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

/** The farm's pieces and the builder image, as the farm stack puts them together (bundling skipped, as in test/helpers/farm.ts). */
function farmWithBuilderImage(props: Partial<BuilderImageProps> | ((stack: Stack) => Partial<BuilderImageProps>) = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Farm');
  const network = new FarmNetwork(stack, 'Network');
  const access = new BuilderAccess(stack, 'Access', { vpc: network.vpc });
  const buckets = new FarmBuckets(stack, 'Buckets');
  const builder = new FarmBuilder(stack, 'Builder', { vpc: network.vpc, securityGroup: access.securityGroup, osImageBucket: buckets.osImageBucket, stemcellBucket: buckets.stemcellBucket });
  const image = new BuilderImage(stack, 'BuilderImage', {
    vpc: network.vpc,
    subnets: network.builderSubnets,
    securityGroup: access.securityGroup,
    code: builder.code,
    logBucket: buckets.accessLogsBucket,
    ...(typeof props === 'function' ? props(stack) : props),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, network, access, buckets, builder, image };
}

const farm = farmWithBuilderImage();
const resources = Template.fromStack(farm.stack).toJSON().Resources as Record<string, Resource>;
const id = (construct: { node: { defaultChild?: unknown } } | { logicalId: string }): string =>
  farm.stack.resolve('logicalId' in construct ? construct.logicalId : (construct.node.defaultChild as { logicalId: string }).logicalId);
const props = (construct: Parameters<typeof id>[0]): Record<string, unknown> => resources[id(construct)].Properties;
const ref = (construct: Parameters<typeof id>[0]) => ({ Ref: id(construct) });
const arn = (construct: Parameters<typeof id>[0]) => ({ 'Fn::GetAtt': [id(construct), 'Arn'] });
const statementsOf = (roleId: string): Statement[] =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
const joined = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const partition = { Ref: 'AWS::Partition' };
const region = { Ref: 'AWS::Region' };
const componentText = fs.readFileSync(BUILDER_HOST_COMPONENT, 'utf8');
const { image, builder } = farm;
const codeHash = builder.code.assetHash;

describe('the builder image resources', () => {
  it('are these, and only these', () => {
    const ours = Object.entries(resources).filter(([logicalId]) => logicalId.startsWith('BuilderImage'));
    expect(ours.map(([, r]) => r.Type).sort()).toEqual(
      [
        'AWS::IAM::InstanceProfile',
        'AWS::IAM::Policy',
        'AWS::IAM::Policy',
        'AWS::IAM::Role',
        'AWS::IAM::Role',
        'AWS::ImageBuilder::Component',
        'AWS::ImageBuilder::DistributionConfiguration',
        'AWS::ImageBuilder::ImagePipeline',
        'AWS::ImageBuilder::ImageRecipe',
        'AWS::ImageBuilder::InfrastructureConfiguration',
        'AWS::ImageBuilder::LifecyclePolicy',
        'AWS::Logs::LogGroup',
        'AWS::Logs::LogGroup',
        'AWS::Logs::LogGroup',
        'AWS::IAM::Policy',
        'Custom::AWS',
      ].sort(),
    );
  });

  it('starts the pipeline when a deploy brings a new recipe, and only then: the recipe ARN is the run trigger’s id', () => {
    const [bakeId, bake] = Object.entries(resources).find(([, r]) => r.Type === 'Custom::AWS')! as [string, Resource & { DependsOn?: string[] }];
    expect(bakeId).toMatch(/^BuilderImageBakeOnChange/);
    const create = JSON.stringify(bake.Properties.Create);
    expect(create).toContain('\\"service\\":\\"Imagebuilder\\",\\"action\\":\\"startImagePipelineExecution\\"');
    expect(create).toContain(`"${id(image.recipe)}","Arn"`);
    expect(create).toContain(`"${id(image.pipeline)}","Arn"`);
    expect(bake.Properties.Update).toEqual(bake.Properties.Create);
    expect(bake.DependsOn).toEqual(expect.arrayContaining([id(image.pipeline)]));
    // It may start this pipeline, and nothing else.
    const policy = Object.values(resources).find((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties).includes('StartImagePipelineExecution'))!;
    expect((policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement).toEqual([{ Action: 'imagebuilder:StartImagePipelineExecution', Effect: 'Allow', Resource: arn(image.pipeline) }]);
    // Without it, a deploy starts no run.
    const quiet = Template.fromStack(farmWithBuilderImage({ bakeOnChange: false }).stack).toJSON().Resources as Record<string, Resource>;
    expect(Object.values(quiet).filter((r) => r.Type === 'Custom::AWS')).toEqual([]);
  });

  it('has the component document of stage-scripts, versioned by its content', () => {
    expect(props(image.component)).toEqual({
      Name: 'Farm-builder-host',
      Platform: 'Linux',
      Version: contentVersion(componentText),
      Description: expect.any(String),
      Data: componentText,
    });
  });

  it("builds on Canonical's Ubuntu 24.04 (its public parameter), with the code asset's location, an encrypted gp3 root and the SSM agent kept", () => {
    expect(props(image.recipe)).toEqual({
      Name: 'Farm-builder',
      Version: image.recipe.version,
      Description: expect.any(String),
      ParentImage: `ssm:${UBUNTU_BUILDER_IMAGE_PARAMETER}`,
      Components: [
        {
          ComponentArn: arn(image.component),
          Parameters: [
            { Name: 'CodeUri', Value: [{ 'Fn::Sub': `s3://cdk-hnb659fds-assets-\${AWS::AccountId}-\${AWS::Region}/${codeHash}.zip` }] },
            { Name: 'CodeDir', Value: [`/opt/stemcell-farm/code/${codeHash}`] },
          ],
        },
      ],
      BlockDeviceMappings: [{ DeviceName: BUILDER_ROOT_DEVICE, Ebs: { VolumeType: 'gp3', VolumeSize: 16, Encrypted: true, DeleteOnTermination: true } }],
      AdditionalInstanceConfiguration: { SystemsManagerAgent: { UninstallAfterBuild: false } },
    });
  });

  it('gives the component exactly the parameters its document declares', () => {
    const declared = (parse(componentText) as { parameters: Record<string, unknown>[] }).parameters.flatMap((p) => Object.keys(p));
    const given = (props(image.recipe).Components as { Parameters: { Name: string }[] }[])[0].Parameters.map((p) => p.Name);
    expect(given.sort()).toEqual(declared.sort());
  });

  it('unpacks the code where farm builds unpack it, so a build on the image finds it', () => {
    const buildDocument = JSON.stringify(props(builder.buildDocument).Content);
    expect(buildDocument).toContain(`/opt/stemcell-farm/code/${codeHash}`);
  });

  it('has a root volume no larger than the smallest a farm build launches it with', () => {
    const [mapping] = props(image.recipe).BlockDeviceMappings as { Ebs: { VolumeSize: number } }[];
    expect(mapping.Ebs.VolumeSize).toBeLessThanOrEqual(volumeSizeGiB(1));
  });

  it("runs its instances in the farm's subnet and security group, IMDSv2 only, terminated on failure, logging to the log bucket", () => {
    const subnets = farm.network.vpc.selectSubnets(farm.network.builderSubnets).subnets;
    expect(props(image.infrastructure)).toEqual({
      Name: 'Farm-builder',
      Description: expect.any(String),
      InstanceProfileName: { Ref: expect.stringMatching(/^BuilderImageInstanceProfile/) },
      InstanceTypes: ['m7i.large', 'm6i.large', 'm5.large'],
      SubnetId: ref(subnets[0]),
      SecurityGroupIds: [{ 'Fn::GetAtt': [id(farm.access.securityGroup), 'GroupId'] }],
      TerminateInstanceOnFailure: true,
      InstanceMetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
      Logging: { S3Logs: { S3BucketName: ref(farm.buckets.accessLogsBucket), S3KeyPrefix: 'image-builder' } },
    });
    const profile = resources[(props(image.infrastructure).InstanceProfileName as { Ref: string }).Ref];
    expect(profile).toEqual({ Type: 'AWS::IAM::InstanceProfile', Properties: { Roles: [ref(image.instanceRole)] } });
  });

  it('announces builds on the notification topic when there is one', () => {
    let topic: sns.Topic | undefined;
    const announced = farmWithBuilderImage((stack) => ({ notificationTopic: (topic = new sns.Topic(stack, 'Topic', { enforceSSL: true })) }));
    expect(announced.stack.resolve(announced.image.infrastructure.snsTopicArn)).toEqual({ Ref: announced.stack.resolve((topic!.node.defaultChild as sns.CfnTopic).logicalId) });
    expect(props(image.infrastructure).SnsTopicArn).toBeUndefined();
  });

  it('distributes an AMI in the stack’s region, tagged as a builder image, its id in an aws:ec2:image parameter', () => {
    expect(props(image.distribution)).toEqual({
      Name: 'Farm-builder',
      Description: expect.any(String),
      Distributions: [
        {
          Region: region,
          AmiDistributionConfiguration: { Name: 'Farm-builder-{{ imagebuilder:buildDate }}', Description: expect.any(String), AmiTags: { 'stemcell-farm-builder-image': 'Farm' } },
          SsmParameterConfigurations: [{ ParameterName: '/Farm/builder-image', DataType: 'aws:ec2:image' }],
        },
      ],
    });
    expect(image.parameterName).toBe('/Farm/builder-image');
    expect(farm.stack.resolve(image.parameterArn)).toEqual(joined('arn:', partition, ':ssm:', region, ':', { Ref: 'AWS::AccountId' }, ':parameter/Farm/builder-image'));
  });

  it('builds weekly, only when the parent image or the component changed, tests each image, and logs to its own log groups', () => {
    expect(props(image.pipeline)).toEqual({
      Name: 'Farm-builder',
      Description: expect.any(String),
      ImageRecipeArn: arn(image.recipe),
      InfrastructureConfigurationArn: arn(image.infrastructure),
      DistributionConfigurationArn: arn(image.distribution),
      Schedule: { ScheduleExpression: 'cron(0 4 ? * mon *)', PipelineExecutionStartCondition: 'EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE' },
      ImageTestsConfiguration: { ImageTestsEnabled: true, TimeoutMinutes: 60 },
      EnhancedImageMetadataEnabled: false,
      ImageTags: { 'stemcell-farm-builder-image': 'Farm' },
      LoggingConfiguration: { ImageLogGroupName: ref(image.imageLogGroup), PipelineLogGroupName: ref(image.pipelineLogGroup) },
      Status: 'ENABLED',
    });
    expect(resources[id(image.imageLogGroup)]).toEqual({
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: '/aws/imagebuilder/Farm-builder', RetentionInDays: 90 },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
    expect(resources[id(image.pipelineLogGroup)]).toEqual({
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: '/aws/imagebuilder/pipeline/Farm-builder', RetentionInDays: 90 },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });

  it('keeps the newest three builder images, deleting older AMIs with their snapshots', () => {
    expect(props(image.lifecyclePolicy)).toEqual({
      Name: 'Farm-builder-images',
      Description: expect.any(String),
      ExecutionRole: arn(image.lifecycleRole),
      ResourceType: 'AMI_IMAGE',
      ResourceSelection: { TagMap: { 'stemcell-farm-builder-image': 'Farm' } },
      PolicyDetails: [{ Action: { Type: 'DELETE', IncludeResources: { Amis: true, Snapshots: true } }, Filter: { Type: 'COUNT', Value: 3 } }],
      Status: 'ENABLED',
    });
  });

  it('takes the schedule, the number kept, the parameter name and the instance types it is given', () => {
    const custom = farmWithBuilderImage({ schedule: 'cron(30 2 ? * sun *)', keep: 5, parameterName: '/farm/builder-ami', instanceTypes: [new ec2.InstanceType('c7i.large')] });
    const t = Template.fromStack(custom.stack);
    t.hasResourceProperties('AWS::ImageBuilder::ImagePipeline', { Schedule: { ScheduleExpression: 'cron(30 2 ? * sun *)' } });
    t.hasResourceProperties('AWS::ImageBuilder::LifecyclePolicy', { PolicyDetails: [{ Filter: { Type: 'COUNT', Value: 5 } }] });
    t.hasResourceProperties('AWS::ImageBuilder::DistributionConfiguration', { Distributions: [{ SsmParameterConfigurations: [{ ParameterName: '/farm/builder-ami' }] }] });
    t.hasResourceProperties('AWS::ImageBuilder::InfrastructureConfiguration', { InstanceTypes: ['c7i.large'] });
  });

  it('refuses a log bucket from outside the app (its grant is acknowledged for cdk-nag by logical id)', () => {
    expect(() => farmWithBuilderImage((stack) => ({ logBucket: s3.Bucket.fromBucketName(stack, 'Imported', 'some-logs') }))).toThrow('logBucket must be a bucket of this app');
  });

  it.each([
    [{ keep: 0 }, 'keep must be a whole number from 1 to 1000, got 0'],
    [{ keep: 2.5 }, 'keep must be a whole number from 1 to 1000, got 2.5'],
    [{ parameterName: 'builder-image' }, "parameterName 'builder-image' is not a parameter name"],
    [{ parameterName: '/aws/builder-image' }, "parameterName '/aws/builder-image' is not a parameter name"],
    [{ parameterName: '/farm/builder image' }, "parameterName '/farm/builder image' is not a parameter name"],
    [{ subnets: { subnets: [] } }, 'the subnet selection is empty'],
  ])('refuses %j', (bad, message) => {
    expect(() => farmWithBuilderImage(bad as Partial<BuilderImageProps>)).toThrow(message);
  });
});

describe('the instance role', () => {
  const roleId = id(image.instanceRole);

  it('is for EC2 only, with no managed policies', () => {
    expect(resources[roleId].Properties.AssumeRolePolicyDocument).toEqual({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'ec2.amazonaws.com' } }] });
    expect(resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("has the SSM agent's actions, its component, AWSTOE's buckets, the code asset object, its logs: nothing else", () => {
    expect(statementsOf(roleId)).toEqual([
      { Effect: 'Allow', Action: [...SSM_AGENT_ACTIONS], Resource: '*' },
      { Effect: 'Allow', Action: 'imagebuilder:GetComponent', Resource: arn(image.component) },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: joined('arn:', partition, ':s3:::ec2imagebuilder*') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: joined('arn:', partition, ':s3:::', { 'Fn::Sub': 'cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}' }, `/${codeHash}.zip`) },
      { Effect: 'Allow', Action: 's3:PutObject', Resource: joined(arn(farm.buckets.accessLogsBucket), '/image-builder/*') },
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arn(image.imageLogGroup) },
    ]);
  });

  it('shares the SSM agent actions with the farm builder’s role', () => {
    const builderStatements = statementsOf(id(builder.role));
    expect(builderStatements).toContainEqual({ Effect: 'Allow', Action: [...SSM_AGENT_ACTIONS], Resource: '*' });
  });
});

describe('the lifecycle role', () => {
  const roleId = id(image.lifecycleRole);
  const images = joined('arn:', partition, ':ec2:', region, '::image/*');
  const snapshots = joined('arn:', partition, ':ec2:', region, '::snapshot/*');
  const madeByImageBuilder = { 'aws:ResourceTag/CreatedBy': 'EC2 Image Builder' };

  it('is for Image Builder only, with no managed policies', () => {
    expect(resources[roleId].Properties.AssumeRolePolicyDocument).toEqual({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'imagebuilder.amazonaws.com' } }] });
    expect(resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("deletes only Image Builder's AMIs tagged as this farm's builder images, and Image Builder's snapshots", () => {
    expect(statementsOf(roleId)).toEqual([
      { Effect: 'Allow', Action: ['ec2:DeregisterImage', 'ec2:DescribeImageAttribute'], Resource: images, Condition: { StringEquals: { ...madeByImageBuilder, 'aws:ResourceTag/stemcell-farm-builder-image': 'Farm' } } },
      { Effect: 'Allow', Action: 'ec2:DeleteSnapshot', Resource: snapshots, Condition: { StringEquals: madeByImageBuilder } },
      { Effect: 'Allow', Action: 'imagebuilder:DeleteImage', Resource: joined('arn:', partition, ':imagebuilder:', region, ':', { Ref: 'AWS::AccountId' }, ':image/*') },
      { Effect: 'Allow', Action: ['ec2:DescribeImages', 'tag:GetResources'], Resource: '*' },
    ]);
  });
});

describe('versions', () => {
  /** A small stack around a small code asset whose content the test chooses. */
  function versionsWith(code: string): { component: string; recipe: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'builder-code-'));
    try {
      fs.writeFileSync(path.join(dir, 'code.txt'), code);
      const app = new App();
      const stack = new Stack(app, 'Versions');
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }] });
      const built = new BuilderImage(stack, 'BuilderImage', {
        vpc,
        securityGroup: new ec2.SecurityGroup(stack, 'Group', { vpc }),
        code: new s3assets.Asset(stack, 'Code', { path: dir }),
        logBucket: new s3.Bucket(stack, 'Logs'),
      });
      return { component: built.component.version, recipe: built.recipe.version };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The versions with the component document as `edit` makes it, read where the construct reads it. */
  function versionsWithComponent(edit: (text: string) => string): { component: string; recipe: string } {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const realFs = require('node:fs') as typeof fs;
    const read = realFs.readFileSync;
    const spy = jest.spyOn(realFs, 'readFileSync').mockImplementation(((file: fs.PathOrFileDescriptor, options?: unknown) =>
      file === BUILDER_HOST_COMPONENT ? edit(read(file, 'utf8')) : read(file, options as BufferEncoding)) as typeof fs.readFileSync);
    try {
      return versionsWith('code 1');
    } finally {
      spy.mockRestore();
    }
  }

  it('are Image Builder semantic versions (three nodes, each below 2^30)', () => {
    for (const v of [contentVersion(componentText), image.recipe.version]) {
      expect(v).toMatch(/^\d+\.\d+\.\d+$/);
      for (const node of v.split('.')) expect(Number(node)).toBeLessThan(2 ** 30);
    }
    expect(contentVersion(`${componentText} `)).not.toBe(contentVersion(componentText));
  });

  it('stay the same when nothing changed', () => {
    expect(versionsWith('code 1')).toEqual(versionsWith('code 1'));
    expect(farmWithBuilderImage().image.recipe.version).toBe(image.recipe.version);
  });

  it('change for the recipe (only) when the code asset changes', () => {
    const before = versionsWith('code 1');
    const after = versionsWith('code 2');
    expect(after.component).toBe(before.component);
    expect(after.recipe).not.toBe(before.recipe);
  });

  it('change for the component and the recipe when the component document changes', () => {
    const before = versionsWith('code 1');
    const edited = versionsWithComponent((text) => text.replace('--check', '--check # edited'));
    expect(edited.component).not.toBe(before.component);
    expect(edited.recipe).not.toBe(before.recipe);
    expect(versionsWithComponent((text) => text)).toEqual(before);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('has no unacknowledged findings', () => {
    const built = farmWithBuilderImage();
    const violations = new AwsSolutionsChecks(built.app).validateScope(built.app).violations;
    expect(violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`))).toEqual([]);
    expect(() => built.app.synth()).not.toThrow();
  });
});

describe('the integ-runner test of the builder image (test/integ)', () => {
  it('synthesizes the farm without schedules and its pipeline run without AWS, so only the deploy is left to a real account', () => {
    const root = path.join(__dirname, '..', '..');
    const out = fs.mkdtempSync(path.join(root, '.bundle-test-integ-'));
    try {
      const r = spawnSync('npx', ['tsx', path.join('test', 'integ', 'integ.builder-image.ts')], { cwd: root, env: { ...process.env, CDK_OUTDIR: out }, encoding: 'utf8' });
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      const integ = JSON.parse(fs.readFileSync(path.join(out, 'integ.json'), 'utf8'));
      expect(Object.keys(integ.testCases)).toEqual(['BuilderImage/DefaultTest']);
      const read = (prefix: string) => JSON.parse(fs.readFileSync(path.join(out, fs.readdirSync(out).find((f) => f.startsWith(prefix) && f.endsWith('.template.json'))!), 'utf8')) as { Resources: Record<string, { Type: string }> };
      const calls = Object.values(read('BuilderImageDefaultTestDeployAssert').Resources).map((res) => res.Type);
      expect(calls).toEqual(expect.arrayContaining(['Custom::DeployAssert@SdkCallImagebuildergetImage', 'Custom::DeployAssert@SdkCallSSMgetParameter', 'Custom::DeployAssert@SdkCallEC2deregisterImage']));
      const farm = Object.values(read('StemcellFarmBuilderImageInteg').Resources).map((res) => res.Type);
      expect(farm).toContain('AWS::ImageBuilder::ImagePipeline');
      // The run under test is the one the deploy starts.
      expect(farm).toContain('Custom::AWS');
      expect(farm.filter((type) => type === 'AWS::Scheduler::Schedule')).toHaveLength(2);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

