import { RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STAGE_SCRIPTS } from '../builder/host';
import { acknowledgeBucketObjects } from './acknowledge';
import { UBUNTU_BUILDER_IMAGE_PARAMETER } from './build-runbook';
import { BUILDER_ROOT_DEVICE, SSM_AGENT_ACTIONS, builderCodeDir } from './farm-builder';

/** The Image Builder component document that installs and checks a builder's host (Node.js, host packages). */
export const BUILDER_HOST_COMPONENT = path.join(STAGE_SCRIPTS, 'builder', 'image-components', 'builder-host.yml');

/**
 * Tag of builder images (value: the stack name): on the AMIs, and on Image
 * Builder's image resources, which the lifecycle policy selects by it. Not the
 * farm's `managed-by` tag: the farm's AMI cleanup deregisters what carries that.
 */
export const BUILDER_IMAGE_TAG = 'stemcell-farm-builder-image';

/** Where in the log bucket the build instances write their logs (below `<prefix>/`). */
export const BUILDER_IMAGE_LOG_PREFIX = 'image-builder';

/** Root volume of the image. Farm builds launch it with a larger one (Prepare's volumeSizeGiB), which must not be smaller. */
const ROOT_VOLUME_GIB = 16;

export interface BuilderImageProps {
  readonly vpc: ec2.IVpc;
  /**
   * Where the build and test instances run (Image Builder takes one subnet: the first selected).
   * @default - the VPC's default selection
   */
  readonly subnets?: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  /** The farm's code asset (FarmBuilder's): the bundled `stemcell` CLI and the stage scripts. */
  readonly code: s3assets.Asset;
  /**
   * A bucket of this app for the instances' logs, written below `image-builder/`.
   * The farm passes its access-logs bucket, which expires what it holds.
   */
  readonly logBucket: s3.IBucket;
  /**
   * The SSM parameter (data type `aws:ec2:image`) each new image's AMI id is written to.
   * @default `/<stack name>/builder-image`
   */
  readonly parameterName?: string;
  /**
   * When Image Builder looks for a newer parent image or component and, only
   * if there is one, builds (an Image Builder cron expression, UTC).
   * @default 'cron(0 4 ? * mon *)' (Mondays, 04:00 UTC)
   */
  readonly schedule?: string;
  /**
   * How many builder images (AMIs and snapshots) to keep; older ones are deleted.
   * @default 3
   */
  readonly keep?: number;
  /**
   * Instance types to build and test on, the first available one is used (x86_64: the parent is amd64).
   * @default m7i.large, m6i.large, m5.large
   */
  readonly instanceTypes?: ec2.InstanceType[];
  /**
   * A topic Image Builder announces each image's build status on.
   * @default - none
   */
  readonly notificationTopic?: sns.ITopic;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Start the pipeline when a deploy creates or changes the recipe (the first
   * deploy, and every change of the component or the code): the weekly
   * schedule sees a new parent image, but not a recipe it has not built yet.
   * @default true
   */
  readonly bakeOnChange?: boolean;
}

/**
 * An Image Builder semantic version of `content`: components and recipes are
 * immutable per version, so a change must come with a new version, and an
 * unchanged synth must keep the old one. Two 28-bit slices of its SHA-256
 * (each node may be at most 2^30 - 1).
 */
export function contentVersion(content: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(content)).digest('hex');
  return `1.${parseInt(digest.slice(0, 7), 16)}.${parseInt(digest.slice(7, 14), 16)}`;
}

/**
 * The farm's builder image, kept current by EC2 Image Builder: Canonical's
 * Ubuntu 24.04 with Node.js and the host packages of a farm build baked in
 * (install-host.sh, from the farm's code asset), checked by `stemcell doctor`
 * before the snapshot and on an instance of the new image. A weekly schedule
 * builds only when Canonical's image changed, and a deploy that brings a new
 * recipe (the component or the code changed) starts a run; each image's
 * AMI id goes into an SSM parameter the runbook reads, and a lifecycle policy
 * keeps the last few images.
 *
 * Until the first image exists, the parameter does not: builds start from
 * Canonical's image and install-host.sh installs at boot what the image would
 * have had.
 */
export class BuilderImage extends Construct {
  /** The SSM parameter holding the newest builder AMI id (created by the first image's distribution). */
  readonly parameterName: string;
  readonly pipeline: imagebuilder.CfnImagePipeline;
  readonly component: imagebuilder.CfnComponent;
  readonly recipe: imagebuilder.CfnImageRecipe;
  readonly infrastructure: imagebuilder.CfnInfrastructureConfiguration;
  readonly distribution: imagebuilder.CfnDistributionConfiguration;
  readonly lifecyclePolicy: imagebuilder.CfnLifecyclePolicy;
  /** The build and test instances' role. */
  readonly instanceRole: iam.Role;
  /** The role the lifecycle policy deletes old images with. */
  readonly lifecycleRole: iam.Role;
  /** Image Builder's log of each image build, as the instances stream it. */
  readonly imageLogGroup: logs.LogGroup;
  /** Image Builder's log of the pipeline: each scheduled run, and why it built or skipped. */
  readonly pipelineLogGroup: logs.LogGroup;
  /** Starts the pipeline when a deploy changes the recipe (with bakeOnChange). */
  readonly bake?: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: BuilderImageProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (!(props.logBucket.node.defaultChild instanceof s3.CfnBucket)) throw new Error('BuilderImage: logBucket must be a bucket of this app (its grant is acknowledged by its logical id)');
    const keep = props.keep ?? 3;
    if (!Number.isInteger(keep) || keep < 1 || keep > 1000) throw new Error(`BuilderImage: keep must be a whole number from 1 to 1000, got ${keep}`);
    this.parameterName = props.parameterName ?? `/${stack.stackName}/builder-image`;
    checkParameterName(this.parameterName);
    const subnetIds = props.vpc.selectSubnets(props.subnets).subnetIds;
    if (subnetIds.length === 0) throw new Error('BuilderImage: the subnet selection is empty; the build instances need a subnet');
    const name = `${stack.stackName}-builder`;
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    // Named as Image Builder names its own (no execution role needed to write there); a
    // stack that is deleted and deployed again must be able to create them again.
    this.imageLogGroup = new logs.LogGroup(this, 'ImageLogs', { logGroupName: `/aws/imagebuilder/${name}`, retention, removalPolicy: RemovalPolicy.DESTROY });
    this.pipelineLogGroup = new logs.LogGroup(this, 'PipelineLogs', { logGroupName: `/aws/imagebuilder/pipeline/${name}`, retention, removalPolicy: RemovalPolicy.DESTROY });

    const data = fs.readFileSync(BUILDER_HOST_COMPONENT, 'utf8');
    this.component = new imagebuilder.CfnComponent(this, 'HostComponent', {
      name: `${name}-host`,
      platform: 'Linux',
      version: contentVersion(data),
      description: 'Stemcell Farm builder host: Node.js and the host packages of a farm build, from the code asset',
      data,
    });
    this.recipe = this.makeRecipe(name, props.code);
    this.instanceRole = this.makeInstanceRole(props);
    this.infrastructure = this.makeInfrastructure(name, subnetIds[0], props);
    const imageTags = { [BUILDER_IMAGE_TAG]: stack.stackName };
    this.distribution = this.makeDistribution(name, imageTags);
    this.pipeline = new imagebuilder.CfnImagePipeline(this, 'Pipeline', {
      name,
      description: 'Stemcell Farm builder image: rebuilt weekly when Canonical publishes a new Ubuntu 24.04 image, and at a deploy that changes the component or the code',
      imageRecipeArn: this.recipe.attrArn,
      infrastructureConfigurationArn: this.infrastructure.attrArn,
      distributionConfigurationArn: this.distribution.attrArn,
      schedule: { scheduleExpression: props.schedule ?? 'cron(0 4 ? * mon *)', pipelineExecutionStartCondition: 'EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE' },
      imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 60 },
      // The software inventory it would collect needs State Manager associations, and so more of the instance role.
      enhancedImageMetadataEnabled: false,
      imageTags,
      loggingConfiguration: { imageLogGroupName: this.imageLogGroup.logGroupName, pipelineLogGroupName: this.pipelineLogGroup.logGroupName },
      status: 'ENABLED',
    });
    this.lifecycleRole = this.makeLifecycleRole();
    this.lifecyclePolicy = new imagebuilder.CfnLifecyclePolicy(this, 'Lifecycle', {
      name: `${name}-images`,
      description: `Stemcell Farm builder images: keep the newest ${keep}, delete older ones with their snapshots`,
      executionRole: this.lifecycleRole.roleArn,
      resourceType: 'AMI_IMAGE',
      resourceSelection: { tagMap: imageTags },
      policyDetails: [{ action: { type: 'DELETE', includeResources: { amis: true, snapshots: true } }, filter: { type: 'COUNT', value: keep } }],
      status: 'ENABLED',
    });
    if (props.bakeOnChange ?? true) this.bake = this.bakeOnChange();
  }

  /**
   * A pipeline run for each recipe a deploy brings: the recipe's ARN (its
   * version) is the resource's id, so an unchanged deploy starts nothing, and
   * the client token makes a retried call start one run, not two.
   */
  private bakeOnChange(): cr.AwsCustomResource {
    const start: cr.AwsSdkCall = {
      service: 'Imagebuilder',
      action: 'startImagePipelineExecution',
      parameters: { imagePipelineArn: this.pipeline.attrArn, clientToken: this.recipe.version.replace(/\./g, '-').slice(0, 36) },
      physicalResourceId: cr.PhysicalResourceId.of(this.recipe.attrArn),
    };
    const bake = new cr.AwsCustomResource(this, 'BakeOnChange', {
      onCreate: start,
      onUpdate: start,
      installLatestAwsSdk: false,
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['imagebuilder:StartImagePipelineExecution'], resources: [this.pipeline.attrArn] })]),
      logGroup: new logs.LogGroup(this, 'BakeOnChangeLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY }),
    });
    // The recipe must be the pipeline's before the run starts.
    bake.node.addDependency(this.pipeline);
    // CDK's one function behind every AwsCustomResource of the stack.
    const provider = Stack.of(this).node.tryFindChild(`AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`);
    if (provider) {
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "CDK's AwsCustomResource provider writes its logs with Lambda's basic execution policy; what it may call is only the statement above (StartImagePipelineExecution on this pipeline).",
      });
    }
    return bake;
  }

  /** The ARN of the builder image parameter, for a grant of ssm:GetParameter. */
  get parameterArn(): string {
    const { partition, region, account } = Stack.of(this);
    return `arn:${partition}:ssm:${region}:${account}:parameter${this.parameterName}`;
  }

  /**
   * Canonical's image by its public parameter, the component with the code
   * asset's location, an encrypted gp3 root. Its version covers all of that and
   * the component's version, which its ARN reference alone would not show.
   */
  private makeRecipe(name: string, code: s3assets.Asset): imagebuilder.CfnImageRecipe {
    const recipe: Omit<imagebuilder.CfnImageRecipeProps, 'version'> = {
      name,
      description: "Stemcell Farm builder: Canonical's Ubuntu 24.04, Node.js and the host packages of a farm build",
      parentImage: `ssm:${UBUNTU_BUILDER_IMAGE_PARAMETER}`,
      components: [
        {
          componentArn: this.component.attrArn,
          parameters: [
            { name: 'CodeUri', value: [code.s3ObjectUrl] },
            { name: 'CodeDir', value: [builderCodeDir(code)] },
          ],
        },
      ],
      blockDeviceMappings: [{ deviceName: BUILDER_ROOT_DEVICE, ebs: { volumeType: 'gp3', volumeSize: ROOT_VOLUME_GIB, encrypted: true, deleteOnTermination: true } }],
      // Farm builds are driven through Run Command: the agent stays.
      additionalInstanceConfiguration: { systemsManagerAgent: { uninstallAfterBuild: false } },
    };
    const version = contentVersion({ recipe: Stack.of(this).resolve(recipe), component: this.component.version, code: code.assetHash });
    return new imagebuilder.CfnImageRecipe(this, 'Recipe', { ...recipe, version });
  }

  /** Build and test instances: the farm's subnet and security group, IMDSv2 only, logs in the farm's log bucket. */
  private makeInfrastructure(name: string, subnetId: string, props: BuilderImageProps): imagebuilder.CfnInfrastructureConfiguration {
    const instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });
    const instanceTypes = props.instanceTypes ?? ['m7i.large', 'm6i.large', 'm5.large'].map((t) => new ec2.InstanceType(t));
    return new imagebuilder.CfnInfrastructureConfiguration(this, 'Infrastructure', {
      name,
      description: "Stemcell Farm builder image: build and test instances in the farm's network",
      instanceProfileName: instanceProfile.instanceProfileName,
      instanceTypes: instanceTypes.map((t) => t.toString()),
      subnetId,
      securityGroupIds: [props.securityGroup.securityGroupId],
      // A failed build's instance would otherwise be left running for debugging.
      terminateInstanceOnFailure: true,
      instanceMetadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1 },
      logging: { s3Logs: { s3BucketName: props.logBucket.bucketName, s3KeyPrefix: BUILDER_IMAGE_LOG_PREFIX } },
      snsTopicArn: props.notificationTopic?.topicArn,
    });
  }

  /** An AMI in the stack's region, tagged as a builder image, its id written to the parameter. */
  private makeDistribution(name: string, imageTags: Record<string, string>): imagebuilder.CfnDistributionConfiguration {
    return new imagebuilder.CfnDistributionConfiguration(this, 'Distribution', {
      name,
      description: 'Stemcell Farm builder image: an AMI in this region, its id in the builder image parameter',
      distributions: [
        {
          region: Stack.of(this).region,
          // Untyped in CDK: CloudFormation's own (PascalCase) keys.
          amiDistributionConfiguration: {
            Name: `${name}-{{ imagebuilder:buildDate }}`,
            Description: "Stemcell Farm builder: Canonical's Ubuntu 24.04 with Node.js and the host packages of a farm build",
            AmiTags: imageTags,
          },
          ssmParameterConfigurations: [{ parameterName: this.parameterName, dataType: 'aws:ec2:image' }],
        },
      ],
    });
  }

  /** What the build and test instances do: Systems Manager's agent, the component, the code asset, their logs. */
  private makeInstanceRole(props: BuilderImageProps): iam.Role {
    const { partition } = Stack.of(this);
    const role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Stemcell Farm builder image: Image Builder build and test instances',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...SSM_AGENT_ACTIONS], resources: ['*'] }));
    // AWSTOE fetches the component document it runs.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['imagebuilder:GetComponent'], resources: [this.component.attrArn] }));
    // AWSTOE itself comes from Image Builder's own buckets (as EC2InstanceProfileForImageBuilder grants).
    const imageBuilderBuckets = `arn:${partition}:s3:::ec2imagebuilder*`;
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [imageBuilderBuckets] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.code.bucket.arnForObjects(props.code.s3ObjectKey)] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [props.logBucket.arnForObjects(`${BUILDER_IMAGE_LOG_PREFIX}/*`)] }));
    this.imageLogGroup.grantWrite(role);

    Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: "The Systems Manager agent's actions have no resource-level permissions." });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::ec2imagebuilder*]`,
      reason: "Reads of Image Builder's own buckets (owned by AWS), where AWSTOE comes from, as AWS's EC2InstanceProfileForImageBuilder grants them.",
    });
    acknowledgeBucketObjects(role, props.logBucket, `${BUILDER_IMAGE_LOG_PREFIX}/*`, 'Image Builder names each log object after the image build; writes only below the prefix of builder image logs.');
    return role;
  }

  /**
   * What deleting an old image takes: AWS's EC2ImageBuilderLifecycleExecutionPolicy
   * cut down to deletion, of this farm's builder images and Image Builder's snapshots.
   */
  private makeLifecycleRole(): iam.Role {
    const { partition, region, account, stackName } = Stack.of(this);
    const role = new iam.Role(this, 'LifecycleRole', {
      assumedBy: new iam.ServicePrincipal('imagebuilder.amazonaws.com'),
      description: 'Stemcell Farm builder image: the lifecycle policy deletes old builder images',
    });
    const madeByImageBuilder = { 'aws:ResourceTag/CreatedBy': 'EC2 Image Builder' };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DeregisterImage', 'ec2:DescribeImageAttribute'],
        resources: [`arn:${partition}:ec2:${region}::image/*`],
        conditions: { StringEquals: { ...madeByImageBuilder, [`aws:ResourceTag/${BUILDER_IMAGE_TAG}`]: stackName } },
      }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DeleteSnapshot'], resources: [`arn:${partition}:ec2:${region}::snapshot/*`], conditions: { StringEquals: madeByImageBuilder } }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['imagebuilder:DeleteImage'], resources: [`arn:${partition}:imagebuilder:${region}:${account}:image/*`] }));
    // Finding the images: no resource-level permissions.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeImages', 'tag:GetResources'], resources: ['*'] }));

    const acknowledge = (resource: string, reason: string): void => Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
    acknowledge('*', 'ec2:DescribeImages and tag:GetResources have no resource-level permissions.');
    acknowledge('arn:<AWS::Partition>:ec2:<AWS::Region>::image/*', "AMI ids are made per build; deregistering is limited by condition to Image Builder's AMIs tagged as this farm's builder images.");
    acknowledge('arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*', 'Snapshot ids are made per build; deleting is limited by condition to snapshots Image Builder made.');
    acknowledge('arn:<AWS::Partition>:imagebuilder:<AWS::Region>:<AWS::AccountId>:image/*', 'Image Builder image versions are made per build; the policy selects only images tagged as this farm’s builder images.');
    return role;
  }
}

/** Parameter Store's rules for a name Image Builder can create (a hierarchy, so a leading slash). */
function checkParameterName(name: string): void {
  if (Token.isUnresolved(name)) return;
  if (!/^\/[a-zA-Z0-9_.\-/]{1,1010}$/.test(name) || /^\/(aws|ssm)/i.test(name)) {
    throw new Error(`BuilderImage: parameterName '${name}' is not a parameter name Image Builder can write: /a/path of letters, digits and _.-/, not beginning with aws or ssm`);
  }
}
