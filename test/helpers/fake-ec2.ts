/**
 * A small EC2 of several regions behind aws-sdk-client-mock: images,
 * snapshots, copies that take time to complete, opt-in regions, block public
 * access, and faults injected per command and region. Responses carry the
 * fields real ones do; errors are EC2ServiceExceptions with real codes. Time is
 * a fake clock's, so waiting costs nothing.
 */
import {
  CopyImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeImagesCommandInput,
  DescribeRegionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  EC2ServiceException,
  GetImageBlockPublicAccessStateCommand,
  Image,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  DescribeInstancesCommand,
  Instance,
  RegisterImageCommand,
  RunInstancesCommand,
  RunInstancesCommandInput,
  Snapshot,
  Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { ec2ClientFactory } from '../../lib/aws/clients';
import { Clock } from '../../lib/aws/runtime';

export const ACCOUNT = '111122223333';

export class FakeClock implements Clock {
  sleeps: number[] = [];
  constructor(public time = Date.parse('2026-11-22T05:00:00Z')) {}
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.time += ms;
  }
  random(): number {
    return 0.5;
  }
}

export function awsError(code: string, message: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({ name: code, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, requestId: 'req-1' }, message });
}

export const COMMERCIAL_REGIONS: Record<string, string> = {
  'us-east-1': 'opt-in-not-required',
  'us-east-2': 'opt-in-not-required',
  'us-west-1': 'opt-in-not-required',
  'us-west-2': 'opt-in-not-required',
  'eu-west-1': 'opt-in-not-required',
  'eu-central-1': 'opt-in-not-required',
  'ap-southeast-1': 'opt-in-not-required',
  'ap-northeast-1': 'opt-in-not-required',
  'af-south-1': 'opted-in',
  'ap-east-1': 'not-opted-in',
  'me-central-1': 'not-opted-in',
};

/** An instance as the fake keeps it: what RunInstances was asked, and when it changed state. */
export interface FakeInstance {
  readonly instanceId: string;
  readonly region: string;
  readonly launchedAt: number;
  readonly request: RunInstancesCommandInput;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated';
  terminatedAt?: number;
}

interface RegionData {
  images: Map<string, Image & { readyAt?: number; failAt?: number }>;
  snapshots: Map<string, Snapshot>;
  blockPublicAccess: 'unblocked' | 'block-new-sharing';
  copyTokens: Map<string, string>;
  launchPermissions: Map<string, unknown[]>;
  snapshotPermissions: Map<string, string[]>;
}

type Fault = { command: string; region?: string; error: Error; times: number };

let counter = 0;
const hex = (n: number): string => (++counter).toString(16).padStart(n, '0');

export class FakeEc2 {
  readonly mock = mockClient(EC2Client);
  readonly regions = new Map<string, RegionData>();
  private faults: Fault[] = [];
  /** How long a copy takes, per destination region (ms). */
  copyDuration: (region: string) => number = () => 120_000;
  /** Regions whose copies end in state failed. */
  failingCopies = new Set<string>();
  /** Calls made, as "Command region". */
  readonly log: string[] = [];
  /** The most copies pending at once, across regions. */
  maxCopiesInFlight = 0;
  /** "Command region": do the next such call, then lose its response (a timeout). */
  readonly loseResponse = new Set<string>();
  /** "Command region" -> something that happens just before the next such call (another caller's doing). */
  readonly before = new Map<string, () => void>();

  /** Instances launched, by id; and RunInstances client tokens, to the instance they made. */
  readonly instances = new Map<string, FakeInstance>();
  private readonly runTokens = new Map<string, string>();
  /** How long an instance takes from pending to running (ms). */
  bootDuration = 30_000;

  /** Errors thrown at random, say throttling: return one to fail this call. */
  chaos?: (command: string, region: string) => Error | undefined;

  constructor(readonly clock: Clock, optIn: Record<string, string> = COMMERCIAL_REGIONS) {
    for (const r of Object.keys(optIn)) {
      this.regions.set(r, { images: new Map(), snapshots: new Map(), blockPublicAccess: 'unblocked', copyTokens: new Map(), launchPermissions: new Map(), snapshotPermissions: new Map() });
    }
    this.optIn = optIn;
    this.wire();
  }

  private readonly optIn: Record<string, string>;

  region(name: string): RegionData {
    const data = this.regions.get(name);
    if (!data) throw new Error(`fake EC2 has no region ${name}`);
    return data;
  }

  /** Fail the next `times` calls of `command` (in `region`, or anywhere) with `error`. */
  fail(command: string, error: Error, times = 1, region?: string): void {
    this.faults.push({ command, error, times, region });
  }

  addSnapshot(region: string, state: Snapshot['State'] = 'completed'): string {
    const id = `snap-${hex(17)}`;
    this.region(region).snapshots.set(id, { SnapshotId: id, State: state, VolumeSize: 5, OwnerId: ACCOUNT, Encrypted: false, Progress: state === 'completed' ? '100%' : '40%', StartTime: new Date(this.clock.now()), Tags: [] });
    return id;
  }

  image(region: string, imageId: string): Image {
    const image = this.region(region).images.get(imageId);
    if (!image) throw new Error(`no image ${imageId} in ${region}`);
    return this.refresh(image);
  }

  images(region: string): Image[] {
    return [...this.region(region).images.values()].map((i) => this.refresh(i));
  }

  tagsOf(region: string, id: string): Record<string, string> {
    const data = this.region(region);
    const tags = id.startsWith('ami-') ? data.images.get(id)?.Tags : data.snapshots.get(id)?.Tags;
    return Object.fromEntries((tags ?? []).map((t) => [t.Key!, t.Value!]));
  }

  launchPermissions(region: string, imageId: string): unknown[] {
    return this.region(region).launchPermissions.get(imageId) ?? [];
  }

  snapshotPermissions(region: string, snapshotId: string): string[] {
    return this.region(region).snapshotPermissions.get(snapshotId) ?? [];
  }

  /** Put an image straight into a region (an earlier run's, say). */
  putImage(region: string, image: Partial<Image> & { Name: string }, snapshotState: Snapshot['State'] = 'completed'): Image {
    const snapshotId = this.addSnapshot(region, snapshotState);
    const full = this.newImage(region, image.Name, snapshotId, image.Tags ?? [], image);
    full.State = image.State ?? 'available';
    return full;
  }

  private refresh(image: Image & { readyAt?: number; failAt?: number }): Image {
    if (image.State === 'pending' && image.failAt !== undefined && this.clock.now() >= image.failAt) {
      image.State = 'failed';
      image.StateReason = { Code: 'Server.InternalError', Message: 'Copy of snapshot failed: internal error' };
    } else if (image.State === 'pending' && image.readyAt !== undefined && this.clock.now() >= image.readyAt) {
      image.State = 'available';
    }
    const { readyAt: _r, failAt: _f, ...plain } = image;
    return structuredClone(plain);
  }

  private newImage(region: string, name: string, snapshotId: string, tags: Tag[], extra: Partial<Image> = {}): Image & { readyAt?: number; failAt?: number } {
    const id = `ami-${hex(17)}`;
    const image: Image = {
      ImageId: id,
      ImageLocation: `${ACCOUNT}/${name}`,
      State: 'pending',
      OwnerId: ACCOUNT,
      CreationDate: new Date(this.clock.now()).toISOString(),
      Public: false,
      Architecture: 'x86_64',
      ImageType: 'machine',
      Name: name,
      Description: extra.Description,
      RootDeviceType: 'ebs',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, SnapshotId: snapshotId, VolumeSize: 5, VolumeType: 'gp2', Encrypted: false } }],
      VirtualizationType: 'hvm',
      Hypervisor: 'xen',
      EnaSupport: true,
      SriovNetSupport: 'simple',
      BootMode: extra.BootMode ?? 'legacy-bios',
      Tags: structuredClone(tags),
      ...extra,
    };
    image.ImageId = id;
    this.region(region).images.set(id, image);
    return image;
  }

  private takeFault(command: string, region: string): void {
    const random = this.chaos?.(command, region);
    if (random) throw random;
    const fault = this.faults.find((f) => f.command === command && (!f.region || f.region === region) && f.times > 0);
    if (fault) {
      fault.times--;
      throw fault.error;
    }
  }

  private filterImages(region: string, input: DescribeImagesCommandInput): Image[] {
    const data = this.region(region);
    if (input.ImageIds) {
      const found = input.ImageIds.map((id) => data.images.get(id));
      if (found.some((i) => !i)) throw awsError('InvalidAMIID.NotFound', `The image id '[${input.ImageIds.join(', ')}]' does not exist`);
      return found.map((i) => this.refresh(i!));
    }
    return this.images(region).filter((image) =>
      (input.Filters ?? []).every((f) => {
        if (f.Name === 'name') return f.Values!.includes(image.Name!);
        if (f.Name!.startsWith('tag:')) return (image.Tags ?? []).some((t) => t.Key === f.Name!.slice(4) && f.Values!.includes(t.Value!));
        throw new Error(`fake EC2 does not filter on ${f.Name}`);
      }),
    );
  }

  private wire(): void {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const on = <C extends new (...args: any[]) => unknown>(command: C, handle: (region: string, input: NonNullable<ConstructorParameters<C>[0]>) => object): void => {
      const name = command.name.replace(/Command$/, '');
      this.mock.on(command as never).callsFake(async (input: NonNullable<ConstructorParameters<C>[0]>, getClient: () => EC2Client) => {
        const region = await getClient().config.region();
        const call = `${name} ${region}`;
        this.log.push(call);
        this.takeFault(name, region);
        const meanwhile = this.before.get(call);
        this.before.delete(call);
        meanwhile?.();
        const output = { $metadata: { httpStatusCode: 200, requestId: 'req-1' }, ...handle(region, input) };
        if (this.loseResponse.delete(call)) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
        return output;
      });
    };

    on(DescribeRegionsCommand, (region, input) => {
      if (region !== 'us-east-1' && !this.regions.has(region)) throw awsError('AuthFailure', 'region not enabled');
      const all = Object.entries(this.optIn).filter(([, s]) => input.AllRegions || s !== 'not-opted-in');
      return { Regions: all.map(([RegionName, OptInStatus]) => ({ RegionName, OptInStatus, Endpoint: `ec2.${RegionName}.amazonaws.com` })) };
    });

    on(DescribeSnapshotsCommand, (region, input) => {
      if (!input.SnapshotIds) {
        const matching = [...this.region(region).snapshots.values()].filter((snapshot) =>
          (input.Filters ?? []).every((f) => {
            if (f.Name === 'status') return f.Values!.includes(snapshot.State!);
            if (f.Name!.startsWith('tag:')) return (snapshot.Tags ?? []).some((t) => t.Key === f.Name!.slice(4) && f.Values!.includes(t.Value!));
            throw new Error(`fake EC2 does not filter snapshots on ${f.Name}`);
          }),
        );
        return { Snapshots: structuredClone(matching) };
      }
      const found = input.SnapshotIds.map((id) => this.region(region).snapshots.get(id));
      if (found.some((s) => !s)) throw awsError('InvalidSnapshot.NotFound', `The snapshot '${input.SnapshotIds.join(', ')}' does not exist.`);
      return { Snapshots: structuredClone(found) };
    });

    on(DescribeImagesCommand, (region, input) => ({ Images: this.filterImages(region, input) }));

    on(RegisterImageCommand, (region, input) => {
      if (this.images(region).some((i) => i.Name === input.Name && i.State !== 'deregistered')) {
        throw awsError('InvalidAMIName.Duplicate', `AMI name ${input.Name} is already in use by AMI ami-...`);
      }
      const snapshotId = input.BlockDeviceMappings![0].Ebs!.SnapshotId!;
      if (!this.region(region).snapshots.has(snapshotId)) throw awsError('InvalidSnapshot.NotFound', `The snapshot '${snapshotId}' does not exist.`);
      const tags = input.TagSpecifications?.find((t) => t.ResourceType === 'image')?.Tags ?? [];
      const image = this.newImage(region, input.Name!, snapshotId, tags, { Description: input.Description, BootMode: input.BootMode, ImdsSupport: input.ImdsSupport });
      image.readyAt = this.clock.now() + 20_000;
      return { ImageId: image.ImageId };
    });

    on(CopyImageCommand, (region, input) => {
      const data = this.region(region);
      const known = input.ClientToken ? data.copyTokens.get(input.ClientToken) : undefined;
      if (known) return { ImageId: known };
      const source = this.region(input.SourceRegion!).images.get(input.SourceImageId!);
      if (!source) throw awsError('InvalidAMIID.NotFound', `The image id '[${input.SourceImageId}]' does not exist`);
      const snapshotId = this.addSnapshot(region, 'pending');
      const snapshotTags = input.TagSpecifications?.find((t) => t.ResourceType === 'snapshot')?.Tags ?? [];
      data.snapshots.get(snapshotId)!.Tags = structuredClone(snapshotTags);
      const tags = input.TagSpecifications?.find((t) => t.ResourceType === 'image')?.Tags ?? [];
      const image = this.newImage(region, input.Name!, snapshotId, tags, { Description: input.Description });
      if (input.Encrypted) image.BlockDeviceMappings![0].Ebs!.Encrypted = true;
      if (input.KmsKeyId) image.BlockDeviceMappings![0].Ebs!.KmsKeyId = input.KmsKeyId;
      if (this.failingCopies.has(region)) image.failAt = this.clock.now() + this.copyDuration(region);
      else image.readyAt = this.clock.now() + this.copyDuration(region);
      if (input.ClientToken) data.copyTokens.set(input.ClientToken, image.ImageId!);
      this.maxCopiesInFlight = Math.max(this.maxCopiesInFlight, this.copiesInFlight());
      return { ImageId: image.ImageId };
    });

    on(CreateTagsCommand, (region, input) => {
      for (const id of input.Resources!) {
        const data = this.region(region);
        const target = id.startsWith('ami-') ? data.images.get(id) : data.snapshots.get(id);
        if (!target) throw awsError(id.startsWith('ami-') ? 'InvalidAMIID.NotFound' : 'InvalidSnapshot.NotFound', `${id} does not exist`);
        for (const tag of input.Tags!) {
          target.Tags = [...(target.Tags ?? []).filter((t) => t.Key !== tag.Key), { Key: tag.Key, Value: tag.Value }];
        }
      }
      return {};
    });

    on(GetImageBlockPublicAccessStateCommand, (region) => ({ ImageBlockPublicAccessState: this.region(region).blockPublicAccess, ManagedBy: 'account' }));

    on(ModifyImageAttributeCommand, (region, input) => {
      const data = this.region(region);
      if (!data.images.has(input.ImageId!)) throw awsError('InvalidAMIID.NotFound', `${input.ImageId} does not exist`);
      const add = input.LaunchPermission?.Add ?? [];
      if (add.some((p) => p.Group === 'all') && data.blockPublicAccess === 'block-new-sharing') {
        throw awsError('OperationNotPermitted', 'You cannot share this image publicly because block public access for AMIs is enabled for this account in this Region.');
      }
      data.launchPermissions.set(input.ImageId!, [...(data.launchPermissions.get(input.ImageId!) ?? []), ...add]);
      if (add.some((p) => p.Group === 'all')) data.images.get(input.ImageId!)!.Public = true;
      return {};
    });

    on(ModifySnapshotAttributeCommand, (region, input) => {
      const data = this.region(region);
      if (!data.snapshots.has(input.SnapshotId!)) throw awsError('InvalidSnapshot.NotFound', `${input.SnapshotId} does not exist`);
      data.snapshotPermissions.set(input.SnapshotId!, [...(data.snapshotPermissions.get(input.SnapshotId!) ?? []), ...(input.UserIds ?? [])]);
      return {};
    });

    on(DeregisterImageCommand, (region, input) => {
      const data = this.region(region);
      if (!data.images.delete(input.ImageId!)) throw awsError('InvalidAMIID.NotFound', `${input.ImageId} does not exist`);
      return { Return: true };
    });

    on(RunInstancesCommand, (region, input) => {
      if (input.MinCount !== 1 || input.MaxCount !== 1) throw awsError('InvalidParameterValue', 'this fake launches one instance at a time');
      if (!input.ImageId || !/^ami-/.test(input.ImageId)) throw awsError('InvalidAMIID.Malformed', `Invalid id: "${input.ImageId}"`);
      const token = input.ClientToken ? `${region} ${input.ClientToken}` : undefined;
      const existing = token ? this.runTokens.get(token) : undefined;
      if (existing) return { Instances: [{ InstanceId: existing, State: { Name: this.instance(existing).state } }] };
      const instanceId = `i-${hex(17)}`;
      this.instances.set(instanceId, { instanceId, region, launchedAt: this.clock.now(), request: structuredClone(input), state: 'pending' });
      if (token) this.runTokens.set(token, instanceId);
      return { Instances: [{ InstanceId: instanceId, ImageId: input.ImageId, InstanceType: input.InstanceType, State: { Code: 0, Name: 'pending' }, SubnetId: input.SubnetId }] };
    });
    on(TerminateInstancesCommand, (region, input) => ({
      TerminatingInstances: (input.InstanceIds ?? []).map((id) => {
        const instance = this.instances.get(id);
        if (!instance || instance.region !== region) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
        const previous = this.instance(id).state;
        if (instance.state !== 'terminated') {
          instance.state = 'terminated';
          instance.terminatedAt = this.clock.now();
        }
        return { InstanceId: id, PreviousState: { Name: previous }, CurrentState: { Name: 'shutting-down' } };
      }),
    }));
    on(DescribeInstancesCommand, (region, input) => ({
      Reservations: [...this.instances.values()]
        .filter((i) => i.region === region && (!input.InstanceIds || input.InstanceIds.includes(i.instanceId)))
        .map((i): { Instances: Instance[] } => ({ Instances: [{ InstanceId: i.instanceId, State: { Name: this.instance(i.instanceId).state }, Tags: i.request.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags }] })),
    }));
    on(DeleteSnapshotCommand, (region, input) => {
      const data = this.region(region);
      const inUse = [...data.images.values()].some((i) => i.BlockDeviceMappings?.some((m) => m.Ebs?.SnapshotId === input.SnapshotId));
      if (inUse) throw awsError('InvalidSnapshot.InUse', `The snapshot ${input.SnapshotId} is currently in use by an AMI`);
      if (!data.snapshots.delete(input.SnapshotId!)) throw awsError('InvalidSnapshot.NotFound', `${input.SnapshotId} does not exist`);
      return {};
    });
  }

  instance(instanceId: string): FakeInstance {
    const found = this.instances.get(instanceId);
    if (!found) throw new Error(`no instance ${instanceId}`);
    if (found.state === 'pending' && this.clock.now() >= found.launchedAt + this.bootDuration) found.state = 'running';
    return found;
  }

  copiesInFlight(): number {
    return [...this.regions.keys()].flatMap((r) => this.images(r)).filter((i) => i.State === 'pending' && i.Tags?.some((t) => t.Key === 'source-image-id')).length;
  }

  /** Calls of a command, as regions. */
  calls(command: string): string[] {
    return this.log.filter((l) => l.startsWith(`${command} `)).map((l) => l.slice(command.length + 1));
  }
}

/** Clients for the cores under test; aws-sdk-client-mock answers for every instance. */
export const testClients = ec2ClientFactory({ credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' } });

/** A new clock and EC2 for one test; call `ec2.mock.restore()` after it. */
export function freshFakeEc2(): { clock: FakeClock; ec2: FakeEc2 } {
  const clock = new FakeClock();
  return { clock, ec2: new FakeEc2(clock) };
}
