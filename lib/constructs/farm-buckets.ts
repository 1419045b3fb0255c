import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface FarmBucketsProps {
  /**
   * How long an overwritten or deleted object version is kept.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * How long S3 server access logs are kept.
   * @default Duration.days(365)
   */
  readonly accessLogExpiration?: Duration;
}

/**
 * The farm's buckets: OS images, stemcells, and the access logs of both. All
 * private, encrypted, TLS-only, versioned, and kept when the stack is deleted:
 * stemcells outlive the farm that built them.
 */
export class FarmBuckets extends Construct {
  readonly osImageBucket: s3.Bucket;
  readonly stemcellBucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: FarmBucketsProps = {}) {
    super(scope, id);
    // Grant log delivery with a bucket policy rather than the legacy
    // LogDeliveryWrite ACL, which would require ACLs enabled on the log bucket.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const noncurrent = props.noncurrentVersionExpiration ?? Duration.days(30);
    if (noncurrent.toDays() < 1) throw new Error('FarmBuckets: noncurrentVersionExpiration must be at least one day');

    const common: s3.BucketProps = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      versioned: false,
      lifecycleRules: [{ id: 'expire-logs', expiration: props.accessLogExpiration ?? Duration.days(365) }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the server access logs of the farm buckets; logging its own access would log every log delivery.',
    });

    const lifecycleRules: s3.LifecycleRule[] = [
      { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: noncurrent },
      // OS images and stemcells are uploaded in parts; do not pay for abandoned uploads.
      { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
    ];
    this.osImageBucket = new s3.Bucket(this, 'OsImages', {
      ...common,
      lifecycleRules,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'os-images/',
    });
    this.stemcellBucket = new s3.Bucket(this, 'Stemcells', {
      ...common,
      lifecycleRules,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'stemcells/',
    });
  }
}
