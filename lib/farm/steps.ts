/**
 * The runbook's Lambda steps after the build, as pure functions of the state:
 * what each AMI Lambda core is asked, and the state it leaves. The handlers
 * run the cores in between.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { readObjectText } from '../aws/s3';
import { RunOptions } from '../aws/runtime';
import { FailedError } from '../errors';
import { CopyAmiInput, CopyAmiResult, parseCopyAmiEvent } from '../publish/copy-ami';
import { LightStemcellInput, LightStemcellResult, parseLightStemcellEvent } from '../publish/light-stemcell';
import { parseRegisterAmiEvent, RegisterAmiInput, RegisterAmiResult } from '../publish/register-ami';
import { eventObject } from '../aws/input';
import { MAX_RESULT_BYTES, parseBuildResult, resultMismatch } from './result';
import { AwsPublishing, FarmState, need } from './state';

/** After the build: the result the builder wrote, checked against the build, and the AWS stemcell's snapshot. */
export async function readBuildResult(s3: S3Client, state: FarmState, options: RunOptions): Promise<FarmState> {
  const text = await readObjectText(s3, state.stemcellBucket, state.resultKey, MAX_RESULT_BYTES, options.clock);
  if (text === undefined) throw new FailedError(`the builder wrote no result (s3://${state.stemcellBucket}/${state.resultKey}); see the BuildOnHost step's log`);
  const result = parseBuildResult(text);
  const mismatch = resultMismatch(result, { buildId: state.buildId, version: state.version, stemcells: state.stemcellKeys.map((key) => ({ key })) });
  if (mismatch) throw new FailedError(`s3://${state.stemcellBucket}/${state.resultKey} is not this build's result: ${mismatch}`);
  if (!state.aws) return state;
  const snapshotId = result.stemcells.find((s) => s.key === state.aws!.key)?.snapshotId;
  if (!snapshotId) throw new FailedError(`the build result gives no EBS snapshot for ${state.aws.key}`);
  return { ...state, snapshotId, registered: false };
}

// Each step's input goes through the same checks as the function's direct callers' events: the state is input too.

export function registerInput(state: FarmState): RegisterAmiInput {
  const aws = publishing(state);
  return parseRegisterAmiEvent({ region: state.region, snapshotId: need(state, 'snapshotId', 'ReadResult'), stemcell: aws.stemcell, buildId: state.buildId, imdsSupport: aws.imdsSupport });
}

function publishing(state: FarmState): AwsPublishing {
  const aws = eventObject(need(state, 'aws', 'Prepare'), "the state's 'aws'");
  return { ...(aws as unknown as AwsPublishing), copy: eventObject(aws.copy ?? {}, "the state's 'aws.copy'") };
}

export function afterRegister(state: FarmState, result: RegisterAmiResult): FarmState {
  const registered = result.state === 'available';
  return { ...state, registered, ...(result.imageId ? { imageId: result.imageId } : {}), ...(registered ? { copied: false } : {}) };
}

export function copyInput(state: FarmState): CopyAmiInput {
  if (state.registered !== true) throw new FailedError(`the AMI of build ${state.buildId} was not available when the register loop ran out of iterations (its snapshot may still be completing); run register-ami again, then copy-ami`);
  return parseCopyAmiEvent({ ...publishing(state).copy, sourceRegion: state.region, sourceImageId: need(state, 'imageId', 'RegisterAmi') });
}

export function afterCopy(state: FarmState, result: CopyAmiResult): FarmState {
  return { ...state, copied: result.done, amis: result.amis, failed: result.failed };
}

export function lightInput(state: FarmState): LightStemcellInput {
  // The copy loop ends after its last iteration even with copies pending; a light stemcell then would lack regions.
  if (state.copied !== true) throw new FailedError(`the AMI copies of build ${state.buildId} were still pending when the copy loop ran out of iterations; run the copy-ami function again with the same AMI, then light-stemcell`);
  return parseLightStemcellEvent({ heavyKey: publishing(state).key, amis: need(state, 'amis', 'CopyAmi'), failed: state.failed ?? {} });
}

export function afterLight(state: FarmState, result: LightStemcellResult): FarmState {
  return { ...state, lightKey: result.key };
}
